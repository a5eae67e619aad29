"""Building blocks shared by the U-Net: parameter-free norms, patch embeddings and resampling (spec 1-2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_NORM_EPS = 1e-5


class ChannelNorm(nn.Module):
    """Per-pixel normalisation over channels, without learnable parameters (spec 2).

    ``WithBias``: ``(x - mean) / sqrt(var + 1e-5)``; ``BiasFree``: ``x / sqrt(var + 1e-5)``, ``var`` the biased
    variance about the mean in both. Works on ``(B, C, H, W)`` directly (no 3-D round trip).
    """

    def __init__(self, norm_type: str = "WithBias") -> None:
        super().__init__()
        if norm_type not in ("WithBias", "BiasFree"):
            raise ValueError(f"unknown norm type {norm_type!r}")
        self.subtract_mean = norm_type == "WithBias"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        inv_std = torch.rsqrt(centred.square().mean(dim=1, keepdim=True) + _NORM_EPS)
        return (centred if self.subtract_mean else x) * inv_std

    def extra_repr(self) -> str:
        return "WithBias" if self.subtract_mean else "BiasFree"


class OverlapPatchEmbed(nn.Module):
    """3x3 convolution from the image to the first level's width (``patch_embed``)."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class SkipPatchEmbed(nn.Module):
    """Image skip to the next level: 2x average pool, 1x1 conv, depthwise 3x3 conv (``skip_patch_embed*``)."""

    def __init__(self, channels: int, bias: bool) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(channels, channels, kernel_size=1, bias=bias),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the width: 3x3 conv to ``n/2`` then PixelUnshuffle(2)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat // 2, kernel_size=3, padding=1, bias=False), nn.PixelUnshuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the width: 3x3 conv to ``2n`` then PixelShuffle(2)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat * 2, kernel_size=3, padding=1, bias=False), nn.PixelShuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def sobel_kernels(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The x and y Sobel kernels, one copy per channel, shaped ``(channels, 1, 3, 3)`` for depthwise conv."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    ky = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
    return kx.expand(channels, 1, 3, 3).clone(), ky.expand(channels, 1, 3, 3).clone()


class _Sobel(torch.autograd.Function):
    """The two depthwise Sobel convolutions with fixed kernels: the backward pass is their transposes, so unlike
    ``F.conv2d`` (which keeps its input for a weight gradient) nothing is kept for it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.kernels = kx, ky
        c = x.shape[1]
        return F.conv2d(x, kx, padding=1, groups=c), F.conv2d(x, ky, padding=1, groups=c)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gx: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        kx, ky = (k.to(dtype=gx.dtype) for k in ctx.kernels)  # under autocast the outputs (so the grads) are half
        c = gx.shape[1]
        # The adjoint of a 3x3 cross-correlation (stride 1, zero padding 1) is the cross-correlation with the
        # kernel rotated by 180 degrees, which for Sobel kernels is their negative: two forward convolutions.
        grad = F.conv2d(gx, kx.flip(-2, -1), padding=1, groups=c)
        return grad.add_(F.conv2d(gy, ky.flip(-2, -1), padding=1, groups=c)), None, None


def sobel(x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel Sobel gradients (cross-correlation, zero padding 1): two depthwise convolutions.

    ``kx``/``ky`` are ``(C, 1, 3, 3)`` for the ``C`` channels of ``x``; they are constants (no gradient flows to
    them). (Two one-output depthwise convolutions run faster on a CPU than one with two outputs per channel, and
    give contiguous results.)
    """
    kx, ky = kx.to(dtype=x.dtype).detach(), ky.to(dtype=x.dtype).detach()
    if torch.is_grad_enabled() and x.requires_grad:
        return _Sobel.apply(x, kx, ky)
    c = x.shape[1]
    return F.conv2d(x, kx, padding=1, groups=c), F.conv2d(x, ky, padding=1, groups=c)
