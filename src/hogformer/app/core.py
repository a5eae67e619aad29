"""What the web app does, without the web: restore one file into a result file, inspect it, and turn every failure
into a one-line message for the page.

Nothing here imports gradio, so the logic is tested on its own; :mod:`hogformer.app.page` only lays it out.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "AppError",
    "Options",
    "RestoredFile",
    "RestorerPool",
    "restore_file",
    "sample_images",
    "user_message",
]

#: Images above this many pixels are refused with a message (``hogformer app --max-pixels`` changes it).
DEFAULT_MAX_PIXELS = 24_000_000
ASSETS = Path(__file__).resolve().parents[1] / "assets"
_WRITABLE = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

Progress = Callable[[int, int], None]


class AppError(Exception):
    """A failure to show in the page as it is (one line, no traceback)."""


@dataclass(frozen=True)
class Options:
    """How to restore: the page's option controls (the :class:`~hogformer.Restorer` arguments)."""

    weights: str | None = None  # shipped name or a file path; None: the shipped default
    device: str = "auto"
    precision: str = "fp32"
    tile: int | str | None = None  # None: whole images; an int (multiple of 16) or "auto"
    low_memory: bool | str = "auto"


@dataclass(frozen=True)
class RestoredFile:
    """One restored image: the files written for it and what ``inspect`` says about the input."""

    source_name: str
    output: Path  # full resolution, in the input's format and bit depth
    before: np.ndarray  # float HxWx3 in [0, 1], as read
    after: np.ndarray  # float HxWx3 in [0, 1], as restored
    estimate: dict[str, float]  # the degradation estimate of the input
    plot: Path | None  # the inspect figure of the input (None without matplotlib)


class RestorerPool:
    """Keeps the last :class:`~hogformer.Restorer` built, so that changing no option reloads nothing.

    ``factory`` builds a restorer from :class:`Options` (tests pass a fake one).
    """

    def __init__(self, factory: Callable[[Options], Any] | None = None) -> None:
        self._factory = factory or _make_restorer
        self._lock = threading.Lock()
        self._key: Options | None = None
        self._restorer: Any = None

    def get(self, options: Options) -> Any:
        with self._lock:
            if self._restorer is None or self._key != options:
                self._restorer = None  # free the old model before loading another
                self._restorer = self._factory(options)
                self._key = options
            return self._restorer


def _make_restorer(options: Options) -> Any:
    from ..inference.restorer import Restorer

    return Restorer(
        options.weights,
        device=options.device,
        precision=options.precision,
        tile=options.tile,
        low_memory=options.low_memory,
    )


def parse_tile(text: str | int | None) -> int | str | None:
    """The page's tile field: empty or "none" -> None, "auto", or a whole number of pixels."""
    if text is None:
        return None
    if isinstance(text, int):
        return text
    text = str(text).strip().lower()
    if text in ("", "none", "off", "0"):
        return None
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise AppError(f"tile must be empty, 'auto' or a number of pixels (a multiple of 16), not {text!r}") from None


def sample_images() -> list[Path]:
    """The images shipped with the package, for the page's examples."""
    if not ASSETS.is_dir():
        return []
    return sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in _WRITABLE)


def user_message(name: str, err: BaseException) -> str:
    """One line for the page about ``err`` raised while working on the file ``name``."""
    import torch

    from ..checkpoints import CheckpointError
    from ..data.io import ImageReadError

    if isinstance(err, AppError):
        return f"{name}: {err}"
    if isinstance(err, ImageReadError):
        return f"{name}: {err.reason}"
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return (
            f"{name}: out of memory while restoring; turn on low memory or set a tile size "
            f"(e.g. 256 or 'auto'), or use a smaller image"
        )
    if isinstance(err, CheckpointError):
        return f"weights: {err}"
    if isinstance(err, (ValueError, FileNotFoundError, TypeError, RuntimeError, OSError)):
        return f"{name}: {' '.join(str(err).split())}"
    return f"{name}: unexpected error ({type(err).__name__}); see the server log"


def _output_name(source_name: str) -> str:
    stem, ext = os.path.splitext(os.path.basename(source_name))
    ext = ext.lower() if ext.lower() in _WRITABLE else ".png"
    return f"{stem or 'image'}-restored{ext}"


def restore_file(
    path: str | os.PathLike[str],
    restorer: Any,
    *,
    source_name: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Progress | None = None,
    with_inspection: bool = True,
) -> RestoredFile:
    """Read ``path``, restore it with ``restorer`` and write ``<stem>-restored.<ext>`` (the input's format and
    bit depth; PNG where the input's format cannot be written) in ``out_dir`` (a new temporary folder if None).

    Raises:
        AppError: the image is larger than ``max_pixels``.
        hogformer.data.io.ImageReadError: not an image (or unreadable); the message names the file.
        torch.OutOfMemoryError, MemoryError: the device ran out of memory.
    """
    import torch

    from ..data.io import ImageReadError, read_image, write_image

    name = source_name or Path(path).name
    try:
        loaded = read_image(path, max_pixels=max_pixels)
    except ImageReadError as e:
        if "limit" in e.reason or "pixels" in e.reason:
            raise AppError(f"too large: {e.reason}") from e
        raise
    h, w = loaded.rgb.shape[:2]
    if h * w > max_pixels:  # read_image enforces it too; this covers formats decoded without Pillow's check
        raise AppError(f"too large: {w}x{h} pixels, the limit is {max_pixels:,} (hogformer app --max-pixels)")
    x = torch.from_numpy(np.ascontiguousarray(loaded.rgb)).permute(2, 0, 1).unsqueeze(0)
    restored = restorer.restore_tensor(x, progress=progress)[0].permute(1, 2, 0).numpy()
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="hogformer-app-"))
    output = write_image(out_dir / _output_name(name), restored, like=loaded)
    estimate: dict[str, float] = {}
    plot = None
    if with_inspection:
        estimate, plot = _inspect(loaded.rgb, name, out_dir)
    log.info("restored %s (%dx%d) -> %s", name, w, h, output)
    return RestoredFile(name, output, loaded.rgb, restored, estimate, plot)


def _inspect(rgb: np.ndarray, name: str, out_dir: Path) -> tuple[dict[str, float], Path | None]:
    """The degradation estimate of the input and its inspect figure (skipped, with a log line, on failure)."""
    from ..diagnosis.inspect import inspect_image, plot_inspection

    try:
        report = inspect_image(rgb, name)
    except ValueError as e:  # too small to inspect: restoring still worked
        log.warning("%s: not inspected: %s", name, e)
        return {}, None
    try:
        plot = plot_inspection([report], out_dir / (Path(name).stem + "-inspect.png"))
    except ImportError as e:
        log.warning("no inspect figure: %s", e)
        plot = None
    return report.estimate, plot
