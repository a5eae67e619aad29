"""Synthetic falling snow (Snow100K-like): layers of flakes of varied size and density over a faint veil.

The same contract as :mod:`hogformer.data.degradations`; :func:`snow` is registered there as ``snow``.
"""

from __future__ import annotations

import math

import numpy as np

from .degradations import _check_image, _check_range, _finish, _streak_kernel

__all__ = ["snow", "snow_layer"]


def snow_layer(
    rng: np.random.Generator, height: int, width: int, density: float, radius: float, angle_deg: float, smear: float
) -> np.ndarray:
    """One layer of flakes as an HxW opacity map in [0, 1]: flakes seeded at a fraction ``density`` of the
    pixels, each a soft disc (a Gaussian of ``radius`` pixels) with a random peak opacity in [0.5, 1], smeared
    along the fall direction (``angle_deg`` from vertical) over ``smear`` times its radius."""
    from scipy.ndimage import gaussian_filter
    from scipy.signal import fftconvolve

    seeds = np.where(rng.random((height, width)) < density, rng.uniform(0.5, 1.0, (height, width)), 0.0)
    flakes = gaussian_filter(seeds, sigma=radius, mode="wrap") * (2.0 * math.pi * radius**2)
    if smear > 0:
        kernel = _streak_kernel(max(smear * radius, 1.0), angle_deg)
        flakes = fftconvolve(flakes, kernel / kernel.sum(), mode="same")
        flakes /= max(float(flakes.max()), 1e-6) / max(float(seeds.max()), 1e-6)  # the same peak as unsmeared
    return np.clip(flakes, 0.0, 1.0)


def snow(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    layers_range: tuple[int, int] = (1, 3),
    density_range: tuple[float, float] = (0.0005, 0.006),
    radius_range: tuple[float, float] = (0.6, 3.5),
    angle_range: tuple[float, float] = (-30.0, 30.0),
    smear_range: tuple[float, float] = (0.0, 3.0),
    veil_range: tuple[float, float] = (0.0, 0.2),
) -> np.ndarray:
    """Falling snow: ``layers`` flake layers (:func:`snow_layer`), each with its own density and flake radius
    (drawn log-uniformly from ``radius_range``, and from ``density_range``: the fraction of pixels seeding a
    flake of radius 1, divided by ``radius**2`` for larger ones: many small far flakes, few large near ones),
    sharing one fall direction, screen-blended ``1 - (1 - img) (1 - flakes)`` over a white veil of strength
    from ``veil_range`` (the haze of falling snow). The image only gets brighter."""
    img = _check_image(img)
    n_lo, n_hi = (int(v) for v in _check_range("layers_range", layers_range, low=1))
    d_lo, d_hi = _check_range("density_range", density_range)
    r_lo, r_hi = _check_range("radius_range", radius_range, low=0.1)
    a_lo, a_hi = _check_range("angle_range", angle_range, low=-90.0)
    s_lo, s_hi = _check_range("smear_range", smear_range)
    v_lo, v_hi = _check_range("veil_range", veil_range)
    if d_hi > 1.0 or v_hi > 1.0:
        raise ValueError("density_range and veil_range must lie in [0, 1]")
    h, w = img.shape[:2]
    angle = rng.uniform(a_lo, a_hi)
    clear = np.ones((h, w))
    for _ in range(int(rng.integers(n_lo, n_hi + 1))):
        radius = math.exp(rng.uniform(math.log(r_lo), math.log(r_hi)))
        density = rng.uniform(d_lo, d_hi) / max(radius, 1.0) ** 2  # larger flakes are fewer, by their area
        layer = snow_layer(rng, h, w, density, radius, angle, rng.uniform(s_lo, s_hi))
        clear *= 1.0 - layer
    veil = rng.uniform(v_lo, v_hi)
    out = img * (1.0 - veil) + veil
    return _finish(1.0 - (1.0 - out) * clear[:, :, None])
