"""Training, validation and held-out photos rebuilt deterministically from the allowed offline sources.

The sources are scikit-image's bundled photos, scikit-learn's two sample images, the example photos of
Debian's ``opencv-doc`` and the Debian wallpaper packages of :data:`WALLPAPER_PACKAGES` (fetched with
``apt-get download``, or taken from ``.deb`` files already there). Every other image source is reserved for
independent evaluation; in particular the ``sporco`` photos (:func:`hogformer.data.photos.heldout_photos`, the
quality table) are never read here.

:func:`build_photos` decodes every image, drops the tiny, the transparent, the flat (logos, icons, line art)
and near-duplicates (the same wallpaper at several resolutions: the largest is kept), caps the longest side,
and writes PNG files into ``train/``, ``val/`` and ``heldout/`` with a manifest (``manifest.csv``: file,
split, package, version, source path, sha256 of the source file and of the PNG, width, height). One whole
package (:data:`HELDOUT_PACKAGE` by default) is the held-out split, never trained on; the rest is split
into train and val by a hash of ``package:source path``, so adding a package moves no other photo.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version as installed_version
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "HELDOUT_PACKAGE",
    "WALLPAPER_PACKAGES",
    "PhotoRecord",
    "build_photos",
    "download_debs",
    "looks_like_photo",
    "split_of",
]

#: Debian packages whose images may be trained on (opencv-doc: only its ``examples/data`` photos).
WALLPAPER_PACKAGES = (
    "gnome-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-20.04", "sway-backgrounds",
    "desktop-base",
)  # fmt: skip
DEB_PACKAGES = (*WALLPAPER_PACKAGES, "opencv-doc")
#: The package held out whole, never trained or tuned on: a photograph (a nuthatch on a tree trunk), a Milky Way
#: over the sea and two abstract wallpapers (gradient facets, painted stripes).
HELDOUT_PACKAGE = "lomiri-wallpapers-20.04"
#: Image files taken from an extracted package (SVG and other vector art is not a photo).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: Inside opencv-doc, only the example photos (the rest are screenshots and diagrams of the documentation).
OPENCV_SUBDIR = "usr/share/doc/opencv-doc/examples/data"
MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class PhotoRecord:
    """One written photo, one row of the manifest."""

    file: str  # relative to the output folder: split/name.png
    split: str
    package: str
    version: str
    source: str  # path inside the package (or the Python loader's name)
    source_sha256: str
    sha256: str  # of the written PNG
    width: int
    height: int


# ----------------------------------------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------------------------------------
def download_debs(cache: str | os.PathLike[str], packages: tuple[str, ...] = DEB_PACKAGES) -> list[Path]:
    """``apt-get download`` each package not yet in ``cache`` (run ``apt-get update`` first); the .deb paths."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not _find_deb(cache, p)]
    if missing:
        if shutil.which("apt-get") is None:
            raise FileNotFoundError(f"no apt-get to fetch {', '.join(missing)}; put their .deb files in {cache}")
        subprocess.run(["apt-get", "download", *missing], cwd=cache, check=True, capture_output=True)
    found = [_find_deb(cache, p) for p in packages]
    absent = [p for p, f in zip(packages, found, strict=True) if f is None]
    if absent:
        raise FileNotFoundError(f"{cache}: no .deb for {', '.join(absent)}")
    return [f for f in found if f is not None]


def _find_deb(folder: Path, package: str) -> Path | None:
    """The newest-named ``package_VERSION_ARCH.deb`` in ``folder`` (exact package name)."""
    hits = sorted(f for f in folder.glob(f"{package}_*.deb") if f.name.split("_")[0] == package)
    return hits[-1] if hits else None


def _deb_version(deb: Path) -> str:
    parts = deb.stem.split("_")
    return parts[1] if len(parts) >= 3 else ""


def _extract(deb: Path, dest: Path) -> None:
    """``dpkg-deb -x`` (or ``dpkg -x``) ``deb`` into ``dest``."""
    tool = shutil.which("dpkg-deb") or shutil.which("dpkg")
    if tool is None:
        raise FileNotFoundError("dpkg-deb is needed to extract .deb files (apt-get install dpkg)")
    subprocess.run([tool, "-x", str(deb), str(dest)], check=True, capture_output=True)


def _tree_images(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    """``(path inside the package, file)`` of every image under an extracted package, sorted."""
    base = root / OPENCV_SUBDIR if package == "opencv-doc" else root
    for f in sorted(base.rglob("*")):
        if f.is_file() and not f.is_symlink() and f.suffix.lower() in IMAGE_SUFFIXES:
            yield f.relative_to(root).as_posix(), f


def _python_sources() -> Iterator[tuple[str, str, str, np.ndarray]]:
    """``(package, version, source, pixels)`` of the scikit-image and scikit-learn photos installed here."""
    from .photos import SKIMAGE_PHOTOS, _as_rgb_uint8

    try:
        import skimage.data as d

        for name in SKIMAGE_PHOTOS:
            if hasattr(d, name):
                a = getattr(d, name)()
                yield (
                    "scikit-image",
                    installed_version("scikit-image"),
                    f"skimage.data.{name}",
                    _as_rgb_uint8(a[0] if isinstance(a, tuple) else a),
                )
    except ImportError:
        log.info("scikit-image is not installed: no skimage photos")
    try:
        from sklearn.datasets import load_sample_image

        for name in ("china.jpg", "flower.jpg"):
            yield "scikit-learn", installed_version("scikit-learn"), f"sklearn.datasets.{name}", load_sample_image(name)
    except ImportError:
        log.info("scikit-learn is not installed: no sample images")


# ----------------------------------------------------------------------------------------------------------
# filters
# ----------------------------------------------------------------------------------------------------------
def looks_like_photo(rgb: np.ndarray, min_colours: int = 48, max_flat: float = 0.5) -> bool:
    """Whether a uint8 HxWx3 image has the colour variety of a photo: on a copy at most 128 pixels a side,
    at least ``min_colours`` distinct colours (5 bits a channel; 8-bit levels for a grey image) and no single
    colour covering more than ``max_flat`` of the pixels. Icons, logos, flat-colour art and backgrounds fail;
    photos and painted or gradient wallpapers pass."""
    step = max(1, max(rgb.shape[:2]) // 128)
    small = rgb[::step, ::step].astype(np.int32).reshape(-1, 3)
    if np.array_equal(small[:, 0], small[:, 1]) and np.array_equal(small[:, 0], small[:, 2]):
        codes = small[:, 0]
    else:
        q = small >> 3
        codes = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    _, counts = np.unique(codes, return_counts=True)
    return len(counts) >= min_colours and counts.max() <= max_flat * len(codes)


def _average_hash(rgb: np.ndarray) -> np.ndarray:
    """256-bit average hash: the 16x16 grey thumbnail of the whole image against its mean."""
    from PIL import Image

    grey = np.asarray(Image.fromarray(rgb).convert("L").resize((16, 16), Image.Resampling.BOX), dtype=np.float32)
    return (grey > grey.mean()).ravel()


def split_of(package: str, source: str, val_percent: float, heldout_package: str | None) -> str:
    """``heldout`` for the held-out package, else ``val`` for ``val_percent`` % of the sources chosen by the
    sha256 of ``package:source``, else ``train``."""
    if package == heldout_package:
        return "heldout"
    h = int(hashlib.sha256(f"{package}:{source}".encode()).hexdigest()[:8], 16)
    return "val" if h % 10000 < val_percent * 100 else "train"


def _decode(data: bytes) -> np.ndarray | None:
    """RGB uint8 pixels of an image file, or None when it is not decodable or noticeably transparent."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                alpha = np.asarray(im.convert("RGBA"))[..., 3]
                if np.mean(alpha < 250) > 0.01:
                    return None
            return np.asarray(im.convert("RGB"))
    except Exception as e:  # a broken file in a package: skip it
        log.warning("cannot decode an image: %s", e)
        return None


def _resize_max(rgb: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[-60:].lower()


# ----------------------------------------------------------------------------------------------------------
# build
# ----------------------------------------------------------------------------------------------------------
def build_photos(
    out: str | os.PathLike[str],
    debs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    python_sources: bool = True,
    heldout_package: str | None = HELDOUT_PACKAGE,
    val_percent: float = 10.0,
    min_side: int = 256,
    max_side: int = 1024,
    max_hamming: int = 24,
) -> list[PhotoRecord]:
    """Write the photos of ``debs`` (.deb files, package name from the file name) and, with
    ``python_sources``, of scikit-image and scikit-learn into ``out/{train,val,heldout}/`` and
    ``out/manifest.csv``; returns the manifest rows, sorted by file.

    Images with a side under ``min_side`` are dropped, as are transparent ones, those that fail
    :func:`looks_like_photo`, and near-duplicates (average hashes within ``max_hamming`` of 256 bits; of a
    group, the largest image is kept, ties to the first in package/path order). Kept images are downscaled
    (Lanczos) to at most ``max_side`` pixels a side. The output depends only on the inputs and the arguments;
    ``out``'s split folders and manifest are replaced.
    """
    out = Path(out)
    candidates: list[_Candidate] = []
    with tempfile.TemporaryDirectory(prefix="hogformer-debs-") as tmp:
        for deb in sorted(Path(d) for d in debs or []):
            package, version = deb.name.split("_")[0], _deb_version(deb)
            root = Path(tmp) / package
            _extract(deb, root)
            for source, f in _tree_images(root, package):
                data = f.read_bytes()
                rgb = _decode(data)
                if rgb is not None:
                    candidates.append(
                        _candidate(package, version, source, hashlib.sha256(data).hexdigest(), rgb, max_side)
                    )
    if python_sources:
        for package, release, source, pixels in _python_sources():
            sha = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
            candidates.append(_candidate(package, release, source, sha, pixels, max_side))
    kept = _filter(candidates, min_side, max_hamming)
    for split in ("train", "val", "heldout"):
        shutil.rmtree(out / split, ignore_errors=True)
        (out / split).mkdir(parents=True)
    records = []
    from PIL import Image

    for package, version, source, sha, rgb, _ in kept:
        split = split_of(package, source, val_percent, heldout_package)
        stem = source[: -len(Path(source).suffix)] if Path(source).suffix.lower() in IMAGE_SUFFIXES else source
        name = f"{_slug(package)}--{_slug(stem)}-{sha[:8]}.png"
        path = out / split / name
        Image.fromarray(rgb).save(path, format="PNG")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        records.append(
            PhotoRecord(f"{split}/{name}", split, package, version, source, sha, digest, rgb.shape[1], rgb.shape[0])
        )
    records.sort(key=lambda r: r.file)
    with open(out / MANIFEST, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(PhotoRecord.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in records)
    return records


#: package, version, source, sha256 of the source, pixels (longest side capped), original (height, width).
_Candidate = tuple[str, str, str, str, np.ndarray, tuple[int, int]]


def _candidate(package: str, version: str, source: str, sha: str, rgb: np.ndarray, max_side: int) -> _Candidate:
    return package, version, source, sha, _resize_max(rgb, max_side), (rgb.shape[0], rgb.shape[1])


def _filter(candidates: list[_Candidate], min_side: int, max_hamming: int) -> list[_Candidate]:
    """Candidates that are large enough, photo-like and not a near-duplicate of a larger one, in source order."""
    order = {id(c): i for i, c in enumerate(candidates)}
    usable = [c for c in candidates if min(c[5]) >= min_side and looks_like_photo(c[4])]
    by_size = sorted(usable, key=lambda c: (-c[5][0] * c[5][1], order[id(c)]))
    hashes: list[np.ndarray] = []
    kept = []
    seen_sha: set[str] = set()
    for c in by_size:
        h = _average_hash(c[4])
        if c[3] in seen_sha or any(int(np.count_nonzero(h != g)) <= max_hamming for g in hashes):
            log.info("dropping %s:%s (a duplicate)", c[0], c[2])
            continue
        seen_sha.add(c[3])
        hashes.append(h)
        kept.append(c)
    return sorted(kept, key=lambda c: order[id(c)])


# ----------------------------------------------------------------------------------------------------------
# command line: hogformer photos build DIR
# ----------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("build",), help="build: (re)write DIR/{train,val,heldout} and the manifest")
    p.add_argument("dir", help="output folder (e.g. data/photos-v2)")
    p.add_argument("--debs", default=None, help="folder of .deb files; missing ones are fetched with apt-get "
                   "download (default: DIR/debs)")  # fmt: skip
    p.add_argument("--no-download", action="store_true", help="use only the .deb files already in --debs")
    p.add_argument("--heldout-package", default=HELDOUT_PACKAGE, help=f"held out whole (default {HELDOUT_PACKAGE})")
    p.add_argument("--val-percent", type=float, default=10.0, help="share of the other photos for validation")
    p.add_argument("--min-side", type=int, default=256, help="drop images with a shorter side")
    p.add_argument("--max-side", type=int, default=1024, help="downscale longer sides to this")


def run(args: argparse.Namespace) -> int:
    cache = Path(args.debs) if args.debs else Path(args.dir) / "debs"
    if args.no_download:
        debs = [d for d in (_find_deb(cache, p) for p in DEB_PACKAGES) if d is not None]
    else:
        debs = download_debs(cache)
    records = build_photos(
        args.dir,
        debs,
        heldout_package=args.heldout_package,
        val_percent=args.val_percent,
        min_side=args.min_side,
        max_side=args.max_side,
    )
    counts: dict[tuple[str, str], int] = {}
    for r in records:
        counts[(r.package, r.split)] = counts.get((r.package, r.split), 0) + 1
    for (package, split), n in sorted(counts.items()):
        print(f"{package:26s} {split:8s} {n:5d}")
    print(f"{len(records)} photos -> {Path(args.dir) / MANIFEST}")
    return 0
