"""Seam Refine: remove the seam a generative fill leaves, touching nothing outside a thin band."""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = 1


def refine(image, mask, *, strength=1.0, samples=1, band=None):
    """Refine the seam around ``mask`` in ``image`` in-process (see seamrefine.runtime.inference.refine)."""
    from .runtime.inference import refine as _refine

    return _refine(image, mask, strength=strength, samples=samples, band=band)


__all__ = ["refine", "__version__", "PROTOCOL_VERSION"]
