"""The paper's HOG in plain numpy (spec section 5): 9 unsigned bins, 8x8 cells, soft orientation binning.

The descriptor of the official HOG loss, computed without torch so that ``hogformer inspect`` and the degradation
classifier need neither torch nor a GPU: grey ``0.299 R + 0.587 G + 0.114 B``, Sobel gradients
(cross-correlation, zero padding 1), magnitude ``sqrt(dx^2 + dy^2 + eps)``, unsigned orientation
``|atan2(dy, dx + eps)|`` in [0, pi], soft weight ``relu(1 - d / (pi / 9))`` to bin centres ``i * pi / 9``,
cells of 8x8 pixels over the top-left ``8 * floor(H / 8)`` x ``8 * floor(W / 8)`` pixels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BINS", "CELL", "bin_centres_degrees", "cell_histograms", "grey", "orientation_profile"]

BINS = 9
CELL = 8
_EPS = 1e-8
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grey(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 float RGB (or HxW grey) -> HxW float32 grey (the HOG loss's weights)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        return rgb
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 RGB or HxW grey image, got shape {rgb.shape}")
    return rgb @ _GREY


def sobel(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel ``(dx, dy)`` of an HxW image: cross-correlation with zero padding 1, as ``F.conv2d`` computes it."""
    p = np.pad(np.asarray(g, dtype=np.float32), 1)
    # dx kernel [[-1,0,1],[-2,0,2],[-1,0,1]], dy kernel its transpose.
    horiz = p[:, 2:] - p[:, :-2]  # (H+2, W)
    dx = horiz[:-2] + 2 * horiz[1:-1] + horiz[2:]
    vert = p[2:] - p[:-2]  # (H, W+2)
    dy = vert[:, :-2] + 2 * vert[:, 1:-1] + vert[:, 2:]
    return dx, dy


def cell_histograms(rgb: np.ndarray, cell: int = CELL, bins: int = BINS) -> np.ndarray:
    """Per-cell orientation histograms ``(Hc, Wc, bins)`` of an image: the mean over each ``cell`` x ``cell``
    cell of ``weight_i * magnitude`` (the HOG loss's ``hist`` before block normalisation).

    Raises:
        ValueError: the image is smaller than one cell.
    """
    g = grey(rgb)
    h, w = g.shape
    hc, wc = h // cell, w // cell
    if hc == 0 or wc == 0:
        raise ValueError(f"the HOG needs an image of at least {cell}x{cell} pixels, got {w}x{h}")
    dx, dy = sobel(g)
    dx, dy = dx[: hc * cell, : wc * cell], dy[: hc * cell, : wc * cell]
    mag = np.sqrt(dx * dx + dy * dy + _EPS)
    ori = np.abs(np.arctan2(dy, dx + _EPS))
    # Each orientation lies between two adjacent centres and the triangular weights of those two sum to 1, so
    # the soft binning is a linear interpolation: one bincount instead of a pass per bin.
    pos = ori * (bins / math.pi)
    low = np.floor(pos)
    frac = (pos - low).astype(np.float32)
    low = low.astype(np.intp) % bins
    cell_index = (np.arange(hc * cell) // cell)[:, None] * wc + (np.arange(wc * cell) // cell)[None, :]
    base = (cell_index * bins).ravel()
    size = hc * wc * bins
    out = np.bincount(base + low.ravel(), weights=((1 - frac) * mag).ravel(), minlength=size)
    out += np.bincount(base + (low.ravel() + 1) % bins, weights=(frac * mag).ravel(), minlength=size)
    out = (out / (cell * cell)).reshape(hc, wc, bins).astype(np.float32)
    return out


def orientation_profile(hist: np.ndarray) -> np.ndarray:
    """The image's orientation histogram: the cell histograms summed over cells, normalised to sum 1."""
    total = np.asarray(hist, dtype=np.float64).reshape(-1, hist.shape[-1]).sum(axis=0)
    return total / max(float(total.sum()), 1e-12)


def bin_centres_degrees(bins: int = BINS) -> np.ndarray:
    """Bin centres in degrees (0, 20, ..., 160 for 9 bins); 0 is a horizontal gradient (a vertical edge)."""
    return np.arange(bins) * (180.0 / bins)
