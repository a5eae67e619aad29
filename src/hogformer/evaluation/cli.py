"""Evaluate a HOGformer on the paper's benchmarks, protocol by protocol, or on any folder of image pairs.

Prints one row per test set (the degraded input's and the model's PSNR/SSIM, the image count and the protocol)
and, with --output, writes summary.json, per_image.csv, run.json and (with --save-images) the restorations.
Folder layouts, protocols and the commands that reproduce the paper's tables: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..inference.cli import add_execution_arguments, restorer_from_args

log = logging.getLogger(__name__)

BENCHMARK_CHOICES = ("three-task", "five-task", "allweather", "paired")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("-w", "--weights", help="checkpoint file (official .pth/.ckpt or .safetensors) or shipped name")
    p.add_argument("--benchmark", required=True, choices=BENCHMARK_CHOICES, help="which table to compute")
    p.add_argument("--data-root", help="folder holding the benchmark's test sets (layout: docs/evaluation.md)")
    p.add_argument("--sets", nargs="+", metavar="NAME", help="only these sets of the benchmark (e.g. Rain100L LOL)")
    p.add_argument("--lq", help="paired: folder of degraded images")
    p.add_argument("--gt", help="paired: folder of clean images (matched to --lq by file name or stem)")
    g = p.add_argument_group("protocol (defaults: the benchmark's published protocol; paired: RGB, whole image)")
    g.add_argument("--channel", choices=("rgb", "y"), help="PSNR/SSIM on RGB or on the MATLAB-style Y channel")
    g.add_argument("--crop-border", type=int, help="pixels removed from each side before scoring")
    g.add_argument(
        "--ssim-window",
        choices=("uniform7", "gaussian11"),
        help="SSIM window (paired default: uniform7 for rgb, gaussian11 for y)",
    )
    g.add_argument(
        "--crop-multiple",
        type=int,
        help="centre-crop images to a multiple of this before restoring (16: Settings III/IV); 0: whole image",
    )
    g.add_argument("--noise-seed", type=int, default=0, help="base seed of the CBSD68 noise; image i uses seed+i")
    o = p.add_argument_group("output and execution")
    o.add_argument("-o", "--output", help="folder for summary.json, per_image.csv, run.json (and images)")
    o.add_argument("--save-images", action="store_true", help="write the restored images under OUTPUT/images/SET/")
    o.add_argument("--limit", type=int, help="evaluate only the first N images of each set (quick checks)")
    add_execution_arguments(o)
    o.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check_args(args: argparse.Namespace) -> None:
    if args.benchmark == "paired":
        if not args.lq or not args.gt:
            raise ValueError("--benchmark paired needs --lq DIR and --gt DIR")
        if args.sets:
            raise ValueError("--sets applies to the named benchmarks, not to --benchmark paired")
    else:
        if not args.data_root:
            raise ValueError(f"--benchmark {args.benchmark} needs --data-root (layout: docs/evaluation.md)")
        if args.lq or args.gt:
            raise ValueError("--lq/--gt apply to --benchmark paired only")
    if args.save_images and not args.output:
        raise ValueError("--save-images needs --output DIR")
    if args.crop_border is not None and args.crop_border < 0:
        raise ValueError(f"--crop-border must be >= 0, got {args.crop_border}")
    if args.crop_multiple is not None and args.crop_multiple < 0:
        raise ValueError(f"--crop-multiple must be >= 0, got {args.crop_multiple}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")


def _resolve_sets(args: argparse.Namespace) -> tuple[str, list[Any], str | None]:
    """(title, test sets, data root) from the arguments, with any protocol overrides applied."""
    from ..metrics import Protocol
    from .testsets import get_benchmark, paired_set, select_sets

    if args.benchmark == "paired":
        channel = args.channel or "rgb"
        window = args.ssim_window or ("uniform7" if channel == "rgb" else "gaussian11")
        protocol = Protocol(channel, args.crop_border or 0, window)
        test_set = paired_set(args.lq, args.gt, protocol, crop_multiple=args.crop_multiple or 0)
        return f"paired folders {args.lq} -> {args.gt}", [test_set], None
    bench = get_benchmark(args.benchmark)
    sets = select_sets(bench, args.sets)
    overrides = {"channel": args.channel, "crop_border": args.crop_border, "ssim_window": args.ssim_window}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    changed = []
    if overrides or args.crop_multiple is not None:
        new_sets = []
        for s in sets:
            protocol = dataclasses.replace(s.protocol, **overrides)
            crop = s.crop_multiple if args.crop_multiple is None else args.crop_multiple
            if protocol != s.protocol or crop != s.crop_multiple:
                changed.append(s.name)
            new_sets.append(dataclasses.replace(s, protocol=protocol, crop_multiple=crop))
        sets = new_sets
    title = bench.title
    if changed:
        log.warning("protocol overridden for %s: these numbers are not the paper's protocol", ", ".join(changed))
        title += " -- PROTOCOL OVERRIDDEN, not comparable with the paper"
    return title, sets, args.data_root


class _Bars:
    """A tqdm bar per set, driven by the runner's progress callback."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if done == 0:
            self.bar = tqdm(total=total, desc=name, unit="img", file=sys.stderr, disable=None, leave=True)
        elif self.bar is not None:
            self.bar.update(1)
        if done == total and self.bar is not None:
            self.bar.close()
            self.bar = None


def _weights_record(restorer: Any) -> dict[str, Any]:
    from ..pretrained import sha256_of

    info = restorer.weights_info
    path = restorer.weights_path
    record: dict[str, Any] = {"path": None if path is None else str(path)}
    if info is not None:
        record.update(name=info.name, description=info.description, test_only=info.test_only)
    if path is not None and Path(path).is_file():
        record["sha256"] = sha256_of(path)
    return record


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .. import __version__
    from .report import format_table, write_json, write_per_image, write_summary
    from .runner import evaluate_sets

    _check_args(args)
    title, sets, data_root = _resolve_sets(args)
    restorer = restorer_from_args(args)
    tile = restorer.tile
    weights = _weights_record(restorer)
    source = weights.get("name") or weights.get("path") or "model object"
    if weights.get("test_only"):
        source = f"{source} -- TEST WEIGHTS, not trained: the numbers mean nothing"
    print(
        f"hogformer evaluate: {title}; {len(sets)} set(s); weights {source}; "
        f"device {restorer.device}, {args.precision}, tile {tile or 'none'}",
        file=sys.stderr,
    )
    out_dir = Path(args.output) if args.output else None
    start = time.perf_counter()
    results = evaluate_sets(
        restorer,
        sets,
        data_root,
        noise_seed=args.noise_seed,
        limit=args.limit,
        save_dir=out_dir / "images" if out_dir is not None and args.save_images else None,
        progress=None if args.no_progress else _Bars(),
    )
    seconds = time.perf_counter() - start
    if args.limit is not None:
        title += f" -- first {args.limit} image(s) per set only, not the full benchmark"
    print(format_table(results, title=f"{title}\nweights: {source}"))
    if out_dir is not None:
        extra = {"benchmark": args.benchmark, "weights": weights.get("path") or weights.get("name")}
        write_summary(out_dir / "summary.json", results, extra)
        write_per_image(out_dir / "per_image.csv", results)
        run_record = {
            "benchmark": args.benchmark,
            "title": title,
            "data_root": data_root,
            "lq": args.lq,
            "gt": args.gt,
            "sets": [s.name for s in sets],
            "limit": args.limit,
            "noise_seed": args.noise_seed,
            "weights": weights,
            "device": str(restorer.device),
            "precision": args.precision,
            "tile": tile,
            "tile_overlap": args.tile_overlap,
            "low_memory": args.low_memory,
            "seconds": round(seconds, 3),
            "versions": {"hogformer": __version__, "torch": torch.__version__, "numpy": np.__version__},
        }
        write_json(out_dir / "run.json", run_record)
        print(f"wrote summary.json, per_image.csv, run.json to {out_dir}", file=sys.stderr)
    return 0


__all__ = ["add_arguments", "run"]
