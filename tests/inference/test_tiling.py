"""Tests for hogformer.inference.tiling: padding, tile layout, blend windows and tiled application."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from hogformer.inference.tiling import (
    _ramp_profile,
    blend_window,
    crop_to,
    pad_to_multiple,
    run_padded,
    tile_starts,
    tiled_apply,
)


def _image(b: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _mirror_index(k: int, n: int) -> int:
    """Index into a length-n signal of position k of its infinite mirror extension (edge not repeated)."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    k %= period
    return k if k < n else period - k


def _mean3x3(t: torch.Tensor) -> torch.Tensor:
    """A local fn: 3x3 box filter with reflect padding on whatever it is given."""
    c = t.shape[1]
    kernel = torch.full((c, 1, 3, 3), 1.0 / 9.0, dtype=t.dtype)
    return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), kernel, groups=c)


# ---------------------------------------------------------------------------------------------- padding


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (17, 33), (64, 64)])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "constant"])
def test_pad_crop_round_trip(size: tuple[int, int], mode: str) -> None:
    x = _image(2, 3, *size)
    padded, original = pad_to_multiple(x, 16, mode)
    assert original == size
    assert padded.shape[:2] == x.shape[:2]
    assert padded.shape[-2] % 16 == 0 and padded.shape[-1] % 16 == 0
    assert padded.shape[-2] - size[0] < 16 and padded.shape[-1] - size[1] < 16
    assert torch.equal(padded[..., : size[0], : size[1]], x)
    assert torch.equal(crop_to(padded, original), x)


@pytest.mark.parametrize("size", [(1, 1), (1, 4), (2, 2), (3, 5), (17, 33)])
def test_reflect_pad_smaller_than_padding_is_a_mirror_extension(size: tuple[int, int]) -> None:
    h, w = size
    x = _image(1, 2, h, w, seed=1)
    padded, _ = pad_to_multiple(x, 16, "reflect")
    assert torch.equal(padded[..., :h, :w], x)
    ph, pw = padded.shape[-2:]
    rows = torch.tensor([_mirror_index(i, h) for i in range(ph)])
    cols = torch.tensor([_mirror_index(j, w) for j in range(pw)])
    assert torch.equal(padded, x[..., rows[:, None], cols[None, :]])


def test_reflect_matches_torch_when_padding_fits() -> None:
    x = _image(1, 3, 20, 27)
    padded, _ = pad_to_multiple(x, 16, "reflect")
    assert torch.equal(padded, F.pad(x, (0, 5, 0, 12), mode="reflect"))


def test_replicate_and_constant_values() -> None:
    x = _image(1, 1, 3, 5) + 1.0
    rep, _ = pad_to_multiple(x, 8, "replicate")
    assert torch.equal(rep[..., 3:, :5], x[..., 2:3, :].expand(1, 1, 5, 5))
    assert torch.equal(rep[..., :3, 5:], x[..., :, 4:5].expand(1, 1, 3, 3))
    const, _ = pad_to_multiple(x, 8, "constant")
    assert const[..., 3:, :].abs().sum() == 0 and const[..., :, 5:].abs().sum() == 0


def test_pad_already_multiple_is_unchanged() -> None:
    x = _image(1, 3, 32, 48)
    padded, size = pad_to_multiple(x, 16)
    assert size == (32, 48) and torch.equal(padded, x)


def test_pad_and_crop_errors() -> None:
    x = _image(1, 3, 5, 5)
    with pytest.raises(ValueError):
        pad_to_multiple(x, 0)
    with pytest.raises(ValueError):
        pad_to_multiple(x, 4, "circularish")
    with pytest.raises(ValueError):
        pad_to_multiple(x[0], 4)
    with pytest.raises(ValueError):
        crop_to(x, (6, 5))


def test_run_padded_pads_for_fn_and_crops_back() -> None:
    x = _image(1, 3, 17, 33)
    seen: list[tuple[int, int]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append((t.shape[-2], t.shape[-1]))
        return t * 2

    y = run_padded(fn, x, 16)
    assert seen == [(32, 48)]
    assert torch.equal(y, x * 2)
    with pytest.raises(ValueError):
        run_padded(lambda t: t[..., :-1, :], x, 16)


# ------------------------------------------------------------------------------------------ tile_starts


@pytest.mark.parametrize("length", [1, 15, 16, 17, 31, 37, 53, 100, 257])
@pytest.mark.parametrize(("tile", "overlap"), [(16, 0), (16, 4), (16, 15), (32, 8), (64, 32)])
def test_tile_starts_cover_and_overlap(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    if length <= tile:
        assert starts == [0]
        return
    assert starts[0] == 0
    assert starts[-1] + tile == length
    assert all(0 <= s <= length - tile for s in starts)
    assert all(b > a for a, b in pairwise(starts))
    assert all(a + tile - b >= overlap for a, b in pairwise(starts))
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        covered[s : s + tile] = True
    assert bool(covered.all())
    # no more tiles than the overlap requires
    assert len(starts) == math.ceil((length - tile) / (tile - overlap)) + 1


def test_tile_starts_errors() -> None:
    with pytest.raises(ValueError):
        tile_starts(100, 16, 16)
    with pytest.raises(ValueError):
        tile_starts(100, 16, 20)
    with pytest.raises(ValueError):
        tile_starts(100, 16, -1)
    with pytest.raises(ValueError):
        tile_starts(100, 0, 0)
    with pytest.raises(ValueError):
        tile_starts(0, 16, 4)


# ----------------------------------------------------------------------------------------- blend_window


@pytest.mark.parametrize(("h", "w", "overlap"), [(16, 16, 4), (32, 24, 8), (8, 8, 6), (5, 7, 3), (16, 16, 0)])
def test_blend_window_positive_symmetric(h: int, w: int, overlap: int) -> None:
    win = blend_window(h, w, overlap, dtype=torch.float64)
    assert win.shape == (1, 1, h, w) and win.dtype == torch.float64
    assert bool((win > 0).all()) and bool((win <= 1).all())
    assert torch.allclose(win, win.flip(-1)) and torch.allclose(win, win.flip(-2))
    if overlap == 0:
        assert bool((win == 1).all())
    elif 2 * overlap < min(h, w):
        assert win[0, 0, h // 2, w // 2] == 1
        assert bool((win[0, 0, overlap:-overlap, overlap:-overlap] == 1).all())
        assert win[0, 0, 0, 0] < win[0, 0, overlap - 1, overlap - 1]


def test_blend_window_ramps_cross_fade_to_one() -> None:
    tile, overlap = 16, 6
    row = blend_window(tile, tile, overlap, dtype=torch.float64)[0, 0, tile // 2]
    total = torch.zeros(tile + (tile - overlap))
    total[:tile] += row.float()
    total[tile - overlap :] += row.float()
    assert torch.allclose(total[overlap : tile + tile - 2 * overlap], torch.ones(tile + tile - 3 * overlap))


def test_ramp_profile_not_ramped_on_border_sides() -> None:
    prof = _ramp_profile(16, 4, False, True, torch.float32, None)
    assert bool((prof[:12] == 1).all()) and bool((prof[12:] < 1).all())
    prof = _ramp_profile(16, 4, True, False, torch.float32, None)
    assert bool((prof[:4] < 1).all()) and bool((prof[4:] == 1).all())


# ------------------------------------------------------------------------------------------ tiled_apply


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [
        ((1, 3, 37, 53), 16, 4),
        ((2, 3, 100, 70), 32, 8),
        ((1, 3, 11, 13), 16, 4),  # smaller than a tile
        ((1, 2, 10, 70), 32, 8),  # smaller than a tile in one dimension
        ((1, 1, 48, 48), 16, 0),
    ],
)
def test_tiled_identity_is_exact(shape: tuple[int, int, int, int], tile: int, overlap: int) -> None:
    x = _image(*shape)
    y = tiled_apply(lambda t: t, x, tile=tile, overlap=overlap, multiple=16)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.allclose(y, x, atol=1e-6, rtol=0)


def test_tiled_small_image_equals_run_padded() -> None:
    x = _image(1, 3, 11, 13)
    y = tiled_apply(_mean3x3, x, tile=32, overlap=8, multiple=16)
    assert torch.equal(y, run_padded(_mean3x3, x, 16))


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 100, 70)])
def test_tiled_pointwise_equals_whole_image(shape: tuple[int, int, int, int]) -> None:
    x = _image(*shape)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(t * 2 + 1)

    y = tiled_apply(fn, x, tile=16, overlap=4, multiple=8)
    assert torch.allclose(y, fn(x), atol=1e-6, rtol=0)


def _seam_mask(h: int, w: int, tile: int, overlap: int) -> torch.Tensor:
    """Pixels on the first or last row/column of some tile where that tile edge is inside the image."""
    mask = torch.zeros(h, w, dtype=torch.bool)
    for y0 in tile_starts(h, tile, overlap):
        if y0 > 0:
            mask[y0, :] = True
        if y0 + tile < h:
            mask[y0 + tile - 1, :] = True
    for x0 in tile_starts(w, tile, overlap):
        if x0 > 0:
            mask[:, x0] = True
        if x0 + tile < w:
            mask[:, x0 + tile - 1] = True
    return mask


def test_tiled_local_fn_differs_only_near_seams() -> None:
    h, w, tile, overlap = 70, 90, 32, 8
    x = _image(1, 3, h, w)
    tiled = tiled_apply(_mean3x3, x, tile=tile, overlap=overlap, multiple=16)
    whole = _mean3x3(x)
    diff = (tiled - whole).abs().amax(dim=(0, 1))
    seams = _seam_mask(h, w, tile, overlap)
    assert torch.allclose(diff[~seams], torch.zeros_like(diff[~seams]), atol=1e-6)
    assert float(diff[seams].max()) > 1e-3  # the seams are real: tiles do not see their neighbours
    assert float(diff.max()) <= 1.0 / 3.0 + 1e-6  # one wrong row of three, values in [0, 1]
    # the cross-fade gives a tile's own edge pixels little weight: a plain average of tiles errs by ~0.15 here
    ramp_edge = 0.5 - 0.5 * math.cos(math.pi / (overlap + 1))
    assert float(diff.max()) <= ramp_edge / 3.0 + 1e-6


@pytest.mark.parametrize("tile_batch", [2, 3, 100])
def test_tile_batch_matches_one_at_a_time(tile_batch: int) -> None:
    x = _image(2, 3, 70, 90)
    one = tiled_apply(_mean3x3, x, tile=32, overlap=8, tile_batch=1)
    many = tiled_apply(_mean3x3, x, tile=32, overlap=8, tile_batch=tile_batch)
    assert torch.allclose(one, many, atol=1e-6, rtol=0)


@pytest.mark.parametrize("tile_batch", [1, 4])
def test_progress_counts_tiles(tile_batch: int) -> None:
    h, w, tile, overlap = 70, 90, 32, 8
    total = len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))
    calls: list[tuple[int, int]] = []
    tiled_apply(
        lambda t: t,
        _image(1, 3, h, w),
        tile=tile,
        overlap=overlap,
        tile_batch=tile_batch,
        progress=lambda done, n: calls.append((done, n)),
    )
    assert len(calls) == math.ceil(total / tile_batch)
    assert all(n == total for _, n in calls)
    done = [d for d, _ in calls]
    assert all(b > a for a, b in pairwise(done)) and done[-1] == total


def test_progress_single_tile() -> None:
    calls: list[tuple[int, int]] = []
    tiled_apply(
        lambda t: t, _image(1, 3, 10, 10), tile=16, overlap=4, progress=lambda d, n: calls.append((d, n))
    )
    assert calls == [(1, 1)]


def test_out_channels() -> None:
    x = _image(2, 3, 50, 40)

    def fn(t: torch.Tensor) -> torch.Tensor:
        gray = t.mean(dim=1, keepdim=True)
        return torch.cat([gray, gray * 2, 1 - gray, gray**2, t[:, :1]], dim=1)

    y = tiled_apply(fn, x, tile=16, overlap=4, out_channels=5)
    assert y.shape == (2, 5, 50, 40)
    assert torch.allclose(y, fn(x), atol=1e-6, rtol=0)
    assert tiled_apply(fn, x[..., :10, :10], tile=16, overlap=4).shape == (2, 5, 10, 10)
    with pytest.raises(ValueError):
        tiled_apply(fn, x, tile=16, overlap=4, out_channels=3)


@pytest.mark.parametrize("tile_batch", [1, 3])
def test_fn_never_sees_more_than_a_tile(tile_batch: int) -> None:
    x = _image(2, 3, 100, 70)
    sizes: list[tuple[int, int, int]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        sizes.append((t.shape[0], t.shape[-2], t.shape[-1]))
        return t

    tiled_apply(fn, x, tile=32, overlap=8, multiple=16, tile_batch=tile_batch)
    n_tiles = len(tile_starts(100, 32, 8)) * len(tile_starts(70, 32, 8))
    assert len(sizes) == math.ceil(n_tiles / tile_batch)
    assert max(h for _, h, _ in sizes) <= 32 and max(w for _, _, w in sizes) <= 32
    assert max(b for b, _, _ in sizes) <= 2 * tile_batch


def test_narrow_image_tiles_are_padded_to_multiple() -> None:
    x = _image(1, 3, 10, 70)
    sizes: list[tuple[int, int]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        sizes.append((t.shape[-2], t.shape[-1]))
        return t + 1

    y = tiled_apply(fn, x, tile=32, overlap=8, multiple=16)
    assert set(sizes) == {(16, 32)}
    assert torch.allclose(y, x + 1, atol=1e-6, rtol=0)


def test_output_dtype_follows_input() -> None:
    x = _image(1, 3, 40, 40).double()
    assert tiled_apply(lambda t: t.float(), x, tile=16, overlap=4).dtype == torch.float64
    xh = _image(1, 3, 40, 40).to(torch.bfloat16)
    y = tiled_apply(lambda t: t, xh, tile=16, overlap=4)
    assert y.dtype == torch.bfloat16 and torch.allclose(y.float(), xh.float(), atol=1e-2)


def test_tiled_apply_errors() -> None:
    x = _image(1, 3, 40, 40)
    with pytest.raises(ValueError):
        tiled_apply(lambda t: t, x, tile=24, overlap=4, multiple=16)
    with pytest.raises(ValueError):
        tiled_apply(lambda t: t, x, tile=16, overlap=16)
    with pytest.raises(ValueError):
        tiled_apply(lambda t: t, x, tile=16, overlap=4, tile_batch=0)
    with pytest.raises(ValueError):
        tiled_apply(lambda t: t, x[0], tile=16, overlap=4)
