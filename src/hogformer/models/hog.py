"""Patch histograms of oriented gradients and the HOG-guided pixel re-ordering inside DHOGSA (spec 4a).

Everything is vectorised: one scatter for all histograms, one sort for all patches, and the re-ordering is a
single gather with an index that maps every pixel of the padded image to its source pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import HOG_BINS, HOG_PATCH_SIZE
from .layers import sobel

_MAG_EPS = 1e-6
_HIST_EPS = 1e-8


def padded_size(h: int, w: int, patch: int = HOG_PATCH_SIZE) -> tuple[int, int]:
    """Height and width rounded up to a multiple of the patch size."""
    return -(-h // patch) * patch, -(-w // patch) * patch


def pad_bottom_right(x: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    """Zero-pad the last two dimensions at the bottom and right up to ``(hp, wp)`` (a no-op when equal)."""
    h, w = x.shape[-2:]
    if (h, w) == (hp, wp):
        return x
    return F.pad(x, (0, wp - w, 0, hp - h))


def to_patches(x: torch.Tensor, patch: int = HOG_PATCH_SIZE) -> torch.Tensor:
    """``(..., Hp, Wp)`` -> ``(..., n_patches, patch*patch)``: patches row-major, pixels row-major inside."""
    *lead, hp, wp = x.shape
    nh, nw = hp // patch, wp // patch
    x = x.reshape(*lead, nh, patch, nw, patch).transpose(-3, -2)
    return x.reshape(*lead, nh * nw, patch * patch)


def from_patches(x: torch.Tensor, hp: int, wp: int, patch: int = HOG_PATCH_SIZE) -> torch.Tensor:
    """Inverse of :func:`to_patches`."""
    *lead, _, _ = x.shape
    nh, nw = hp // patch, wp // patch
    x = x.reshape(*lead, nh, nw, patch, patch).transpose(-3, -2)
    return x.reshape(*lead, hp, wp)


def patch_hog(
    x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, patch: int = HOG_PATCH_SIZE, bins: int = HOG_BINS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch histograms and the per-pixel sort key of ``x`` (``(B, C, H, W)``), spec 4a steps 1-3.

    Returns ``hog`` of shape ``(B, bins, Hp/patch, Wp/patch)`` (each histogram normalised to sum ~1) and the
    key ``s`` of shape ``(B, Hp, Wp)`` (``sum_c m * (k + 1)``; 0 on padding).
    """
    gx, gy = sobel(x, kx, ky)
    return hog_from_gradients(gx, gy, patch, bins)


def hog_from_gradients(
    gx: torch.Tensor, gy: torch.Tensor, patch: int = HOG_PATCH_SIZE, bins: int = HOG_BINS
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`patch_hog` from the Sobel gradients (so a strip can be binned with gradients taken on a larger
    window: the patch grid starts at the first row and column of ``gx``)."""
    b, c, h, w = gx.shape
    mag = torch.sqrt(gx.square() + gy.square() + _MAG_EPS)
    ori = torch.atan2(gy, gx)
    del gx, gy
    # Truncation of a non-negative value; o = pi gives 9, which wraps to bin 0.
    k = (((ori + math.pi) / (2 * math.pi)) * bins).long().remainder_(bins)
    del ori
    key = (mag * (k + 1).to(mag.dtype)).sum(dim=1)

    hp, wp = padded_size(h, w, patch)
    nh, nw = hp // patch, wp // patch
    # Bin index of every (channel, pixel) in the flattened (patch, bin) histogram grid.
    row_patch = (torch.arange(h, device=mag.device) // patch) * nw
    col_patch = torch.arange(w, device=mag.device) // patch
    cell = (row_patch[:, None] + col_patch[None, :]) * bins  # (H, W)
    index = (k + cell).reshape(b, c * h * w)
    hist = torch.zeros(b, nh * nw * bins, dtype=mag.dtype, device=mag.device)
    hist.scatter_add_(1, index, mag.reshape(b, c * h * w))
    # Mean over channels and patch pixels (padding counts as zeros), then normalise per patch.
    hist = hist.view(b, nh * nw, bins) / (c * patch * patch)
    hist = hist / (hist.sum(dim=-1, keepdim=True) + _HIST_EPS)
    hog = hist.transpose(1, 2).reshape(b, bins, nh, nw)
    return hog, pad_bottom_right(key, hp, wp)


def patch_sort_index(key: torch.Tensor, patch: int = HOG_PATCH_SIZE) -> torch.Tensor:
    """Source pixel of every pixel after sorting each patch by ``key`` (``(B, Hp, Wp)``), spec 4a step 4.

    Returns a ``(B, Hp*Wp)`` int64 index into the flattened padded image: ``sorted.flat[j] = x.flat[idx[j]]``.
    Ties are broken as CPU ``torch.sort(stable=False)`` breaks them on each patch's row-major keys.
    """
    b, hp, wp = key.shape
    nw = wp // patch
    perm = torch.sort(to_patches(key, patch), dim=-1).indices  # (B, n_patches, patch*patch)
    # Turn (patch p, slot j) into a flat index of the padded image.
    p = torch.arange(perm.shape[1], device=key.device)[:, None]
    origin = (p // nw) * (patch * wp) + (p % nw) * patch  # top-left pixel of each patch
    src = origin + (perm // patch) * wp + perm % patch
    return from_patches(src, hp, wp, patch).reshape(b, hp * wp)


def inverse_permutation(index: torch.Tensor) -> torch.Tensor:
    """Inverse of a batch of permutations along the last dimension."""
    inv = torch.empty_like(index)
    ar = torch.arange(index.shape[-1], device=index.device).expand_as(index)
    return inv.scatter_(-1, index, ar)


class _Gather(torch.autograd.Function):
    """``x.gather(2, index)`` keeping only the index for the backward pass (``Tensor.gather`` keeps ``x`` too)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.shape = x.shape
        return x.gather(2, index)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        return grad.new_zeros(ctx.shape).scatter_add_(2, index, grad), None


def permute_pixels(x: torch.Tensor, index: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    """Re-order the pixels of ``x`` (``(B, C, H, W)``) through the padded grid: pad, one gather, crop."""
    b, c, h, w = x.shape
    flat = pad_bottom_right(x, hp, wp).reshape(b, c, hp * wp)
    index = index[:, None, :].expand(b, c, hp * wp)
    lean = torch.is_grad_enabled() and x.requires_grad
    out = (_Gather.apply(flat, index) if lean else flat.gather(2, index)).view(b, c, hp, wp)
    return out[:, :, :h, :w]
