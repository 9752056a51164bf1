"""Fixtures shared by the training-side tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ..support.synthetic_images import photo


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of three photo-like 200 px PNGs (the benchmark's quick runs)."""
    d = tmp_path_factory.mktemp("photos")
    for i in range(3):
        Image.fromarray((photo(i, 200) * 255).astype(np.uint8)).save(d / f"p{i}.png")
    return d
