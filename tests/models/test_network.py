"""Shapes, gradients, configuration and the state-dict contract of the network."""

from __future__ import annotations

import pytest
import torch

from hogformer.models import PRESETS, HOGformer, HOGformerConfig, preset
from hogformer.models.attention import _row_products, softmax_plus_one
from hogformer.models.hog import inverse_permutation, patch_sort_index, permute_pixels
from hogformer.models.layers import ChannelNorm

TINY = HOGformerConfig(dim=12, num_blocks=(1, 1, 1, 2), num_refinement_blocks=1)


def _perturbed(config: HOGformerConfig, seed: int = 0) -> HOGformer:
    torch.manual_seed(seed)
    model = HOGformer(config)
    with torch.no_grad():
        for p in model.parameters():  # init leaves sigma at 1e-5 and temperature at 1: make each matter
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 16, 40), (1, 3, 24, 16), (1, 3, 40, 8)])
def test_output_shape_for_multiples_of_8(shape):
    model = _perturbed(TINY).eval()
    with torch.no_grad():
        out = model(torch.rand(shape))
    assert out.shape == shape
    assert torch.isfinite(out).all()


def test_rejects_sizes_not_divisible_by_8():
    model = HOGformer(TINY)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 3, 20, 16))


def test_gradients_reach_every_parameter():
    model = _perturbed(TINY).train()
    out = model(torch.rand(2, 3, 32, 24))
    (out - torch.rand_like(out)).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_batch_items_are_independent():
    model = _perturbed(TINY).eval().double()
    x = torch.rand(2, 3, 24, 32, dtype=torch.float64)
    with torch.no_grad():
        both = model(x)
        one = model(x[1:])
    assert torch.allclose(both[1:], one, atol=1e-10)


def test_official_preset_parameter_count():
    model = HOGformer(preset("official"))
    assert sum(p.numel() for p in model.parameters()) == 16_646_220


def test_official_preset_matches_the_published_state_dict(golden_dir):
    rows = (golden_dir / "official_full_state_dict.tsv").read_text().splitlines()[1:]
    published = {}
    for row in rows:
        key, shape, dtype, kind = row.split("\t")
        published[key] = (tuple(int(s) for s in shape.strip("[]").split(",") if s.strip()), dtype, kind)
    with torch.device("meta"):
        model = HOGformer(preset("official"))
    params = {k for k, _ in model.named_parameters()}
    ours = {
        k: (tuple(v.shape), str(v.dtype).removeprefix("torch."), "parameter" if k in params else "buffer")
        for k, v in model.state_dict().items()
    }
    assert ours == published


def test_config_validation_and_official_spelling():
    cfg = HOGformerConfig.from_dict(
        {"dim": 12, "num_blocks": [1, 1, 1, 2], "LayerNorm_type": "BiasFree", "dual_pixel_task": False}
    )
    assert cfg.layernorm_type == "BiasFree" and cfg.num_blocks == (1, 1, 1, 2)
    assert HOGformerConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown HOGformerConfig fields: colour"):
        HOGformerConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="heads"):
        HOGformerConfig(dim=12, heads=(5, 2, 4, 8))
    with pytest.raises(ValueError, match="multiple of 4"):
        HOGformerConfig(dim=16)
    with pytest.raises(ValueError, match="layernorm_type"):
        HOGformerConfig(layernorm_type="Batch")
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    for cfg in PRESETS.values():  # every preset builds
        with torch.device("meta"):
            HOGformer(cfg)


def test_channel_norm_matches_layer_norm_over_channels():
    x = torch.randn(2, 7, 5, 3, dtype=torch.float64)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (7,), eps=1e-5).permute(0, 3, 1, 2)
    assert torch.allclose(ChannelNorm("WithBias")(x), ref, atol=1e-12)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    assert torch.allclose(ChannelNorm("BiasFree")(x), x / torch.sqrt(var + 1e-5), atol=1e-12)


def test_softmax_plus_one_is_stable_and_exact():
    a = torch.randn(3, 4, dtype=torch.float64)
    ref = a.exp() / (a.exp().sum(-1, keepdim=True) + 1)
    assert torch.allclose(softmax_plus_one(a), ref, atol=1e-15)
    big = torch.tensor([[1000.0, 999.0]])
    out = softmax_plus_one(big)
    assert torch.isfinite(out).all() and abs(out.sum().item() - 1) < 1e-6


@pytest.mark.parametrize("shape", [(1, 1, 5, 32768), (2, 3, 4, 16384), (1, 1, 3, 8192 + 16), (2, 1, 4, 100)])
def test_split_row_products_equal_the_direct_product(shape):
    # (the split runs for sequences of 8192 and more that halve evenly: 8, 4 and 2 chunks here; else direct)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    direct = q @ k.transpose(-1, -2)
    split = _row_products(q, k, split=True)
    torch.testing.assert_close(split, direct, rtol=1e-12, atol=1e-10)
    weights = torch.randn(direct.shape, dtype=torch.float64, generator=g)
    grads = torch.autograd.grad((split * weights).sum(), (q, k))
    for got, want in zip(grads, torch.autograd.grad((direct * weights).sum(), (q, k))):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_patch_sort_orders_each_patch_and_round_trips():
    torch.manual_seed(0)
    key = torch.rand(2, 16, 24)
    idx = patch_sort_index(key)
    x = key[:, None]  # sorting the key by its own order gives ascending patches
    sorted_x = permute_pixels(x, idx, 16, 24)
    patches = sorted_x.reshape(2, 2, 8, 3, 8).transpose(2, 3).reshape(2, 6, 64)
    assert (patches.diff(dim=-1) >= 0).all()
    back = permute_pixels(sorted_x, inverse_permutation(idx), 16, 24)
    assert torch.equal(back, x)


@pytest.mark.parametrize("channels_last", [None, True, False])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(2, 12, 8, 8), (1, 12, 5, 7), (1, 12, 1, 1)])
def test_phase_domain_diff_equals_the_published_form(bias, shape, channels_last):
    """DIFF runs without pixel shuffles, in either memory layout (channels-last is the CPU default); it must
    equal the literal shuffle form (spec 3) to rounding, forward and backward, and return a standard-layout
    tensor."""
    from hogformer.models.feedforward import DIFF

    torch.manual_seed(0)
    ffn = DIFF(12, 32, bias).double()
    ffn.channels_last = channels_last
    with torch.no_grad():
        for p in ffn.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    fast, ref = ffn(x), ffn.forward_reference(x)
    assert fast.is_contiguous()
    assert (fast - ref).abs().max().item() < 1e-12
    with torch.no_grad():  # the in-place inference path
        assert (ffn(x) - ref).abs().max().item() < 1e-12
    g_fast = torch.autograd.grad(fast.square().sum(), [x, *ffn.parameters()])
    g_ref = torch.autograd.grad(ref.square().sum(), [x, *ffn.parameters()])
    for a, b in zip(g_fast, g_ref):
        assert (a - b).abs().max().item() < 1e-10
