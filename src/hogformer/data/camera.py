"""Camera-like degradations: signal-dependent and JPEG-compressed noise, low light with a colour cast, blur of
varied size, mild degradations, and dark-on-purpose scenes (spec section 6 data; issue: realistic training).

The same contract as :mod:`hogformer.data.degradations` (float HxWx3 RGB in [0, 1] and a generator in, a new
float32 image in [0, 1] out, a pure function of both); they are registered in its ``DEGRADATIONS``.
:func:`dark_scene` is a *target* transform: with it, a dark photo is what the model must give back
(:data:`hogformer.data.degradations.SCENES`).
"""

from __future__ import annotations

import io
import math

import numpy as np

from .degradations import (
    _check_image,
    _check_range,
    _finish,
    blur,
    defocus_kernel,
    gaussian_noise,
    motion_blur_kernel,
)

__all__ = [
    "color_cast",
    "dark_noise",
    "dark_scene",
    "jpeg",
    "jpeg_noise",
    "low_light_cast",
    "mild",
    "poisson_gaussian_noise",
    "wide_blur",
]


def poisson_gaussian_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    peak_range: tuple[float, float] = (10.0, 1000.0),
    read_sigma_range: tuple[float, float] = (0.0, 10.0),
) -> np.ndarray:
    """Sensor noise: ``Poisson(peak * img) / peak + N(0, read**2)``.

    The shot part has variance ``img / peak`` (brighter pixels are noisier); ``peak`` (photo-electrons at
    white) is drawn log-uniformly from ``peak_range`` (10: very noisy, std 57/255 at mid-grey; 1000: std
    5.7/255), the read noise's standard deviation uniformly from ``read_sigma_range`` on the 0..255 scale.
    """
    img = _check_image(img)
    p_lo, p_hi = _check_range("peak_range", peak_range, low=1e-3)
    r_lo, r_hi = _check_range("read_sigma_range", read_sigma_range)
    peak = math.exp(rng.uniform(math.log(p_lo), math.log(p_hi)))
    read = rng.uniform(r_lo, r_hi) / 255.0
    shot = rng.poisson(np.clip(img, 0.0, 1.0).astype(np.float64) * peak) / peak
    return _finish(shot + rng.standard_normal(img.shape) * read)


def jpeg(img: np.ndarray, rng: np.random.Generator, *, quality_range: tuple[int, int] = (30, 90)) -> np.ndarray:
    """Save as JPEG (Pillow, 4:2:0 chroma) at a quality drawn from ``quality_range`` and decode again."""
    from PIL import Image

    img = _check_image(img)
    q_lo, q_hi = (int(v) for v in _check_range("quality_range", quality_range, low=1))
    if q_hi > 100:
        raise ValueError(f"quality_range must lie in [1, 100], got {quality_range}")
    quality = int(rng.integers(q_lo, q_hi + 1))
    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / np.float32(255.0)


def jpeg_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    sigma_range: tuple[float, float] = (5.0, 30.0),
    quality_range: tuple[int, int] = (30, 85),
) -> np.ndarray:
    """Noise then JPEG, as a phone or camera saves a noisy shot: Gaussian noise (sigma from ``sigma_range``,
    0..255 scale) compressed by :func:`jpeg`, so the noise comes out blotchy, in 8x8 blocks."""
    lo, hi = _check_range("sigma_range", sigma_range)
    return jpeg(gaussian_noise(img, rng, float(rng.uniform(lo, hi))), rng, quality_range=quality_range)


def color_cast(img: np.ndarray, rng: np.random.Generator, *, strength: float = 0.25) -> np.ndarray:
    """A white-balance error: per-channel gains ``exp(N(0, strength))`` normalised to a geometric mean of 1."""
    img = _check_image(img)
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    logs = rng.normal(0.0, strength, 3)
    return _finish(img * np.exp(logs - logs.mean()).astype(np.float32))


def low_light_cast(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    gamma_range: tuple[float, float] = (1.2, 3.0),
    gain_range: tuple[float, float] = (0.1, 0.5),
    cast_strength: float = 0.25,
    peak_range: tuple[float, float] = (20.0, 400.0),
    read_sigma_range: tuple[float, float] = (0.5, 6.0),
) -> np.ndarray:
    """A real low-light shot: ``gain * img ** gamma`` under a colour cast (:func:`color_cast`) with sensor noise
    (:func:`poisson_gaussian_noise`, its ``peak`` the photo-electrons at white before the gain)."""
    img = _check_image(img)
    g_lo, g_hi = _check_range("gamma_range", gamma_range)
    k_lo, k_hi = _check_range("gain_range", gain_range)
    dark = np.float32(rng.uniform(k_lo, k_hi)) * np.power(img, np.float32(rng.uniform(g_lo, g_hi)))
    dark = color_cast(_finish(dark), rng, strength=cast_strength)
    return poisson_gaussian_noise(dark, rng, peak_range=peak_range, read_sigma_range=read_sigma_range)


def wide_blur(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    motion_size_range: tuple[int, int] = (5, 31),
    defocus_radius_range: tuple[float, float] = (0.8, 5.0),
) -> np.ndarray:
    """Motion or defocus blur over a wider range of sizes than :func:`~hogformer.data.degradations.blur`:
    with equal probability a camera-shake kernel of side drawn from ``motion_size_range`` (odd; any direction,
    straight or curved) or a disc of radius drawn from ``defocus_radius_range``."""
    m_lo, m_hi = (int(v) for v in _check_range("motion_size_range", motion_size_range, low=3))
    d_lo, d_hi = _check_range("defocus_radius_range", defocus_radius_range, low=0.1)
    if rng.random() < 0.5:
        kernel = motion_blur_kernel(rng, int(rng.integers((m_lo - 1) // 2, (m_hi - 1) // 2 + 1)) * 2 + 1)
    else:
        kernel = defocus_kernel(float(rng.uniform(d_lo, d_hi)))
    return blur(img, rng, kernel=kernel)


def mild(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A nearly good photo: with equal probability faint noise (sigma 1-4), high-quality JPEG (quality 85-95)
    or a slight softness (a Gaussian blur of 0.3-0.6 pixels). Trained with the clean photo as target, it teaches the
    model to change a good photo by no more than its small flaw."""
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return gaussian_noise(img, rng, float(rng.uniform(1.0, 4.0)))
    if kind == 1:
        return jpeg(img, rng, quality_range=(85, 95))
    sigma = float(rng.uniform(0.3, 0.6))
    t = np.exp(-0.5 * (np.arange(-2, 3) / sigma) ** 2)
    kernel = np.outer(t, t)
    return blur(img, rng, kernel=kernel / kernel.sum())


def dark_scene(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    gain_range: tuple[float, float] = (0.08, 0.45),
    gamma_range: tuple[float, float] = (1.0, 1.6),
) -> np.ndarray:
    """A photo made dark on purpose (night, a dim room): ``gain * img ** gamma``. Used as a *target*
    (:data:`hogformer.data.degradations.SCENES`): the model must keep the scene dark, not brighten it."""
    img = _check_image(img)
    k_lo, k_hi = _check_range("gain_range", gain_range)
    g_lo, g_hi = _check_range("gamma_range", gamma_range)
    gain, gamma = np.float32(rng.uniform(k_lo, k_hi)), np.float32(rng.uniform(g_lo, g_hi))
    return _finish(gain * np.power(img, gamma))


def dark_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise of a dark scene (:func:`poisson_gaussian_noise`, peak 30-600, read noise 1-8/255); its target
    is the noiseless dark scene, not a brightened one."""
    return poisson_gaussian_noise(img, rng, peak_range=(30.0, 600.0), read_sigma_range=(1.0, 8.0))
