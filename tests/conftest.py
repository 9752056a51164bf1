"""Fixtures shared by the test packages (each package keeps its own specific ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support.onnx_fixture import make_fixture_model


@pytest.fixture(scope="session")
def fixture_model(tmp_path_factory) -> Path:
    """The blur fixture model with the default manifest (one tile for small images)."""
    return make_fixture_model(tmp_path_factory.mktemp("fixture_model"))


@pytest.fixture(scope="session")
def daemon_model(tmp_path_factory) -> Path:
    """The blur fixture model with 64-px tiles: many tiles, so progress messages and slow big requests."""
    return make_fixture_model(tmp_path_factory.mktemp("daemon_model"), tile=64, tile_overlap=16)
