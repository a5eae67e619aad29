"""Tests for hogformer.metrics: protocol edge cases, agreement with reference implementations."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hogformer.metrics as metrics_module
from hogformer.metrics import (
    PROTOCOL_AIO,
    PROTOCOL_ALLWEATHER,
    Protocol,
    evaluate_pair,
    psnr,
    rgb_to_y,
    ssim,
)

skmetrics = pytest.importorskip("skimage.metrics")
skdata = pytest.importorskip("skimage.data")


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------
def _noisy(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0.0, 1.0)


def _photo(name: str) -> np.ndarray:
    return getattr(skdata, name)().astype(np.float64) / 255.0


def _image_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    rand_t = rng.random((37, 53, 3))
    rand_p = np.clip(rand_t + rng.normal(0, 0.1, rand_t.shape), 0, 1)
    astro = _photo("astronaut")[::2, ::2]  # 256x256 keeps the test fast
    coffee = _photo("coffee")[::2, ::2]
    return [
        ("random", rand_p, rand_t),
        ("random-independent", rng.random((40, 40, 3)), rng.random((40, 40, 3))),
        ("astronaut-noisy", _noisy(astro, 0.05, 1), astro),
        ("coffee-noisy", _noisy(coffee, 0.1, 2), coffee),
        ("coffee-dark", np.clip(coffee * 0.7, 0, 1), coffee),
    ]


def _bt601_y255(img: np.ndarray) -> np.ndarray:
    """Independent MATLAB-style luma on 0..255, written per channel."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _gauss_window_2d() -> np.ndarray:
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


def _ssim_gauss_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Straightforward Wang et al. SSIM on a 0..255 channel: plain loops over every fully-inside window."""
    w = _gauss_window_2d()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    h, wd = x.shape
    vals = []
    for i in range(h - 10):
        for j in range(wd - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * (px - mx) ** 2).sum()
            vy = (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def _ssim_basicsr_like(x: np.ndarray, y: np.ndarray) -> float:
    """BasicSR's _ssim, cv2.filter2D replaced by scipy (BORDER_REFLECT_101 == 'mirror'), then [5:-5, 5:-5]."""
    from scipy import ndimage

    w = _gauss_window_2d()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def f(a: np.ndarray) -> np.ndarray:
        return ndimage.correlate(a, w, mode="mirror")[5:-5, 5:-5]

    mu1, mu2 = f(x), f(y)
    s1 = f(x * x) - mu1**2
    s2 = f(y * y) - mu2**2
    s12 = f(x * y) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(m.mean())


# ----------------------------------------------------------------------------------------------------------
# protocol object
# ----------------------------------------------------------------------------------------------------------
def test_protocol_constants_and_describe() -> None:
    assert PROTOCOL_AIO == Protocol("rgb", 0, "uniform7")
    assert PROTOCOL_ALLWEATHER == Protocol("y", 0, "gaussian11")
    assert PROTOCOL_AIO.describe() == "RGB, uniform 7x7 SSIM, no border crop"
    assert Protocol("y", 4, "gaussian11").describe() == "Y (BT.601), gaussian 11x11 SSIM, 4 px border crop"
    assert PROTOCOL_ALLWEATHER.to_dict() == {"channel": "y", "crop_border": 0, "ssim_window": "gaussian11"}


@pytest.mark.parametrize(
    "kwargs",
    [{"channel": "ycbcr"}, {"ssim_window": "gaussian7"}, {"crop_border": -1}, {"crop_border": 1.5}],
)
def test_protocol_rejects_bad_fields(kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        Protocol(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# edge cases
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [PROTOCOL_AIO, PROTOCOL_ALLWEATHER, Protocol("rgb", 3, "gaussian11")])
def test_identical_images(protocol: Protocol) -> None:
    img = np.random.default_rng(3).random((24, 31, 3)).astype(np.float32)
    assert psnr(img, img.copy(), protocol) == math.inf
    assert ssim(img, img.copy(), protocol) == 1.0
    assert evaluate_pair(img, img, protocol) == {"psnr": math.inf, "ssim": 1.0}


def test_shape_mismatch_names_both_shapes() -> None:
    a, b = np.zeros((16, 16, 3)), np.zeros((16, 17, 3))
    with pytest.raises(ValueError, match=r"\(16, 16, 3\).*\(16, 17, 3\)"):
        psnr(a, b)
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, b)


def test_rejects_uint8_and_0_255_float() -> None:
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="float"):
        psnr(img, img)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(np.full((16, 16, 3), 200.0), np.zeros((16, 16, 3)))


def test_too_small_or_overcropped() -> None:
    img = np.zeros((10, 10, 3))
    with pytest.raises(ValueError, match="11x11"):
        ssim(img, img, PROTOCOL_ALLWEATHER)
    with pytest.raises(ValueError, match="crop_border"):
        psnr(img, img, Protocol(crop_border=5))
    with pytest.raises(ValueError, match="HxWx3"):
        psnr(img[..., 0], img[..., 0], PROTOCOL_ALLWEATHER)


def test_grayscale_input() -> None:
    rng = np.random.default_rng(4)
    t = rng.random((20, 22))
    p = np.clip(t + rng.normal(0, 0.05, t.shape), 0, 1)
    assert psnr(p, t) == pytest.approx(skmetrics.peak_signal_noise_ratio(t, p, data_range=1), abs=1e-4)
    assert ssim(p, t) == pytest.approx(skmetrics.structural_similarity(t, p, data_range=1), abs=1e-5)


def test_module_does_not_import_skimage_or_scipy() -> None:
    src = str(Path(metrics_module.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = (
        "import sys, hogformer.metrics; "
        "bad = [m for m in ('skimage', 'scipy', 'cv2') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


# ----------------------------------------------------------------------------------------------------------
# RGB protocol == scikit-image
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,pred,target", _image_pairs(), ids=lambda v: v if isinstance(v, str) else "")
def test_aio_matches_skimage(name: str, pred: np.ndarray, target: np.ndarray) -> None:
    ref_psnr = skmetrics.peak_signal_noise_ratio(target, pred, data_range=1)
    ref_ssim = skmetrics.structural_similarity(target, pred, data_range=1, channel_axis=-1)
    assert psnr(pred, target, PROTOCOL_AIO) == pytest.approx(ref_psnr, abs=1e-4)
    assert ssim(pred, target, PROTOCOL_AIO) == pytest.approx(ref_ssim, abs=1e-5)


def test_aio_full_size_photo_and_float32() -> None:
    """Full-resolution astronaut; float32 inputs (as AdaIR's pipeline passes them) agree too."""
    t = _photo("astronaut")
    p = _noisy(t, 25 / 255, 5)
    t32, p32 = t.astype(np.float32), p.astype(np.float32)
    ref_ssim = skmetrics.structural_similarity(t32, p32, data_range=1, channel_axis=-1)
    ref_psnr = skmetrics.peak_signal_noise_ratio(t32, p32, data_range=1)
    assert psnr(p32, t32) == pytest.approx(ref_psnr, abs=1e-4)
    assert ssim(p32, t32) == pytest.approx(ref_ssim, abs=1e-5)


def test_crop_border_equals_manual_crop() -> None:
    rng = np.random.default_rng(6)
    t = rng.random((30, 34, 3))
    p = np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1)
    prot = Protocol("rgb", 4, "uniform7")
    tc, pc = t[4:-4, 4:-4], p[4:-4, 4:-4]
    assert psnr(p, t, prot) == pytest.approx(skmetrics.peak_signal_noise_ratio(tc, pc, data_range=1))
    assert ssim(p, t, prot) == pytest.approx(
        skmetrics.structural_similarity(tc, pc, data_range=1, channel_axis=-1), abs=1e-10
    )


# ----------------------------------------------------------------------------------------------------------
# Y channel (all-weather protocol)
# ----------------------------------------------------------------------------------------------------------
def test_rgb_to_y_hand_values() -> None:
    img = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0], [0.5, 0.25, 0.0]]])
    y = rgb_to_y(img)
    assert y.shape == (2, 2)
    assert y[0, 0] == pytest.approx(235 / 255, abs=1e-12)
    assert y[0, 1] == pytest.approx(16 / 255, abs=1e-12)
    assert y[1, 0] == pytest.approx((16 + 65.481) / 255, abs=1e-12)
    assert y[1, 1] == pytest.approx((16 + 0.5 * 65.481 + 0.25 * 128.553) / 255, abs=1e-12)
    with pytest.raises(ValueError, match="HxWx3"):
        rgb_to_y(np.zeros((4, 4)))


def test_y_psnr_equals_basicsr_0_255_formula() -> None:
    """BasicSR computes Y PSNR on 0..255 with peak 255; the [0, 1]/peak-1 value is identical."""
    t = _photo("coffee")[::2, ::2]
    p = _noisy(t, 0.08, 7)
    y_t, y_p = _bt601_y255(t), _bt601_y255(p)
    ref = 10 * math.log10(255.0**2 / np.mean((y_t - y_p) ** 2))
    assert psnr(p, t, PROTOCOL_ALLWEATHER) == pytest.approx(ref, abs=1e-9)
    # and it differs from the RGB value, so the channel really was selected
    assert abs(psnr(p, t, PROTOCOL_AIO) - ref) > 0.1


def test_y_ssim_gaussian_against_loops() -> None:
    rng = np.random.default_rng(8)
    t = rng.random((19, 23, 3))
    p = np.clip(t + rng.normal(0, 0.15, t.shape), 0, 1)
    ref = _ssim_gauss_loops(_bt601_y255(p), _bt601_y255(t))
    assert ssim(p, t, PROTOCOL_ALLWEATHER) == pytest.approx(ref, abs=1e-10)


def test_y_ssim_gaussian_against_basicsr_style_filter_on_photo() -> None:
    t = _photo("astronaut")[100:228, 150:310]
    p = _noisy(t, 0.06, 9)
    ref = _ssim_basicsr_like(_bt601_y255(p), _bt601_y255(t))
    assert ssim(p, t, PROTOCOL_ALLWEATHER) == pytest.approx(ref, abs=1e-10)
    # scipy.signal 'valid' convolution gives the same (the window is symmetric)
    from scipy.signal import convolve2d

    w = _gauss_window_2d()
    x, y = _bt601_y255(p), _bt601_y255(t)
    mx, my = convolve2d(x, w, mode="valid"), convolve2d(y, w, mode="valid")
    assert mx.shape == (t.shape[0] - 10, t.shape[1] - 10)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vx = convolve2d(x * x, w, mode="valid") - mx**2
    vy = convolve2d(y * y, w, mode="valid") - my**2
    cxy = convolve2d(x * y, w, mode="valid") - mx * my
    ref2 = np.mean(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert ssim(p, t, PROTOCOL_ALLWEATHER) == pytest.approx(ref2, abs=1e-10)


def test_rgb_gaussian_averages_channels() -> None:
    rng = np.random.default_rng(10)
    t = rng.random((16, 18, 3))
    p = np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1)
    per_channel = [_ssim_gauss_loops(255 * p[..., c], 255 * t[..., c]) for c in range(3)]
    assert ssim(p, t, Protocol("rgb", 0, "gaussian11")) == pytest.approx(np.mean(per_channel), abs=1e-10)


def test_y_uniform7_matches_skimage_on_luma() -> None:
    t = _photo("coffee")[::4, ::4]
    p = _noisy(t, 0.05, 11)
    ref = skmetrics.structural_similarity(rgb_to_y(t), rgb_to_y(p), data_range=1)
    assert ssim(p, t, Protocol("y", 0, "uniform7")) == pytest.approx(ref, abs=1e-5)
