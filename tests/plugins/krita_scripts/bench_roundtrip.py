"""Benchmark of the plugin path beyond inference, at 1 and 4 MP (median of N runs).

    python tests/plugins/krita_scripts/bench_roundtrip.py [--repeats 5] [--no-krita] [--model M.onnx]

Starts a real daemon (the fixture model unless --model: inference time is measured separately and
subtracted), then (1) the stdlib client alone: refine() round trip minus the daemon's elapsed_ms, and
(2) inside real Krita (../shared/hosts/hosts.sh, needs root): gather, request, paste and trigger→layer
wall time. Prints a table and the JSON.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.plugins.krita_host import HOSTS_SH, SCRIPTS, Daemon, describe, krita_run  # noqa: E402
from tests.plugins.plugin_client_servers import load_client  # noqa: E402


def client_bench(daemon, repeats):
    sc = load_client()
    out = {}
    with sc.Client(daemon.info["endpoint"], token=daemon.info["token"], timeout=600) as c:
        for side in (1000, 2000):
            img = bytes((i * 7) & 0xFF for i in range(side * 4)) * side
            mask = bytearray(side * side)
            for y in range(side // 8, side * 7 // 8):
                mask[y * side + side // 8:y * side + side * 7 // 8] = b"\xff" * (side * 3 // 4)
            rows = []
            for _ in range(repeats + 1):
                t0 = time.perf_counter()
                _, header = c.refine(img, side, side, 4, "uint8", "BGRA", bytes(mask))
                total = time.perf_counter() - t0
                rows.append({"request_s": total, "daemon_s": header["elapsed_ms"] / 1000.0})
            rows = rows[1:]
            out[f"{side * side / 1e6:.0f}MP"] = {
                "request_s": statistics.median(r["request_s"] for r in rows),
                "daemon_s": statistics.median(r["daemon_s"] for r in rows),
                "transport_s": statistics.median(r["request_s"] - r["daemon_s"] for r in rows)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--no-krita", action="store_true")
    ap.add_argument("--full-res-score", action="store_true",
                    help="score seams at full resolution in the daemon (works around a daemon bug with "
                         "4-channel crops above seam_score.SCORE_MAX_PIXELS; daemon time is subtracted "
                         "anyway)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sr-bench-"))
    model = args.model
    if model is None:
        from tests.support.onnx_fixture import make_fixture_model

        model = make_fixture_model(work / "model")
    launcher = None
    if args.full_res_score:
        launcher = work / "daemon_full_res_score.py"
        launcher.write_text("import sys\nimport seamrefine.imaging.seam_score as m\n"
                            "m.SCORE_MAX_PIXELS = 10**12\nfrom seamrefine.app.serve import main\n"
                            "sys.exit(main(sys.argv[1:]))\n")
    daemon = Daemon(model, work / "run", work / "log", launcher=launcher)
    result = {"model": str(model)}
    try:
        result["client"] = client_bench(daemon, args.repeats)
        if not args.no_krita and HOSTS_SH.is_file():
            from seamrefine.app import install_plugin

            install_plugin.install("krita", work / "pykrita")
            (work / "out").mkdir()
            proc = krita_run(SCRIPTS / "bench_in_krita.py", plugin_dir=work / "pykrita", binds=[work],
                             timeout=600, SR_OUT=work / "out", SR_REPEATS=args.repeats,
                             SEAM_REFINE_RUNTIME_DIR=work / "run")
            if proc.returncode != 0:
                print(describe(proc), file=sys.stderr)
                return 1
            result["krita"] = json.loads((work / "out" / "bench.json").read_text())
    finally:
        daemon.stop()
    print(json.dumps(result, indent=1))
    print("\nmedian seconds        client transport | krita gather  request-daemon  paste  wall-daemon")
    for mp in ("1MP", "4MP"):
        c = result["client"][mp]
        k = result.get("krita", {}).get(mp, {}).get("median", {})
        print(f"{mp:5s} daemon {c['daemon_s']:6.3f}  {c['transport_s']:8.3f}        | "
              + (f"{k['gather_s']:6.3f}  {k['transport_s']:8.3f}  {k['paste_s']:8.3f}  {k['overhead_s']:8.3f}"
                 if k else "(no Krita)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
