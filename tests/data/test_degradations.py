"""Tests for hogformer.data.degradations: contracts, determinism and the physics each degradation promises."""

from __future__ import annotations

import numpy as np
import pytest

from hogformer.data.degradations import (
    DEGRADATIONS,
    blur,
    defocus_kernel,
    degrade,
    gaussian_noise,
    haze,
    low_light,
    motion_blur_kernel,
    official_test_noise,
    rain,
)

skdata = pytest.importorskip("skimage.data")
ndimage = pytest.importorskip("scipy.ndimage")

EXPECTED_NAMES = {"noise15", "noise25", "noise50", "noise", "haze", "lowlight", "blur", "rain"}  # that degrade
# camera.py / weather.py (tests/data/test_camera_weather.py): strong ones here too, the gentle ones there
EXPECTED_NAMES |= {"jpeg_noise", "lowlight_cast", "blur_wide", "snow"}
GENTLE_NAMES = {"poisson", "mild", "dark_noise"}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[::2, ::2].astype(np.float32) / 255.0  # 256x256 keeps the tests fast


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    return np.random.default_rng(123).random((33, 47, 3)).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _mean_abs_laplacian(img: np.ndarray) -> float:
    lap = img[1:-1, 1:-1] * 4 - img[:-2, 1:-1] - img[2:, 1:-1] - img[1:-1, :-2] - img[1:-1, 2:]
    return float(np.mean(np.abs(lap)))


# ----------------------------------------------------------------------------------------------------------
# contracts shared by every degradation
# ----------------------------------------------------------------------------------------------------------
def test_registry_names() -> None:
    assert set(DEGRADATIONS) == EXPECTED_NAMES | GENTLE_NAMES | {"clean", "clean_dark"}


def test_clean_is_an_independent_copy(small: np.ndarray) -> None:
    out = degrade(small, "clean", np.random.default_rng(0))
    np.testing.assert_array_equal(out, small)
    assert out.dtype == np.float32 and not np.shares_memory(out, small)
    out[0, 0, 0] = 2.0  # writing the result leaves the input alone
    assert small[0, 0, 0] <= 1.0
    with pytest.raises(ValueError, match="RGB"):
        degrade(small[:, :, 0], "clean", np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_shape_dtype_range_and_determinism(name: str, small: np.ndarray) -> None:
    before = small.copy()
    a = degrade(small, name, np.random.default_rng(7))
    b = degrade(small, name, np.random.default_rng(7))
    c = degrade(small, name, np.random.default_rng(8))
    assert a.shape == small.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(small, before)  # input untouched


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_float64_input_gives_float32(name: str, small: np.ndarray) -> None:
    out = degrade(small.astype(np.float64), name, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == small.shape


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_lowers_psnr_on_a_photo(name: str, astronaut: np.ndarray) -> None:
    # the random-sigma noise can draw sigma 5 (34.2 dB at worst); all others stay well under 30 dB
    bound = 35.0 if name == "noise" else 30.0
    for seed in range(3):
        assert _psnr(degrade(astronaut, name, np.random.default_rng(seed)), astronaut) < bound


def test_degrade_unknown_name_lists_valid_ones(small: np.ndarray) -> None:
    with pytest.raises(ValueError, match="fog.*noise15.*rain"):
        degrade(small, "fog", np.random.default_rng(0))


@pytest.mark.parametrize(
    "bad, exc",
    [
        (np.zeros((8, 8), np.float32), ValueError),
        (np.zeros((8, 8, 4), np.float32), ValueError),
        (np.zeros((8, 8, 3), np.uint8), TypeError),
        (np.full((8, 8, 3), 255.0, np.float32), ValueError),
    ],
)
def test_bad_images_raise(bad: np.ndarray, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        degrade(bad, "haze", np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [15.0, 25.0, 50.0])
def test_gaussian_noise_std(sigma: float) -> None:
    grey = np.full((128, 128, 3), 0.5, np.float32)
    noisy = gaussian_noise(grey, np.random.default_rng(1), sigma)
    std = float(np.std(noisy.astype(np.float64) - 0.5))
    # at sigma 50 clipping at 0 and 1 (2.55 sigma away) shrinks the std by under 1%
    assert std == pytest.approx(sigma / 255.0, rel=0.05)
    assert abs(float(np.mean(noisy)) - 0.5) < 0.01


def test_gaussian_noise_rejects_negative_sigma(small: np.ndarray) -> None:
    with pytest.raises(ValueError, match="sigma"):
        gaussian_noise(small, np.random.default_rng(0), -1.0)


def test_official_test_noise_matches_formula() -> None:
    img = (np.random.default_rng(2).random((20, 30, 3)) * 255).astype(np.uint8)
    saved = np.random.get_state()
    try:
        np.random.seed(0)
        expected = np.clip(img + np.random.randn(*img.shape) * 25, 0, 255).astype(np.uint8)
        np.random.seed(99)
        marker = np.random.rand()
        np.random.seed(99)
        got = official_test_noise(img, 25, seed=0)
        assert np.random.rand() == marker  # the global numpy state was not touched
    finally:
        np.random.set_state(saved)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(TypeError, match="uint8"):
        official_test_noise(img.astype(np.float32), 25, seed=0)


# ----------------------------------------------------------------------------------------------------------
# haze and low light
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_haze_lowers_contrast_and_raises_mean(seed: int, astronaut: np.ndarray) -> None:
    out = haze(astronaut, np.random.default_rng(seed))
    assert out.std() < 0.8 * astronaut.std()
    assert out.mean() > astronaut.mean() + 0.1
    # every pixel moves towards the airlight (>= 0.67): dark pixels get brighter
    dark = astronaut.mean(axis=-1) < 0.3
    assert np.all(out.mean(axis=-1)[dark] > astronaut.mean(axis=-1)[dark])


def test_haze_fixed_parameters_follow_the_model(astronaut: np.ndarray) -> None:
    """With beta 0 nothing changes; with a huge beta the image becomes the (near-grey) airlight."""
    same = haze(astronaut, np.random.default_rng(0), beta_range=(0.0, 0.0))
    np.testing.assert_allclose(same, astronaut, atol=1e-6)
    fog = haze(astronaut, np.random.default_rng(0), beta_range=(50.0, 50.0), airlight_range=(0.8, 0.8))
    airlight = fog.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(airlight, 0.8, atol=0.031)
    assert fog.std() < 1e-3 + np.ptp(airlight)


@pytest.mark.parametrize("seed", range(4))
def test_low_light_darkens_strongly(seed: int, astronaut: np.ndarray) -> None:
    out = low_light(astronaut, np.random.default_rng(seed))
    assert _luma(out).mean() < 0.45 * _luma(astronaut).mean()


def test_low_light_without_noise_is_gain_gamma(small: np.ndarray) -> None:
    out = low_light(
        small,
        np.random.default_rng(0),
        gamma_range=(2.0, 2.0),
        gain_range=(0.5, 0.5),
        noise_sigma_range=(0, 0),
    )
    np.testing.assert_allclose(out, 0.5 * small**2, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# blur
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_motion_kernel(seed: int) -> None:
    k = motion_blur_kernel(np.random.default_rng(seed), 15)
    assert k.shape == (15, 15)
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.count_nonzero(k) >= 8  # a trajectory, not a point
    # centred: the kernel's centre of mass is near the middle, so blurring does not shift the image
    yy, xx = np.mgrid[0:15, 0:15]
    assert abs((k * yy).sum() - 7) < 1.0 and abs((k * xx).sum() - 7) < 1.0


def test_motion_kernel_rejects_even_size() -> None:
    with pytest.raises(ValueError, match="odd"):
        motion_blur_kernel(np.random.default_rng(0), 14)


def test_defocus_kernel() -> None:
    k = defocus_kernel(3.0)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    assert k[0, 0] == 0 and k[3, 3] == k.max()
    with pytest.raises(ValueError, match="radius"):
        defocus_kernel(0.0)


def test_blur_constant_image_unchanged() -> None:
    const = np.full((40, 50, 3), [0.2, 0.5, 0.9], np.float32)
    for seed in range(4):
        np.testing.assert_allclose(blur(const, np.random.default_rng(seed)), const, atol=1e-6)


def test_blur_matches_ndimage_reflect(small: np.ndarray) -> None:
    kernel = motion_blur_kernel(np.random.default_rng(3), 9)
    out = blur(small, np.random.default_rng(0), kernel=kernel)
    ref = np.stack(
        [ndimage.convolve(small[..., c].astype(np.float64), kernel, mode="reflect") for c in range(3)], -1
    )
    np.testing.assert_allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_blur_removes_high_frequencies(seed: int, astronaut: np.ndarray) -> None:
    out = blur(astronaut, np.random.default_rng(seed))
    assert _mean_abs_laplacian(out) < 0.6 * _mean_abs_laplacian(astronaut)


def test_blur_rejects_bad_kernels(small: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="odd"):
        blur(small, rng, kernel=np.full((4, 4), 1 / 16))
    with pytest.raises(ValueError, match="sum to 1"):
        blur(small, rng, kernel=np.ones((3, 3)))


# ----------------------------------------------------------------------------------------------------------
# rain
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_rain_adds_sparse_bright_streaks(seed: int, astronaut: np.ndarray) -> None:
    out = rain(astronaut, np.random.default_rng(seed))
    change = out.astype(np.float64) - astronaut
    assert change.min() >= -1e-6  # screen blending only brightens
    assert change.max() > 0.3  # strong locally, along streaks
    per_pixel = change.max(axis=-1)
    assert np.median(per_pixel) < 0.02  # most pixels barely change
    assert np.mean(per_pixel > 0.05) < 0.5


def test_rain_streaks_follow_the_angle() -> None:
    """Vertical streaks (angle 0) on a black image: brightness is correlated along columns, not rows."""
    black = np.zeros((96, 96, 3), np.float32)
    out = rain(black, np.random.default_rng(5), angle_range=(0, 0), length_range=(20, 20))
    out = out[..., 0].astype(np.float64)
    out -= out.mean()
    vertical = np.mean(out[:-4] * out[4:])
    horizontal = np.mean(out[:, :-4] * out[:, 4:])
    assert vertical > 5 * abs(horizontal)
