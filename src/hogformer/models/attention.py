"""DHOGSA: dynamic HOG-aware self-attention (paper Sec. 3.2; spec 4).

HOG-guided pixel re-ordering of half the channels (4a), then two gradient-ordered attentions over the whole
image, one on contiguous ("box") and one on interleaved sequence chunks, multiplied together (4b).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import HOG_BINS, HOG_PATCH_SIZE
from .hog import inverse_permutation, padded_size, patch_hog, patch_sort_index, permute_pixels
from .layers import sobel, sobel_kernels


def softmax_plus_one(a: torch.Tensor) -> torch.Tensor:
    """``exp(a) / (sum_j exp(a) + 1)`` along the last dimension, computed without overflow."""
    m = a.amax(dim=-1, keepdim=True).clamp_min(0)
    e = torch.exp(a - m)
    return e / (e.sum(dim=-1, keepdim=True) + torch.exp(-m))


def _rows(t: torch.Tensor, heads: int, factor: int, box: bool) -> torch.Tensor:
    """``(B, C, N)`` (N a multiple of ``factor``) -> ``(B, heads, (C/heads)*factor, N/factor)`` (spec 4b.3)."""
    b, c, n = t.shape
    length = n // factor
    if box:  # row f of a channel holds positions f*L .. f*L+L-1
        t = t.reshape(b, heads, c // heads, factor, length)
    else:  # row f of a channel holds positions f, f+factor, f+2*factor, ...
        t = t.reshape(b, heads, c // heads, length, factor).transpose(-1, -2)
    return t.reshape(b, heads, (c // heads) * factor, length)


def _unrows(t: torch.Tensor, channels: int, factor: int, box: bool) -> torch.Tensor:
    """Inverse of :func:`_rows`: ``(B, heads, rows, L)`` -> ``(B, C, L*factor)``."""
    b, heads, _, length = t.shape
    t = t.reshape(b, heads, channels // heads, factor, length)
    if not box:
        t = t.transpose(-1, -2)
    return t.reshape(b, channels, factor * length)


class DHOGSA(nn.Module):
    """Dynamic HOG-aware self-attention of one block (the official ``attn_g_spatial``)."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.factor = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        kx, ky = sobel_kernels(dim)
        self.register_buffer("sobel_x", kx)
        self.register_buffer("sobel_y", ky)
        self.qkv = nn.Conv2d(dim, dim * 5, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 5, dim * 5, kernel_size=3, padding=1, groups=dim * 5, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)
        self.bin_proj = nn.Conv2d(HOG_BINS, dim // 2, kernel_size=1, bias=bias)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, box: bool) -> torch.Tensor:
        """One attention over rows of the re-ordered sequence; ``q, k, v`` are ``(B, C, Npad)``."""
        heads, factor = self.num_heads, self.factor
        q, k = _rows(q, heads, factor, box), _rows(k, heads, factor, box)
        # Cosine similarity of the rows: dividing the small (rows x rows) product by the norms equals
        # L2-normalising q and k first (F.normalize, eps 1e-12) without writing normalised copies of them.
        qn = torch.linalg.vector_norm(q, dim=-1, keepdim=True).clamp_min(1e-12)
        kn = torch.linalg.vector_norm(k, dim=-1, keepdim=True).clamp_min(1e-12)
        a = softmax_plus_one((q @ k.transpose(-1, -2)) / (qn * kn.transpose(-1, -2)) * self.temperature)
        return _unrows(a @ _rows(v, heads, factor, box), self.dim, factor, box)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        half = c // 2
        hp, wp = padded_size(h, w, HOG_PATCH_SIZE)

        # 4a: HOG of the first half of the channels, re-order pixels inside each patch, add the HOG map.
        xh = x[:, :half]
        hog, key = patch_hog(xh, self.sobel_x[:half], self.sobel_y[:half])
        patch_index = patch_sort_index(key)
        hog_map = F.interpolate(self.bin_proj(hog), size=(h, w), mode="bilinear", align_corners=False)
        x = torch.cat((permute_pixels(xh, patch_index, hp, wp) + hog_map, x[:, half:]), dim=1)
        del hog_map, key, hog

        # 4b: order all pixels by a gradient key of v, then two attentions on that sequence.
        qkv = self.qkv_dwconv(self.qkv(x))
        v = qkv[:, 4 * c :]
        gx, gy = sobel(v, self.sobel_x, self.sobel_y)
        seq_key = torch.sqrt(gx.square() + gy.square() + 1e-6) * ((torch.atan2(gy, gx) + math.pi) / (2 * math.pi))
        del gx, gy
        n = h * w
        order = torch.sort(seq_key.sum(dim=1).reshape(b, n), dim=-1).indices
        del seq_key
        qkv = qkv.reshape(b, 5 * c, n).gather(2, order[:, None, :].expand(b, 5 * c, n))
        pad = -n % self.factor
        if pad:
            qkv = F.pad(qkv, (0, pad))
        q1, k1, q2, k2, v = qkv.chunk(5, dim=1)
        del qkv
        out = self._attend(q1, k1, v, box=True)
        out = out * self._attend(q2, k2, v, box=False)
        del q1, k1, q2, k2, v
        out = out[:, :, :n]
        out = out.gather(2, inverse_permutation(order)[:, None, :].expand(b, c, n)).view(b, c, h, w)
        out = self.project_out(out)

        # Undo the patch re-ordering on the first half of the channels.
        unsorted = permute_pixels(out[:, :half], inverse_permutation(patch_index), hp, wp)
        return torch.cat((unsorted, out[:, half:]), dim=1)
