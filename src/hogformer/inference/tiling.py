"""Size handling for inference: pad to the multiple the network needs, crop back, and tiled application.

Everything here is a pure function of tensors: no model, no device policy, no printing. The network
(HOGformer's U-Net downsamples three times) needs H and W to be multiples of a fixed number; `run_padded`
makes any HxW acceptable, and `tiled_apply` bounds memory by the tile size for large images by running the
network on overlapping tiles and cross-fading them with a smooth window.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "blend_window",
    "crop_to",
    "pad_to_multiple",
    "run_padded",
    "tile_starts",
    "tiled_apply",
]

_PAD_MODES = ("reflect", "replicate", "constant")


def _check_image(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")


def _pad_dim(x: torch.Tensor, amount: int, dim: int, mode: str) -> torch.Tensor:
    """Pad `amount` pixels after the end of spatial `dim` (-1: width, -2: height)."""
    if amount == 0:
        return x

    def pad_spec(n: int) -> tuple[int, int, int, int]:
        return (0, n, 0, 0) if dim == -1 else (0, 0, 0, n)

    if mode == "constant":
        return F.pad(x, pad_spec(amount), mode="constant", value=0.0)
    if mode == "replicate":
        return F.pad(x, pad_spec(amount), mode="replicate")
    # Reflect: torch needs pad < size, so reflect in steps, each step mirroring the already padded tensor.
    # That continues the mirror image periodically (period 2 * (size - 1)), exactly as a mirror extension of
    # the original would. A dimension of size 1 has nothing to mirror; there we replicate (which is what the
    # mirror image of a single pixel would be anyway).
    remaining = amount
    while remaining > 0:
        step = min(remaining, x.shape[dim] - 1)
        if step == 0:
            return F.pad(x, pad_spec(remaining), mode="replicate")
        x = F.pad(x, pad_spec(step), mode="reflect")
        remaining -= step
    return x


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of `x` (B, C, H, W) so that H and W are multiples of `multiple`.

    Modes: ``"reflect"`` (mirror without repeating the edge pixel; images smaller than the padding are
    mirrored repeatedly, and a dimension of size 1 is replicated since it has nothing to mirror),
    ``"replicate"`` (repeat the edge pixel) and ``"constant"`` (zeros).

    Returns the padded tensor and the original ``(H, W)``, to be given to `crop_to`.
    """
    _check_image(x)
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if mode not in _PAD_MODES:
        raise ValueError(f"unknown pad mode {mode!r}; expected one of {_PAD_MODES}")
    h, w = x.shape[-2:]
    x = _pad_dim(x, (-h) % multiple, -2, mode)
    x = _pad_dim(x, (-w) % multiple, -1, mode)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keep the top-left ``size = (H, W)`` pixels of `x` (..., H', W'); undoes `pad_to_multiple`."""
    h, w = size
    if h > x.shape[-2] or w > x.shape[-1] or h < 1 or w < 1:
        raise ValueError(f"cannot crop a tensor of spatial size {tuple(x.shape[-2:])} to {(h, w)}")
    return x[..., :h, :w]


def run_padded(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int, mode: str = "reflect"
) -> torch.Tensor:
    """Apply `fn` to `x` padded to a multiple of `multiple`, and crop the result back to x's H and W.

    `fn` must keep the spatial size (it may change the number of channels).
    """
    padded, size = pad_to_multiple(x, multiple, mode)
    y = fn(padded)
    if y.dim() != 4 or y.shape[-2:] != padded.shape[-2:]:
        raise ValueError(
            f"fn must keep the spatial size: gave {tuple(y.shape)} for an input of {tuple(padded.shape)}"
        )
    return crop_to(y, size)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering ``[0, length)``, neighbours overlapping by >= `overlap`.

    Uses the fewest tiles the overlap allows and spreads them evenly: the first starts at 0, the last ends
    exactly at `length`. If ``length <= tile`` the answer is ``[0]`` (a single tile, possibly larger than the
    image). Raises ValueError unless ``0 <= overlap < tile`` and ``length >= 1``.
    """
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must satisfy 0 <= overlap < tile, got overlap={overlap}, tile={tile}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if length <= tile:
        return [0]
    span = length - tile
    gaps = math.ceil(span / (tile - overlap))
    # Floors of evenly spaced points: consecutive differences are at most ceil(span / gaps) <= tile - overlap.
    return [i * span // gaps for i in range(gaps + 1)]


def _ramp_profile(
    length: int,
    overlap: int,
    ramp_start: bool,
    ramp_end: bool,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> torch.Tensor:
    """1-D weights: 1, except a raised-cosine ramp over `overlap` pixels at each end asked for.

    The ramp ``0.5 - 0.5 * cos(pi * (i + 1) / (overlap + 1))`` is strictly inside (0, 1), and a ramp up and a
    ramp down that overlap by exactly `overlap` pixels sum to 1 (a partition of unity).
    """
    profile = torch.ones(length, dtype=torch.float64)
    if overlap > 0:
        i = torch.arange(overlap, dtype=torch.float64)
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (i + 1) / (overlap + 1))
        n = min(overlap, length)
        if ramp_start:
            profile[:n] = torch.minimum(profile[:n], ramp[:n])
        if ramp_end:
            profile[length - n :] = torch.minimum(profile[length - n :], ramp[:n].flip(0))
    return profile.to(dtype=dtype, device=device)


def blend_window(
    tile_h: int,
    tile_w: int,
    overlap: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(1, 1, tile_h, tile_w) cross-fade weights for overlapping tiles.

    1 in the middle and a raised-cosine ramp over `overlap` pixels at each of the four borders; strictly
    positive everywhere (so dividing by summed weights is safe) and symmetric. The 2-D window is the outer
    product of the row and column profiles. When a ramp is longer than half the tile, the two ramps of a
    side meet and the smaller one wins.
    """
    if tile_h < 1 or tile_w < 1:
        raise ValueError(f"tile size must be positive, got {(tile_h, tile_w)}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    rows = _ramp_profile(tile_h, overlap, True, True, dtype, device)
    cols = _ramp_profile(tile_w, overlap, True, True, dtype, device)
    return (rows[:, None] * cols[None, :])[None, None]


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile: int,
    overlap: int = 32,
    multiple: int = 16,
    pad_mode: str = "reflect",
    out_channels: int | None = None,
    tile_batch: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply an image-to-image `fn` to `x` (B, C, H, W) tile by tile, so memory is bounded by the tile.

    If the image fits in one tile this is `run_padded` (fn sees the image padded to `multiple`). Otherwise
    the image is cut into ``tile x tile`` tiles (start offsets from `tile_starts`, so edge tiles are shifted
    inward and overlap their neighbours by at least `overlap`); fn is applied to `tile_batch` tiles at a
    time, concatenated along the batch dimension (so fn sees up to ``tile_batch * B`` images); each result
    is weighted by a raised-cosine window (`blend_window`), except that sides touching the image border are
    not ramped, and the weighted sum is divided by the summed weights. A dimension smaller than the tile is
    taken whole and each tile is padded to `multiple` with `pad_mode`, as in `run_padded`.

    `tile` must be a multiple of `multiple`. `out_channels`, if given, is checked against what fn returns;
    by default the output has as many channels as fn returns (C for a restoration network). Output and
    weight buffers live on ``x.device`` (accumulated in at least float32); the result has ``x.dtype``.
    `progress(done_tiles, total_tiles)` is called after each batch of tiles (once, with ``(1, 1)``, when
    the image fits in one tile). Runs under ``torch.no_grad()``: this is for inference.
    """
    _check_image(x)
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if tile < 1 or tile % multiple != 0:
        raise ValueError(f"tile must be a positive multiple of {multiple}, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must satisfy 0 <= overlap < tile, got overlap={overlap}, tile={tile}")
    if tile_batch < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
    if pad_mode not in _PAD_MODES:
        raise ValueError(f"unknown pad mode {pad_mode!r}; expected one of {_PAD_MODES}")

    def check_channels(y: torch.Tensor) -> None:
        if out_channels is not None and y.shape[1] != out_channels:
            raise ValueError(f"fn returned {y.shape[1]} channels, expected out_channels={out_channels}")

    b, _, h, w = x.shape
    with torch.no_grad():
        if h <= tile and w <= tile:
            y = run_padded(fn, x, multiple, pad_mode)
            check_channels(y)
            if progress is not None:
                progress(1, 1)
            return y.to(device=x.device, dtype=x.dtype)

        tile_h, tile_w = min(tile, h), min(tile, w)
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        acc_dtype = torch.promote_types(x.dtype, torch.float32)
        row_profiles = {
            y0: _ramp_profile(tile_h, overlap, y0 > 0, y0 + tile_h < h, acc_dtype, x.device) for y0 in ys
        }
        col_profiles = {
            x0: _ramp_profile(tile_w, overlap, x0 > 0, x0 + tile_w < w, acc_dtype, x.device) for x0 in xs
        }
        positions = [(y0, x0) for y0 in ys for x0 in xs]
        total = len(positions)

        out: torch.Tensor | None = None
        weight = torch.zeros(1, 1, h, w, dtype=acc_dtype, device=x.device)
        for first in range(0, total, tile_batch):
            group = positions[first : first + tile_batch]
            batch = torch.cat([x[:, :, y0 : y0 + tile_h, x0 : x0 + tile_w] for y0, x0 in group], dim=0)
            result = run_padded(fn, batch, multiple, pad_mode)
            del batch
            if result.shape[0] != b * len(group):
                raise ValueError(f"fn changed the batch size from {b * len(group)} to {result.shape[0]}")
            check_channels(result)
            if out is None:
                out = torch.zeros(b, result.shape[1], h, w, dtype=acc_dtype, device=x.device)
            result = result.to(device=x.device, dtype=acc_dtype)
            for k, (y0, x0) in enumerate(group):
                window = row_profiles[y0][:, None] * col_profiles[x0][None, :]
                out[:, :, y0 : y0 + tile_h, x0 : x0 + tile_w] += result[k * b : (k + 1) * b] * window
                weight[:, :, y0 : y0 + tile_h, x0 : x0 + tile_w] += window
            del result
            if progress is not None:
                progress(min(first + tile_batch, total), total)

        assert out is not None  # total >= 1
        return out.div_(weight).to(dtype=x.dtype)
