"""Helpers of the low-memory forward: horizontal strips, halos and residual updates in place.

In low-memory mode (:meth:`hogformer.models.HOGformer.set_low_memory`) a block never holds a full-resolution
tensor wider than its input: every per-pixel or local step runs on one strip of rows at a time (with the
halo its convolutions need), and the only global steps, the attention matrices and the sequence sort, are
accumulated or computed from small per-pixel keys. See :meth:`hogformer.models.DHOGSA.add_low_memory_` and
:meth:`hogformer.models.DIFF.add_low_memory_`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .config import HOG_PATCH_SIZE


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
