"""Real clean photographs that install offline, for training the shipped model and for quality checks.

Training photos come from scikit-image's bundled data, scikit-learn's two sample images and Debian's
``opencv-doc`` examples (whichever are installed). The five photos of ``sporco`` (Kodak kodim23, monarch,
barbara, sail, tulips) are held out: never used in training, they are the quality benchmark.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: scikit-image photographs bundled with the wheel (natural scenes; no synthetic patterns, text or logos).
SKIMAGE_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "stereo_motorcycle", "camera", "moon", "coins", "clock", "grass", "gravel", "brick",
)  # fmt: skip
#: Debian's opencv-doc example photos (natural scenes; calibration boards, text and logos left out).
OPENCV_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "apple.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
    "home.jpg", "lena.jpg", "messi5.jpg", "orange.jpg", "starry_night.jpg", "squirrel_cls.jpg", "stuff.jpg",
    "graf1.png", "graf3.png", "leuvenA.jpg", "leuvenB.jpg", "rubberwhale1.png", "smarties.png", "HappyFish.jpg",
    "basketball1.png", "board.jpg", "Blender_Suzanne1.jpg", "aloeL.jpg", "box_in_scene.png", "pic1.png",
)  # fmt: skip
#: The held-out quality benchmark (sporco's data folder).
HELDOUT_PHOTOS = ("kodim23.png", "monarch.png", "barbara.png", "sail.png", "tulips.png")


def _as_rgb_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(a * (255 if a.max() <= 1 else 1), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def _skimage_sources() -> list[tuple[str, Callable[[], np.ndarray]]]:
    try:
        import skimage.data as d
    except ImportError:
        return []

    def loader(name: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            a = getattr(d, name)()
            return a[0] if isinstance(a, tuple) else a

        return load

    return [(f"skimage-{n}", loader(n)) for n in SKIMAGE_PHOTOS if hasattr(d, n)]


def _sklearn_sources() -> list[tuple[str, Callable[[], np.ndarray]]]:
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        return []
    return [(f"sklearn-{n[:-4]}", partial(load_sample_image, n)) for n in ("china.jpg", "flower.jpg")]


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _opencv_sources() -> list[tuple[str, Callable[[], np.ndarray]]]:
    out: list[tuple[str, Callable[[], np.ndarray]]] = []
    for name in OPENCV_PHOTOS:
        path = OPENCV_DIR / name
        if path.is_file():
            out.append((f"opencv-{Path(name).stem}", partial(_read_rgb, path)))
    return out


def offline_photos(min_side: int = 128) -> list[tuple[str, np.ndarray]]:
    """Every training photo installed here, as ``(name, uint8 HxWx3)``; photos smaller than ``min_side`` are
    left out. Which sources exist depends on the installed packages; the list is sorted by name."""
    photos = []
    for name, load in _skimage_sources() + _sklearn_sources() + _opencv_sources():
        try:
            img = _as_rgb_uint8(load())
        except Exception as e:  # a data file missing from a partial install: skip it, say so
            log.warning("skipping offline photo %s: %s", name, e)
            continue
        if min(img.shape[:2]) >= min_side:
            photos.append((name, img))
    return sorted(photos, key=lambda p: p[0])


def heldout_photos(folder: str | os.PathLike[str] | None = None) -> list[tuple[str, np.ndarray]]:
    """The five held-out photos of ``sporco`` as ``(name, uint8 HxWx3)``; from ``folder`` (a copy of those
    files under the same names, for machines without sporco) if given."""
    from PIL import Image

    if folder is None:
        try:
            import sporco
        except ImportError as e:
            raise ImportError("the held-out photos come with the 'sporco' package: pip install sporco") from e
        folder = Path(sporco.__file__).with_name("data")
    folder = Path(folder)
    missing = [n for n in HELDOUT_PHOTOS if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no held-out photo {', '.join(missing)}")
    return [(Path(n).stem, np.asarray(Image.open(folder / n).convert("RGB"))) for n in HELDOUT_PHOTOS]


def export_photos(dest: str | os.PathLike[str], min_side: int = 128) -> list[Path]:
    """Write :func:`offline_photos` as PNG files into ``dest`` (a training folder); returns the paths."""
    from .io import write_image

    dest = Path(dest)
    return [write_image(dest / f"{name}.png", img.astype(np.float32) / 255) for name, img in offline_photos(min_side)]


def sample_crops(n: int, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    """``n`` natural ``size`` x ``size`` uint8 RGB crops of scikit-image's sample photos (random square crops
    resized with bicubic interpolation), for tests and smoke runs."""
    import skimage.data as d
    from PIL import Image

    sources = [d.astronaut(), d.coffee(), d.chelsea(), d.rocket()]
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for i in range(n):
        img = sources[i % len(sources)]
        h, w = img.shape[:2]
        s = int(rng.integers(96, min(h, w)))
        t, left = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
        crop = Image.fromarray(img[t : t + s, left : left + s]).resize((size, size), Image.Resampling.BICUBIC)
        out.append(np.asarray(crop))
    return out
