"""Training losses: band-weighted Charbonnier, Laplacian-pyramid L1, a grain-statistics loss, the
PixPerfect discriminative pixel-space loss (a per-sample polynomial colour map that amplifies what differs)
and the fill's own error (fMSE).

All images are [N,3,H,W] float tensors in [0,1]; ``band`` is [N,1,H,W] (imagemath.band_weights of
the mask, computed in numpy by the data pipeline, exactly as at serving time). Every loss is a mean
over band pixels, so it does not shrink when the fill is small; ``fill_mse`` is a mean over the fill's
pixels instead, per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from seamrefine.errors import InputError

_EPS = 1e-6


def band_composite(composite: torch.Tensor, net: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    """What serving produces: composite + band × (net − composite)."""
    return composite + band * (net - composite)


def charbonnier(x: torch.Tensor, y: torch.Tensor, band: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Band-weighted mean of sqrt((x−y)² + eps²) − eps over pixels and channels (0 when x == y)."""
    err = torch.sqrt((x - y) ** 2 + eps * eps) - eps  # [N,3,H,W]
    return (err * band).sum() / (band.sum() * x.shape[1] + _EPS)


_GAUSS5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial blur with replicate padding, per channel."""
    c = x.shape[1]
    k = _GAUSS5.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels (finest first) plus the low-pass residual; sizes halve per level."""
    out = []
    cur = x
    for _ in range(levels):
        low = _blur(cur)
        out.append(cur - low)
        cur = F.avg_pool2d(low, 2, ceil_mode=True)
    out.append(cur)
    return out


def laplacian_l1(x: torch.Tensor, y: torch.Tensor, band: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Band-weighted L1 between Laplacian pyramids; each level weighted by the pooled band.

    Coarse levels are scaled up by 2^level so low-frequency (colour/tone) errors are not drowned by
    the many fine-level pixels; the band is dilated per level by max-pooling so seam edges count.
    """
    px, py = laplacian_pyramid(x, levels), laplacian_pyramid(y, levels)
    total = x.new_zeros(())
    b = band
    for i, (a, c) in enumerate(zip(px, py, strict=True)):
        if i > 0:
            b = F.max_pool2d(b, 2, ceil_mode=True)
        w = b.expand_as(a)
        total = total + (2.0**i) * ((a - c).abs() * w).sum() / (w.sum() + _EPS)
    return total / (levels + 1)


def local_grain(x: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """Per-channel RMS of the high-pass (x − blur5(x)) over cell×cell tiles: [N,3,H/cell,W/cell]."""
    hp = x - _blur(x)
    return torch.sqrt(F.avg_pool2d(hp * hp, cell, ceil_mode=True) + 1e-8)


def grain_loss(x: torch.Tensor, y: torch.Tensor, band: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """Band-weighted L1 between local grain levels: rewards *synthesising* grain of the right strength,
    which pixel losses cannot (independent noise is unpredictable, so their optimum is no noise)."""
    w = F.avg_pool2d(band, cell, ceil_mode=True).expand(-1, x.shape[1], -1, -1)
    diff = (local_grain(x, cell) - local_grain(y, cell)).abs()
    return (diff * w).sum() / (w.sum() + _EPS)


def psnr_loss(x: torch.Tensor, y: torch.Tensor, band: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean over samples of −band PSNR in dB, i.e. 10·log10(mse_n + eps) per sample.

    The benchmark averages per-case PSNR gains, so a 1 dB gain on a barely shifted case counts as much
    as on a strongly shifted one; this term weighs samples the same way (an L1 term is dominated by
    the noisy texture families). ``eps`` caps the reward at 10·log10(1/eps) dB (50 dB for 1e-5).
    """
    w = band.expand_as(x)
    mse = ((x - y) ** 2 * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) + _EPS)  # [N]
    return (10.0 * torch.log10(mse + eps)).mean()


def fill_mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """fMSE: per sample the mean squared error over the fill (``mask`` [N,1,H,W] in [0, 1] weighs each
    pixel), normalised by the fill's own area, then the mean over samples. A small fill's error counts
    as much as a large one's, and the band's many already-correct pixels outside the fill do not
    dilute it (the issue's loss for the network on top of the classical result)."""
    w = mask.expand_as(x)
    return (((x - y) ** 2 * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) + _EPS)).mean()


def harm_loss(x: torch.Tensor, ref: torch.Tensor, y: torch.Tensor, band: torch.Tensor,
              eps: float = 1e-5) -> torch.Tensor:
    """Mean over samples of max(0, PSNR(ref) − PSNR(x)) in dB, band-weighted, against the target y.

    ``ref`` is what the network started from (the classical stage's result), so the network pays for
    every case it makes worse than that, whatever it gains elsewhere: the learned trust in the
    correction. ``eps`` as in ``psnr_loss``."""
    w = band.expand_as(x)
    den = w.sum(dim=(1, 2, 3)) + _EPS
    mse = ((x - y) ** 2 * w).sum(dim=(1, 2, 3)) / den  # [N]
    mse_ref = ((ref - y) ** 2 * w).sum(dim=(1, 2, 3)) / den
    return F.relu(10.0 * torch.log10((mse + eps) / (mse_ref + eps))).mean()


def poly_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """All monomials of (2x−1) up to ``degree`` in the 3 channels, constant excluded.

    x: [N,P,3] → [N,P,K] with K = C(degree+3, 3) − 1 (55 for degree 5).
    """
    u = 2.0 * x - 1.0
    r, g, b = u[..., 0], u[..., 1], u[..., 2]
    pr = [torch.ones_like(r)]
    pg = [torch.ones_like(g)]
    pb = [torch.ones_like(b)]
    for _ in range(degree):
        pr.append(pr[-1] * r)
        pg.append(pg[-1] * g)
        pb.append(pb[-1] * b)
    feats = []
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            for k in range(degree + 1 - i - j):
                if i + j + k == 0:
                    continue
                feats.append(pr[i] * pg[j] * pb[k])
    return torch.stack(feats, dim=-1)


def fit_colour_map(src: torch.Tensor, dst: torch.Tensor, degree: int, ridge: float) -> torch.Tensor:
    """Per-sample ridge least squares for a polynomial map M(x) = x + c + φ(x)·W with M(src) ≈ dst.

    src, dst: [N,P,3]. Returns the coefficients [N,K+1,3] (constant first). The fit is of the residual
    dst − src, so the ridge pulls M towards the identity. Solved in float64 via the normal equations
    (K ≤ 83 for degree ≤ 6, so this is tiny). No gradient flows through the fit.
    """
    with torch.no_grad():
        phi = poly_features(src.double(), degree)
        phi = torch.cat([torch.ones_like(phi[..., :1]), phi], dim=-1)  # [N,P,K+1]
        p = phi.shape[1]
        gram = phi.transpose(1, 2) @ phi / p  # [N,K+1,K+1]
        rhs = phi.transpose(1, 2) @ (dst.double() - src.double()) / p  # [N,K+1,3]
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        coef = torch.linalg.solve(gram + ridge * eye, rhs)
    return coef.to(src.dtype)


def apply_colour_map(x: torch.Tensor, coef: torch.Tensor, degree: int) -> torch.Tensor:
    """M(x) = x + [1, φ(x)]·coef for images x [N,3,H,W]; differentiable w.r.t. x (coef is a constant)."""
    n, c, h, w = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
    phi = poly_features(flat, degree)
    phi = torch.cat([torch.ones_like(phi[..., :1]), phi], dim=-1)
    mapped = flat + phi @ coef  # [N,HW,3]
    return mapped.reshape(n, h, w, c).permute(0, 3, 1, 2)


def discriminative_maps(
    out: torch.Tensor, gt: torch.Tensor, beta: torch.Tensor, degree: int, ridge: float, fit_stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """PixPerfect's discriminative pixel-space transform; returns (M(out), M(gt)).

    Per sample, an amplified target t = gt + β(out − gt) is built from *detached* tensors, and a
    polynomial colour map M is fitted (on a regular grid of all pixels, every ``fit_stride``-th, so
    the unchanged background pins M near the identity) to send out → t. M is then a frozen function
    that exaggerates exactly the colour differences the refiner still leaves.

    Gradients: M's coefficients are constants (stop-gradient, like a discriminator's weights); M(out)
    carries the gradient to ``out`` through the polynomial features; M(gt) carries none.
    """
    with torch.no_grad():
        o = out.detach()[:, :, ::fit_stride, ::fit_stride]
        g = gt[:, :, ::fit_stride, ::fit_stride]
        t = g + beta.view(-1, 1, 1, 1) * (o - g)
        n = o.shape[0]
        src = o.permute(0, 2, 3, 1).reshape(n, -1, 3)
        dst = t.permute(0, 2, 3, 1).reshape(n, -1, 3)
        coef = fit_colour_map(src, dst, degree, ridge)
    return apply_colour_map(out, coef, degree), apply_colour_map(gt, coef, degree).detach()


@dataclass
class LossConfig:
    w_charb: float = 1.0
    w_lap: float = 1.0
    w_disc: float = 1.0
    w_grain: float = 0.25
    w_psnr: float = 0.0  # weight of psnr_loss (dB units); MODEL.md's fine-tune experiments used 0.002
    w_harm: float = 0.0  # weight of harm_loss (dB worse than the network's starting point)
    w_fmse: float = 0.0  # weight of fill_mse (the error over the fill, normalised by its area)
    beta_min: float = 20.0
    beta_max: float = 40.0
    poly_degree: int = 5
    ridge: float = 1e-4
    fit_stride: int = 2
    disc_scale: int = 2  # the PixPerfect term works on 2×2-average-pooled images (colour is low-freq)
    lap_levels: int = 4


def refiner_loss(
    net: torch.Tensor,
    composite: torch.Tensor,
    gt: torch.Tensor,
    band: torch.Tensor,
    cfg: LossConfig,
    disc_weight: float,
    generator: torch.Generator | None = None,
    inputs: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss on the band-composited output; ``disc_weight`` ∈ [0,1] scales the PixPerfect term
    (0 during warm-up). The discriminative term is divided by the mean β so its scale is comparable.
    ``inputs`` is what the network saw (default: the composite); ``harm_loss`` compares against it.
    ``mask`` is the fill, which ``fill_mse`` needs (``cfg.w_fmse`` > 0)."""
    out = band_composite(composite, net, band)
    l_charb = charbonnier(out, gt, band)
    l_lap = laplacian_l1(out, gt, band, cfg.lap_levels)
    l_grain = grain_loss(out, gt, band)
    total = cfg.w_charb * l_charb + cfg.w_lap * l_lap + cfg.w_grain * l_grain
    logs = {"charb": l_charb.item(), "lap": l_lap.item(), "grain": l_grain.item()}
    if cfg.w_psnr > 0:
        l_psnr = psnr_loss(out, gt, band)
        total = total + cfg.w_psnr * l_psnr
        logs["neg_psnr"] = l_psnr.item()
    if cfg.w_fmse > 0:
        if mask is None:
            raise InputError("w_fmse > 0 needs the fill mask", cfg.w_fmse)
        l_fmse = fill_mse(out, gt, mask)
        total = total + cfg.w_fmse * l_fmse
        logs["fmse"] = l_fmse.item()
    if cfg.w_harm > 0:
        ref = band_composite(composite, composite if inputs is None else inputs, band)
        l_harm = harm_loss(out, ref, gt, band)
        total = total + cfg.w_harm * l_harm
        logs["harm_db"] = l_harm.item()
    if disc_weight > 0 and cfg.w_disc > 0:
        u = torch.rand(out.shape[0], generator=generator).to(out)
        beta = cfg.beta_min + (cfg.beta_max - cfg.beta_min) * u
        o, g, b = out, gt, band
        if cfg.disc_scale > 1:
            o, g, b = (F.avg_pool2d(t, cfg.disc_scale) for t in (out, gt, band))
        m_out, m_gt = discriminative_maps(o, g, beta, cfg.poly_degree, cfg.ridge, cfg.fit_stride)
        # Losses in the amplified space, divided by the mean β after (not before) the Charbonnier so
        # sub-eps colour errors land in its linear regime and keep a useful gradient.
        beta_mid = 0.5 * (cfg.beta_min + cfg.beta_max)
        l_disc = (charbonnier(m_out, m_gt, b) + laplacian_l1(m_out, m_gt, b, cfg.lap_levels - 1)) / beta_mid
        total = total + disc_weight * cfg.w_disc * l_disc
        logs["disc"] = l_disc.item()
    logs["total"] = total.item()
    return total, logs
