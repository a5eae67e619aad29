"""One HOGformer transformer block: pre-norm DHOGSA and DIFF with residuals (paper Fig. 2; spec 2)."""

from __future__ import annotations

import torch
from torch import nn

from .attention import DHOGSA
from .feedforward import DIFF
from .layers import ChannelNorm


class HOGformerBlock(nn.Module):
    """``y = x + DHOGSA(norm(x)); out = y + DIFF(norm(y))``."""

    def __init__(self, dim: int, num_heads: int, hidden: int, bias: bool, norm_type: str) -> None:
        super().__init__()
        self.norm_g = ChannelNorm(norm_type)
        self.attn_g_spatial = DHOGSA(dim, num_heads, bias)
        self.norm_ff1 = ChannelNorm(norm_type)
        self.ffn = DIFF(dim, hidden, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn_g_spatial(self.norm_g(x))
        return x + self.ffn(self.norm_ff1(x))
