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
from .hog import hog_from_gradients, inverse_permutation, padded_size, patch_hog, patch_sort_index, permute_pixels
from .layers import sobel, sobel_kernels
from .strips import add_by_strips_, bilinear_rows, crop_rows, halo_window


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


def _sequence_key(v: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
    """Per-channel gradient key of ``v`` (spec 4b.2), ``(B, C, H, W)``."""
    gx, gy = sobel(v, kx, ky)
    return torch.sqrt(gx.square() + gy.square() + 1e-6) * ((torch.atan2(gy, gx) + math.pi) / (2 * math.pi))


def _patch_index_rows(index: torch.Tensor, p0: int, p1: int, width: int) -> tuple[torch.Tensor, int, int]:
    """The part of a patch re-ordering index (:func:`~hogformer.models.hog.patch_sort_index` over the whole
    padded image) that covers image rows ``[p0, p1)`` (``p0`` a multiple of the patch size), as an index into
    those rows alone, with their padded height and width."""
    hs, wp = padded_size(p1 - p0, width, HOG_PATCH_SIZE)
    return index[:, p0 * wp : (p0 + hs) * wp] - p0 * wp, hs, wp


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

    def _attend(
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
            return self._unpermute_rows(self.project_out(out), patch_index, 0, h)
        v = qkv[:, 4 * c :]
        seq_key = _sequence_key(v, self.sobel_x, self.sobel_y)
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
        return self._unpermute_rows(self.project_out(out), patch_index, 0, h)

    # ------------------------------------------------------------------------------------ low-memory forward
    def add_low_memory_(self, x: torch.Tensor, norm: nn.Module, strips: list[tuple[int, int]]) -> torch.Tensor:
        """``x += DHOGSA(norm(x))`` in place, one strip of rows at a time (inference only).

        The same mathematics as :meth:`forward` (the float64 results agree to rounding) without any
        full-resolution tensor of more than ``dim`` channels: the patch histograms and re-ordering are
        strip-local; with one head the attention matrices are sums over pixels, accumulated strip by strip
        (their sequence order does not change them); with several, the sequence is sorted by a key computed
        strip by strip and each head's queries, keys and values are scattered straight into sorted order.
        """
        hog_small, index = self._hog_pass(x, norm, strips)
        if self.num_heads == 1:
            return self._add_one_head_(x, norm, strips, hog_small, index)
        return self._add_sorted_(x, norm, strips, hog_small, index)

    def _hog_pass(
        self, x: torch.Tensor, norm: nn.Module, strips: list[tuple[int, int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 4a strip by strip: ``bin_proj`` of the patch histograms (patch resolution) and the patch
        re-ordering index of the whole padded image."""
        b, c, h, w = x.shape
        half = c // 2
        hp, wp = padded_size(h, w, HOG_PATCH_SIZE)
        index = torch.empty(b, hp * wp, dtype=torch.long, device=x.device)
        hogs = []
        for r0, r1 in strips:
            lo, hi = halo_window(r0, r1, h, 1)
            gx, gy = sobel(norm(x[:, :, lo:hi])[:, :half], self.sobel_x[:half], self.sobel_y[:half])
            hog, key = hog_from_gradients(crop_rows(gx, lo, r0, r1), crop_rows(gy, lo, r0, r1))
            del gx, gy
            hogs.append(hog)
            local = patch_sort_index(key)
            index[:, r0 * wp : r0 * wp + local.shape[1]] = local + r0 * wp
        return self.bin_proj(torch.cat(hogs, dim=2)), index

    def _input_rows(
        self, x: torch.Tensor, norm: nn.Module, hog_small: torch.Tensor, index: torch.Tensor, lo: int, hi: int
    ) -> torch.Tensor:
        """Rows ``[lo, hi)`` of the attention's input after step 4a (the patch re-ordering is computed on the
        whole patches those rows touch, then cut)."""
        b, c, h, w = x.shape
        half = c // 2
        p0 = lo // HOG_PATCH_SIZE * HOG_PATCH_SIZE
        p1 = min(-(-hi // HOG_PATCH_SIZE) * HOG_PATCH_SIZE, h)
        xn = norm(x[:, :, p0:p1])
        local, hs, wp = _patch_index_rows(index, p0, p1, w)
        xh = permute_pixels(xn[:, :half], local, hs, wp)[:, :, lo - p0 : hi - p0]
        xh = xh + bilinear_rows(hog_small, h, w, lo, hi)
        return torch.cat((xh, xn[:, half:, lo - p0 : hi - p0]), dim=1)

    def _qkv_rows(self, xs: torch.Tensor, channels: torch.Tensor | slice) -> torch.Tensor:
        """The ``qkv`` then ``qkv_dwconv`` output channels ``channels`` of a window ``xs``."""
        w1, wd = self.qkv.weight[channels], self.qkv_dwconv.weight[channels]
        b1 = None if self.qkv.bias is None else self.qkv.bias[channels]
        bd = None if self.qkv_dwconv.bias is None else self.qkv_dwconv.bias[channels]
        return F.conv2d(F.conv2d(xs, w1, b1), wd, bd, padding=1, groups=wd.shape[0])

    def _qkv_strip(
        self,
        x: torch.Tensor,
        norm: nn.Module,
        hog_small: torch.Tensor,
        index: torch.Tensor,
        r0: int,
        r1: int,
        channels: torch.Tensor | slice,
    ) -> torch.Tensor:
        """``qkv`` output channels ``channels`` on rows ``[r0, r1)``, from a window one row larger (the
        depthwise 3x3), as ``(B, len(channels), (r1 - r0) * W)``."""
        lo, hi = halo_window(r0, r1, x.shape[2], 1)
        t = self._qkv_rows(self._input_rows(x, norm, hog_small, index, lo, hi), channels)
        return crop_rows(t, lo, r0, r1).reshape(x.shape[0], t.shape[1], -1)

    def _unpermute_rows(self, out: torch.Tensor, index: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
        """Undo the patch re-ordering on the first half of the channels of output rows ``[r0, r1)`` (all rows of
        the image in the plain forward)."""
        half = out.shape[1] // 2
        local, hs, wp = _patch_index_rows(index, r0, r1, out.shape[3])
        unsorted = permute_pixels(out[:, :half], inverse_permutation(local), hs, wp)
        return torch.cat((unsorted, out[:, half:]), dim=1)

    def _add_one_head_(
        self,
        x: torch.Tensor,
        norm: nn.Module,
        strips: list[tuple[int, int]],
        hog_small: torch.Tensor,
        index: torch.Tensor,
    ) -> torch.Tensor:
        b, c, h, w = x.shape
        # Sums over every pixel: in float32 when the features are half precision (float16 overflows there).
        acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        grams = x.new_zeros(2, b, c, c, dtype=acc)
        squares = x.new_zeros(4, b, c, dtype=acc)
        for r0, r1 in strips:
            q1, k1, q2, k2 = (
                self._qkv_strip(x, norm, hog_small, index, r0, r1, slice(0, 4 * c)).view(b, 4, c, -1).unbind(1)
            )
            if q1.dtype != acc:
                q1, k1, q2, k2 = (t.to(acc) for t in (q1, k1, q2, k2))
            grams[0].baddbmm_(q1, k1.transpose(1, 2))
            grams[1].baddbmm_(q2, k2.transpose(1, 2))
            for i, part in enumerate((q1, k1, q2, k2)):
                squares[i] += part.square().sum(dim=-1)
        norms = squares.sqrt().clamp_min(1e-12)
        attn = torch.cat(  # back in x's precision: a half-precision model (no autocast) multiplies it with its v
            [
                softmax_plus_one(
                    grams[i] / (norms[2 * i, :, :, None] * norms[2 * i + 1, :, None, :]) * self.temperature
                ).to(x.dtype)
                for i in range(2)
            ],
            dim=1,
        )  # (B, 2C, C): both matrices in one product with v, as in the plain forward
        del grams

        def delta(r0: int, r1: int) -> torch.Tensor:
            v = self._qkv_strip(x, norm, hog_small, index, r0, r1, slice(4 * c, 5 * c))
            both = attn @ v
            out = (both[:, :c] * both[:, c:]).view(b, c, r1 - r0, w)
            return self._unpermute_rows(self.project_out(out), index, r0, r1)

        return add_by_strips_(x, strips, delta)

    def _add_sorted_(
        self,
        x: torch.Tensor,
        norm: nn.Module,
        strips: list[tuple[int, int]],
        hog_small: torch.Tensor,
        index: torch.Tensor,
    ) -> torch.Tensor:
        b, c, h, w = x.shape
        heads, factor = self.num_heads, self.factor
        n = h * w
        seq_key = x.new_empty(b, h, w)
        for r0, r1 in strips:
            lo, hi = halo_window(r0, r1, h, 2)  # the depthwise 3x3 of qkv, then the Sobel filter on v
            v = self._qkv_rows(self._input_rows(x, norm, hog_small, index, lo, hi), slice(4 * c, 5 * c))
            seq_key[:, r0:r1] = crop_rows(_sequence_key(v, self.sobel_x, self.sobel_y), lo, r0, r1).sum(dim=1)
        del v
        inverse = inverse_permutation(torch.sort(seq_key.reshape(b, n), dim=-1).indices)
        del seq_key
        npad = n + (-n % factor)
        width = c // heads
        out = x.new_empty(b, c, n)
        for head in range(heads):
            channels = torch.cat([torch.arange(width, device=x.device) + part * c + head * width for part in range(5)])
            seq = x.new_zeros(b, 5 * width, npad)  # this head's q1, k1, q2, k2, v in sequence order
            for r0, r1 in strips:
                t = self._qkv_strip(x, norm, hog_small, index, r0, r1, channels)
                seq.scatter_(2, inverse[:, None, r0 * w : r1 * w].expand_as(t), t)
                del t
            q1, k1, q2, k2, v = seq.chunk(5, dim=1)
            o = self._attend(q1, k1, v, box=True, head=head)
            o = o * self._attend(q2, k2, v, box=False, head=head)
            del seq, q1, k1, q2, k2, v
            out[:, head * width : (head + 1) * width] = o[:, :, :n].gather(2, inverse[:, None, :].expand(b, width, n))
            del o
        out = out.view(b, c, h, w)
        for r0, r1 in strips:
            x[:, :, r0:r1] += self._unpermute_rows(self.project_out(out[:, :, r0:r1]), index, r0, r1)
        return x
