"""HOG-centred features of an image for the degradation classifier (``hogformer inspect``).

Most features describe the paper's HOG (:mod:`hogformer.diagnosis.hog`) at two scales: the shape of the
orientation histogram (noise flattens it, rain and motion blur tilt it towards one direction), how gradient energy
spreads over the cells (blur and haze empty them, noise fills the flat ones), how peaked each cell's histogram is,
and how energy moves between the fine and the coarse scale (noise lives at the fine scale, blur at the coarse).
A few cheap intensity statistics complete them (low light is dark, haze is bright and grey with a high dark
channel). Everything is plain numpy, computed on at most :data:`MAX_SIDE` x :data:`MAX_SIDE` pixels (a central
crop, never a resize: resizing would remove the noise and the blur it has to see).
"""

from __future__ import annotations

import numpy as np

from .hog import BINS, cell_histograms, orientation_profile

__all__ = ["FEATURE_NAMES", "MAX_SIDE", "MIN_SIDE", "features", "prepare"]

MAX_SIDE = 512
MIN_SIDE = 32

_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _names() -> tuple[str, ...]:
    names = [f"hog_bin{i}" for i in range(BINS)]
    names += ["hog_entropy", "hog_max_over_mean", "hog_bin_spread"]
    for scale in ("fine", "coarse"):
        names += [f"{scale}_log_energy_q{int(q * 100)}" for q in _QUANTILES]
        names += [f"{scale}_log_energy_std", f"{scale}_cell_entropy_mean", f"{scale}_cell_peak_mean"]
    names += ["energy_ratio_coarse_fine", "flat_cell_entropy", "laplacian_noise_sigma"]
    names += ["lum_mean", "lum_std", "lum_q01", "lum_q50", "lum_q99", "dark_channel_q50", "saturation_mean"]
    return tuple(names)


#: The feature vector's entries, in order (also stored in the classifier file and checked when it is loaded).
FEATURE_NAMES: tuple[str, ...] = _names()


def prepare(rgb: np.ndarray) -> np.ndarray:
    """The part of an image the features look at: float32 HxWx3 in [0, 1], centrally cropped to at most
    :data:`MAX_SIDE` per side.

    Raises:
        ValueError: not an HxWx3 image, or smaller than :data:`MIN_SIDE` on a side.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"the image is {w}x{h} pixels; inspect needs at least {MIN_SIDE} pixels on each side")
    top, left = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    crop = rgb[top : top + MAX_SIDE, left : left + MAX_SIDE]
    return np.clip(crop.astype(np.float32, copy=False), 0.0, 1.0)


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-12)
    return -(p * np.log(np.maximum(p, 1e-12))).sum(axis=axis)


def _scale_stats(hist: np.ndarray) -> tuple[list[float], np.ndarray, np.ndarray]:
    energy = hist.sum(axis=-1).ravel()  # per-cell gradient energy
    log_e = np.log(energy + 1e-4)
    cells = hist.reshape(-1, hist.shape[-1])
    ent = _entropy(cells)
    peak = cells.max(axis=-1) / np.maximum(cells.sum(axis=-1), 1e-12)
    stats = [float(v) for v in np.quantile(log_e, _QUANTILES)]
    stats += [float(log_e.std()), float(ent.mean()), float(peak.mean())]
    return stats, energy, ent


def _downsample2(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    r = rgb[:h, :w]
    return 0.25 * (r[0::2, 0::2] + r[1::2, 0::2] + r[0::2, 1::2] + r[1::2, 1::2])


def _laplacian_sigma(g: np.ndarray) -> float:
    """Immerkaer's fast noise estimate (the standard deviation of white noise, on the [0, 1] scale)."""
    m = g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
    m += -2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
    m += g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:]
    h, w = g.shape
    return float(np.sqrt(np.pi / 2) * np.abs(m).sum() / (6.0 * (w - 2) * (h - 2)))


def features(rgb: np.ndarray) -> np.ndarray:
    """The feature vector (:data:`FEATURE_NAMES`, float64) of a float HxWx3 image in [0, 1] (see :func:`prepare`)."""
    rgb = prepare(rgb)
    fine = cell_histograms(rgb)
    coarse = cell_histograms(_downsample2(rgb))
    profile = orientation_profile(fine)
    out = [float(v) for v in profile]
    out += [float(_entropy(profile)), float(profile.max() * BINS), float(profile.std() * BINS)]
    fine_stats, fine_energy, fine_ent = _scale_stats(fine)
    coarse_stats, coarse_energy, _ = _scale_stats(coarse)
    out += fine_stats + coarse_stats
    out.append(float(np.log((coarse_energy.mean() + 1e-4) / (fine_energy.mean() + 1e-4))))
    flat = fine_energy <= np.quantile(fine_energy, 0.25)  # the flattest quarter of the cells
    out.append(float(fine_ent[flat].mean()))
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out.append(_laplacian_sigma(lum) * 255.0)
    q01, q50, q99 = np.quantile(lum, (0.01, 0.5, 0.99))
    out += [float(lum.mean()), float(lum.std()), float(q01), float(q50), float(q99)]
    out.append(float(np.median(rgb.min(axis=-1))))
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    out.append(float(((mx - mn) / np.maximum(mx, 1e-3)).mean()))
    vec = np.asarray(out, dtype=np.float64)
    assert vec.shape == (len(FEATURE_NAMES),)
    return vec
