"""``python -m seamrefine_train COMMAND [args]``, COMMAND one of train, train_gate, train_rank,
train_texture_gate, train_grain_gate, train_content_step, train_content_edge, export, bench, bench_ab,
bench_memory, colour_ceiling, map_decompose, pool_sweep, content_edge_probe."""

from __future__ import annotations

import sys

USAGE = (
    "usage: python -m seamrefine_train"
    " {train,train_gate,train_rank,train_texture_gate,train_grain_gate,train_content_step,train_content_edge,"
    "export,bench,"
    "bench_ab,bench_memory,colour_ceiling,map_decompose,pool_sweep,content_edge_probe}"
    " [args]"
    "  (train: --key=value overrides)"
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "train":
        from .train import main as run
    elif cmd == "train_gate":
        from .train_gate import main as run
    elif cmd == "train_rank":
        from .train_rank import main as run
    elif cmd == "train_texture_gate":
        from .train_texture_gate import main as run
    elif cmd == "train_grain_gate":
        from .train_grain_gate import main as run
    elif cmd == "train_content_step":
        from .train_content_step import main as run
    elif cmd == "train_content_edge":
        from .train_content_edge import main as run
    elif cmd == "content_edge_probe":
        from .content_edge_probe import main as run
    elif cmd == "export":
        from .export_onnx import main as run
    elif cmd == "bench":
        from .bench import main as run
    elif cmd == "bench_ab":
        from .bench_ab import main as run
    elif cmd == "bench_memory":
        from .bench_memory import main as run
    elif cmd == "colour_ceiling":
        from .colour_ceiling import main as run
    elif cmd == "map_decompose":
        from .map_decompose import main as run
    elif cmd == "pool_sweep":
        from .pool_sweep import main as run
    else:
        print(f"unknown command {cmd!r}\n{USAGE}", file=sys.stderr)
        return 2
    return int(run(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
