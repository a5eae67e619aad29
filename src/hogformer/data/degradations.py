"""Synthetic degradations: noise, haze, low light, blur, rain and ``clean`` (none) (spec section 6 data).

Camera-like degradations (signal-dependent and JPEG noise, low light with a colour cast, wide blur, mild
flaws, dark-on-purpose scenes) live in :mod:`hogformer.data.camera`, snow in :mod:`hogformer.data.weather`;
all are registered in :data:`DEGRADATIONS`. Use :func:`degrade_pair` for training pairs: for the names in
:data:`SCENES` the target is not the photo itself.

Used to train the project's small shipped model and to build miniature test sets. Every function takes a
float HxWx3 RGB image in [0, 1] and a :class:`numpy.random.Generator`, and returns a new float32 HxWx3 image
in [0, 1]; the result depends only on the image, the arguments and the generator's state. The one exception
is :func:`official_test_noise`, which reproduces the AdaIR/PromptIR CBSD68 test noise on 8-bit images.

scipy is imported lazily, only by the functions that convolve (:func:`blur`, :func:`rain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np

__all__ = [
    "DEGRADATIONS",
    "blur",
    "clean",
    "defocus_kernel",
    "degrade",
    "degrade_pair",
    "gaussian_noise",
    "haze",
    "low_light",
    "motion_blur_kernel",
    "official_test_noise",
    "quantise_8bit",
    "rain",
    "random_blur_kernel",
]

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------
def _check_image(img: np.ndarray, name: str = "img") -> np.ndarray:
    """Validate an HxWx3 float image in [0, 1] and return it as float32."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"{name} must be an HxWx3 RGB image, got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(
            f"{name} has dtype {img.dtype}; degradations expect float images in [0, 1] "
            f"(convert 8-bit images with img.astype(np.float32) / 255)"
        )
    if img.size and (float(img.min()) < -0.01 or float(img.max()) > 1.01):
        raise ValueError(
            f"{name} has values in [{float(img.min()):.3g}, {float(img.max()):.3g}]; degradations expect "
            f"images in [0, 1] (divide 0..255 images by 255)"
        )
    return img.astype(np.float32, copy=False)


def _check_range(name: str, value: tuple[float, float], low: float = 0.0) -> tuple[float, float]:
    lo, hi = float(value[0]), float(value[1])
    if not (low <= lo <= hi):
        raise ValueError(f"{name} must be (low, high) with {low} <= low <= high, got {value}")
    return lo, hi


def _finish(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False)


def _upsample_bilinear(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a small 2-D grid to height x width (corners aligned)."""
    gh, gw = grid.shape

    def weights(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.linspace(0.0, m - 1.0, n)
        i0 = np.floor(pos).astype(np.intp)
        i1 = np.minimum(i0 + 1, m - 1)
        return i0, i1, pos - i0

    r0, r1, fr = weights(height, gh)
    c0, c1, fc = weights(width, gw)
    rows = grid[r0] * (1.0 - fr)[:, None] + grid[r1] * fr[:, None]
    return rows[:, c0] * (1.0 - fc)[None, :] + rows[:, c1] * fc[None, :]


def _splat(kernel: np.ndarray, ys: np.ndarray, xs: np.ndarray, weight: float) -> None:
    """Add ``weight`` at each sub-pixel point (ys, xs) of ``kernel`` with bilinear splatting, in place."""
    size_y, size_x = kernel.shape
    y0 = np.floor(ys).astype(np.intp)
    x0 = np.floor(xs).astype(np.intp)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < size_y) & (xx >= 0) & (xx < size_x)
            np.add.at(kernel, (yy[ok], xx[ok]), weight * (wy * wx)[ok])


def _convolve_reflect(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with an odd-sized kernel, as ``scipy.ndimage.convolve(mode="reflect")`` does."""
    from scipy.signal import fftconvolve

    kh, kw = kernel.shape
    padded = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), mode="symmetric")
    return fftconvolve(padded, kernel[:, :, None], mode="valid", axes=(0, 1))


# ----------------------------------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------------------------------
def gaussian_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Additive white Gaussian noise, clipped to [0, 1].

    Args:
        img: HxWx3 float image in [0, 1].
        rng: source of randomness.
        sigma: standard deviation on the 0..255 scale (the papers use 15, 25 and 50).
    """
    img = _check_image(img)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 (on the 0..255 scale), got {sigma}")
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return _finish(img + noise)


def official_test_noise(img_uint8: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """The AdaIR/PromptIR CBSD68 test noise, bit-exact.

    Equals ``np.random.seed(seed); clip(img + np.random.randn(*img.shape) * sigma, 0, 255).astype(np.uint8)``
    but draws from a private ``RandomState(seed)`` (the same stream), so numpy's global state is untouched.

    Args:
        img_uint8: HxWx3 (or any shape) uint8 image in 0..255.
        sigma: standard deviation on the 0..255 scale.
        seed: the legacy numpy seed.

    Returns:
        uint8 array of the same shape (values truncated towards zero, as the official code does).
    """
    img_uint8 = np.asarray(img_uint8)
    if img_uint8.dtype != np.uint8:
        raise TypeError(
            f"official_test_noise expects a uint8 image in 0..255, got dtype {img_uint8.dtype} "
            f"(for float images in [0, 1] use gaussian_noise)"
        )
    noise = np.random.RandomState(seed).randn(*img_uint8.shape)
    return np.clip(img_uint8 + noise * sigma, 0, 255).astype(np.uint8)


def _random_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with sigma drawn uniformly from [5, 50] (0..255 scale)."""
    return gaussian_noise(img, rng, float(rng.uniform(5.0, 50.0)))


# ----------------------------------------------------------------------------------------------------------
# haze
# ----------------------------------------------------------------------------------------------------------
def _depth_map(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random depth in [0.3, 1]: far (1) towards the top, plus two octaves of low-frequency noise."""
    gradient = np.linspace(1.0, 0.0, height)[:, None] * np.ones((1, width))
    noise = 0.65 * _upsample_bilinear(rng.random((4, 4)), height, width)
    noise += 0.35 * _upsample_bilinear(rng.random((8, 8)), height, width)
    weight = rng.uniform(0.4, 0.8)
    d = weight * gradient + (1.0 - weight) * noise
    d = (d - d.min()) / max(float(d.max() - d.min()), 1e-6)
    return 0.3 + 0.7 * d  # keep some haze everywhere, as in outdoor hazy scenes


def haze(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    beta_range: tuple[float, float] = (0.6, 2.0),
    airlight_range: tuple[float, float] = (0.7, 1.0),
) -> np.ndarray:
    """Atmospheric scattering ``I = J t + A (1 - t)`` with ``t = exp(-beta d)`` (RESIDE-style synthesis).

    The depth ``d`` is a smooth random map in [0.3, 1] (a vertical gradient, far at the top, mixed with
    upsampled low-resolution noise); ``beta`` is drawn from ``beta_range`` and the airlight ``A`` is a
    near-grey colour: a level from ``airlight_range`` with a per-channel jitter of at most 0.03.
    """
    img = _check_image(img)
    b_lo, b_hi = _check_range("beta_range", beta_range)
    a_lo, a_hi = _check_range("airlight_range", airlight_range)
    if a_hi > 1.0:
        raise ValueError(f"airlight_range must lie in [0, 1], got {airlight_range}")
    h, w = img.shape[:2]
    depth = _depth_map(rng, h, w)
    beta = rng.uniform(b_lo, b_hi)
    level = rng.uniform(a_lo, a_hi)
    airlight = np.clip(level + rng.uniform(-0.03, 0.03, size=3), 0.0, 1.0)
    t = np.exp(-beta * depth)[:, :, None]
    return _finish(img * t + airlight * (1.0 - t))


# ----------------------------------------------------------------------------------------------------------
# low light
# ----------------------------------------------------------------------------------------------------------
def low_light(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    gamma_range: tuple[float, float] = (1.5, 3.5),
    gain_range: tuple[float, float] = (0.2, 0.6),
    noise_sigma_range: tuple[float, float] = (0.0, 8.0),
) -> np.ndarray:
    """Under-exposure: ``gain * img ** gamma`` plus sensor noise.

    The noise is Gaussian with a read part of standard deviation ``s / 2`` and a Poisson-like shot part of
    variance ``s**2 * dark`` (so brighter pixels are noisier), ``s`` drawn from ``noise_sigma_range`` on the
    0..255 scale.
    """
    img = _check_image(img)
    g_lo, g_hi = _check_range("gamma_range", gamma_range)
    k_lo, k_hi = _check_range("gain_range", gain_range)
    n_lo, n_hi = _check_range("noise_sigma_range", noise_sigma_range)
    gamma = rng.uniform(g_lo, g_hi)
    gain = rng.uniform(k_lo, k_hi)
    s = rng.uniform(n_lo, n_hi) / 255.0
    dark = gain * np.power(img, gamma, dtype=np.float32)
    std = s * np.sqrt(0.25 + dark)
    return _finish(dark + rng.standard_normal(img.shape, dtype=np.float32) * std)


# ----------------------------------------------------------------------------------------------------------
# blur
# ----------------------------------------------------------------------------------------------------------
def motion_blur_kernel(rng: np.random.Generator, size: int = 15) -> np.ndarray:
    """A random camera-shake kernel: a straight line or a short smooth random walk, sum 1.

    The trajectory is centred on the kernel (so blurring does not shift the image) and spans between half and
    all of the kernel.

    Args:
        rng: source of randomness.
        size: odd kernel side, at least 3.

    Returns:
        size x size float64 array, non-negative, summing to 1.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd int >= 3, got {size!r}")
    n = 8 * size
    angle = rng.uniform(0.0, math.pi)
    if rng.random() < 0.5:
        turns = np.zeros(n)
    else:  # smooth random walk: the heading drifts by a random-walk of small turns
        turns = np.cumsum(rng.normal(0.0, 2.0 / math.sqrt(n), n))
    headings = angle + turns
    path = np.cumsum(np.stack([np.sin(headings), np.cos(headings)], axis=1), axis=0)
    path -= path.mean(axis=0)
    extent = float(np.abs(path).max())
    half = (size - 1) / 2.0
    path *= rng.uniform(0.5, 1.0) * half / max(extent, 1e-9)
    kernel = np.zeros((size, size))
    _splat(kernel, path[:, 0] + half, path[:, 1] + half, 1.0)
    return kernel / kernel.sum()


def defocus_kernel(radius: float) -> np.ndarray:
    """A uniform disc (out-of-focus blur) with an anti-aliased edge, sum 1.

    Args:
        radius: disc radius in pixels, > 0; the kernel side is ``2 * ceil(radius) + 1``.
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0 pixels, got {radius}")
    r = math.ceil(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0)
    return kernel / kernel.sum()


def quantise_8bit(img: np.ndarray) -> np.ndarray:
    """``img`` as an 8-bit file would hold it: clipped to [0, 1], rounded to multiples of 1/255, float32."""
    return (np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def random_blur_kernel(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The kernel :func:`blur` draws when given none, and its family (``"motion"`` or ``"defocus"``): with equal
    probability a motion kernel (side 7..15) or a defocus disc (radius 1..2.5), moderate camera shake and focus
    errors, the range the shipped model is trained and measured on."""
    if rng.random() < 0.5:
        return motion_blur_kernel(rng, int(rng.integers(3, 8)) * 2 + 1), "motion"
    return defocus_kernel(float(rng.uniform(1.0, 2.5))), "defocus"


def blur(img: np.ndarray, rng: np.random.Generator, *, kernel: np.ndarray | None = None) -> np.ndarray:
    """Blur every channel with ``kernel`` (reflect boundary, as ``scipy.ndimage.convolve(mode="reflect")``).

    Args:
        img: HxWx3 float image in [0, 1].
        rng: source of randomness; used only when ``kernel`` is None.
        kernel: 2-D kernel with odd sides summing to 1. When None, :func:`random_blur_kernel` draws one.
    """
    img = _check_image(img)
    if kernel is None:
        kernel, _family = random_blur_kernel(rng)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd sides, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)) or abs(float(kernel.sum()) - 1.0) > 1e-3:
        raise ValueError(
            f"kernel must be finite and sum to 1, got sum {float(kernel.sum()):.6g} "
            f"(normalise it with kernel / kernel.sum())"
        )
    return _finish(_convolve_reflect(img.astype(np.float64), kernel))


# ----------------------------------------------------------------------------------------------------------
# rain
# ----------------------------------------------------------------------------------------------------------
def _streak_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A 1-pixel-wide anti-aliased line of the given length, ``angle_deg`` from vertical, peak about 1."""
    half = math.ceil(length / 2.0) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1))
    n = max(int(2 * length), 2)
    s = np.linspace(-length / 2.0, length / 2.0, n)
    theta = math.radians(angle_deg)
    _splat(kernel, half + s * math.cos(theta), half + s * math.sin(theta), length / n)
    return kernel


def rain(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    density_range: tuple[float, float] = (0.002, 0.01),
    length_range: tuple[float, float] = (10, 30),
    angle_range: tuple[float, float] = (-20, 20),
    intensity_range: tuple[float, float] = (0.6, 0.95),
) -> np.ndarray:
    """Synthetic rain streaks, screen-blended onto the image (Rain100L-like, one streak direction).

    Drops are seeded at a fraction ``density`` of the pixels with random brightness, smeared along a line of
    ``length`` pixels at ``angle`` degrees from vertical, slightly softened, scaled by ``intensity`` and
    combined as ``1 - (1 - img) (1 - streaks)``: the image only gets brighter, and only along the streaks.
    """
    from scipy.ndimage import gaussian_filter
    from scipy.signal import fftconvolve

    img = _check_image(img)
    d_lo, d_hi = _check_range("density_range", density_range)
    l_lo, l_hi = _check_range("length_range", length_range, low=1.0)
    a_lo, a_hi = _check_range("angle_range", angle_range, low=-90.0)
    i_lo, i_hi = _check_range("intensity_range", intensity_range)
    if d_hi > 1.0 or i_hi > 1.0:
        raise ValueError("density_range and intensity_range must lie in [0, 1]")
    h, w = img.shape[:2]
    density = rng.uniform(d_lo, d_hi)
    length = rng.uniform(l_lo, l_hi)
    angle = rng.uniform(a_lo, a_hi)
    intensity = rng.uniform(i_lo, i_hi)
    drops = np.where(rng.random((h, w)) < density, rng.uniform(0.5, 1.0, (h, w)), 0.0)
    streaks = fftconvolve(drops, _streak_kernel(length, angle), mode="same")
    streaks = gaussian_filter(np.clip(streaks, 0.0, 1.0), sigma=0.5)
    layer = (intensity * np.clip(streaks, 0.0, 1.0))[:, :, None]
    return _finish(1.0 - (1.0 - img) * (1.0 - layer))


# ----------------------------------------------------------------------------------------------------------
# none
# ----------------------------------------------------------------------------------------------------------
def clean(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """No degradation: a copy of ``img`` (``rng`` unused). As a training task it teaches an all-in-one model
    to leave a clean photo alone instead of 'restoring' what is not there (without it, the model darkens,
    dehazes or smooths clean inputs); as a test it measures how much a model changes a clean photo."""
    return _finish(_check_image(img).copy())


# ----------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------
def _sibling(module: str, name: str) -> Degradation:
    """``module.name`` of this package, imported on first use (those modules import this one's helpers)."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{module}"), name)(img, rng)

    apply.__name__ = apply.__qualname__ = name
    return apply


DEGRADATIONS: dict[str, Degradation] = {
    "noise15": partial(gaussian_noise, sigma=15.0),
    "noise25": partial(gaussian_noise, sigma=25.0),
    "noise50": partial(gaussian_noise, sigma=50.0),
    "noise": _random_noise,
    "haze": haze,
    "lowlight": low_light,
    "blur": blur,
    "rain": rain,
    "clean": clean,
    "poisson": _sibling("camera", "poisson_gaussian_noise"),
    "jpeg_noise": _sibling("camera", "jpeg_noise"),
    "lowlight_cast": _sibling("camera", "low_light_cast"),
    "blur_wide": _sibling("camera", "wide_blur"),
    "snow": _sibling("weather", "snow"),
    "mild": _sibling("camera", "mild"),
    "clean_dark": clean,
    "dark_noise": _sibling("camera", "dark_noise"),
}
"""Every named degradation as a callable ``(img, rng) -> img`` with the default parameters."""

SCENES: dict[str, Degradation] = {
    "clean_dark": _sibling("camera", "dark_scene"),
    "dark_noise": _sibling("camera", "dark_scene"),
}
"""Names whose target is not the photo itself: the target is ``SCENES[name](photo)`` (a photo dark on purpose),
the input that target degraded by ``DEGRADATIONS[name]``."""


def degrade(img: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """Apply the degradation registered as ``name`` in :data:`DEGRADATIONS`."""
    try:
        fn = DEGRADATIONS[name]
    except KeyError:
        raise ValueError(f"unknown degradation {name!r}; valid names: {', '.join(DEGRADATIONS)}") from None
    return fn(img, rng)


def degrade_pair(img: np.ndarray, name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A training pair ``(input, target)`` of ``name``: the target is ``img`` (a float32 copy), or for the names
    in :data:`SCENES` the scene made from it; the input is the target degraded by ``DEGRADATIONS[name]``."""
    target = SCENES[name](img, rng) if name in SCENES else _finish(_check_image(img).copy())
    return degrade(target, name, rng), target
