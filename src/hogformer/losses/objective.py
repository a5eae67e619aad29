"""The training objective as a weighted sum of named loss modules, each part reported (spec 5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .hog import HOGLoss
from .pearson import PearsonLoss
from .pixel import L1Loss, MSELoss

LOSSES: dict[str, type[nn.Module]] = {"l1": L1Loss, "mse": MSELoss, "pearson": PearsonLoss, "hog": HOGLoss}


class Objective(nn.Module):
    """``sum_i weight_i * loss_i(pred, target)``; ``forward`` returns the total and every weighted part.

    ``spec`` maps a part's name to ``{"type": <name in LOSSES>, "weight": w, **constructor arguments}``;
    the type defaults to the part's name. Parts can be switched off by name (``disabled``), e.g. the HOG term
    in the last epochs of Settings III/IV.
    """

    def __init__(self, spec: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        self.weights: dict[str, float] = {}
        self.parts = nn.ModuleDict()
        for name, options in spec.items():
            options = dict(options)
            kind = options.pop("type", name)
            weight = float(options.pop("weight", 1.0))
            if kind not in LOSSES:
                raise ValueError(f"unknown loss {kind!r} for part {name!r}; known: {', '.join(LOSSES)}")
            self.parts[name] = LOSSES[kind](**options)
            self.weights[name] = weight
        self.disabled: set[str] = set()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logs: dict[str, torch.Tensor] = {}
        total = pred.new_zeros(())
        for name, loss in self.parts.items():
            if name in self.disabled or self.weights[name] == 0:
                continue
            value = self.weights[name] * loss(pred, target)
            logs[name] = value.detach()
            total = total + value
        return total, logs


#: The objective of the official Settings III/IV trainer: L1 + Pearson + HOG (block 2, L1), weights 1.
OFFICIAL_AIO: dict[str, dict[str, Any]] = {
    "l1": {"weight": 1.0},
    "pearson": {"weight": 1.0},
    "hog": {"weight": 1.0, "block": 2, "distance": "l1"},
}
#: The objective of the official Setting I trainer: L1 + Pearson + HOG (block 1, squared), weights 1.
OFFICIAL_ALLWEATHER: dict[str, dict[str, Any]] = {
    "l1": {"weight": 1.0},
    "pearson": {"weight": 1.0},
    "hog": {"weight": 1.0, "block": 1, "distance": "l2"},
}
