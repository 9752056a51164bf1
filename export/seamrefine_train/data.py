"""Training/validation batches: on-the-fly synthesis from photos, deterministic per (seed, index).

Sample ``index`` always gives the same case: ``rng = np.random.default_rng([seed, index])`` picks the
photo and the crop, then ``synthesis.make_case(crop, seed, index)`` makes the seam. The band is
``imagemath.band_weights(mask, 16, 8)`` computed in numpy exactly as serving does, and passed to the
loss (the network never sees it). Synthesis is cheap next to a training step (~4 ms per 160² crop),
so it runs in the main process: on 2 shared cores a worker process only competes with torch.

With ``classical`` the network's input is what serving gives it: the composite after the classical
stage (``seamrefine.runtime.classical``: the colour harmonisation and the texture matching, both gates
included), so the network learns on top of stage 1. The loss still composites onto the original
composite, as serving does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from seamrefine.errors import InputError
from seamrefine.imaging.imagemath import band_weights
from seamrefine.runtime.classical import classical_change

from .synthesis import FAMILIES, Case, SynthConfig, list_photos, load_photo, make_case, random_crop

BAND_WIDTH = 16
BAND_FEATHER = 8


@dataclass
class Batch:
    """Tensors [N,C,H,W] float32: composite (3), mask (1), clean (3), band (1), and the network's
    input (3: the composite, or the composite after stage 1); families per sample."""

    composite: torch.Tensor
    mask: torch.Tensor
    clean: torch.Tensor
    band: torch.Tensor
    families: list[str]
    inputs: torch.Tensor

    def to(self, device: str | torch.device) -> Batch:
        return Batch(
            self.composite.to(device), self.mask.to(device), self.clean.to(device), self.band.to(device),
            self.families, self.inputs.to(device),
        )


def case_band(case: Case) -> np.ndarray:
    """The serving band for a case's mask (H×W float32)."""
    return band_weights(case.mask, BAND_WIDTH, BAND_FEATHER)


def stage_one(case: Case) -> np.ndarray:
    """The case's composite after the classical stage, as serving computes it (H×W×3)."""
    change, _ = classical_change(case.composite, case.mask)
    return np.clip(case.composite + change, 0.0, 1.0).astype(np.float32)


def collate(cases: list[Case], classical: bool = False) -> Batch:
    """Stack equally-sized cases into a Batch (band computed here; with ``classical`` the network's
    input is ``stage_one`` of each composite)."""
    def chw(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))

    composite = torch.stack([chw(c.composite) for c in cases])
    return Batch(
        composite=composite,
        mask=torch.stack([torch.from_numpy(c.mask)[None] for c in cases]),
        clean=torch.stack([chw(c.clean) for c in cases]),
        band=torch.stack([torch.from_numpy(case_band(c))[None] for c in cases]),
        families=[c.family for c in cases],
        inputs=torch.stack([chw(stage_one(c)) for c in cases]) if classical else composite,
    )


class PhotoCache:
    """Decoded photos kept as uint8 (a full pass over 1401 ~500×375 photos is ~0.8 GB)."""

    def __init__(self, paths: list[Path], max_items: int = 4096):
        self.paths = paths
        self.max_items = max_items
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> np.ndarray:
        hit = self._cache.get(i)
        if hit is None:
            photo = load_photo(self.paths[i])
            hit = np.clip(np.rint(photo * 255.0), 0, 255).astype(np.uint8)
            if len(self._cache) < self.max_items:
                self._cache[i] = hit
        return hit.astype(np.float32) / 255.0


class CaseStream:
    """Deterministic synthetic cases: ``case(index)`` depends only on (seed, index, photos, crop)."""

    def __init__(self, photos_dir: str | Path, crop: int, seed: int, synth: SynthConfig | None = None,
                 cache_items: int = 4096, classical: bool = False):
        paths = list_photos(photos_dir)
        if not paths:
            raise InputError(f"no photos (.jpg/.png) in {str(photos_dir)!r}", str(photos_dir))
        self.photos = PhotoCache(paths, cache_items)
        self.crop = crop
        self.seed = seed
        self.synth = synth or SynthConfig()
        self.classical = classical

    def case(self, index: int, family: str | None = None) -> Case:
        rng = np.random.default_rng([self.seed, index, 7])  # photo + crop; make_case has its own stream
        photo = self.photos.get(int(rng.integers(len(self.photos))))
        crop = random_crop(photo, self.crop, rng)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return make_case(np.ascontiguousarray(crop), self.seed, index, family=family, config=self.synth)

    def batch(self, step: int, batch_size: int) -> Batch:
        """Batch number ``step``: cases step·B … step·B + B − 1 (so a resumed run sees the same data)."""
        return collate([self.case(step * batch_size + k) for k in range(batch_size)], self.classical)


def val_cases(photos_dir: str | Path, per_family: int, crop: int, seed: int = 12345) -> list[Case]:
    """A fixed validation set: ``per_family`` cases of every family, each from a different val photo."""
    stream = CaseStream(photos_dir, crop, seed, cache_items=0)
    cases = []
    for f, fam in enumerate(FAMILIES):
        for k in range(per_family):
            cases.append(stream.case(f * 1000 + k, family=fam))
    return cases


def band_psnr(out: np.ndarray, clean: np.ndarray, band: np.ndarray) -> float:
    """PSNR (dB, peak 1) of the band-weighted MSE; inf when identical. H×W×3 arrays, band H×W."""
    w = band[..., None]
    mse = float((w * (out - clean) ** 2).sum() / max(float(w.sum()) * 3.0, 1e-12))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))
