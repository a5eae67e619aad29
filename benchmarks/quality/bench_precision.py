"""PSNR/SSIM and time of the model in each inference precision, on the held-out photos.

    python -m benchmarks.quality.bench_precision [--weights W] [--device cpu|cuda] [--precisions fp32 bf16]
        [--degradations ...] [--max-side N] [--threads N]

Degrades the five held-out sporco photos exactly as ``benchmarks.quality.quality_table`` does (same seeds), restores
them with the same weights in every precision (``Restorer(precision=...)``: autocast to bf16/fp16 around the
network, float32 elsewhere) and prints, per degradation, the mean PSNR/SSIM of each precision, the change
against fp32 and the model's time. On CPU, bf16 needs AVX512-BF16 or AMX to be fast; fp16 is GPU-only.
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks._machine import cpu_model
from hogformer.quality.table import DEFAULT_DEGRADATIONS, quality_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file or shipped name (default: the shipped default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=("fp32", "tf32", "bf16", "fp16"))
    p.add_argument("--degradations", nargs="+", default=list(DEFAULT_DEGRADATIONS))
    p.add_argument("--max-side", type=int, default=None, help="centre-crop the photos to at most N px a side")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--photos", default=None, help="folder holding copies of the held-out photos (default: sporco's)")
    args = p.parse_args(argv)

    import torch

    from hogformer import Restorer
    from hogformer.data.photos import heldout_photos

    if args.threads:
        torch.set_num_threads(args.threads)
    if "fp32" not in args.precisions:
        args.precisions.insert(0, "fp32")
    photos = heldout_photos(args.photos)
    rows: dict[str, dict[str, dict]] = {}
    for precision in args.precisions:
        restorer = Restorer(args.weights, device=args.device, precision=precision)
        start = time.perf_counter()
        table = quality_table(
            restorer, photos, degradations=args.degradations, max_side=args.max_side, baselines={}, oracle=False
        )
        print(f"# {precision}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for row in table:
            if row["method"] != "input":
                rows.setdefault(row["degradation"], {})[precision] = row
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_model()
    print(
        f"- machine: {device}, torch threads {torch.get_num_threads()}, torch {torch.__version__}; weights "
        f"{args.weights or 'shipped default'}; photos {'whole' if args.max_side is None else args.max_side}"
    )
    print()
    others = [q for q in args.precisions if q != "fp32"]
    head = ["degradation", "fp32 PSNR / SSIM", "fp32 s"]
    for q in others:
        head += [f"{q} PSNR / SSIM", f"{q} - fp32 (dB)", f"{q} s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for degradation, by in rows.items():
        ref = by["fp32"]
        cells = [degradation, f"{ref['psnr']:.2f} / {ref['ssim']:.4f}", f"{ref['seconds']:.1f}"]
        for q in others:
            r = by[q]
            cells += [f"{r['psnr']:.2f} / {r['ssim']:.4f}", f"{r['psnr'] - ref['psnr']:+.3f}", f"{r['seconds']:.1f}"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
