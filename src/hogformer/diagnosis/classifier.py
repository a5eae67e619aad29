"""The degradation classifier of ``hogformer inspect``: its parameters file and its prediction in plain numpy.

The parameters live in ``classifier.json`` beside this module (written by ``tools/train_inspect_classifier.py``
with scikit-learn; reading it needs only ``json`` and numpy, nothing is unpickled). The model is a standardiser
followed by dense layers (one layer: multinomial logistic regression; more: a small ReLU network) and a softmax
over :data:`CLASSES`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .features import FEATURE_NAMES, features

__all__ = ["CLASSES", "CLASSIFIER_FILE", "Classifier", "ClassifierError", "estimate", "load_classifier"]

#: What an image can suffer from, as the classifier names it (the keys of an estimate).
CLASSES = ("noise", "blur", "haze", "low_light", "rain", "clean")
CLASSIFIER_FILE = Path(__file__).with_name("classifier.json")
FORMAT = "hogformer-inspect-classifier"
FORMAT_VERSION = 1


class ClassifierError(ValueError):
    """The classifier file is missing, malformed, or does not match this version's features."""


@dataclass(frozen=True)
class Classifier:
    """A standardiser, dense layers (ReLU between them) and a softmax over ``classes``."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    #: The mean orientation profile of the clean training photos (9 bins, sums to 1): the plot's reference.
    clean_profile: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` for feature rows ``x`` ``(N, n_features)``."""
        h = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(axis=1, keepdims=True)

    def estimate(self, rgb: np.ndarray) -> dict[str, float]:
        """``{class: probability}`` for a float HxWx3 image in [0, 1], in :data:`CLASSES` order."""
        p = self.predict_proba(features(rgb))[0]
        return {c: float(v) for c, v in zip(self.classes, p)}


def _array(d: dict[str, Any], key: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    try:
        a = np.asarray(d[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise ClassifierError(f"{path}: missing or non-numeric entry {key!r}") from e
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise ClassifierError(f"{path}: {key!r} has shape {a.shape}, expected {shape} of finite numbers")
    return a


def read_classifier(path: str | os.PathLike[str]) -> Classifier:
    """Read and check a classifier file (JSON: no code runs while it is read).

    Raises:
        ClassifierError: unreadable, not this format, or features/classes that differ from this version's.
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ClassifierError(f"{path}: cannot read the classifier ({e})") from e
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != FORMAT_VERSION:
        raise ClassifierError(f"{path}: not a {FORMAT} file of version {FORMAT_VERSION}")
    if tuple(d.get("features", ())) != FEATURE_NAMES:
        raise ClassifierError(f"{path}: made for other features; retrain it with tools/train_inspect_classifier.py")
    if tuple(d.get("classes", ())) != CLASSES:
        raise ClassifierError(f"{path}: classes {d.get('classes')} differ from {list(CLASSES)}")
    n = len(FEATURE_NAMES)
    mean = _array(d, "mean", (n,), path)
    scale = _array(d, "scale", (n,), path)
    if np.any(scale <= 0):
        raise ClassifierError(f"{path}: 'scale' must be positive")
    layers = []
    width = n
    raw_layers = d.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ClassifierError(f"{path}: 'layers' must be a non-empty list")
    for i, layer in enumerate(raw_layers):
        w = np.asarray(layer.get("weights") if isinstance(layer, dict) else None, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] != width:
            raise ClassifierError(f"{path}: layer {i} weights have shape {w.shape}, expected ({width}, k)")
        b = _array(layer, "bias", (w.shape[1],), path)
        layers.append((w, b))
        width = w.shape[1]
    if width != len(CLASSES):
        raise ClassifierError(f"{path}: the last layer has {width} outputs for {len(CLASSES)} classes")
    clean_profile = _array(d, "clean_profile", (9,), path)
    return Classifier(CLASSES, mean, scale, tuple(layers), clean_profile, dict(d.get("info", {})))


@lru_cache(maxsize=1)
def load_classifier() -> Classifier:
    """The classifier shipped with the package (read once)."""
    return read_classifier(CLASSIFIER_FILE)


def estimate(rgb: np.ndarray) -> dict[str, float]:
    """What the image suffers from, with probabilities: ``{"noise": p, "blur": p, ..., "clean": p}``."""
    return load_classifier().estimate(rgb)


def write_classifier(
    path: str | os.PathLike[str],
    *,
    mean: np.ndarray,
    scale: np.ndarray,
    layers: list[tuple[np.ndarray, np.ndarray]],
    clean_profile: np.ndarray,
    info: dict[str, Any],
) -> None:
    """Write a classifier file atomically (used by the training script)."""
    from ..files import atomic_write_bytes

    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "classes": list(CLASSES),
        "features": list(FEATURE_NAMES),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "layers": [{"weights": np.asarray(w).tolist(), "bias": np.asarray(b).tolist()} for w, b in layers],
        "clean_profile": [float(v) for v in clean_profile],
        "info": info,
    }
    atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    read_classifier(path)  # what was written must read back
