"""Expanding the files, folders and glob patterns a user names into the image files they mean."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Extensions (lower-case) that folder and glob expansion in :func:`list_images` keep."""


def list_images(inputs: Sequence[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Expand files, folders and glob patterns into a de-duplicated list of image paths, in input order.

    A file named explicitly is kept whatever its extension (reading it later gives a clear error). A
    folder gives its image files sorted by path (with ``recursive=True``, those of all sub-folders
    too); a glob pattern gives its matching image files, sorted (``**`` spans folders when
    ``recursive=True``). Expansion keeps only :data:`IMAGE_EXTENSIONS` (any case) and, like ``glob``,
    skips hidden files and folders (names starting with "."), e.g. macOS ``._photo.jpg`` files.

    Raises:
        FileNotFoundError: an input matches no file, or a folder or pattern holds no image.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[Path] = []
    seen: set[str] = set()
    for item in inputs:
        entry = Path(item)
        if entry.is_file():
            matches = [entry]
        elif entry.is_dir():
            matches = _images_in_folder(entry, recursive)
            if not matches:
                where = "or its sub-folders " if recursive else ""
                raise FileNotFoundError(f"{item}: folder {where}holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
        else:
            hits = glob.glob(os.fspath(item), recursive=recursive)
            matches = sorted(Path(h) for h in hits if _is_image_name(Path(h)) and os.path.isfile(h))
            if not matches:
                is_pattern = any(c in os.fspath(item) for c in "*?[")
                what = "no image file matches this pattern" if is_pattern else "no such file"
                raise FileNotFoundError(f"{item}: {what}")
        for p in matches:
            key = os.path.normcase(os.path.abspath(p))
            if key not in seen:
                seen.add(key)
                found.append(p)
    return found


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def _images_in_folder(folder: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and _is_image_name(p) and p.is_file())
    images: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(root)
        images.extend(base / f for f in files if not f.startswith(".") and _is_image_name(Path(f)))
    return sorted(images)


__all__ = ["IMAGE_EXTENSIONS", "list_images"]
