"""The seam refiner network: one file, one config, shape comments (nanoGPT style).

Input: the composite crop ``image`` [N,3,H,W] (sRGB in [0,1]) and the fill ``mask`` [N,1,H,W]
(1 = generated). Output: ``refined`` [N,3,H,W], the whole refined crop; the caller pastes it back
inside the band (imagemath.band_weights) so nothing far from the seam changes.

Two branches, both identity-initialised (at init the model returns its input exactly):

1. Colour branch (low resolution, PCT-Net style). The image, mask and a local high-frequency energy
   map are resized (antialiased) to a fixed ``lowres``×``lowres`` grid, whatever the crop size, so
   the branch always sees the whole crop: it fixes colour/tone drift over large regions. A small
   U-Net predicts, per low-res cell, an affine colour transform (3×3 matrix + offset, as a delta
   from identity) and a few context features. The 12 coefficients are bilinearly upsampled and
   applied per pixel at full resolution, gated by the mask (the background is ground truth).
2. Detail branch (half resolution via pixel-unshuffle, small channel count). Sees the colour-
   corrected image, the mask, a fixed noise field (so it can synthesise grain) and the upsampled
   context features (background grain/sharpness statistics), and adds a full-resolution residual
   (pixel-shuffle) for grain, blur and truncation at the seam.

Everything is convolutions + resizes, so H and W are free (multiples of 2; the manifest asks for 8).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    lowres: int = 64  # side of the colour branch's fixed grid
    low_ch: tuple[int, int, int] = (16, 32, 64)  # colour U-Net widths at lowres, /2, /4 (and /8)
    ctx_ch: int = 8  # context features handed from the colour to the detail branch
    hi_ch: int = 24  # detail branch width (at half resolution)
    hi_layers: int = 4  # 3×3 convs in the detail branch body
    noise_tile: int = 128  # period of the fixed noise field (px)
    noise_seed: int = 1234
    stat_scale: float = 1.0  # gain on the fill-vs-surroundings differences (they are ~0.01 of full scale)
    detail: bool = True  # False: no detail branch (``prune_dead_detail`` drops one that learned nothing)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["low_ch"] = list(self.low_ch)  # JSON-shaped, so checkpoints and manifests compare equal
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        if "low_ch" in d:
            d["low_ch"] = tuple(d["low_ch"])
        return cls(**d)


def conv(cin: int, cout: int, stride: int = 1, pad: str = "replicate") -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode=pad)


def high_freq_energy(x: torch.Tensor) -> torch.Tensor:
    """|x − box3(x)| averaged over channels: a cheap local grain/sharpness map. [N,3,H,W] → [N,1,H,W]."""
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return (x - blur).abs().mean(dim=1, keepdim=True) * 8.0


def _interpolation_matrix(out_len, in_len: int, dtype: torch.dtype) -> torch.Tensor:
    """[out_len, in_len]: row i holds the weights of ``F.interpolate(mode="bilinear",
    align_corners=False)`` for output sample i (two neighbours, clamped at the borders)."""
    src = (torch.arange(out_len, dtype=torch.float32) + 0.5) * in_len / out_len - 0.5
    src = src.clamp(0.0, float(in_len - 1))
    hat = torch.relu(1.0 - (src[:, None] - torch.arange(in_len, dtype=torch.float32)[None, :]).abs())
    return hat.to(dtype)


def upsample_bilinear(x: torch.Tensor, h, w) -> torch.Tensor:
    """``F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)`` as two matrix products
    (rows, then columns), which onnxruntime runs about twice as fast as its Resize for the colour
    coefficients' large upsampling factor. [N,C,s,t] → [N,C,h,w]."""
    rows = _interpolation_matrix(h, x.shape[-2], x.dtype)  # [h,s]
    cols = _interpolation_matrix(w, x.shape[-1], x.dtype)  # [w,t]
    return torch.matmul(torch.matmul(rows, x), cols.t())


STAT_SCALES = (4, 8, 16, 0)  # pooling cells on the lowres grid; 0 = the whole crop
RING_WIDTHS = (3, 12)  # px (full resolution) of the rings just inside / just outside the mask edge


def _dilate(m: torch.Tensor, k: int) -> torch.Tensor:
    """Binary-ish dilation by a (2k+1)² square, separable max-pooling. [N,1,H,W] → same."""
    m = F.max_pool2d(m, (1, 2 * k + 1), stride=1, padding=(0, k))
    return F.max_pool2d(m, (2 * k + 1, 1), stride=1, padding=(k, 0))


def ring_sums(x: torch.Tensor, m: torch.Tensor) -> list[torch.Tensor]:
    """For each width k in RING_WIDTHS: [x·r_in, r_in, x·r_out, r_out] with r_in the mask's pixels
    within k px of its edge and r_out the background pixels within k px; x: a list of [N,C,H,W]
    tensors, each multiplied separately (the full-resolution maps are never concatenated: that copy
    cost as much as resizing them). Returns the flat list of 4·len(RING_WIDTHS)·… [N,·,H,W] maps.
    Averaged down to the lowres grid these give the mean colour just inside vs just outside the seam,
    the only place where a small colour step is visible through the content."""
    out = []
    grown, shrunk, done = m, 1.0 - m, 0
    for k in RING_WIDTHS:  # ascending: each dilation grows the last one (squares add up exactly)
        grown, shrunk, done = _dilate(grown, k - done), _dilate(shrunk, k - done), k
        r_out = grown - m
        r_in = m - (1.0 - shrunk)
        out += [*(p * r_in for p in x), r_in, *(p * r_out for p in x), r_out]
    return out


def _pooled_mean(num: torch.Tensor, den: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    p = F.avg_pool2d(den, k)
    return F.avg_pool2d(num, k) / (p + 1e-4), p


def masked_stats(
    low: torch.Tensor, rings: torch.Tensor, scales: tuple[int, ...] = STAT_SCALES, gain: float = 1.0
) -> torch.Tensor:
    """Fill-vs-surroundings statistics on the lowres grid (the colour branch's prior).

    low: [N,5,S,S] = (rgb, mask, hf energy); rings: [N,20,S,S] = ring_sums of (rgb, hf) resized.
    Per cell size k (0 = whole crop): the mean of (rgb, hf) outside minus inside the fill, and the same
    for the two edge rings, each with a presence weight; bilinearly upsampled back to S×S.
    For a uniform colour step the ring part is minus the step wherever the cell holds the seam.
    ``gain`` multiplies the differences: colour steps are ~0.01 of full scale, and under Adam an input
    that small moves the output ~100× slower per step than the image itself.
    Returns [N, 15·len(scales), S, S].
    """
    s = low.shape[-1]
    x = torch.cat([low[:, :3], low[:, 4:5]], 1)  # [N,4,S,S]
    m = low[:, 3:4]
    feats = []
    for k in scales:
        k = k or s
        mean_in, p_in = _pooled_mean(x * m, m, k)
        mean_out, p_out = _pooled_mean(x * (1.0 - m), 1.0 - m, k)
        rel = 4.0 * p_in * p_out
        parts = [gain * (mean_out - mean_in) * (rel > 0.01).to(rel.dtype), rel]
        for j in range(len(RING_WIDTHS)):
            r = rings[:, 10 * j : 10 * j + 10]
            ring_in, q_in = _pooled_mean(r[:, 0:4], r[:, 4:5], k)
            ring_out, q_out = _pooled_mean(r[:, 5:9], r[:, 9:10], k)
            q = torch.minimum(q_in, q_out)
            w = q / (q + 2e-3)
            parts += [gain * (ring_out - ring_in) * (w > 0.5).to(w.dtype), w]
        f = torch.cat(parts, 1)  # [N,15,S/k,S/k]
        feats.append(F.interpolate(f, size=(s, s), mode="bilinear", align_corners=False))
    return torch.cat(feats, 1)


class ColourBranch(nn.Module):
    """Low-res U-Net: [N,5,S,S] → 12 affine delta coefficients + ctx features on an S/2×S/2 grid."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stat_scale = cfg.stat_scale
        c1, c2, c3 = cfg.low_ch
        n_in = 5 + 15 * len(STAT_SCALES)
        self.enc1 = nn.Sequential(conv(n_in, c1), nn.ReLU())
        self.enc2 = nn.Sequential(conv(c1, c2, 2), nn.ReLU(), conv(c2, c2), nn.ReLU())
        self.enc3 = nn.Sequential(conv(c2, c3, 2), nn.ReLU(), conv(c3, c3), nn.ReLU())
        self.bott = nn.Sequential(conv(c3, c3, 2), nn.ReLU(), conv(c3, c3), nn.ReLU())
        self.glob = nn.Linear(c3, c3)  # global (whole-crop) statistics injected at the bottleneck
        self.dec3 = nn.Sequential(conv(c3 + c3, c3), nn.ReLU())
        self.dec2 = nn.Sequential(conv(c3 + c2, c2), nn.ReLU())
        self.head = nn.Conv2d(c2, 12 + cfg.ctx_ch, 3, padding=1, padding_mode="replicate")
        # linear shortcut from the statistics: a uniform shift is learnable in a few hundred steps
        self.stat_head = nn.Conv2d(n_in, 12 + cfg.ctx_ch, 1)
        for layer in (self.head, self.stat_head):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, low: torch.Tensor, rings: torch.Tensor) -> torch.Tensor:
        # low: [N,5,S,S] (rgb, mask, hf energy); rings: [N,20,S,S]
        x = torch.cat([low, masked_stats(low, rings, gain=self.stat_scale)], 1)  # [N,5+15·scales,S,S]
        e1 = self.enc1(x)  # [N,c1,S,S]
        e2 = self.enc2(e1)  # [N,c2,S/2,S/2]
        e3 = self.enc3(e2)  # [N,c3,S/4,S/4]
        b = self.bott(e3)  # [N,c3,S/8,S/8]
        g = self.glob(b.mean(dim=(2, 3)))  # [N,c3]
        b = F.relu(b + g[:, :, None, None])
        d3 = self.dec3(torch.cat([F.interpolate(b, scale_factor=2.0, mode="nearest"), e3], 1))  # S/4
        d2 = self.dec2(torch.cat([F.interpolate(d3, scale_factor=2.0, mode="nearest"), e2], 1))  # S/2
        return self.head(d2) + self.stat_head(F.avg_pool2d(x, 2))  # [N,12+ctx,S/2,S/2]


class DetailBranch(nn.Module):
    """Half-res residual CNN: [N,4*5+ctx,H/2,W/2] → full-res residual [N,3,H,W]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.hi_ch
        layers: list[nn.Module] = [conv(4 * 5 + cfg.ctx_ch, c, pad="zeros"), nn.ReLU()]
        for _ in range(cfg.hi_layers):
            layers += [conv(c, c, pad="zeros"), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.tail = nn.Conv2d(c, 12, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.tail(self.body(x)), 2)


class SeamRefiner(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg or ModelConfig()
        self.colour = ColourBranch(self.cfg)
        self.detail = DetailBranch(self.cfg) if self.cfg.detail else None
        g = torch.Generator().manual_seed(self.cfg.noise_seed)
        t = self.cfg.noise_tile
        self.register_buffer("noise", torch.randn(1, 1, t, t, generator=g), persistent=True)

    def _lowres(self, t: torch.Tensor) -> torch.Tensor:
        """[N,C,H,W] → [N,C,S,S], antialiased bilinear (the colour branch's fixed grid)."""
        s = self.cfg.lowres
        return F.interpolate(t, size=(s, s), mode="bilinear", antialias=True, align_corners=False)

    def noise_field(self, n: int, h: int, w: int) -> torch.Tensor:
        """The fixed N(0,1) noise tile repeated to cover h×w: [n,1,h,w]. Deterministic by design."""
        t = self.cfg.noise_tile
        reps_h = (h + t - 1) // t
        reps_w = (w + t - 1) // t
        field = self.noise.repeat(1, 1, reps_h, reps_w)[:, :, :h, :w]
        return field.expand(n, 1, h, w)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # image: [N,3,H,W] sRGB 0..1, mask: [N,1,H,W] 0..1; H, W even
        n, _, h, w = image.shape
        hf = high_freq_energy(image)  # [N,1,H,W]
        # each full-resolution map is resized on its own and only the S×S results are concatenated
        maps = [image, mask, hf, *ring_sums([image, hf], mask)]  # 25 channels in all, [N,·,H,W]
        low = torch.cat([self._lowres(t) for t in maps], 1)  # [N,25,S,S]
        coef_ctx = self.colour(low[:, :5], low[:, 5:])  # [N,12+ctx,S/2,S/2]
        # the matrix and the offset upsampled apart, so no full-resolution 12-channel map is split
        a = upsample_bilinear(coef_ctx[:, :9], h, w).reshape(n, 3, 3, h, w)  # delta of the 3×3 matrix
        b = upsample_bilinear(coef_ctx[:, 9:12], h, w)  # [N,3,H,W]
        corr = image + ((a * image[:, None]).sum(dim=2) + b) * mask  # colour changes only inside the fill
        if self.detail is None:
            return corr.clamp(0.0, 1.0)

        ctx = F.interpolate(coef_ctx[:, 12:], size=(h // 2, w // 2), mode="bilinear", align_corners=False)
        hi_in = torch.cat([corr, mask, self.noise_field(n, h, w)], 1)  # [N,5,H,W]
        hi_in = torch.cat([F.pixel_unshuffle(hi_in, 2), ctx], 1)  # [N,20+ctx,H/2,W/2]
        out = corr + self.detail(hi_in)  # [N,3,H,W]
        return out.clamp(0.0, 1.0)


def prune_dead_detail(model: SeamRefiner, probes: list[tuple[torch.Tensor, torch.Tensor]],
                      tol: float = 1e-5) -> SeamRefiner:
    """The model without its detail branch (``detail=False``), after checking on ``probes``
    [(image, mask)] that the branch changes no output by more than ``tol``: a branch whose last ReLUs
    never fire adds only its tail's bias. Raises ValueError (with the largest difference) otherwise."""
    cfg = ModelConfig.from_dict({**model.cfg.to_dict(), "detail": False})
    pruned = SeamRefiner(cfg).eval()
    pruned.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("detail.")})
    worst = 0.0
    with torch.no_grad():
        for image, mask in probes:
            worst = max(worst, float((model.eval()(image, mask) - pruned(image, mask)).abs().max()))
    if worst > tol:
        raise ValueError(f"the detail branch changes outputs by up to {worst:.2e} > {tol:.0e}: not dead",
                         worst)
    return pruned


def stat_channels() -> list[int]:
    """Indices, in the colour branch's input, of the difference channels that ``stat_scale`` multiplies."""
    idx = []
    for j in range(len(STAT_SCALES)):
        base = 5 + 15 * j
        idx += [base + k for k in (0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13)]
    return idx


def retarget_stat_scale(state: dict, old: float, new: float) -> dict:
    """A state dict for ``stat_scale = new`` that computes exactly what ``state`` did at ``old``: the
    first-layer weights reading the difference channels are multiplied by old/new."""
    out = dict(state)
    idx = torch.tensor(stat_channels())
    for key in ("colour.enc1.0.weight", "colour.stat_head.weight"):
        w = out[key].clone()
        w[:, idx] *= old / new
        out[key] = w
    return out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
