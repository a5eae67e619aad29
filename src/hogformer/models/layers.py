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


def sobel(x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel Sobel gradients (cross-correlation, zero padding 1): two depthwise convolutions.

    ``kx``/``ky`` are ``(C, 1, 3, 3)`` for the ``C`` channels of ``x``. (Two one-output depthwise convolutions
    run faster on a CPU than one with two outputs per channel, and give contiguous results.)
    """
    c = x.shape[1]
    return (
        F.conv2d(x, kx.to(dtype=x.dtype), padding=1, groups=c),
        F.conv2d(x, ky.to(dtype=x.dtype), padding=1, groups=c),
    )
