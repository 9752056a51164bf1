"""Every third-party module the runtime package imports is a runtime dependency in pyproject.toml.

The README's first command installs with a plain ``pip install .`` (no extras), so an import that only
the [dev] or [train] extra brings (as cv2 once was) breaks the main job on a fresh machine while CI,
which installs the extras, stays green.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION = {  # import name → distribution name
    "cv2": "opencv-python-headless",
    "zmq": "pyzmq",
    "PIL": "pillow",
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "msgpack": "msgpack",
    "platformdirs": "platformdirs",
}


def imported_top_level(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_runtime_imports_are_runtime_dependencies():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {re.split(r"[<>=!;\[ ]", d, maxsplit=1)[0].strip().lower() for d in deps}
    third_party = set()
    for path in (REPO / "server" / "seamrefine").rglob("*.py"):
        third_party |= imported_top_level(path) - set(sys.stdlib_module_names) - {"seamrefine"}
    unknown = third_party - set(DISTRIBUTION)
    assert not unknown, f"map these imports to their distributions here: {sorted(unknown)}"
    missing = {DISTRIBUTION[m] for m in third_party} - declared - {"onnxruntime"}
    assert not missing, f"imported by server/seamrefine but not runtime dependencies: {sorted(missing)}"
    assert {"onnxruntime", "onnxruntime-gpu"} & declared
