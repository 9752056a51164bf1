"""Seam Refine: remove the seam a generative fill leaves, touching nothing outside a thin band."""

from __future__ import annotations

from .runtime.inference import refine

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = ["refine", "__version__", "PROTOCOL_VERSION"]
