"""The low-memory forward: every transformer block strip by strip and in place (``HOGformer.set_low_memory``).

A block never holds a full-resolution tensor wider than its input: every per-pixel or local step runs on one
strip of rows at a time (with the halo its convolutions need), and the only global steps, the attention
matrices and the sequence sort, are accumulated or computed from small per-pixel keys. The mathematics is that
of the plain forward of :class:`~hogformer.models.block.HOGformerBlock`, :class:`~hogformer.models.attention.DHOGSA`
and :class:`~hogformer.models.feedforward.DIFF` (float64 results agree to rounding; tested); this module only
executes it differently, for inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import DHOGSA, patch_index_rows, sequence_key, softmax_plus_one
from .block import HOGformerBlock
from .config import HOG_PATCH_SIZE
from .feedforward import DIFF
from .hog import hog_from_gradients, inverse_permutation, padded_size, patch_sort_index, permute_pixels
from .layers import sobel

# ------------------------------------------------------------------------------------------------ strips


def strip_rows(height: int, width: int, strip_pixels: int, multiple: int = HOG_PATCH_SIZE) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` covering ``height``: about ``strip_pixels`` pixels each, every start a multiple
    of ``multiple`` (so HOG patches never straddle two strips) and every strip at least ``multiple`` rows."""
    rows = max(multiple, (strip_pixels // max(width, 1)) // multiple * multiple)
    return [(r0, min(r0 + rows, height)) for r0 in range(0, height, rows)]


def halo_window(r0: int, r1: int, height: int, halo: int) -> tuple[int, int]:
    """Rows ``[r0 - halo, r1 + halo)`` clipped to the image."""
    return max(r0 - halo, 0), min(r1 + halo, height)


def crop_rows(t: torch.Tensor, lo: int, r0: int, r1: int) -> torch.Tensor:
    """Rows ``[r0, r1)`` of ``t``, a window of the image that starts at row ``lo``."""
    return t[..., r0 - lo : r1 - lo, :]


def add_by_strips_(
    x: torch.Tensor, strips: list[tuple[int, int]], delta: Callable[[int, int], torch.Tensor]
) -> torch.Tensor:
    """``x[rows] += delta(rows)`` for every strip, in place, where ``delta`` may read ``x`` in a halo of up to
    one strip's height around its rows: each update is applied only after the next strip has been computed,
    so every ``delta`` sees the input as it was. Returns ``x``."""
    pending: tuple[int, int, torch.Tensor] | None = None
    for r0, r1 in strips:
        d = delta(r0, r1)
        if pending is not None:
            p0, p1, pd = pending
            x[:, :, p0:p1].add_(pd)
        pending = (r0, r1, d)
    if pending is not None:
        p0, p1, pd = pending
        x[:, :, p0:p1].add_(pd)
    return x


def _linear_taps(out_size: int, in_size: int, start: int, stop: int, device: torch.device, dtype: torch.dtype):
    """Source indices and weights of ``F.interpolate(..., mode="bilinear", align_corners=False)`` along one
    axis, for output positions ``start .. stop - 1``."""
    scale = in_size / out_size
    pos = torch.arange(start, stop, device=device, dtype=torch.float64)
    src = ((pos + 0.5) * scale - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    w1 = (src - i0.to(torch.float64)).to(dtype)
    return i0, i1, w1


def bilinear_rows(t: torch.Tensor, height: int, width: int, r0: int, r1: int) -> torch.Tensor:
    """Rows ``[r0, r1)`` of ``F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)``
    without computing the others: the vertical taps by hand on the small input, the horizontal pass by
    ``F.interpolate`` itself (a height kept unchanged interpolates nothing vertically)."""
    y0, y1, wy = _linear_taps(height, t.shape[-2], r0, r1, t.device, t.dtype)
    rows = torch.lerp(t[..., y0, :], t[..., y1, :], wy[:, None])
    return F.interpolate(rows, size=(r1 - r0, width), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------------------------------ blocks


def add_block_(block: HOGformerBlock, x: torch.Tensor, strip_pixels: int) -> torch.Tensor:
    """``block``'s forward on ``x`` in place, in strips of about ``strip_pixels`` pixels (inference only)."""
    strips = strip_rows(x.shape[2], x.shape[3], strip_pixels)
    add_attention_(block.attn_g_spatial, x, block.norm_g, strips)
    return add_feedforward_(block.ffn, x, block.norm_ff1, strips)


def add_feedforward_(ffn: DIFF, x: torch.Tensor, norm: nn.Module, strips: list[tuple[int, int]]) -> torch.Tensor:
    """``x += DIFF(norm(x))`` in place, one strip of rows at a time with a halo of one row (the 3x3 convs of the
    phase domain)."""
    h = x.shape[2]

    def delta(r0: int, r1: int) -> torch.Tensor:
        lo, hi = halo_window(r0, r1, h, 1)
        return crop_rows(ffn(norm(x[:, :, lo:hi])), lo, r0, r1)

    return add_by_strips_(x, strips, delta)


# --------------------------------------------------------------------------------------------- attention


def add_attention_(attn: DHOGSA, x: torch.Tensor, norm: nn.Module, strips: list[tuple[int, int]]) -> torch.Tensor:
    """``x += DHOGSA(norm(x))`` in place, one strip of rows at a time (inference only).

    The same mathematics as :meth:`DHOGSA.forward` (the float64 results agree to rounding) without any
    full-resolution tensor of more than ``dim`` channels: the patch histograms and re-ordering are
    strip-local; with one head the attention matrices are sums over pixels, accumulated strip by strip
    (their sequence order does not change them); with several, the sequence is sorted by a key computed
    strip by strip and each head's queries, keys and values are scattered straight into sorted order.
    """
    step = _Step4a(attn, x, norm, strips, *_hog_pass(attn, x, norm, strips))
    return _add_one_head_(step) if attn.num_heads == 1 else _add_sorted_(step)


@dataclass(frozen=True)
class _Step4a:
    """One block's attention input, strip by strip: the block's ``x`` (updated in place at the end), its norm,
    the strips, and what step 4a computed over the whole image (:func:`_hog_pass`)."""

    attn: DHOGSA
    x: torch.Tensor
    norm: nn.Module
    strips: list[tuple[int, int]]
    hog_small: torch.Tensor
    index: torch.Tensor


def _hog_pass(
    attn: DHOGSA, x: torch.Tensor, norm: nn.Module, strips: list[tuple[int, int]]
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
        gx, gy = sobel(norm(x[:, :, lo:hi])[:, :half], attn.sobel_x[:half], attn.sobel_y[:half])
        hog, key = hog_from_gradients(crop_rows(gx, lo, r0, r1), crop_rows(gy, lo, r0, r1))
        del gx, gy
        hogs.append(hog)
        local = patch_sort_index(key)
        index[:, r0 * wp : r0 * wp + local.shape[1]] = local + r0 * wp
    return attn.bin_proj(torch.cat(hogs, dim=2)), index


def _input_rows(step: _Step4a, lo: int, hi: int) -> torch.Tensor:
    """Rows ``[lo, hi)`` of the attention's input after step 4a (the patch re-ordering is computed on the
    whole patches those rows touch, then cut)."""
    x, norm, hog_small, index = step.x, step.norm, step.hog_small, step.index
    b, c, h, w = x.shape
    half = c // 2
    p0 = lo // HOG_PATCH_SIZE * HOG_PATCH_SIZE
    p1 = min(-(-hi // HOG_PATCH_SIZE) * HOG_PATCH_SIZE, h)
    xn = norm(x[:, :, p0:p1])
    local, hs, wp = patch_index_rows(index, p0, p1, w)
    xh = permute_pixels(xn[:, :half], local, hs, wp)[:, :, lo - p0 : hi - p0]
    xh = xh + bilinear_rows(hog_small, h, w, lo, hi)
    return torch.cat((xh, xn[:, half:, lo - p0 : hi - p0]), dim=1)


def _qkv_rows(attn: DHOGSA, xs: torch.Tensor, channels: torch.Tensor | slice) -> torch.Tensor:
    """The ``qkv`` then ``qkv_dwconv`` output channels ``channels`` of a window ``xs``."""
    w1, wd = attn.qkv.weight[channels], attn.qkv_dwconv.weight[channels]
    b1 = None if attn.qkv.bias is None else attn.qkv.bias[channels]
    bd = None if attn.qkv_dwconv.bias is None else attn.qkv_dwconv.bias[channels]
    return F.conv2d(F.conv2d(xs, w1, b1), wd, bd, padding=1, groups=wd.shape[0])


def _qkv_strip(step: _Step4a, r0: int, r1: int, channels: torch.Tensor | slice) -> torch.Tensor:
    """``qkv`` output channels ``channels`` on rows ``[r0, r1)``, from a window one row larger (the
    depthwise 3x3), as ``(B, len(channels), (r1 - r0) * W)``."""
    lo, hi = halo_window(r0, r1, step.x.shape[2], 1)
    t = _qkv_rows(step.attn, _input_rows(step, lo, hi), channels)
    return crop_rows(t, lo, r0, r1).reshape(step.x.shape[0], t.shape[1], -1)


def _add_one_head_(step: _Step4a) -> torch.Tensor:
    attn, x, strips, index = step.attn, step.x, step.strips, step.index
    b, c, h, w = x.shape
    # Sums over every pixel: in float32 when the features are half precision (float16 overflows there).
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    grams = x.new_zeros(2, b, c, c, dtype=acc)
    squares = x.new_zeros(4, b, c, dtype=acc)
    for r0, r1 in strips:
        q1, k1, q2, k2 = _qkv_strip(step, r0, r1, slice(0, 4 * c)).view(b, 4, c, -1).unbind(1)
        if q1.dtype != acc:
            q1, k1, q2, k2 = (t.to(acc) for t in (q1, k1, q2, k2))
        grams[0].baddbmm_(q1, k1.transpose(1, 2))
        grams[1].baddbmm_(q2, k2.transpose(1, 2))
        for i, part in enumerate((q1, k1, q2, k2)):
            squares[i] += part.square().sum(dim=-1)
    norms = squares.sqrt().clamp_min(1e-12)
    matrices = torch.cat(  # back in x's precision: a half-precision model (no autocast) multiplies it with its v
        [
            softmax_plus_one(
                grams[i] / (norms[2 * i, :, :, None] * norms[2 * i + 1, :, None, :]) * attn.temperature
            ).to(x.dtype)
            for i in range(2)
        ],
        dim=1,
    )  # (B, 2C, C): both matrices in one product with v, as in the plain forward
    del grams

    def delta(r0: int, r1: int) -> torch.Tensor:
        v = _qkv_strip(step, r0, r1, slice(4 * c, 5 * c))
        both = matrices @ v
        out = (both[:, :c] * both[:, c:]).view(b, c, r1 - r0, w)
        return attn.unpermute_rows(attn.project_out(out), index, r0, r1)

    return add_by_strips_(x, strips, delta)


def _add_sorted_(step: _Step4a) -> torch.Tensor:
    attn, x, strips, index = step.attn, step.x, step.strips, step.index
    b, c, h, w = x.shape
    heads, factor = attn.num_heads, attn.factor
    n = h * w
    seq_key = x.new_empty(b, h, w)
    for r0, r1 in strips:
        lo, hi = halo_window(r0, r1, h, 2)  # the depthwise 3x3 of qkv, then the Sobel filter on v
        v = _qkv_rows(attn, _input_rows(step, lo, hi), slice(4 * c, 5 * c))
        seq_key[:, r0:r1] = crop_rows(sequence_key(v, attn.sobel_x, attn.sobel_y), lo, r0, r1).sum(dim=1)
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
            t = _qkv_strip(step, r0, r1, channels)
            seq.scatter_(2, inverse[:, None, r0 * w : r1 * w].expand_as(t), t)
            del t
        q1, k1, q2, k2, v = seq.chunk(5, dim=1)
        o = attn.attend(q1, k1, v, box=True, head=head)
        o = o * attn.attend(q2, k2, v, box=False, head=head)
        del seq, q1, k1, q2, k2, v
        out[:, head * width : (head + 1) * width] = o[:, :, :n].gather(2, inverse[:, None, :].expand(b, width, n))
        del o
    out = out.view(b, c, h, w)
    for r0, r1 in strips:
        x[:, :, r0:r1] += attn.unpermute_rows(attn.project_out(out[:, :, r0:r1]), index, r0, r1)
    return x


__all__ = ["add_attention_", "add_block_", "add_feedforward_", "strip_rows"]
