"""Pearson-correlation loss of the official training objective (spec 5)."""

from __future__ import annotations

import torch
from torch import nn


class PearsonLoss(nn.Module):
    """``(1 - r) / 2`` per sample, ``r`` the Pearson correlation of the flattened images, averaged over the
    samples whose term is finite (a constant image has no correlation and is left out)."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a = pred.flatten(1)
        b = target.flatten(1)
        a = a - a.mean(dim=1, keepdim=True)
        b = b - b.mean(dim=1, keepdim=True)
        r = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + self.eps)
        term = (1 - r) / 2
        finite = torch.isfinite(term)
        if not bool(finite.any()):
            return term.new_zeros(())
        return term[finite].mean()
