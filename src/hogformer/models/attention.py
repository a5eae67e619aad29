"""DHOGSA: dynamic HOG-aware self-attention (paper Sec. 3.2; spec 4).

HOG-guided pixel re-ordering of half the channels (4a), then two gradient-ordered attentions over the whole
image, one on contiguous ("box") and one on interleaved sequence chunks, multiplied together (4b). The same
computation strip by strip, for the low-memory forward, is :func:`hogformer.models.low_memory.add_attention_`.
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


def _float16_matmul(t: torch.Tensor) -> bool:
    """Whether a matrix product of ``t`` runs in float16 (``t`` is float16, or float16 autocast is on)."""
    kind = t.device.type
    return t.dtype == torch.float16 or (
        torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.float16
    )


#: Row products over sequences at least twice this long are summed from chunks of about this length (split-K).
_SPLIT_LENGTH = 4096


def _row_products(q: torch.Tensor, k: torch.Tensor, split: bool = True) -> torch.Tensor:
    """``q @ k^T`` for ``(B, heads, R, L)`` rows; with ``split``, as a batch of products over chunks of ``L``
    summed (split-K).

    The rows are short (``R`` <= a few hundred) and very long (``L`` = the pixels of a level / factor): one
    product has too little output to keep a GPU busy (a few thread blocks do all of it), one product per chunk
    of ``L`` spreads. The same sum in another order: the results agree to rounding (chunks of several batch
    items or heads cost a copy of ``q`` and ``k``, cheap on a GPU). DHOGSA splits on CUDA only: on a CPU it
    gains ~1% and moves float32 off the rounding the official CPU code shares with this one.
    """
    b, heads, r, length = q.shape
    parts = 1
    while split and length % (2 * parts) == 0 and length // (2 * parts) >= _SPLIT_LENGTH:
        parts *= 2
    if parts == 1:
        return q @ k.transpose(-1, -2)
    chunk = length // parts
    qs = q.reshape(b * heads, r, parts, chunk).transpose(1, 2).reshape(b * heads * parts, r, chunk)
    ks = k.reshape(b * heads, r, parts, chunk).transpose(1, 2).reshape(b * heads * parts, r, chunk)
    return torch.bmm(qs, ks.transpose(1, 2)).view(b, heads, parts, r, r).sum(dim=2)


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


def sequence_key(v: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
    """Per-channel gradient key of ``v`` (spec 4b.2), ``(B, C, H, W)``."""
    gx, gy = sobel(v, kx, ky)
    return torch.sqrt(gx.square() + gy.square() + 1e-6) * ((torch.atan2(gy, gx) + math.pi) / (2 * math.pi))


def patch_index_rows(index: torch.Tensor, p0: int, p1: int, width: int) -> tuple[torch.Tensor, int, int]:
    """The part of a patch re-ordering index (:func:`~hogformer.models.hog.patch_sort_index` over the whole
    padded image) that covers image rows ``[p0, p1)`` (``p0`` a multiple of the patch size), as an index into
    those rows alone, with their padded height and width."""
    hs, wp = padded_size(p1 - p0, width, HOG_PATCH_SIZE)
    return index[:, p0 * wp : (p0 + hs) * wp] - p0 * wp, hs, wp


class DHOGSA(nn.Module):
    """Dynamic HOG-aware self-attention of one block (the official ``attn_g_spatial``)."""

    sobel_x: torch.Tensor
    sobel_y: torch.Tensor

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
        #: Run the (order-independent) one-head attention through the gradient sort anyway, as the official
        #: code does: only for comparisons (tests, benchmarks); the results agree to rounding.
        self.sort_one_head = False
        #: Sum the long row products from chunks on CUDA (:func:`_row_products`); off only for comparisons.
        self.split_row_products = True

    def _attention(self, q: torch.Tensor, k: torch.Tensor, box: bool, head: int | None = None) -> torch.Tensor:
        """The attention matrix ``(B, heads, R, R)`` of rows of the re-ordered sequence; ``q, k`` are
        ``(B, C, Npad)``, or with ``head`` the ``C / heads`` channels of that head only."""
        heads, factor = (self.num_heads, self.factor) if head is None else (1, self.factor)
        temperature = self.temperature if head is None else self.temperature[head : head + 1]
        split = self.split_row_products and q.is_cuda
        q, k = _rows(q, heads, factor, box), _rows(k, heads, factor, box)
        # Cosine similarity of the rows: dividing the small (rows x rows) product by the norms equals
        # L2-normalising q and k first (F.normalize, eps 1e-12) without writing normalised copies of them.
        # Norms of half-precision rows in float32: a long row's norm alone can exceed float16's range.
        wide = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else None
        qn = torch.linalg.vector_norm(q, dim=-1, keepdim=True, dtype=wide).clamp_min(1e-12)
        kn = torch.linalg.vector_norm(k, dim=-1, keepdim=True, dtype=wide).clamp_min(1e-12)
        if _float16_matmul(q):  # the raw products of long rows overflow float16 (max 65504): normalise first
            cos = _row_products(q * qn.reciprocal().to(q.dtype), k * kn.reciprocal().to(k.dtype), split)
        else:
            cos = _row_products(q, k, split) / (qn * kn.transpose(-1, -2))
        return softmax_plus_one(cos * temperature)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, box: bool, head: int | None = None
    ) -> torch.Tensor:
        """One attention over rows of the re-ordered sequence; ``q, k, v`` are ``(B, C, Npad)``, or with
        ``head`` the ``C / heads`` channels of that head only."""
        heads, factor = (self.num_heads, self.factor) if head is None else (1, self.factor)
        a = self._attention(q, k, box, head).to(v.dtype)
        return _unrows(a @ _rows(v, heads, factor, box), v.shape[1], factor, box)

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
        n = h * w
        if self.num_heads == 1 and not self.sort_one_head:
            # One head (factor 1): each attention matrix is a sum over all positions and the output at a
            # position depends on its own v only, so the sequence order changes nothing: no key, sort or gathers
            # (the float64 results agree with the sorted computation to rounding; tested).
            # With one head the rows are the channels, box or not: both matrices apply to v in one product.
            q1, k1, q2, k2, v = qkv.view(b, 5 * c, n).chunk(5, dim=1)
            a = torch.cat((self._attention(q1, k1, box=True), self._attention(q2, k2, box=False)), dim=2)
            del qkv, q1, k1, q2, k2
            both = a.squeeze(1).to(v.dtype) @ v  # (B, 2C, N); faster than two (C, C) @ (C, N) on a CPU (micro-bench)
            out = (both[:, :c] * both[:, c:]).view(b, c, h, w)
            del both, v
            return self.unpermute_rows(self.project_out(out), patch_index, 0, h)
        v = qkv[:, 4 * c :]
        seq_key = sequence_key(v, self.sobel_x, self.sobel_y)
        order = torch.sort(seq_key.sum(dim=1).reshape(b, n), dim=-1).indices
        del seq_key
        qkv = qkv.reshape(b, 5 * c, n).gather(2, order[:, None, :].expand(b, 5 * c, n))
        pad = -n % self.factor
        if pad:
            qkv = F.pad(qkv, (0, pad))
        q1, k1, q2, k2, v = qkv.chunk(5, dim=1)
        del qkv
        out = self.attend(q1, k1, v, box=True)
        out = out * self.attend(q2, k2, v, box=False)
        del q1, k1, q2, k2, v
        out = out[:, :, :n]
        out = out.gather(2, inverse_permutation(order)[:, None, :].expand(b, c, n)).view(b, c, h, w)
        return self.unpermute_rows(self.project_out(out), patch_index, 0, h)

    def unpermute_rows(self, out: torch.Tensor, index: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
        """Undo the patch re-ordering on the first half of the channels of output rows ``[r0, r1)`` (all rows of
        the image in the plain forward)."""
        half = out.shape[1] // 2
        local, hs, wp = patch_index_rows(index, r0, r1, out.shape[3])
        unsorted = permute_pixels(out[:, :half], inverse_permutation(local), hs, wp)
        return torch.cat((unsorted, out[:, half:]), dim=1)
