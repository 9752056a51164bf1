"""pyproject.toml installs every package and subpackage, the models, the sample and the plug-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

REPO = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_with_an_init_is_listed():
    found = set()
    for package, folder in CONFIG["package-dir"].items():
        root = REPO / folder
        found |= {
            ".".join((package, *p.parent.relative_to(root).parts))
            for p in root.rglob("__init__.py")
            if "__pycache__" not in p.parts and (package != "seamrefine_plugins" or p.parent == root)
        }
    assert set(CONFIG["packages"]) == found


def test_package_data_covers_models_and_samples():
    patterns = CONFIG["package-data"]["seamrefine"]
    root = REPO / CONFIG["package-dir"]["seamrefine"]
    data = {p.relative_to(root).as_posix() for pattern in patterns for p in root.glob(pattern)}
    for name in ("models/seam_refiner.onnx", "models/seam_refiner.json", "models/seam_gate.json",
                 "models/seam_rank.json", "models/seam_rank_map.json", "models/content_edge.json",
                 "samples/coffee_composite.png", "samples/coffee_mask.png"):
        assert name in data


def test_entry_point_resolves():
    import importlib

    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["seam-refine"]
    module, _, function = target.partition(":")
    assert callable(getattr(importlib.import_module(module), function))
