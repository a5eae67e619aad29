"""Restore images, folders or globs with a HOGformer and write each result under the output folder.

Every output is written atomically (a kill never leaves a half-written file) and no input is ever
overwritten. Files that are the outputs of an earlier run of the same command (the output folder inside an
input folder, or ``--suffix`` names beside their originals) are never taken as inputs, so rerunning a command
restores the same images again. A missing path or a bad file is reported once and skipped; the summary counts
the failures and the exit code is 1 when there were any.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .restorer import Restorer

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("keep", "png", "jpg", "webp", "tif", "bmp")


def add_execution_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How the network runs: the options ``restore`` and ``evaluate`` share, read by :func:`restorer_from_args`."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "tf32", "bf16", "fp16", "fp64"),
        help="fp32 (default; true float32, also on CUDA), tf32 (CUDA tensor cores for float32), bf16 or fp16 "
        "(autocast; fp16 GPU-only), fp64 (float64: the same result on every machine, several times slower)",
    )
    p.add_argument("--tile", default=None, help="tile size in pixels (multiple of 16) or 'auto'; default: whole images")
    p.add_argument("--tile-overlap", type=int, default=32, help="pixels of overlap blended between tiles")
    memory = p.add_mutually_exclusive_group()
    memory.add_argument(
        "--low-memory",
        dest="low_memory",
        action="store_const",
        const=True,
        default="auto",
        help="always run the network strip by strip (same results, a fraction of the memory: large images fit "
        "whole; strips of an eighth of the image, 32K to 256K pixels). Default: automatic, on CPU from 512x512 "
        "pixels up (a quarter of the memory there, as fast from about 1024x1024), on GPU when the plain forward "
        "would not fit",
    )
    memory.add_argument(
        "--no-low-memory",
        dest="low_memory",
        action="store_const",
        const=False,
        help="always run the plain forward",
    )


def restorer_from_args(args: argparse.Namespace, **options: Any) -> Restorer:
    """The :class:`~hogformer.inference.Restorer` of ``--weights`` and the :func:`add_execution_arguments`
    options; ``options`` adds other keyword arguments."""
    from .restorer import Restorer

    return Restorer(
        args.weights,
        device=args.device,
        precision=args.precision,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        low_memory=args.low_memory,
        fix=getattr(args, "fix", "auto"),
        **options,
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns (quote globs)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders (kept in the output)")
    p.add_argument("-w", "--weights", help="checkpoint file or shipped weights name (default: shipped default)")
    p.add_argument(
        "--fix",
        default="auto",
        type=_fix_list,
        help="what to restore: auto (default: everything the network sees) or a comma-separated list of "
        "noise, blur, jpeg, haze, lowlight, rain, snow; what is not asked for is kept (e.g. --fix noise leaves "
        "a dark photo's brightness and colours alone)",
    )
    add_execution_arguments(p)
    p.add_argument("--batch-size", type=int, default=1, help="tiles processed together")
    p.add_argument("--suffix", default="", help="added to each output file name before the extension")
    p.add_argument("--format", default="keep", choices=OUTPUT_FORMATS, help="output format (default: the input's)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    p.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist (resume a folder)")
    p.add_argument("--max-pixels", type=int, default=None, help="largest image accepted (default: Pillow's limit)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fix_list(text: str) -> str:
    """``--fix``'s value, checked (argparse reports the ValueError's message as a usage error)."""
    from .fix import parse_fix

    try:
        parse_fix(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


@dataclass
class Summary:
    restored: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    earlier_outputs: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def output_path(src: Path, root: Path | None, out_dir: Path, suffix: str, fmt: str) -> Path:
    """Where ``src`` goes: its path relative to the folder it was found in, under ``out_dir``."""
    rel = src.relative_to(root) if root is not None else Path(src.name)
    ext = src.suffix if fmt == "keep" else "." + fmt
    return out_dir / rel.parent / f"{rel.stem}{suffix}{ext}"


def _expand(inputs: list[str], recursive: bool, summary: Summary) -> list[tuple[Path, Path | None]]:
    """Inputs as (file, root folder or None), so sub-folder structure can be mirrored; an input that names
    nothing is a failure of the batch, not its end."""
    from ..data.listing import list_images

    pairs: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for item in inputs:
        root = Path(item) if Path(item).is_dir() else None
        try:
            found = list_images([item], recursive=recursive)
        except FileNotFoundError as e:
            summary.failed.append((Path(item), str(e)))
            continue
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                pairs.append((f, root))
    return pairs


def _without_earlier_outputs(
    files: list[tuple[Path, Path | None]], args: argparse.Namespace, summary: Summary
) -> list[tuple[Path, Path | None]]:
    """``files`` less those an earlier run of this command wrote: any file under the output folder when that
    folder lies inside an input folder, and any file that is another input's output (``photo_r.png`` beside
    ``photo.png`` with ``--suffix _r``)."""
    out_dir = Path(args.output).resolve()
    outputs = {
        output_path(src, root, Path(args.output), args.suffix, args.format).resolve(): src for src, root in files
    }
    kept = []
    for src, root in files:
        resolved = src.resolve()
        inside_output = root is not None and out_dir != root.resolve() and out_dir in resolved.parents
        owner = outputs.get(resolved)
        if inside_output or (owner is not None and owner.resolve() != resolved):
            summary.earlier_outputs.append(src)
        else:
            kept.append((src, root))
    return kept


def _header(restorer: Restorer, n_images: int, precision: str) -> str:
    """One line: what runs, on what, how."""
    info = restorer.weights_info
    weights = f"weights '{info.name}'" if info is not None else f"weights {restorer.weights_path}"
    if info is not None and info.test_only:
        weights += " (TEST WEIGHTS, not trained: outputs are not restorations)"
    images = "1 image" if n_images == 1 else f"{n_images} images"
    return f"hogformer restore: {images}, {weights}, {restorer.device}, {precision}"


def run(args: argparse.Namespace) -> int:
    from ..data.io import ImageReadError, read_image, write_image

    out_dir = Path(args.output)
    summary = Summary()
    files = _without_earlier_outputs(_expand(args.inputs, args.recursive, summary), args, summary)
    inputs_resolved = {f.resolve() for f, _ in files}

    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=None, leave=False)

    def report(line: str) -> None:
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    for _, reason in summary.failed:  # inputs that named nothing
        report(f"error: {reason}")
    restorer = restorer_from_args(args, tile_batch=args.batch_size)
    report(_header(restorer, len(files), args.precision))

    claimed: dict[Path, Path] = {}  # output -> the input it belongs to: two inputs must not share an output
    start = time.perf_counter()
    for src, root in files:
        dst = output_path(src, root, out_dir, args.suffix, args.format)
        try:
            if dst.resolve() in inputs_resolved:
                raise ValueError(f"output {dst} would overwrite an input; choose another --output or --suffix")
            owner = claimed.setdefault(dst.resolve(), src)
            if owner != src:
                raise ValueError(f"output {dst} would overwrite that of {owner}; use separate --output folders")
            if args.skip_existing and dst.exists():
                summary.skipped.append(src)
                continue
            image = read_image(src, max_pixels=args.max_pixels)
            with _image_bar(bar, src) as progress:
                restored = restorer(image.rgb, progress=progress)
            write_image(dst, restored, like=image, quality=args.quality)
            summary.restored.append(dst)
        except (ImageReadError, ValueError, OSError) as e:
            reason = str(e) if str(src) in str(e) else f"{src}: {e}"
            summary.failed.append((src, reason))
            report(f"error: {reason}")
        except RuntimeError as e:  # e.g. out of memory on a huge image: report, go on with the rest
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            summary.failed.append((src, f"{src}: {first}"))
            report(f"error: {src}: {first}")
        finally:
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    print(_summary_line(summary, out_dir, time.perf_counter() - start), file=sys.stderr)
    return 1 if summary.failed else 0


@contextlib.contextmanager
def _image_bar(bar: Any, src: Path) -> Iterator[Callable[[int, int], None] | None]:
    """A second progress bar for the image being restored (its transformer blocks and tiles), shown only on a
    terminal, beside the batch's bar."""
    if bar is None or bar.disable:
        yield None
        return
    from tqdm import tqdm

    inner = tqdm(total=1, desc=src.name, unit="step", file=sys.stderr, leave=False, position=1)

    def progress(done: int, total: int) -> None:
        inner.total = total
        inner.n = done
        inner.refresh()

    try:
        yield progress
    finally:
        inner.close()


def _summary_line(summary: Summary, out_dir: Path, seconds: float) -> str:
    parts = [f"restored {len(summary.restored)}", f"skipped {len(summary.skipped)}", f"failed {len(summary.failed)}"]
    line = ", ".join(parts) + f" in {seconds:.1f} s"
    if summary.earlier_outputs:
        n = len(summary.earlier_outputs)
        line += f"; left {n} earlier output{'s' if n > 1 else ''} alone"
    if summary.restored or summary.skipped:
        line += f" -> {out_dir}"
    return line


__all__ = ["add_arguments", "output_path", "run"]
