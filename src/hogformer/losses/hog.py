"""HOG descriptor and HOG loss of the official training objective (spec 5; differs from the in-network HOG)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
_GREY = (0.299, 0.587, 0.114)


class HOGDescriptor(nn.Module):
    """Dense HOG: grey image, Sobel gradients, soft orientation binning, 8x8 cells, optional block norm.

    Returns ``(B, n_blocks * bins * block**2)`` (block-major) for ``block > 1`` when the cell grid holds at
    least one block, else the flattened cell histograms ``(B, bins * Hc * Wc)``.
    ``signed=False`` bins orientations modulo pi (the official setting), ``signed=True`` modulo 2 pi.
    """

    centres: torch.Tensor
    sobel: torch.Tensor

    def __init__(self, bins: int = 9, cell: int = 8, block: int = 2, signed: bool = False, eps: float = 1e-8):
        super().__init__()
        self.bins, self.cell, self.block, self.signed, self.eps = bins, cell, block, signed, eps
        span = 2 * math.pi if signed else math.pi
        self.span = span
        self.register_buffer("centres", torch.arange(bins, dtype=torch.float32) * (span / bins), persistent=False)
        kernels = torch.tensor((_SOBEL_X, _SOBEL_Y)).unsqueeze(1)  # (2, 1, 3, 3)
        self.register_buffer("sobel", kernels, persistent=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[1] == 3:
            w = img.new_tensor(_GREY).view(1, 3, 1, 1)
            img = (img * w).sum(dim=1, keepdim=True)
        elif img.shape[1] != 1:
            raise ValueError(f"HOGDescriptor takes 1 or 3 channels, got {img.shape[1]}")
        g = F.conv2d(img, self.sobel.to(img.dtype), padding=1)
        dx, dy = g[:, :1], g[:, 1:]
        mag = torch.sqrt(dx.square() + dy.square() + self.eps)
        ori = torch.atan2(dy, dx + self.eps)
        if self.signed:
            ori = torch.remainder(ori, 2 * math.pi)
        else:
            ori = ori.abs()
        d = (ori - self.centres.to(img.dtype).view(1, -1, 1, 1)).abs()
        d = torch.minimum(d, self.span - d)
        weight = F.relu(1 - d / (self.span / self.bins))
        c = self.cell
        hc, wc = img.shape[-2] // c, img.shape[-1] // c
        if hc == 0 or wc == 0:
            raise ValueError(f"HOGDescriptor needs images of at least {c}x{c}, got {tuple(img.shape[-2:])}")
        hist = F.avg_pool2d((weight * mag)[..., : hc * c, : wc * c], c)
        b = self.block
        if b > 1 and hc >= b and wc >= b:
            u = F.unfold(hist, b, stride=1).transpose(1, 2)
            u = u / (u.norm(dim=-1, keepdim=True) + self.eps)
            return u.flatten(1)
        return hist.flatten(1)


class HOGLoss(nn.Module):
    """Distance between the HOG descriptors of prediction and target.

    Settings III/IV: ``HOGLoss(block=2, distance="l1")``; Setting I: ``HOGLoss(block=1, distance="l2")``
    (mean squared difference).
    """

    def __init__(self, block: int = 2, distance: str = "l1", signed: bool = False, bins: int = 9, cell: int = 8):
        super().__init__()
        if distance not in ("l1", "l2"):
            raise ValueError(f"HOGLoss distance must be 'l1' or 'l2', not {distance!r}")
        self.distance = distance
        self.descriptor = HOGDescriptor(bins=bins, cell=cell, block=block, signed=signed)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a, b = self.descriptor(pred), self.descriptor(target)
        return F.l1_loss(a, b) if self.distance == "l1" else F.mse_loss(a, b)
