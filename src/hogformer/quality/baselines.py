"""Classical restoration baselines that run offline, for the quality table beside the shipped model.

Every baseline is a function ``img -> img`` on float HxWx3 RGB images in [0, 1] returning float32 HxWx3 in
[0, 1]; :data:`BASELINES` lists them per degradation of :mod:`hogformer.data.degradations`.

* noise: non-local means, total variation (Chambolle), wavelet BayesShrink (scikit-image) and BM3D (the
  ``bm3d`` package, when installed). Each is given the TRUE noise sigma of the degradation (the usual,
  generous setting); the ``"noise"`` family (random sigma) gets the sigma scikit-image estimates instead.
* low light: gamma correction to a mean of 0.45, CLAHE on the HSV value channel.
* haze: the dark channel prior (He, Sun and Tang, CVPR 2009) with guided-filter refinement (He et al., ECCV 2010).
* blur: Wiener and Richardson-Lucy deconvolution with a kernel estimated blindly by :func:`estimate_blur_kernel`.
* rain: median filters (streaks only brighten the image, so ``min(input, median)`` is the rain-aware variant).

Parameters that are not given by a paper (TV weight, Wiener balance, Richardson-Lucy iterations) were tuned on
training photos (scikit-image's astronaut, chelsea, coffee and rocket; scikit-learn's china and flower), never on
the held-out benchmark photos.
scikit-image and scipy are imported lazily, by the functions that use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..data.degradations import defocus_kernel

__all__ = [
    "BASELINES",
    "BaselineUnavailable",
    "KernelEstimate",
    "bm3d_denoise",
    "clahe",
    "dark_channel",
    "dark_channel_prior",
    "estimate_blur_kernel",
    "gamma_correction",
    "guided_filter",
    "line_kernel",
    "median_filter",
    "min_median_filter",
    "nl_means",
    "richardson_lucy_blind",
    "richardson_lucy_deconvolve",
    "tv_chambolle",
    "wavelet",
    "wiener_blind",
    "wiener_deconvolve",
]

Baseline = Callable[[np.ndarray], np.ndarray]


class BaselineUnavailable(RuntimeError):
    """A baseline whose package is not installed here (e.g. ``bm3d``); the message says why."""


def _check(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"baselines take an HxWx3 RGB image, got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"baselines take float images in [0, 1], got dtype {img.dtype} (divide 8-bit images by 255)")
    return img.astype(np.float64)


def _finish(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _sigma01(sigma: float | None, img: np.ndarray) -> float:
    """Noise sigma on the [0, 1] scale: ``sigma`` (0..255 scale) if given, else scikit-image's estimate."""
    if sigma is not None:
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0 (0..255 scale), got {sigma}")
        return sigma / 255.0
    from skimage.restoration import estimate_sigma

    return float(np.mean(estimate_sigma(img, channel_axis=-1)))


# ----------------------------------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------------------------------
def nl_means(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Non-local means (scikit-image, fast mode): 5x5 patches, 13x13 search window, ``h = 0.8 sigma``.

    ``sigma`` is on the 0..255 scale; None estimates it (``estimate_sigma``). These are scikit-image's
    documented settings; the fast mode keeps a 512x768 photo to about a second.
    """
    from skimage.restoration import denoise_nl_means

    img = _check(img)
    s = _sigma01(sigma, img)
    out = denoise_nl_means(img, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1)
    return _finish(out)


#: TV weight / sigma (both on the [0, 1] scale) at sigma 15, 25 and 50, tuned on training photos.
_TV_SIGMAS = (15.0, 25.0, 50.0)
_TV_FACTORS = (0.75, 0.75, 1.5)


def tv_chambolle(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Total-variation denoising (Chambolle's projection, scikit-image), all channels jointly.

    The weight is ``f(sigma) * sigma`` with ``f`` interpolated from 0.75 at sigma <= 25 to 1.5 at sigma 50
    (tuned on training photos). ``sigma`` is on the 0..255 scale; None estimates it.
    """
    from skimage.restoration import denoise_tv_chambolle

    img = _check(img)
    s = _sigma01(sigma, img)
    weight = float(np.interp(s * 255.0, _TV_SIGMAS, _TV_FACTORS)) * s
    return _finish(denoise_tv_chambolle(img, weight=weight, channel_axis=-1))


def wavelet(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Wavelet BayesShrink (scikit-image: db1, soft thresholds, in YCbCr, ``rescale_sigma=True``).

    ``sigma`` is on the 0..255 scale; None lets scikit-image estimate it per channel.
    """
    from skimage.restoration import denoise_wavelet

    img = _check(img)
    s = None if sigma is None else _sigma01(sigma, img)
    out = denoise_wavelet(
        img, sigma=s, method="BayesShrink", mode="soft", channel_axis=-1, convert2ycbcr=True, rescale_sigma=True
    )
    return _finish(out)


def bm3d_denoise(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D (the ``bm3d`` package, Makinen et al.) on RGB in the opponent colour space, low-complexity profile.

    The ``"lc"`` profile of the original BM3D (larger steps, smaller search windows) is about three times as fast
    as the default ``"np"`` profile and some 0.2 dB worse; it keeps the full quality table to minutes.
    ``sigma`` is on the 0..255 scale; None estimates it. Raises :class:`BaselineUnavailable` without ``bm3d``.
    """
    try:
        import bm3d
    except ImportError as e:
        raise BaselineUnavailable(f"the bm3d package is not installed ({e}); pip install bm3d") from e
    img = _check(img)
    s = _sigma01(sigma, img)
    return _finish(bm3d.bm3d_rgb(img, s, profile=bm3d.BM3DProfileLC()))


# ----------------------------------------------------------------------------------------------------------
# low light
# ----------------------------------------------------------------------------------------------------------
def gamma_correction(img: np.ndarray, target_mean: float = 0.45) -> np.ndarray:
    """``img ** g`` with the single exponent ``g`` that brings the image mean to ``target_mean``.

    ``g`` is found by bisection on ``log g`` in [1/50, 50] (the mean of ``img ** g`` falls as ``g`` grows), so
    dark images are brightened and bright ones darkened. A constant image is returned unchanged.
    """
    img = _check(img)
    if not 0.0 < target_mean < 1.0:
        raise ValueError(f"target_mean must lie in (0, 1), got {target_mean}")
    x = np.clip(img, 0.0, 1.0)
    sample = x.reshape(-1)[:: max(1, x.size // 200_000)]  # the mean is all that is needed
    if float(sample.max()) <= 0.0 or float(sample.min()) >= 1.0:
        return _finish(x)
    lo, hi = math.log(1 / 50), math.log(50)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if float(np.mean(sample ** math.exp(mid))) > target_mean:
            lo = mid
        else:
            hi = mid
    return _finish(x ** math.exp(0.5 * (lo + hi)))


def clahe(img: np.ndarray, clip_limit: float = 0.01) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (scikit-image) of the HSV value channel.

    Hue and saturation are kept; scikit-image stretches the equalised value channel to the full [0, 1] range.
    """
    from skimage.color import hsv2rgb, rgb2hsv
    from skimage.exposure import equalize_adapthist

    hsv = rgb2hsv(np.clip(_check(img), 0.0, 1.0))
    hsv[..., 2] = equalize_adapthist(hsv[..., 2], clip_limit=clip_limit)
    return _finish(hsv2rgb(hsv))


# ----------------------------------------------------------------------------------------------------------
# haze
# ----------------------------------------------------------------------------------------------------------
def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2 radius + 1)^2 window, mirrored at the border (running sums: cost independent of radius)."""
    from scipy.ndimage import uniform_filter

    return uniform_filter(x, size=2 * radius + 1, mode="reflect")


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int = 40, eps: float = 1e-3) -> np.ndarray:
    """The grey-guide guided filter (He, Sun and Tang, ECCV 2010), built from box filters.

    Args:
        guide: HxW guidance image in [0, 1].
        src: HxW image to filter.
        radius: box radius in pixels.
        eps: regularisation of the local linear model (larger is smoother).
    """
    guide = np.asarray(guide, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if guide.shape != src.shape or guide.ndim != 2:
        raise ValueError(f"guide and src must be HxW of the same shape, got {guide.shape} and {src.shape}")
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


def dark_channel(img: np.ndarray, patch: int = 15) -> np.ndarray:
    """Minimum over the colour channels and a ``patch x patch`` neighbourhood (He et al., eq. 5)."""
    from scipy.ndimage import minimum_filter

    return minimum_filter(np.asarray(img).min(axis=-1), size=patch, mode="nearest")


def dark_channel_prior(
    img: np.ndarray,
    *,
    patch: int = 15,
    omega: float = 0.95,
    top_fraction: float = 0.001,
    t_min: float = 0.1,
    radius: int = 40,
    eps: float = 1e-3,
) -> np.ndarray:
    """Dehazing with the dark channel prior (He, Sun and Tang, CVPR 2009).

    The atmospheric light ``A`` is the mean colour of the ``top_fraction`` pixels with the brightest dark
    channel (He et al. take the brightest of them; the mean is the common, steadier variant). The transmission
    ``t = 1 - omega * dark(I / A)`` is refined with :func:`guided_filter` (guide: the grey image; instead of the
    paper's soft matting), clipped to ``t >= t_min``, and the scene is ``J = (I - A) / t + A``.
    """
    img = _check(img)
    dark = dark_channel(img, patch)
    n = max(1, int(round(top_fraction * dark.size)))
    brightest = np.argpartition(dark.reshape(-1), -n)[-n:]
    airlight = np.maximum(img.reshape(-1, 3)[brightest].mean(axis=0), 1e-3)
    t = 1.0 - omega * dark_channel(img / airlight, patch)
    t = guided_filter(img.mean(axis=-1), t, radius, eps)
    t = np.maximum(t, t_min)[..., None]
    return _finish((img - airlight) / t + airlight)


# ----------------------------------------------------------------------------------------------------------
# blur
# ----------------------------------------------------------------------------------------------------------
def line_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A straight motion-blur kernel: an anti-aliased line of ``length`` pixels at ``angle_deg`` (sum 1)."""
    if not length >= 1:
        raise ValueError(f"length must be >= 1 pixel, got {length}")
    half = math.ceil(length / 2.0) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1))
    s = np.linspace(-length / 2.0, length / 2.0, max(int(4 * length), 2))
    theta = math.radians(angle_deg)
    ys, xs = half + s * math.sin(theta), half + s * math.cos(theta)
    y0, x0 = np.floor(ys).astype(np.intp), np.floor(xs).astype(np.intp)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            np.add.at(kernel, (y0 + dy, x0 + dx), wy * wx)
    return kernel / kernel.sum()


@dataclass(frozen=True)
class KernelEstimate:
    """A blur kernel picked by :func:`estimate_blur_kernel`.

    Attributes:
        family: ``"none"`` (no blur found), ``"disc"`` (defocus) or ``"line"`` (straight camera motion).
        size: the disc radius or the line length in pixels (0 for ``"none"``).
        angle: the line's angle in degrees (0 otherwise).
        kernel: the kernel itself, odd sides, sum 1.
        misfit: mean squared residual of the spectral fit (lower is better).
    """

    family: str
    size: float
    angle: float
    kernel: np.ndarray
    misfit: float


#: Candidate kernels of the blind estimate: no blur, discs of radius 0.5..6 (step 0.25) and lines of length
#: 3..23 px (step 2) every 10 degrees. They cover the defocus radii (1.5..4) and motion sizes (11..23) of
#: :func:`hogformer.data.degradations.blur`.
DISC_RADII = tuple(float(r) for r in np.arange(0.5, 6.01, 0.25))
LINE_LENGTHS = tuple(range(3, 24, 2))
LINE_ANGLES = tuple(range(0, 180, 10))
_NOISE_FLOOR = 1e-3  # |K|^2 floor: the quantisation noise that fills the kernel's spectral zeros


def _candidates() -> list[tuple[str, float, float, np.ndarray]]:
    out: list[tuple[str, float, float, np.ndarray]] = [("none", 0.0, 0.0, np.ones((1, 1)))]
    out += [("disc", r, 0.0, defocus_kernel(r)) for r in DISC_RADII]
    out += [("line", float(n), float(a), line_kernel(n, a)) for n in LINE_LENGTHS for a in LINE_ANGLES]
    return out


def _centred_otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """FFT of ``kernel`` zero-padded to ``shape`` with its centre moved to the origin."""
    padded = np.zeros(shape)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    return np.fft.fft2(np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def _welch_spectrum(grey: np.ndarray, block: int) -> np.ndarray:
    """Power spectrum averaged over half-overlapping Hann-windowed ``block x block`` tiles (Welch)."""
    window = np.outer(np.hanning(block), np.hanning(block))
    h, w = grey.shape
    tiles = [
        grey[i : i + block, j : j + block]
        for i in range(0, h - block + 1, block // 2)
        for j in range(0, w - block + 1, block // 2)
    ]
    stack = np.stack([(t - t.mean()) * window for t in tiles])
    return np.mean(np.abs(np.fft.fft2(stack)) ** 2, axis=0)


def _otf_power(kernel: np.ndarray, block: int) -> np.ndarray:
    """``|K|^2`` of a kernel on a ``block x block`` frequency grid (NaN where the kernel does not fit)."""
    if max(kernel.shape) > block:
        return np.full((block, block), np.nan)
    return np.abs(_centred_otf(kernel, (block, block))) ** 2


def estimate_blur_kernel(img: np.ndarray) -> KernelEstimate:
    """Blind, parametric blur-kernel estimate from the image's power spectrum.

    Natural images have a power spectrum close to ``c / |f|^a``; a blurred one is that times ``|K(f)|^2``. For
    each candidate kernel (no blur, defocus discs, straight motion lines: :data:`DISC_RADII`,
    :data:`LINE_LENGTHS`, :data:`LINE_ANGLES`) the log Welch spectrum of the grey image minus
    ``log(|K|^2 + 1e-3)`` is fitted by ``log c - a log|f|`` over 2/B < |f| < 0.45 cycles/pixel (least squares);
    the candidate with the smallest residual wins. The spectral zeros of discs and lines make the fit sharp:
    on training photos defocus radii come out within 0.25 px. Random-walk camera shake is only approximated by
    a line. Tiles are 128 px (smaller for small images, at least 16).
    """
    grey = _check(img).mean(axis=-1)
    block = 128
    while block > 16 and block > min(grey.shape):
        block //= 2
    if block > min(grey.shape):
        raise ValueError(f"image too small to estimate a blur kernel: {grey.shape[:2]} (need at least 16x16)")
    f = np.fft.fftfreq(block)
    rho = np.hypot(f[:, None], f[None, :])
    mask = (rho > 2.0 / block) & (rho < 0.45)
    log_rho = np.log(rho[mask])
    design = np.stack([np.ones_like(log_rho), log_rho], axis=1)
    log_power = np.log(_welch_spectrum(grey, block)[mask] + 1e-12)
    best: KernelEstimate | None = None
    for family, size, angle, kernel in _candidates():
        k2 = _otf_power(kernel, block)[mask]
        if np.isnan(k2).any():
            continue
        y = log_power - np.log(k2 + _NOISE_FLOOR)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        misfit = float(np.mean((y - design @ coef) ** 2))
        if best is None or misfit < best.misfit:
            best = KernelEstimate(family, size, angle, kernel, misfit)
    assert best is not None
    return best


#: Wiener balance (weight of the Laplacian regulariser) per kernel family, tuned on training photos: long
#: motion kernels have many spectral zeros and need more regularisation than discs.
WIENER_BALANCE = {"none": 1e-3, "disc": 1e-3, "line": 1e-2}
#: Richardson-Lucy iterations, tuned on training photos among 5, 10, 20 and 30: 20 is best for defocus and within
#: 0.15 dB of the best for motion; 30 starts to amplify the 8-bit quantisation noise.
RL_ITERATIONS = 20


def _edge_taper(img: np.ndarray, kernel: np.ndarray, width: int) -> np.ndarray:
    """Blend an HxW image towards its circular blur by ``kernel`` over ``width`` px at each border.

    As MATLAB's ``edgetaper``: the FFT treats the image as periodic, and the blend hides the jump where the
    right edge meets the left one, so that deconvolution does not ring from it.
    """
    blurred = np.real(np.fft.ifft2(np.fft.fft2(img) * _centred_otf(kernel, img.shape)))

    def ramp(n: int) -> np.ndarray:
        r = np.ones(n)
        w = min(width, n // 2)
        r[:w] = np.arange(w) / w
        r[n - w :] = r[:w][::-1]
        return r

    alpha = np.outer(ramp(img.shape[0]), ramp(img.shape[1]))
    return alpha * img + (1.0 - alpha) * blurred


def wiener_deconvolve(img: np.ndarray, kernel: np.ndarray, balance: float = 1e-3) -> np.ndarray:
    """Wiener-Hunt deconvolution (``skimage.restoration.wiener``, Laplacian regulariser) of every channel.

    Each channel is mirror-padded by the kernel size and edge-tapered (:func:`_edge_taper`) before the FFT and
    cropped back after it. (Mirroring the image to twice its size instead is exact only for symmetric kernels:
    with motion kernels it loses 2-4 dB.)
    """
    from skimage.restoration import wiener

    img = _check(img)
    kernel = np.asarray(kernel, dtype=np.float64)
    h, w = img.shape[:2]
    p = max(8, *kernel.shape)
    out = np.empty_like(img)
    for c in range(3):
        padded = _edge_taper(np.pad(img[..., c], p, mode="symmetric"), kernel, p)
        out[..., c] = wiener(padded, kernel, balance, clip=False)[p : p + h, p : p + w]
    return _finish(out)


def richardson_lucy_deconvolve(img: np.ndarray, kernel: np.ndarray, iterations: int = RL_ITERATIONS) -> np.ndarray:
    """Richardson-Lucy deconvolution (``skimage.restoration.richardson_lucy``) of every channel.

    The image is mirror-padded by the kernel size so that the zero padding of the convolutions stays outside.
    """
    from skimage.restoration import richardson_lucy

    img = _check(img)
    kernel = np.asarray(kernel, dtype=np.float64)
    p = max(kernel.shape)
    big = np.pad(img, ((p, p), (p, p), (0, 0)), mode="symmetric")
    out = np.stack(
        [richardson_lucy(big[..., c], kernel, num_iter=iterations, clip=False)[p:-p, p:-p] for c in range(3)],
        axis=-1,
    )
    return _finish(out)


def wiener_blind(img: np.ndarray) -> np.ndarray:
    """:func:`wiener_deconvolve` with the kernel of :func:`estimate_blur_kernel` and its family's balance."""
    est = estimate_blur_kernel(img)
    return wiener_deconvolve(img, est.kernel, WIENER_BALANCE[est.family])


def richardson_lucy_blind(img: np.ndarray) -> np.ndarray:
    """:func:`richardson_lucy_deconvolve` with the kernel of :func:`estimate_blur_kernel`."""
    est = estimate_blur_kernel(img)
    if est.family == "none":
        return _finish(_check(img))
    return richardson_lucy_deconvolve(img, est.kernel)


# ----------------------------------------------------------------------------------------------------------
# rain
# ----------------------------------------------------------------------------------------------------------
def median_filter(img: np.ndarray, size: int = 5) -> np.ndarray:
    """Per-channel ``size x size`` median filter (removes thin streaks, and fine detail with them)."""
    from scipy.ndimage import median_filter as _median

    return _finish(_median(_check(img), size=(size, size, 1), mode="reflect"))


def min_median_filter(img: np.ndarray, size: int = 5) -> np.ndarray:
    """``min(input, median)``: rain streaks only brighten a photo, so only pixels above the median change."""
    img = _check(img)
    return _finish(np.minimum(img, median_filter(img, size)))


# ----------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------
def _noise_baselines(sigma: float | None) -> list[tuple[str, Baseline]]:
    label = "estimated sigma" if sigma is None else "true sigma"
    return [
        (f"NLM ({label})", partial(nl_means, sigma=sigma)),
        (f"TV Chambolle ({label})", partial(tv_chambolle, sigma=sigma)),
        (f"wavelet BayesShrink ({label})", partial(wavelet, sigma=sigma)),
        (f"BM3D lc ({label})", partial(bm3d_denoise, sigma=sigma)),
    ]


BASELINES: dict[str, list[tuple[str, Baseline]]] = {
    "noise15": _noise_baselines(15.0),
    "noise25": _noise_baselines(25.0),
    "noise50": _noise_baselines(50.0),
    "noise": _noise_baselines(None),
    "lowlight": [("gamma to mean 0.45", gamma_correction), ("CLAHE (HSV value)", clahe)],
    "haze": [("dark channel prior", dark_channel_prior)],
    "blur": [
        ("Wiener (estimated kernel)", wiener_blind),
        ("Richardson-Lucy (estimated kernel)", richardson_lucy_blind),
    ],
    "rain": [("median 5x5", median_filter), ("min(input, median 5x5)", min_median_filter)],
}
"""Per degradation of :data:`hogformer.data.degradations.DEGRADATIONS`, its baselines as ``(label, fn)``."""
