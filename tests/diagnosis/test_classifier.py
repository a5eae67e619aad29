"""The shipped degradation classifier: a safe file, numpy prediction equal to scikit-learn's, and right answers on
photos it was not trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hogformer.data.degradations import degrade, quantise_8bit
from hogformer.diagnosis.classifier import (
    CLASSES,
    CLASSIFIER_FILE,
    ClassifierError,
    load_classifier,
    read_classifier,
    write_classifier,
)
from hogformer.diagnosis.features import FEATURE_NAMES, features

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "hogformer" / "assets" / "sample.png"
DEGRADATION_OF = {"noise": "noise", "blur": "blur", "haze": "haze", "low_light": "lowlight", "rain": "rain",
                  "clean": "clean"}  # fmt: skip


def test_shipped_file_is_plain_json_for_these_features() -> None:
    doc = json.loads(CLASSIFIER_FILE.read_text())
    assert doc["features"] == list(FEATURE_NAMES) and doc["classes"] == list(CLASSES)
    clf = load_classifier()
    assert clf.clean_profile.sum() == pytest.approx(1.0, abs=1e-6)
    assert clf.info["heldout_accuracy"] >= 0.9  # what the training script measured on the held-out photos


@pytest.mark.filterwarnings("ignore::UserWarning")  # the small MLP need not converge to be compared
def test_numpy_prediction_equals_scikit_learn(tmp_path: Path) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    neural = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, len(FEATURE_NAMES))) * rng.uniform(0.1, 10, len(FEATURE_NAMES))
    y = np.arange(300) % len(CLASSES)
    x[np.arange(300), y] += 5  # separable enough to give confident, non-trivial probabilities
    scaler = preprocessing.StandardScaler().fit(x)
    xs = scaler.transform(x)
    for model in (linear_model.LogisticRegression(max_iter=2000), neural.MLPClassifier((8,), max_iter=300)):
        model.fit(xs, y)
        layers = (
            list(zip(model.coefs_, model.intercepts_))
            if hasattr(model, "coefs_")
            else [(model.coef_.T, model.intercept_)]
        )
        path = tmp_path / "c.json"
        write_classifier(path, mean=scaler.mean_, scale=scaler.scale_, layers=layers,
                         clean_profile=np.full(9, 1 / 9), info={})  # fmt: skip
        mine = read_classifier(path).predict_proba(x)
        np.testing.assert_allclose(mine, model.predict_proba(xs), atol=1e-9)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="pickle"), "not a"),
        (lambda d: d.update(features=d["features"][:-1]), "other features"),
        (lambda d: d["mean"].__setitem__(0, float("nan")), "finite"),
        (lambda d: d["layers"][-1].update(bias=[0.0] * 5), "bias"),
        (lambda d: d.update(scale=[0.0] * len(d["scale"])), "positive"),
    ],
)
def test_broken_files_are_refused(tmp_path: Path, change, message: str) -> None:
    doc = json.loads(CLASSIFIER_FILE.read_text())
    change(doc)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ClassifierError, match=message) as info:
        read_classifier(path)
    assert str(path) in str(info.value)


def _heldout() -> list[np.ndarray]:
    """Photos the classifier never saw: sporco's held-out photos when installed, else the shipped sample."""
    try:
        from hogformer.data.photos import heldout_photos

        return [img for _, img in heldout_photos()]
    except (ImportError, FileNotFoundError):
        return [np.asarray(Image.open(SAMPLE).convert("RGB"))]


def test_recognises_degradations_of_heldout_photos() -> None:
    rng = np.random.default_rng(12345)
    clf = load_classifier()
    photos = _heldout()
    right = total = 0
    wrong = []
    for k in range(12):
        img = photos[k % len(photos)]
        h, w = img.shape[:2]
        side = int(rng.integers(160, min(h, w, 320) + 1))
        t, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img[t : t + side, left : left + side].astype(np.float32) / 255
        for cls in CLASSES:
            p = clf.predict_proba(features(quantise_8bit(degrade(crop, DEGRADATION_OF[cls], rng))))[0]
            assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)
            total += 1
            if CLASSES[int(p.argmax())] == cls:
                right += 1
            else:
                wrong.append((cls, CLASSES[int(p.argmax())]))
    assert right / total >= 0.85, f"{right}/{total} right; (truth, estimate) of the misses: {wrong}"
