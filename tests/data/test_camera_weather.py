"""Tests for hogformer.data.camera and hogformer.data.weather: the statistics each degradation promises."""

from __future__ import annotations

import numpy as np
import pytest

from hogformer.data.camera import (
    color_cast,
    dark_scene,
    jpeg_noise,
    low_light_cast,
    mild,
    poisson_gaussian_noise,
    wide_blur,
)
from hogformer.data.degradations import SCENES, degrade, degrade_pair, gaussian_noise
from hogformer.data.weather import snow

skdata = pytest.importorskip("skimage.data")
ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[::2, ::2].astype(np.float32) / 255.0


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("name", ["poisson", "mild", "dark_noise", "clean_dark"])
def test_gentle_names_contract(name: str, astronaut: np.ndarray) -> None:
    small = astronaut[:33, :47]
    a = degrade(small, name, np.random.default_rng(7))
    b = degrade(small, name, np.random.default_rng(7))
    assert a.shape == small.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)


def test_poisson_variance_grows_with_intensity() -> None:
    levels = np.array([0.05, 0.2, 0.4, 0.8], np.float32)
    img = np.broadcast_to(levels[:, None, None, None], (4, 64, 64, 3)).reshape(256, 64, 3).copy()
    out = poisson_gaussian_noise(img, np.random.default_rng(0), peak_range=(100, 100), read_sigma_range=(0, 0))
    var = out.reshape(4, 64, 64, 3).astype(np.float64).var(axis=(1, 2, 3))
    np.testing.assert_allclose(var, levels / 100.0, rtol=0.15)  # shot noise: variance = level / peak
    np.testing.assert_allclose(out.reshape(4, -1).mean(axis=1), levels, atol=0.005)  # unbiased


def test_poisson_read_noise_floor() -> None:
    black = np.zeros((128, 128, 3), np.float32) + 0.5
    out = poisson_gaussian_noise(black, np.random.default_rng(1), peak_range=(1e6, 1e6), read_sigma_range=(10, 10))
    assert out.std() == pytest.approx(10 / 255, rel=0.05)


def _blockiness(img: np.ndarray) -> float:
    """Mean |horizontal step| across 8-pixel block borders over that inside blocks (1 for no block structure)."""
    d = np.abs(np.diff(_luma(img), axis=1))
    border = d[:, 7::8].mean()
    inside = np.delete(d, np.s_[7::8], axis=1).mean()
    return float(border / inside)


def test_jpeg_noise_has_8x8_block_artefacts() -> None:
    ramp = np.linspace(0.2, 0.8, 256, dtype=np.float32)
    img = np.repeat(np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1), 1, axis=0).astype(np.float32)
    blocky = _blockiness(jpeg_noise(img, np.random.default_rng(0), sigma_range=(25, 25), quality_range=(30, 30)))
    plain = _blockiness(gaussian_noise(img, np.random.default_rng(0), 25.0))
    assert plain == pytest.approx(1.0, abs=0.05)
    assert blocky > 1.25


def test_color_cast_changes_channel_ratios_keeps_geometric_mean(astronaut: np.ndarray) -> None:
    img = astronaut * 0.5  # no clipping
    out = color_cast(img, np.random.default_rng(3), strength=0.3)
    gains = out.reshape(-1, 3).sum(axis=0) / img.reshape(-1, 3).sum(axis=0)
    assert np.prod(gains) == pytest.approx(1.0, rel=1e-3)
    assert gains.max() / gains.min() > 1.1


@pytest.mark.parametrize("seed", range(3))
def test_low_light_cast_is_dark_tinted_and_noisy(seed: int, astronaut: np.ndarray) -> None:
    out = low_light_cast(astronaut, np.random.default_rng(seed))
    assert _luma(out).mean() < 0.5 * _luma(astronaut).mean()
    ratio_in = astronaut.reshape(-1, 3).mean(axis=0)
    ratio_out = out.reshape(-1, 3).mean(axis=0)
    assert not np.allclose(ratio_out / ratio_out.sum(), ratio_in / ratio_in.sum(), atol=0.005)  # tinted
    flat = np.zeros((64, 64, 3), np.float32) + 0.6
    assert low_light_cast(flat, np.random.default_rng(seed)).std(axis=(0, 1)).min() > 0.001  # noisy


def test_wide_blur_reaches_large_kernels() -> None:
    """The blur of a single dot is the kernel: its extent spans small to large (beyond blur's 15 pixels)."""
    dot = np.zeros((65, 65, 3), np.float32)
    dot[32, 32] = 1.0
    extents = []
    for seed in range(16):
        ys, xs = np.nonzero(wide_blur(dot, np.random.default_rng(seed))[..., 0] > 1e-4)
        extents.append(max(ys.max() - ys.min(), xs.max() - xs.min()) + 1)
    assert min(extents) <= 7 and max(extents) >= 19


def test_mild_is_mild(astronaut: np.ndarray) -> None:
    for seed in range(6):
        out = mild(astronaut, np.random.default_rng(seed))
        mse = float(np.mean((out.astype(np.float64) - astronaut) ** 2))
        assert 0 < mse < 10 ** (-30 / 10)  # above 30 dB: a flaw (the strong degradations stay under 30 dB)


def test_dark_scenes_keep_the_target_dark(astronaut: np.ndarray) -> None:
    assert set(SCENES) == {"clean_dark", "dark_noise"}
    lq, gt = degrade_pair(astronaut, "clean_dark", np.random.default_rng(0))
    np.testing.assert_array_equal(lq, gt)
    assert _luma(gt).mean() < 0.5 * _luma(astronaut).mean()
    lq, gt = degrade_pair(astronaut, "dark_noise", np.random.default_rng(0))
    assert _luma(gt).mean() < 0.5 * _luma(astronaut).mean()
    assert abs(_luma(lq).mean() - _luma(gt).mean()) < 0.01 * 255 / 255  # noise, not a brightness change
    assert np.std(lq - gt) > 0.003
    lq, gt = degrade_pair(astronaut, "noise25", np.random.default_rng(0))  # the usual: the photo is the target
    np.testing.assert_array_equal(gt, astronaut)
    assert dark_scene(astronaut, np.random.default_rng(0)).max() <= 0.45 + 1e-6


def test_degrade_pair_keeps_existing_streams(astronaut: np.ndarray) -> None:
    """Pairs of the old names draw exactly what ``degrade`` draws (shipped configs reproduce their data)."""
    lq, _ = degrade_pair(astronaut, "haze", np.random.default_rng(4))
    np.testing.assert_array_equal(lq, degrade(astronaut, "haze", np.random.default_rng(4)))


def _flakes(out: np.ndarray, base: float) -> tuple[int, float]:
    """Number of bright blobs and their mean area in pixels."""
    mask = _luma(out) - base > 0.2
    labels, n = ndimage.label(mask)
    return n, float(mask.sum() / max(n, 1))


def test_snow_only_brightens_and_adds_blobs(astronaut: np.ndarray) -> None:
    out = snow(astronaut, np.random.default_rng(0), veil_range=(0.05, 0.05))
    assert (out.astype(np.float64) - astronaut).min() >= -1e-6
    assert _luma(out).mean() > _luma(astronaut).mean() + 0.03


def test_snow_density_and_size_follow_the_parameters() -> None:
    dark = np.zeros((192, 192, 3), np.float32) + 0.1
    fixed = {"layers_range": (1, 1), "smear_range": (0, 0), "veil_range": (0, 0)}

    def run(density: float, radius: float) -> tuple[int, float]:
        rng = np.random.default_rng(1)
        out = snow(dark, rng, density_range=(density, density), radius_range=(radius, radius), **fixed)
        return _flakes(out, 0.1)

    few, _ = run(0.001, 1.0)
    many, _ = run(0.004, 1.0)
    assert 2.5 < many / few < 5.5  # about 4x the flakes for 4x the density
    _, small_area = run(0.001, 1.0)
    big_n, big_area = run(0.004, 2.5)  # density at radius 1; at radius 2.5 there are 6.25x fewer flakes
    assert big_area > 3 * small_area and big_n < many


def test_snow_rejects_bad_ranges(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="density_range"):
        snow(astronaut, np.random.default_rng(0), density_range=(0.5, 2.0))
