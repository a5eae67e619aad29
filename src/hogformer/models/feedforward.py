"""DIFF, the dynamic-interaction feed-forward network of a HOGformer block (paper Sec. 3.3; spec 3)."""

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


class DIFF(nn.Module):
    """Feed-forward: 1x1 expand, PixelShuffle(2), two depthwise branches gated by Mish, a feature
    decomposition step, PixelUnshuffle(2), 1x1 project (spec 3)."""

    def __init__(self, dim: int, hidden: int, bias: bool) -> None:
        super().__init__()
        if hidden % 4:
            raise ValueError(f"DIFF hidden width must be a multiple of 4, got {hidden}")
        quarter = hidden // 4
        self.sigma = LayerScale(quarter)
        self.decompose = nn.Conv2d(quarter, 1, kernel_size=1, bias=True)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv_5 = nn.Conv2d(quarter, quarter, kernel_size=5, padding=2, groups=quarter, bias=bias)
        self.dwconv_dilated2_1 = nn.Conv2d(
            quarter, quarter, kernel_size=3, padding=2, dilation=2, groups=quarter, bias=bias
        )
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = F.pixel_shuffle(self.project_in(x), 2)
        a, b = t.chunk(2, dim=1)
        t = F.mish(self.dwconv_dilated2_1(b)) * self.dwconv_5(a)
        del a, b
        t = t + self.sigma(t - F.gelu(self.decompose(t)))
        return self.project_out(F.pixel_unshuffle(t, 2))
