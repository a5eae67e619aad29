"""Centred crops of HxW(xC) arrays: to a multiple of a size (the paper's test protocols) or to a largest side."""

from __future__ import annotations

import os

import numpy as np


def crop_to_multiple(img: np.ndarray, multiple: int, *, path: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Crop an HxW(xC) image to the largest multiple of ``multiple`` in each dimension, centred.

    Takes ``h % multiple`` rows away, ``(h % multiple) // 2`` of them from the top (AdaIR/PromptIR
    ``crop_img``), and the same for the columns. ``multiple <= 1`` returns the image unchanged.

    Raises:
        ValueError: a side is shorter than ``multiple`` (nothing would be left); the message names ``path``.
    """
    if multiple <= 1:
        return img
    h, w = img.shape[:2]
    if h < multiple or w < multiple:
        where = f"{path}: " if path is not None else ""
        raise ValueError(f"{where}image is {h}x{w}, smaller than the crop multiple {multiple}")
    dh, dw = h % multiple, w % multiple
    top, left = dh // 2, dw // 2
    return img[top : h - dh + top, left : w - dw + left]


def crop_to_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """The central ``min(H, max_side) x min(W, max_side)`` part of ``img`` (all of it when ``max_side`` is None)."""
    if max_side is None:
        return img
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16 pixels, got {max_side}")
    h, w = img.shape[:2]
    ch, cw = min(h, max_side), min(w, max_side)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top : top + ch, left : left + cw]


__all__ = ["crop_to_multiple", "crop_to_side"]
