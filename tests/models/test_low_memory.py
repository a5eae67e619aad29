"""The low-memory forward (HOGformer.set_low_memory): the same mathematics, strip by strip and in place."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hogformer import load_model
from hogformer.models import HOGformer, preset
from hogformer.models.low_memory import add_by_strips_, bilinear_rows, strip_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_model(name: str, seed: int = 0) -> HOGformer:
    """A float64 network with weights far from their initialisation (LayerScale and temperature included)."""
    torch.manual_seed(seed)
    model = HOGformer(preset(name)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("i", range(4))
def test_low_memory_float64_matches_official(golden_dir, golden_cases, i):
    model = load_model(golden_dir / "tiny_weights.safetensors", dtype=torch.float64)
    x = golden_cases[f"input_{i}"]
    model.set_low_memory(8 * x.shape[-1])  # strips of 8 rows: several strips at every level
    with torch.no_grad():
        out = model(x)
    assert (out - golden_cases[f"output_{i}"]).abs().max().item() < 1e-7


@pytest.mark.parametrize(
    ("name", "shape", "rows"),
    [
        ("tiny", (1, 3, 48, 40), 8),  # lower levels not multiples of the HOG patch (padding inside strips)
        ("small", (2, 3, 72, 56), 8),  # batch 2, several heads at the lower levels
        ("small", (1, 3, 64, 48), 24),  # strips of 24 rows: a partial last strip
        ("small", (1, 3, 32, 32), 1000),  # one strip
    ],
)
def test_low_memory_equals_plain_forward(name, shape, rows):
    model = _random_model(name)
    torch.manual_seed(1)
    x = torch.rand(*shape, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x)
        model.set_low_memory(rows * shape[-1])
        out = model(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-10
    assert (ref - x).abs().max().item() > 1e-3  # the network does something: the comparison can fail


def test_low_memory_leaves_the_input_unchanged():
    model = _random_model("tiny").set_low_memory(8 * 32)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    before = x.clone()
    with torch.no_grad():
        model(x)
    assert torch.equal(x, before)


def test_low_memory_refuses_autograd():
    model = _random_model("tiny").set_low_memory()
    with pytest.raises(RuntimeError, match="inference"):
        model(torch.rand(1, 3, 16, 16, dtype=torch.float64))
    for bad in (0, -5, "large", 1.5, True):
        with pytest.raises(ValueError, match="strip_pixels"):
            model.set_low_memory(bad)


def test_auto_strip_size_is_an_eighth_of_the_image_within_bounds():
    from hogformer.models.hogformer import auto_strip_pixels

    assert auto_strip_pixels(512, 512) == 32768 and auto_strip_pixels(1024, 1024) == 131072
    assert auto_strip_pixels(16, 16) == 32768 and auto_strip_pixels(256, 256) == 32768  # at least 32K
    assert auto_strip_pixels(2048, 2048) == 262144 and auto_strip_pixels(8000, 6000) == 262144  # at most 256K
    assert auto_strip_pixels(768, 1000) == 768 * 1000 // 8


def test_low_memory_auto_strips_follow_the_input_size(monkeypatch, strip_calls):
    """``set_low_memory()`` sizes the strips per input: the blocks get an eighth of each input's pixels."""
    monkeypatch.setattr("hogformer.models.hogformer.MIN_STRIP_PIXELS", 64)  # small inputs, several strips
    model = _random_model("tiny")
    x = torch.rand(1, 3, 64, 48, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x)
        out = model.set_low_memory()(x)
    assert set(strip_calls) == {64 * 48 // 8}
    assert (out - ref).abs().max().item() < 1e-10 < (ref - x).abs().max().item()


@pytest.mark.parametrize("i", range(3))
def test_low_memory_float32_within_the_official_float32_noise(golden_dir, golden_cases, i):
    """float32 is chaotic (sorts on computed keys); low memory stays within 3x the official float32 error."""
    model = load_model(golden_dir / "tiny_weights.safetensors").set_low_memory(8 * 64)
    ref = golden_cases[f"output_{i}"]
    floor = max((golden_cases[f"output32_{i}"].double() - ref).abs().mean().item(), golden_cases[f"floor32_{i}"].item())
    with torch.no_grad():
        out = model(golden_cases[f"input_{i}"].float())
    assert (out.double() - ref).abs().mean().item() < 3 * floor + 1e-7


def test_strip_rows_cover_the_image_on_patch_boundaries():
    for h, w, px in [(100, 10, 160), (7, 5, 1), (64, 64, 10**6), (130, 33, 33 * 20)]:
        strips = strip_rows(h, w, px)
        assert strips[0][0] == 0 and strips[-1][1] == h
        assert all(a[1] == b[0] for a, b in zip(strips, strips[1:], strict=False))
        assert all(r0 % 8 == 0 and (r1 - r0 >= 8 or r1 == h) for r0, r1 in strips)


@pytest.mark.parametrize(("src", "dst"), [((5, 7), (40, 56)), ((3, 4), (17, 29)), ((1, 1), (8, 8))])
def test_bilinear_rows_equal_interpolate(src, dst):
    t = torch.rand(2, 3, *src, dtype=torch.float64)
    full = F.interpolate(t, size=dst, mode="bilinear", align_corners=False)
    for r0, r1 in [(0, dst[0]), (0, 3), (5, min(11, dst[0])), (dst[0] - 2, dst[0])]:
        torch.testing.assert_close(bilinear_rows(t, *dst, r0, r1), full[:, :, r0:r1], rtol=0, atol=1e-12)


def test_add_by_strips_sees_the_input_as_it_was():
    """Each delta reads a halo of rows around its strip; updates in place must not leak into later deltas."""
    x = torch.rand(1, 2, 37, 5, dtype=torch.float64)
    kernel = torch.rand(2, 1, 5, 1, dtype=torch.float64)  # a vertical 5-tap filter: halo of 2 rows
    expected = x + F.conv2d(x, kernel, padding=(2, 0), groups=2)

    y = x.clone()

    def delta(r0, r1):  # reads y, the tensor being updated
        lo, hi = max(r0 - 2, 0), min(r1 + 2, 37)
        return F.conv2d(F.pad(y[:, :, lo:hi], (0, 0, 2 - (r0 - lo), 2 - (hi - r1))), kernel, groups=2)

    assert add_by_strips_(y, strip_rows(37, 5, 8 * 5), delta) is y
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)


def test_one_head_attention_skips_the_order_independent_sort():
    """With one head the gradient order cannot change the attention (sums over all positions, per-position
    output), so the forward skips the key, the sort and the gathers; the sorted computation (as the official
    code runs it) gives the same float64 outputs and gradients."""
    from hogformer.models.attention import DHOGSA

    torch.manual_seed(3)
    model = HOGformer(preset("tiny")).double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    attns = [m for m in model.modules() if isinstance(m, DHOGSA)]
    assert any(a.num_heads == 1 for a in attns) and any(a.num_heads > 1 for a in attns)
    x = torch.rand(2, 3, 40, 56, dtype=torch.float64)
    results = []
    for sort in (True, False):
        for a in attns:
            a.sort_one_head = sort
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.square().mean().backward()
        results.append((out.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
    (ref, ref_grads), (out, grads) = results
    assert (out - ref).abs().max().item() < 1e-12
    for k, g in ref_grads.items():
        torch.testing.assert_close(grads[k], g, rtol=1e-9, atol=1e-13)
