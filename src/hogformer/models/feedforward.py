"""DIFF, the dynamic-interaction feed-forward network of a HOGformer block (paper Sec. 3.3; spec 3).

The published DIFF expands to ``2h`` channels, PixelShuffles to twice the resolution, runs two depthwise
branches there and PixelUnshuffles back. Here the same arithmetic runs in the *phase domain*, at the input's
resolution, without either shuffle: pixel ``(2i+di, 2j+dj)`` of a shuffled channel ``c`` is channel
``4c + 2di + dj`` at ``(i, j)`` before the shuffle, so

* the dilation-2 3x3 depthwise conv at 2x resolution is a 3x3 depthwise conv on each of the 4 phase channels;
* the 5x5 depthwise conv at 2x resolution is a grouped 3x3 conv from the 4 phases of a channel to its 4 phases
  (each 5x5 tap lands on exactly one (phase, offset) pair);
* the 1-channel ``decompose`` conv is one 1x1 output per phase;
* PixelUnshuffle gives back exactly the phase order, which ``project_out`` consumes.

On the CPU the block runs in channels-last memory layout, where oneDNN's grouped and 1x1 convolutions are
faster, and Mish is computed from one exponential (:func:`mish_gate`). The parameters keep their published
names and shapes; :meth:`DIFF.forward_reference` is the literal form
(tests check both agree to float64 rounding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerScale(nn.Module):
    """A learnable per-channel scale ``(1, C, 1, 1)`` (the official ``sigma`` module)."""

    def __init__(self, channels: int, init: float = 1e-5) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _phase_taps() -> torch.Tensor:
    """For the 4x4x3x3 slots (out phase, in phase, ky, kx) of the phase-domain 5x5 conv, the index of the 5x5
    tap that lands there, or 25 (a zero) where none does."""
    index = torch.full((4, 4, 3, 3), 25, dtype=torch.long)
    for di in range(2):
        for dj in range(2):
            for u in range(5):
                for v in range(5):
                    ry, rx = di + u - 2, dj + v - 2  # offset on the 2x grid from output pixel (2i+di, 2j+dj)
                    si, sj = ry % 2, rx % 2  # the input phase ...
                    oy, ox = (ry - si) // 2, (rx - sj) // 2  # ... and the offset on the 1x grid
                    index[di * 2 + dj, si * 2 + sj, oy + 1, ox + 1] = u * 5 + v
    return index


_TAPS = _phase_taps().flatten()


class _Decompose(torch.autograd.Function):
    """``t + s * (t - g)`` (``s`` and the small ``g`` broadcast against ``t``: ``(1, q, 1, 1, 1)`` and
    ``(B, 1, 4, H, W)`` for a ``(B, q, 4, H, W)`` view of the phases, or the same axes channels-last) that keeps
    ``t`` (which the ``decompose`` conv keeps anyway) and ``g`` for the backward pass, not the full-size ``t - g``
    autograd would keep for the gradient of ``s``."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, s: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(t, s, g)
        return torch.addcmul(t, s, t - g)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        t, s, g = ctx.saved_tensors
        grad_t = grad * (1 + s) if ctx.needs_input_grad[0] else None
        grad_s = (grad * (t - g)).sum_to_size(s.shape) if ctx.needs_input_grad[1] else None
        grad_g = -(grad * s).sum_to_size(g.shape) if ctx.needs_input_grad[2] else None
        return grad_t, grad_s, grad_g


def _exp_and_n(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``u = exp(x)`` and ``n = u (u + 2)``, with the exponent clamped where ``n`` would overflow (beyond it
    ``n / (n + 2)`` is 1 to the dtype's precision)."""
    limit = 5.0 if x.dtype == torch.float16 else 20.0
    u = x.clamp(max=limit).exp_()
    return u, (u + 2).mul_(u)


def _mish_parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``tanh(softplus(x))`` and ``exp(x)`` (clamped), from one exponential: with ``u = exp(x)``,
    ``tanh(log(1 + u)) = n / (n + 2)`` where ``n = u (u + 2)``."""
    u, n = _exp_and_n(x)
    return n.div_(n + 2), u


def _mish(x: torch.Tensor) -> torch.Tensor:
    """``mish(x)`` as :func:`_mish_parts` computes it, holding two temporaries of ``x``'s size at most."""
    u, n = _exp_and_n(x)
    return n.div_(torch.add(n, 2, out=u)).mul_(x)


class _MishGate(torch.autograd.Function):
    """``mish(x) * a``, keeping only ``x`` and ``a`` for the backward pass (``mish(x)`` is recomputed there)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, a)
        return _mish(x).mul_(a)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, a = ctx.saved_tensors
        t, u = _mish_parts(x)
        grad_a = grad * t * x if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            # d mish / dx = t + x (1 - t^2) sigmoid(x), sigmoid(x) = u / (1 + u)
            slope = (1 - t.square()).mul_(x).mul_(u.div_(u + 1)).add_(t)
            grad_x = slope.mul_(grad).mul_(a)
        return grad_x, grad_a


def mish_gate(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``mish(x) * a``. On the CPU from one exponential and in-place passes (PyTorch's own Mish kernel costs
    about twice as much there); elsewhere, and in traced or exported graphs, PyTorch's Mish."""
    if x.device.type != "cpu" or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return F.mish(x) * a
    if torch.is_grad_enabled() and (x.requires_grad or a.requires_grad):
        return _MishGate.apply(x, a)
    return _mish(x).mul_(a)


class DIFF(nn.Module):
    """Feed-forward: 1x1 expand, PixelShuffle(2), two depthwise branches gated by Mish, a feature
    decomposition step, PixelUnshuffle(2), 1x1 project (spec 3), computed in the phase domain."""

    def __init__(self, dim: int, hidden: int, bias: bool) -> None:
        super().__init__()
        if hidden % 4:
            raise ValueError(f"DIFF hidden width must be a multiple of 4, got {hidden}")
        quarter = hidden // 4
        self.quarter = quarter
        self.sigma = LayerScale(quarter)
        self.decompose = nn.Conv2d(quarter, 1, kernel_size=1, bias=True)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv_5 = nn.Conv2d(quarter, quarter, kernel_size=5, padding=2, groups=quarter, bias=bias)
        self.dwconv_dilated2_1 = nn.Conv2d(
            quarter, quarter, kernel_size=3, padding=2, dilation=2, groups=quarter, bias=bias
        )
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)
        #: Run in channels-last memory layout: ``None`` (default) on the CPU, where oneDNN's grouped and 1x1
        #: convolutions run that layout about twice and 1.2x as fast; ``True``/``False`` to force it.
        self.channels_last: bool | None = None

    def _phase_weights(self) -> tuple[torch.Tensor, ...]:
        q = self.quarter
        w5 = torch.cat((self.dwconv_5.weight.reshape(q, 25), self.dwconv_5.weight.new_zeros(q, 1)), dim=1)
        w5 = w5[:, _TAPS.to(w5.device)].reshape(4 * q, 4, 3, 3)
        w3 = self.dwconv_dilated2_1.weight.repeat_interleave(4, dim=0)
        eye = torch.eye(4, dtype=w5.dtype, device=w5.device)
        wd = torch.einsum("c,pk->pck", self.decompose.weight.reshape(q), eye).reshape(4, 4 * q, 1, 1)
        return w5, w3, wd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.quarter
        w5, w3, wd = self._phase_weights()
        b5 = None if self.dwconv_5.bias is None else self.dwconv_5.bias.repeat_interleave(4)
        b3 = None if self.dwconv_dilated2_1.bias is None else self.dwconv_dilated2_1.bias.repeat_interleave(4)
        nhwc = x.device.type == "cpu" if self.channels_last is None else self.channels_last
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        # project_in's two halves (the phases of the shuffled a and b, 4q channels each) as two products, so
        # each is dense in memory and freed once its depthwise branch has run
        wa, wb = self.project_in.weight.chunk(2)
        ba, bb = (None, None) if self.project_in.bias is None else self.project_in.bias.chunk(2)
        t = mish_gate(
            F.conv2d(F.conv2d(x, wb, bb), w3, b3, padding=1, groups=4 * q),
            F.conv2d(F.conv2d(x, wa, ba), w5, b5, padding=1, groups=q),
        )
        assert self.decompose.bias is not None  # built with bias=True
        g = F.gelu(F.conv2d(t, wd, self.decompose.bias.expand(4)))  # (B, 4, H, W): one map per phase
        n, _, h, w = t.shape
        scale = self.sigma.scale
        if nhwc:  # channel 4c + p is axis (c, p) of the last two
            t5, s, g5 = t.permute(0, 2, 3, 1).reshape(n, h, w, q, 4), scale.view(q, 1), g.permute(0, 2, 3, 1)
            g5 = g5.reshape(n, h, w, 1, 4)
        else:
            t5, s, g5 = t.view(n, q, 4, h, w), scale.view(1, q, 1, 1, 1), g.view(n, 1, 4, h, w)
        if torch.is_grad_enabled() and t.requires_grad:
            # A function that keeps one hidden-width map fewer for the backward pass (tested against the plain
            # expression).
            t5 = _Decompose.apply(t5, s, g5)
        else:  # in place: t is this function's own temporary
            t5 = t5.addcmul_(t5 - g5, s)
        t = t5.reshape(n, h, w, 4 * q).permute(0, 3, 1, 2) if nhwc else t5.view(n, 4 * q, h, w)
        return self.project_out(t).contiguous()

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The literal published computation (with both pixel shuffles), for tests."""
        t = F.pixel_shuffle(self.project_in(x), 2)
        a, b = t.chunk(2, dim=1)
        t = F.mish(self.dwconv_dilated2_1(b)) * self.dwconv_5(a)
        t = t + self.sigma(t - F.gelu(self.decompose(t)))
        return self.project_out(F.pixel_unshuffle(t, 2))
