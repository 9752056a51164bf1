"""Seam Refine for Krita: Tools ▸ Scripts ▸ Seam Refine (needs the local seam-refine daemon)."""

import importlib.util

if importlib.util.find_spec("krita") is not None:  # inside Krita; the pure helpers import without it
    from .host import register

    register()
