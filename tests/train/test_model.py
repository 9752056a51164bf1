"""SeamRefiner: shapes, identity at init, any resolution, size budget, mask gating of colour."""

import pytest
import torch
import torch.nn.functional as F
from seamrefine_train.model import ModelConfig, SeamRefiner, count_params, high_freq_energy, upsample_bilinear


def _inputs(n=2, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, h, w, generator=g)
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, h // 4 : 3 * h // 4, w // 4 : w // 2] = 1.0
    return image, mask


def test_forward_shape_and_range():
    model = SeamRefiner().eval()
    image, mask = _inputs()
    with torch.no_grad():
        out = model(image, mask)
    assert out.shape == image.shape
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_identity_at_init():
    """Zero-initialised heads: the untrained model returns its input exactly."""
    model = SeamRefiner().eval()
    image, mask = _inputs(seed=3)
    with torch.no_grad():
        out = model(image, mask)
    assert torch.equal(out, image)


@pytest.mark.parametrize("hw", [(16, 16), (50, 202), (256, 130)])
def test_any_even_resolution(hw):
    model = SeamRefiner().eval()
    image, mask = _inputs(1, *hw)
    with torch.no_grad():
        assert model(image, mask).shape == (1, 3, *hw)


def test_odd_size_is_an_error():
    model = SeamRefiner().eval()
    image, mask = _inputs(1, 33, 32)
    with pytest.raises(RuntimeError):
        model(image, mask)


def test_parameter_budget():
    """≤ 5 M parameters (the ONNX file is ~4 bytes per parameter)."""
    assert count_params(SeamRefiner()) <= 5_000_000


def test_colour_change_is_gated_by_mask():
    """With a non-zero colour head and a zero detail head, pixels outside the mask are unchanged."""
    model = SeamRefiner().eval()
    with torch.no_grad():
        model.colour.head.bias[9:12] = 0.1  # add +0.1 offset everywhere the gate allows
    image, mask = _inputs(1)
    image = image * 0.5
    with torch.no_grad():
        out = model(image, mask)
    outside = mask.expand_as(image) == 0
    assert torch.equal(out[outside], image[outside])
    inside = mask.expand_as(image) == 1
    assert torch.allclose(out[inside], image[inside] + 0.1, atol=1e-6)


def test_noise_field_deterministic_and_tiled():
    model = SeamRefiner(ModelConfig(noise_tile=8))
    f = model.noise_field(2, 20, 17)
    assert f.shape == (2, 1, 20, 17)
    assert torch.equal(f[:, :, :8, :8], f[:, :, 8:16, 8:16])
    assert torch.equal(SeamRefiner(ModelConfig(noise_tile=8)).noise_field(1, 8, 8), f[:1, :, :8, :8])


def test_high_freq_energy_known_values():
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert torch.equal(high_freq_energy(flat), torch.zeros(1, 1, 8, 8))
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]) % 2
    img = checker.float().expand(1, 3, 8, 8)
    assert float(high_freq_energy(img)[0, 0, 4, 4]) > 1.0


def test_config_round_trip():
    cfg = ModelConfig(hi_ch=16, low_ch=(8, 16, 32))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_ring_sums_known_values():
    from seamrefine_train.model import RING_WIDTHS, ring_sums

    m = torch.zeros(1, 1, 40, 40)
    m[..., 10:30, 10:30] = 1
    x = torch.rand(1, 2, 40, 40)
    r = torch.cat(ring_sums([x], m), 1)
    assert r.shape == (1, 2 * (2 + 1) * len(RING_WIDTHS), 40, 40)  # [x·r_in, r_in, x·r_out, r_out] per width
    k = RING_WIDTHS[0]
    r_in, r_out = r[:, 2:3], r[:, 5:6]
    # inside ring: mask pixels within k px of the edge; outside ring: background pixels within k px
    assert float(r_in[0, 0, 10, 20]) == 1 and float(r_in[0, 0, 10 + k, 20]) == 0
    assert float(r_in[0, 0, 20, 20]) == 0
    assert float(r_out[0, 0, 9, 20]) == 1 and float(r_out[0, 0, 10 - k, 20]) == 1
    assert float(r_out[0, 0, 9 - k, 20]) == 0 and float(r_out[0, 0, 20, 20]) == 0
    assert torch.equal(r[:, 0:2], x * r_in)
    k = RING_WIDTHS[1]  # the wider rings grow the narrower ones' dilations: still exactly k px
    m = torch.zeros(1, 1, 80, 80)
    m[..., 20:60, 20:60] = 1
    r_in, r_out = ring_sums([], m)[2:4]
    assert float(r_in[0, 0, 20 + k - 1, 40]) == 1 and float(r_in[0, 0, 20 + k, 40]) == 0
    assert float(r_out[0, 0, 20 - k, 40]) == 1 and float(r_out[0, 0, 19 - k, 40]) == 0


def test_ring_sums_match_direct_dilations_of_a_soft_mask():
    import torch.nn.functional as F
    from seamrefine_train.model import RING_WIDTHS, ring_sums

    def dilate(m, k):  # the plain (2k+1)² max-pool
        return F.max_pool2d(m, 2 * k + 1, stride=1, padding=k)

    g = torch.Generator().manual_seed(3)
    m = (torch.rand(1, 1, 48, 56, generator=g) > 0.8).float() * torch.rand(1, 1, 48, 56, generator=g)
    got = ring_sums([], m)
    for j, k in enumerate(RING_WIDTHS):
        assert torch.equal(got[2 * j], m - (1.0 - dilate(1.0 - m, k)))
        assert torch.equal(got[2 * j + 1], dilate(m, k) - m)


def test_masked_stats_measure_a_uniform_colour_step():
    """Flat background, fill shifted by δ: every statistic of (outside − inside) reads −δ."""
    import torch.nn.functional as F
    from seamrefine_train.model import STAT_SCALES, masked_stats, ring_sums

    h = w = 128
    mask = torch.zeros(1, 1, h, w)
    mask[..., 32:96, 40:100] = 1
    delta = torch.tensor([0.02, -0.01, 0.005]).view(1, 3, 1, 1)
    image = torch.full((1, 3, h, w), 0.4) + delta * mask
    hf = high_freq_energy(image)
    feats = torch.cat([image, mask, hf, *ring_sums([image, hf], mask)], 1)
    low = F.interpolate(feats, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    st = masked_stats(low[:, :5], low[:, 5:])
    assert st.shape == (1, 15 * len(STAT_SCALES), 64, 64)
    glob = st[0, 15 * (len(STAT_SCALES) - 1) :, 0, 0]  # whole-crop scale
    for off in (0, 5, 10):  # region, ring 3 px, ring 12 px
        assert torch.allclose(glob[off : off + 3], -delta.flatten(), atol=1e-3), (off, glob[off : off + 3])
    assert float(glob[4]) > 0 and float(glob[9]) > 0.5 and float(glob[14]) > 0.5
    loud = masked_stats(low[:, :5], low[:, 5:], gain=20.0)[0, 15 * (len(STAT_SCALES) - 1) :, 0, 0]
    for off in (0, 5, 10):  # the gain multiplies the differences, not the presence weights
        assert torch.allclose(loud[off : off + 3], -20.0 * delta.flatten(), atol=2e-2)
        assert torch.allclose(loud[off + 3], 20.0 * glob[off + 3], atol=1e-4)  # grain difference
        assert torch.equal(loud[off + 4], glob[off + 4])


def test_retarget_stat_scale_keeps_the_function():
    from seamrefine_train.model import retarget_stat_scale, stat_channels

    torch.manual_seed(0)
    a = SeamRefiner(ModelConfig())
    for p in a.parameters():  # identity-initialised heads would hide any difference
        p.data.normal_(0, 0.05)
    b = SeamRefiner(ModelConfig(stat_scale=20.0))
    b.load_state_dict(retarget_stat_scale(a.state_dict(), 1.0, 20.0))
    image, mask = _inputs()
    image[:, :, 16:48, 24:48] += 0.05
    with torch.no_grad():
        assert torch.allclose(a(image, mask), b(image, mask), atol=1e-5)
    assert len(stat_channels()) == 12 * 4 and max(stat_channels()) < 5 + 15 * 4


def test_prune_dead_detail_keeps_outputs_and_refuses_a_live_branch():
    from seamrefine_train.model import prune_dead_detail

    torch.manual_seed(4)
    model = SeamRefiner(ModelConfig(hi_ch=8, hi_layers=1)).eval()
    probes = [_inputs(seed=s) for s in range(2)]
    with torch.no_grad():
        for p in model.detail.parameters():
            p.copy_(0.1 * torch.randn_like(p))
        last = model.detail.body[-2]  # the last conv before the last ReLU
        last.weight.zero_()
        last.bias.fill_(-1.0)  # its ReLU never fires: the branch only adds the tail's bias
        model.detail.tail.bias.zero_()
    pruned = prune_dead_detail(model, probes)
    assert pruned.detail is None and pruned.cfg.detail is False
    assert not any(k.startswith("detail.") for k in pruned.state_dict())
    with torch.no_grad():
        image, mask = _inputs(seed=9)
        torch.testing.assert_close(pruned(image, mask), model(image, mask), atol=0, rtol=0)
        last.bias.fill_(1.0)  # alive again
    with pytest.raises(ValueError, match="not dead") as e:
        prune_dead_detail(model, probes)
    assert e.value.args[1] > 1e-5


@pytest.mark.parametrize("hw", [(1024, 768), (130, 74), (32, 32), (20, 12)])
def test_upsample_bilinear_is_interpolate(hw):
    # the colour coefficients' upsampling as two matrix products: F.interpolate's bilinear weights
    x = torch.randn(2, 5, 32, 32, generator=torch.Generator().manual_seed(0))
    ref = F.interpolate(x, size=hw, mode="bilinear", align_corners=False)
    assert torch.allclose(upsample_bilinear(x, *hw), ref, atol=2e-5)
    ramp = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 2, 4)  # known values: a linear ramp
    out = upsample_bilinear(ramp, 2, 8)  # samples at x = (j + 0.5) / 2 − 0.5, clamped to [0, 3]
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]))
    assert upsample_bilinear(x.half(), 64, 64).dtype == torch.float16  # the fp16 export's path
