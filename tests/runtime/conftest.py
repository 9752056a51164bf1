"""Fixtures of the runtime tests: the fixture models and Refiners on them (CPU, one thread), and a
record of the classical stage's calls to the edge membrane."""

from __future__ import annotations

import pytest
from seamrefine.runtime import classical, edge_membrane
from seamrefine.runtime.inference import Refiner

from ..support.onnx_fixture import make_fixture_model

CPU_ONLY = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("inference_models")
    return {
        "blur": make_fixture_model(d, kind="blur", name="blur"),
        "pointwise": make_fixture_model(d, kind="pointwise", name="pointwise"),
        "blur_tiled": make_fixture_model(d, kind="blur", name="blur_tiled", tile=64, tile_overlap=16),
        "pointwise_tiled": make_fixture_model(d, kind="pointwise", name="pw_tiled", tile=64, tile_overlap=16),
        "pointwise_reduced": make_fixture_model(d, kind="pointwise", name="pw_reduced", net_pixels=40 * 48),
    }


@pytest.fixture(scope="module")
def refiners(models):
    # the tile engine's known values are the model's alone (test_inference tests the classical stage)
    return {k: Refiner(p, CPU_ONLY, threads=1, classical=False) for k, p in models.items()}


@pytest.fixture
def membrane_calls(monkeypatch):
    """The (region, confidence, sigma) of every call the classical stage makes to ``edge_membrane``,
    which still runs."""
    calls = []
    real = edge_membrane.edge_membrane

    def spy(x, inside, edge_z, gap, confidence, sigma):
        calls.append((inside, confidence, sigma))
        return real(x, inside, edge_z, gap, confidence, sigma)

    monkeypatch.setattr(classical.edge_membrane, "edge_membrane", spy)
    return calls
