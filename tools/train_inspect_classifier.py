"""Train the degradation classifier of ``hogformer inspect`` and write src/hogformer/diagnosis/classifier.json.

    python tools/train_inspect_classifier.py [--crops 24] [--seed 0] [--out PATH]

Needs scikit-learn (``pip install 'hogformer[train]'``) to train, and sporco (``pip install 'hogformer[quality]'``)
for the held-out report. Training images: :func:`hogformer.data.photos.offline_photos` (scikit-image data,
scikit-learn samples and, where installed, Debian's opencv-doc examples), random crops degraded on the fly by
:mod:`hogformer.data.degradations` and quantised to 8 bits as a file would hold them. The model (multinomial
logistic regression or a small MLP, each after a standardiser) is chosen by cross-validation grouped by photo on
the training photos only. Accuracy is then reported on the held-out sporco photos (never used for training or
selection), per class and overall.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hogformer.data.degradations import degrade, quantise_8bit
from hogformer.data.photos import heldout_photos, offline_photos
from hogformer.diagnosis.classifier import CLASSES, CLASSIFIER_FILE, write_classifier
from hogformer.diagnosis.features import FEATURE_NAMES, features
from hogformer.diagnosis.hog import cell_histograms, orientation_profile

#: The degradation library's name of each class.
DEGRADATION_OF = {"noise": "noise", "blur": "blur", "haze": "haze", "low_light": "lowlight", "rain": "rain",
                  "clean": "clean"}  # fmt: skip


def random_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (side 96..512) of the photo, after a random downscale by 1..2x (sharper, smaller views)."""
    h, w = img.shape[:2]
    factor = float(rng.uniform(1.0, 2.0))
    if min(h, w) / factor >= 128:
        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        img = np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))
        h, w = img.shape[:2]
    side = int(rng.integers(96, min(512, h, w) + 1))
    t, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return img[t : t + side, left : left + side].astype(np.float32) / 255.0


def dataset(photos: list[tuple[str, np.ndarray]], crops: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (class index) and photo index of ``crops`` crops per photo and class."""
    rng = np.random.default_rng(seed)
    xs, ys, groups = [], [], []
    for g, (_name, img) in enumerate(photos):
        for _ in range(crops):
            crop = random_crop(img, rng)
            for c, cls in enumerate(CLASSES):
                xs.append(features(quantise_8bit(degrade(crop, DEGRADATION_OF[cls], rng))))
                ys.append(c)
                groups.append(g)
    return np.array(xs), np.array(ys), np.array(groups)


def candidates() -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: dict[str, object] = {}
    for c in (0.3, 3.0, 30.0):
        out[f"logistic C={c}"] = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    for width in (32, 64):
        out[f"mlp {width}"] = make_pipeline(
            StandardScaler(),
            MLPClassifier((width,), alpha=1e-3, max_iter=2000, early_stopping=True, random_state=0),
        )
    return out


def layers_of(model: object) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dense layers of a fitted logistic regression or MLP as ``(weights (in, out), bias (out,))``."""
    est = model.steps[-1][1]  # type: ignore[attr-defined]
    if hasattr(est, "coefs_"):
        return [(np.asarray(w), np.asarray(b)) for w, b in zip(est.coefs_, est.intercepts_)]
    return [(np.asarray(est.coef_).T, np.asarray(est.intercept_))]


def table(y: np.ndarray, pred: np.ndarray) -> str:
    lines = ["| class | images | correct | accuracy |", "|---|---:|---:|---:|"]
    for c, cls in enumerate(CLASSES):
        m = y == c
        lines.append(f"| {cls} | {m.sum()} | {(pred[m] == c).sum()} | {100 * (pred[m] == c).mean():.1f}% |")
    lines.append(f"| **all six** | {len(y)} | {(pred == y).sum()} | **{100 * (pred == y).mean():.1f}%** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sklearn.base import clone
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import GroupKFold, cross_val_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", type=int, default=24, help="crops per training photo and class")
    ap.add_argument("--heldout-crops", type=int, default=20, help="crops per held-out photo and class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=CLASSIFIER_FILE)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    train_photos = offline_photos()
    if not train_photos:
        print("no training photos: pip install scikit-image scikit-learn", file=sys.stderr)
        return 2
    test_photos = heldout_photos()
    print(f"training photos ({len(train_photos)}): {', '.join(n for n, _ in train_photos)}")
    print(f"held-out photos ({len(test_photos)}): {', '.join(n for n, _ in test_photos)}")
    x, y, groups = dataset(train_photos, args.crops, args.seed)
    xt, yt, _ = dataset(test_photos, args.heldout_crops, args.seed + 1000)
    print(f"features: {x.shape[0]} training, {xt.shape[0]} held-out samples ({time.perf_counter() - t0:.0f} s)")

    scores = {}
    for name, model in candidates().items():
        cv = GroupKFold(n_splits=5)
        scores[name] = float(cross_val_score(clone(model), x, y, groups=groups, cv=cv).mean())
        print(f"  grouped 5-fold CV on the training photos: {name}: {100 * scores[name]:.1f}%")
    best = max(scores, key=scores.__getitem__)
    model = candidates()[best].fit(x, y)  # type: ignore[attr-defined]
    pred = model.predict(xt)
    print(f"\nchosen: {best}; held-out accuracy on the sporco photos ({args.heldout_crops} crops per photo and class):")
    print(table(yt, pred))
    print("\nconfusion (rows: truth, columns: estimate, order " + ", ".join(CLASSES) + ")")
    print(confusion_matrix(yt, pred, labels=range(len(CLASSES))))

    # The figure's reference: the mean orientation profile of the clean training photos, whole.
    profiles = [orientation_profile(cell_histograms(img.astype(np.float32) / 255.0)) for _, img in train_photos]
    scaler = model.steps[0][1]
    write_classifier(
        args.out,
        mean=scaler.mean_,
        scale=scaler.scale_,
        layers=layers_of(model),
        clean_profile=np.mean(profiles, axis=0),
        info={
            "model": best,
            "trained_by": "tools/train_inspect_classifier.py",
            "seed": args.seed,
            "training_photos": [n for n, _ in train_photos],
            "training_samples": int(x.shape[0]),
            "cv_accuracy": round(scores[best], 4),
            "heldout_photos": [n for n, _ in test_photos],
            "heldout_samples": int(xt.shape[0]),
            "heldout_accuracy": round(float((pred == yt).mean()), 4),
            "heldout_accuracy_per_class": {
                cls: round(float((pred[yt == c] == c).mean()), 4) for c, cls in enumerate(CLASSES)
            },
        },
    )
    # The numpy prediction must agree with scikit-learn's.
    from hogformer.diagnosis.classifier import read_classifier

    mine = read_classifier(args.out).predict_proba(xt)
    gap = float(np.abs(mine - model.predict_proba(xt)).max())
    if gap > 1e-6:
        print(f"numpy and scikit-learn probabilities differ by {gap:.3g}", file=sys.stderr)
        return 1
    print(f"\nwrote {args.out} ({len(FEATURE_NAMES)} features; {time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
