"""Every source, test and script file stays short enough to read (≤ 400 lines)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT = 400
EXEMPT = {"plugins/common/seamrefine_client.py"}  # the one-file stdlib client both plug-ins embed
CODE = ("server", "export", "plugins", "tests")


def test_code_files_are_at_most_400_lines():
    long = {}
    for top in CODE:
        for path in (REPO / top).rglob("*"):
            if path.suffix not in (".py", ".sh") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(REPO).as_posix()
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > LIMIT and rel not in EXEMPT:
                long[rel] = lines
    assert not long, f"over {LIMIT} lines: {long}"
