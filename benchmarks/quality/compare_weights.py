"""Several weights side by side on the held-out photos: the model rows of the README quality table only.

    python -m benchmarks.quality.compare_weights WEIGHTS [WEIGHTS ...] [--device cpu|cuda] [--photos DIR]
        [--degradations ...] [--max-side N] [--threads N]

WEIGHTS are files or shipped names (``default``). Degrades the five held-out photos exactly as
``benchmarks.quality.quality_table`` does (same seeds, so the numbers are the table's model row on the same device)
and prints mean PSNR / SSIM per degradation for each weights: the quick check when choosing a checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from hogformer.quality.table import TABLE_DEGRADATIONS, quality_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--device", default="cpu")
    p.add_argument("--photos", default=None, help="folder holding copies of the held-out photos (default: sporco's)")
    p.add_argument("--degradations", nargs="+", default=list(TABLE_DEGRADATIONS))
    p.add_argument("--max-side", type=int, default=None, help="centre-crop the photos to at most N px a side")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import torch

    from hogformer import Restorer
    from hogformer.data.photos import heldout_photos

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = heldout_photos(args.photos)
    table: dict[str, dict[str, str]] = {}
    for w in args.weights:
        restorer = Restorer(w, device=args.device)
        rows = quality_table(
            restorer, photos, degradations=args.degradations, max_side=args.max_side, baselines={}, oracle=False
        )
        for row in rows:
            method = "input" if row["method"] == "input" else w
            table.setdefault(row["degradation"], {})[method] = f"{row['psnr']:.2f} / {row['ssim']:.4f}"
    print(f"- device {args.device}; photos {'whole' if args.max_side is None else args.max_side}; PSNR / SSIM")
    print()
    head = ["degradation", "input", *args.weights]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for degradation, by in table.items():
        print("| " + " | ".join([degradation, by["input"], *(by[w] for w in args.weights)]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
