"""Print the README quality table: HOGformer against classical baselines on the held-out photos.

    python -m benchmarks.quality.quality_table [--weights W] [--max-side N] [--degradations ...] [--output results.json]

Degrades the five held-out sporco photos with each synthetic degradation, restores them with every classical
baseline of ``hogformer.quality.baselines`` and with the model, and prints the markdown table, the machine
and the time taken. ``--max-side 256`` centre-crops the photos for a quick run; ``--skip BM3D`` leaves out the
methods whose label contains ``BM3D`` (BM3D takes about half of a full run on a 2-core CPU). The ``clean`` row
gives the model the photo itself: how much it changes a photo that needs no restoration (the input row is
``inf``; the closer the model's PSNR to it, the better).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any

from benchmarks._machine import cpu_model
from hogformer.data.degradations import DEGRADATIONS
from hogformer.metrics import PROTOCOL_AIO
from hogformer.quality.baselines import BASELINES
from hogformer.quality.table import TABLE_DEGRADATIONS, format_markdown, quality_table


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(device: str) -> dict[str, Any]:
    """Where the table was computed: CPU, cores, torch threads, device and package versions."""
    import torch

    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in ("hogformer", "torch", "numpy", "scipy", "scikit-image", "bm3d")},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file or shipped name (default: the shipped default)")
    p.add_argument("--max-side", type=int, default=None, help="centre-crop the photos to at most N px a side")
    p.add_argument(
        "--degradations",
        nargs="+",
        default=list(TABLE_DEGRADATIONS),
        choices=list(DEGRADATIONS),
        metavar="NAME",
        help=f"degradations to run (default: {' '.join(TABLE_DEGRADATIONS)})",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="TEXT",
        help="leave out baselines whose label contains TEXT (case-insensitive; repeatable), e.g. --skip BM3D",
    )
    p.add_argument("--no-model", action="store_true", help="classical baselines only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="model device: cpu, cuda, mps or auto (default: cpu)")
    p.add_argument("--tile", default=None, help="model tile size in px (multiple of 16) or 'auto'")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; 1 on a busy machine)"
    )
    p.add_argument("--output", default=None, help="also write the rows, machine and timing to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    restorer = None
    if not args.no_model:
        from hogformer.inference.restorer import Restorer

        restorer = Restorer(args.weights, device=args.device, tile=args.tile)
    skip = [s.lower() for s in args.skip]
    baselines = {
        d: [(name, fn) for name, fn in methods if not any(s in name.lower() for s in skip)]
        for d, methods in BASELINES.items()
    }

    def progress(done: int, total: int, label: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {label}  ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    start = time.perf_counter()
    rows = quality_table(
        restorer,
        degradations=args.degradations,
        seed=args.seed,
        max_side=args.max_side,
        progress=progress,
        baselines=baselines,
    )
    seconds = time.perf_counter() - start
    device = str(restorer.device) if restorer is not None else "none"
    machine = machine_info(device)
    print(format_markdown(rows))
    print()
    print(
        f"Computed in {seconds:.0f} s on {machine['cpu']} ({machine['cpu_count']} cores, "
        f"{machine['torch_threads']} torch threads, model on {device}); "
        f"`python -m benchmarks.quality.quality_table {' '.join(argv if argv is not None else sys.argv[1:])}`."
    )
    slowest = sorted(
        ((sum(r["seconds"] for r in rows if r["method"] == m), m) for m in dict.fromkeys(r["method"] for r in rows)),
        reverse=True,
    )[:3]
    print("Slowest methods: " + ", ".join(f"{m} {s:.0f} s" for s, m in slowest) + ".")
    if args.output:
        result = {
            "rows": rows,
            "seconds": seconds,
            "machine": machine,
            "protocol": PROTOCOL_AIO.to_dict(),
            "arguments": vars(args),
        }
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
