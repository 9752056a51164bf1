"""Losses: known values, zero at equality, and the PixPerfect amplification of small colour shifts."""

import numpy as np
import pytest
import torch
from seamrefine.imaging.imagemath import band_weights
from seamrefine_train.losses import (
    LossConfig,
    apply_colour_map,
    band_composite,
    charbonnier,
    discriminative_maps,
    fit_colour_map,
    grain_loss,
    laplacian_l1,
    laplacian_pyramid,
    poly_features,
    psnr_loss,
    refiner_loss,
)


def _patch_image(h=96, w=96, noise=0.004, seed=0):
    """Piecewise-flat colour patches + faint noise: the fill's colours also occur in the background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cols = torch.tensor([[0.55, 0.65, 0.85], [0.35, 0.5, 0.25], [0.6, 0.45, 0.3]])
    img = cols[(xx // 32 + yy // 48) % 3].permute(2, 0, 1)[None]
    return (img + noise * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)


def _mask_band(h=96, w=96):
    m = np.zeros((h, w), np.float32)
    m[30:70, 25:65] = 1
    band = torch.from_numpy(band_weights(m, 16, 8))[None, None]
    return torch.from_numpy(m)[None, None], band


def test_charbonnier_known_value_and_zero():
    x = torch.zeros(1, 3, 4, 4)
    y = torch.full((1, 3, 4, 4), 0.5)
    band = torch.ones(1, 1, 4, 4)
    want = np.sqrt(0.25 + 1e-6) - 1e-3
    assert float(charbonnier(x, y, band)) == pytest.approx(want, rel=1e-5)
    assert float(charbonnier(y, y, band)) == 0.0
    # outside the band nothing counts
    band0 = torch.zeros(1, 1, 4, 4)
    band0[..., 0, 0] = 1
    y2 = y.clone()
    y2[..., 1:, :] = 0
    assert float(charbonnier(x, y2, band0)) == pytest.approx(want, rel=1e-5)


def test_band_composite_matches_serving():
    comp, net = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    band = torch.tensor([[[[0.0, 0.25], [1.0, 0.5]]]])
    assert torch.equal(band_composite(comp, net, band), band.expand(1, 3, 2, 2))


def test_laplacian_pyramid_reconstructs_energy_and_zero():
    x = torch.rand(1, 3, 33, 40)
    pyr = laplacian_pyramid(x, 3)
    assert [p.shape[-2:] for p in pyr] == [(33, 40), (17, 20), (9, 10), (5, 5)]
    band = torch.ones(1, 1, 33, 40)
    assert float(laplacian_l1(x, x, band, 3)) == 0.0
    assert float(laplacian_l1(x, x + 0.1, band, 3)) > 0.0


def test_poly_features_count_and_values():
    x = torch.full((1, 2, 3), 0.75)  # u = 0.5
    phi = poly_features(x, 5)
    assert phi.shape == (1, 2, 55)
    assert float(phi.max()) == pytest.approx(0.5)
    assert float(phi.min()) == pytest.approx(0.5**5)


def test_colour_map_fit_recovers_polynomial():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 500, 3, generator=g)
    dst = src + 0.1 * (2 * src - 1) ** 2 - 0.05
    coef = fit_colour_map(src, dst, degree=3, ridge=1e-9)
    img = src[:, :400].reshape(2, 20, 20, 3).permute(0, 3, 1, 2)
    want = dst[:, :400].reshape(2, 20, 20, 3).permute(0, 3, 1, 2)
    assert torch.allclose(apply_colour_map(img, coef, 3), want, atol=1e-4)


def test_discriminative_map_amplifies_small_colour_shift():
    """A 2 % colour shift inside the mask costs ≥ 8× more in the mapped space than in plain L1/Charbonnier."""
    gt = _patch_image()
    mask, band = _mask_band()
    out = gt + mask * torch.tensor([0.02, -0.02, 0.01]).view(1, 3, 1, 1)
    m_out, m_gt = discriminative_maps(out, gt, torch.tensor([30.0]), degree=5, ridge=1e-4, fit_stride=2)
    plain_l1 = ((out - gt).abs() * band).sum()
    mapped_l1 = ((m_out - m_gt).abs() * band).sum()
    assert float(mapped_l1 / plain_l1) > 8.0
    assert float(charbonnier(m_out, m_gt, band) / charbonnier(out, gt, band)) > 8.0


def test_discriminative_map_gradients():
    """M's coefficients are constants: gradient reaches `out` through M(out); M(gt) carries none."""
    gt = _patch_image()
    mask, band = _mask_band()
    out = (gt + 0.02 * mask).requires_grad_(True)
    m_out, m_gt = discriminative_maps(out, gt, torch.tensor([25.0]), 5, 1e-4, 2)
    assert not m_gt.requires_grad
    charbonnier(m_out, m_gt, band).backward()
    assert out.grad is not None and float(out.grad.abs().sum()) > 0
    # identical images: the map is the identity and the loss is 0
    same_out, same_gt = discriminative_maps(gt, gt, torch.tensor([30.0]), 5, 1e-4, 2)
    assert float((same_out - same_gt).abs().max()) == 0.0


def test_grain_loss_prefers_matching_grain():
    g = torch.Generator().manual_seed(1)
    flat = torch.full((1, 3, 64, 64), 0.5)
    gt = flat + 0.03 * torch.randn(1, 3, 64, 64, generator=g)
    other_grain = flat + 0.03 * torch.randn(1, 3, 64, 64, generator=g)
    band = torch.ones(1, 1, 64, 64)
    assert float(grain_loss(other_grain, gt, band)) < 0.3 * float(grain_loss(flat, gt, band))


def test_refiner_loss_zero_for_perfect_output_and_disc_switch():
    gt = _patch_image()
    mask, band = _mask_band()
    comp = gt + mask * 0.03
    cfg = LossConfig()
    total, logs = refiner_loss(gt, comp, gt, band, cfg, disc_weight=1.0, generator=torch.Generator())
    assert float(total) == pytest.approx(0.0, abs=1e-7)
    _, logs_off = refiner_loss(comp, comp, gt, band, cfg, disc_weight=0.0)
    assert "disc" not in logs_off and logs_off["charb"] > 0
    _, logs_on = refiner_loss(comp, comp, gt, band, cfg, disc_weight=1.0, generator=torch.Generator())
    assert logs_on["disc"] > 0 and logs_on["total"] > logs_off["total"]


def test_psnr_loss_known_value_and_cap():
    gt = torch.full((2, 3, 8, 8), 0.5)
    band = torch.ones(2, 1, 8, 8)
    out = gt.clone()
    out[0] += 0.1  # mse 1e-2 → −20 dB; sample 1 exact → capped at 10·log10(eps) = −50 dB
    expected = 0.5 * (10 * np.log10(1e-2 + 1e-5) - 50.0)
    assert float(psnr_loss(out, gt, band)) == pytest.approx(expected, abs=1e-3)
    half = band.clone()
    half[..., 4:] = 0  # only band pixels count: an error outside the band costs nothing
    out2 = gt.clone()
    out2[..., 4:] += 0.3
    assert float(psnr_loss(out2, gt, half)) == pytest.approx(-50.0, abs=1e-3)


def test_psnr_term_switch():
    gt = _patch_image()
    mask, band = _mask_band()
    comp = gt + mask * 0.03
    _, off = refiner_loss(comp, comp, gt, band, LossConfig(), disc_weight=0.0)
    total, on = refiner_loss(comp, comp, gt, band, LossConfig(w_psnr=0.002), disc_weight=0.0)
    assert "neg_psnr" not in off and on["neg_psnr"] < -20
    assert on["total"] == pytest.approx(off["total"] + 0.002 * on["neg_psnr"], rel=1e-5)


def test_harm_loss_known_values():
    """0 where the output is at least as good as the reference; else the dB it lost (per sample mean)."""
    from seamrefine_train.losses import harm_loss

    y = torch.zeros(2, 3, 4, 4)
    band = torch.ones(2, 1, 4, 4)
    ref = torch.full_like(y, 0.1)
    better = torch.full_like(y, 0.05)
    worse = torch.full_like(y, 0.2)
    assert harm_loss(better, ref, y, band, eps=0.0).item() == 0.0
    lost = harm_loss(worse, ref, y, band, eps=0.0).item()
    assert abs(lost - 20 * np.log10(2.0)) < 1e-4  # twice the error: 6.02 dB worse
    mixed = torch.cat([better[:1], worse[:1]])
    assert abs(harm_loss(mixed, ref, y, band, eps=0.0).item() - lost / 2) < 1e-4


def test_refiner_loss_harm_term_is_logged_and_uses_the_inputs():
    from seamrefine_train.losses import LossConfig, refiner_loss

    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 16, 16, generator=g)
    composite = gt + 0.1
    band = torch.ones(2, 1, 16, 16)
    cfg = LossConfig(w_harm=1.0)
    _, logs = refiner_loss(composite, composite, gt, band, cfg, 0.0, inputs=gt)
    assert logs["harm_db"] > 10  # the network undid the perfect input it was given
    _, logs = refiner_loss(composite, composite, gt, band, cfg, 0.0)
    assert logs["harm_db"] == 0.0


def test_fill_mse_known_values_and_area_normalisation():
    """fMSE: the squared error over the fill per sample, divided by the fill's own area, then the mean
    over samples; pixels outside the fill do not count, however wrong."""
    from seamrefine_train.losses import fill_mse

    y = torch.zeros(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, :2, :2] = 1.0  # a 4-pixel fill
    mask[1, :, :, :4] = 1.0  # a 32-pixel fill
    x = torch.full_like(y, 0.1)  # the same error everywhere: 0.01 per pixel and channel
    assert abs(fill_mse(x, y, mask).item() - 0.01) < 1e-6  # fill size does not dilute it
    x[:, :, 6:, 6:] = 1.0  # far outside both fills
    assert abs(fill_mse(x, y, mask).item() - 0.01) < 1e-6
    x[0, :, 0, 0] = 0.3  # one of sample 0's four fill pixels: (3·0.01 + 0.09) / 4 there
    assert abs(fill_mse(x, y, mask).item() - 0.5 * (0.03 + 0.09) / 4 - 0.5 * 0.01) < 1e-6


def test_refiner_loss_fmse_term_needs_the_mask():
    from seamrefine.errors import InputError
    from seamrefine_train.losses import LossConfig, refiner_loss

    gt = torch.zeros(1, 3, 8, 8)
    band = torch.ones(1, 1, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    cfg = LossConfig(w_fmse=1.0)
    _, logs = refiner_loss(gt + 0.1, gt + 0.1, gt, band, cfg, 0.0, mask=mask)
    assert abs(logs["fmse"] - 0.01) < 1e-6
    with pytest.raises(InputError, match="w_fmse > 0 needs the fill mask"):
        refiner_loss(gt + 0.1, gt + 0.1, gt, band, cfg, 0.0)
