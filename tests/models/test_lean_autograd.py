"""The autograd functions that keep less for the backward pass (DIFF's decomposition step, the fixed Sobel
filter, the pixel re-ordering): the same gradients as the plain expressions, and fewer saved maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hogformer.models.feedforward import DIFF, mish_gate
from hogformer.models.hog import permute_pixels
from hogformer.models.layers import sobel, sobel_kernels


def _diff() -> DIFF:
    torch.manual_seed(0)
    ffn = DIFF(16, 40, bias=True).double()
    with torch.no_grad():  # away from the initialisation (sigma starts at 1e-5), so every term matters
        for p in ffn.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return ffn


def test_diff_gradients_equal_the_published_computation() -> None:
    ffn = _diff()
    x = torch.randn(2, 16, 12, 10, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 16, 12, 10, dtype=torch.float64)
    grads = []
    for forward in (ffn.forward, ffn.forward_reference):
        ffn.zero_grad(set_to_none=True)
        x.grad = None
        (forward(x) * g).sum().backward()
        grads.append({"x": x.grad.clone(), **{k: p.grad.clone() for k, p in ffn.named_parameters()}})
    lean, reference = grads
    assert set(lean) == set(reference)
    for name in reference:
        assert torch.allclose(lean[name], reference[name], rtol=1e-10, atol=1e-12), name


def test_diff_keeps_six_hidden_maps_for_backward(saved_bytes) -> None:
    """project_in's output (2 maps), the two depthwise outputs (the Mish gate recomputes Mish from them), the
    gated map and project_out's input: six maps of the hidden width (plain autograd keeps eight: also Mish's
    output and ``t - g``)."""
    ffn = _diff().float()
    x = torch.randn(1, 16, 32, 32, requires_grad=True)
    unit = 40 * 32 * 32 * 4  # one hidden-width map (4q = 40 channels), float32
    _, saved = saved_bytes(lambda: ffn(x))
    # + the input and half a map for everything small (the 4-channel decomposition maps, the weights)
    assert saved <= 6.5 * unit + x.numel() * 4


def test_mish_gate_equals_mish_times_gate() -> None:
    """Forward and gradients in float64 over the whole range (exp overflow, underflow), and no overflow in
    float16 or bfloat16."""
    x = torch.cat((torch.linspace(-120, 120, 481), torch.randn(200) * 4)).double().reshape(1, 1, 681)
    a = torch.randn_like(x)
    g = torch.randn_like(x)
    results = []
    for fn in (mish_gate, lambda x, a: F.mish(x) * a):
        xr, ar = x.clone().requires_grad_(), a.clone().requires_grad_()
        y = fn(xr, ar)
        (y * g).sum().backward()
        results.append((y.detach(), xr.grad, ar.grad))
    for got, want in zip(*results):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    for dtype in (torch.float16, torch.bfloat16):
        got = mish_gate(x.to(dtype), a.to(dtype)).double()
        assert torch.isfinite(got).all()
        assert torch.allclose(got, F.mish(x) * a, rtol=2e-2, atol=2e-2), dtype


def test_sobel_gradient_is_the_convolutions(saved_bytes) -> None:
    kx, ky = (k.double() for k in sobel_kernels(3))
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    gx, gy = torch.randn(2, 3, 7, 9, dtype=torch.float64), torch.randn(2, 3, 7, 9, dtype=torch.float64)
    a, b = sobel(x, kx, ky)
    (a * gx + b * gy).sum().backward()
    lean = x.grad.clone()
    x.grad = None
    (F.conv2d(x, kx, padding=1, groups=3) * gx + F.conv2d(x, ky, padding=1, groups=3) * gy).sum().backward()
    assert torch.allclose(lean, x.grad, rtol=0, atol=1e-12)
    assert saved_bytes(lambda: sobel(x, kx, ky))[1] == 0  # fixed kernels: nothing to keep


def test_permute_pixels_gradient_and_what_it_keeps(saved_bytes) -> None:
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    hp, wp = 8, 8  # padded grid
    index = torch.stack([torch.randperm(hp * wp) for _ in range(2)])
    g = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    (permute_pixels(x, index, hp, wp) * g).sum().backward()
    lean = x.grad.clone()
    x.grad = None
    flat = F.pad(x, (0, wp - 6, 0, hp - 5)).reshape(2, 3, hp * wp)
    plain = flat.gather(2, index[:, None, :].expand(2, 3, hp * wp)).view(2, 3, hp, wp)[:, :, :5, :6]
    (plain * g).sum().backward()
    assert torch.equal(lean, x.grad)
    x_big = torch.randn(1, 4, 64, 64, requires_grad=True)
    index_big = torch.randperm(64 * 64)[None]
    assert saved_bytes(lambda: permute_pixels(x_big, index_big, 64, 64))[1] < x_big.numel() * 4  # not x itself


def test_sobel_backward_under_bfloat16_autocast() -> None:
    """Autocast makes the outputs (so their gradients) bfloat16 while the kernels stay float32."""
    kx, ky = sobel_kernels(4)
    x = torch.randn(1, 4, 16, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = sobel(x, kx, ky)
    assert a.dtype == torch.bfloat16
    (a.float().square() + b.float().square()).sum().backward()
    lean = x.grad.clone()
    x.grad = None
    a, b = sobel(x, kx, ky)
    (a.square() + b.square()).sum().backward()
    assert lean.dtype == torch.float32
    assert (lean - x.grad).norm() / x.grad.norm() < 2e-2
