"""How much tiling changes HOGformer's output: the README's Tiling table.

    python -m benchmarks.quality.tiling_effect [--weights W] [--photos kodim23 sail] [--tiles 256 128] [--overlap 32]
        [--sigma 25] [--threads N]

HOGformer's attention is global (every block sorts all pixels of a feature map), so a tiled restoration is
not the whole-image one. For each held-out photo, noised once (seed 0), this restores the whole image and the
tiled image with each tile size and prints the mean and max absolute difference to the whole-image output
and the PSNR change against the clean photo (means over the photos).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks._machine import cpu_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file or shipped name (default: the shipped default)")
    p.add_argument("--photos", nargs="+", default=["kodim23", "sail"])
    p.add_argument("--tiles", nargs="+", type=int, default=[256, 128])
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--sigma", type=float, default=25.0)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import torch

    from hogformer import Restorer
    from hogformer.data.degradations import gaussian_noise, quantise_8bit
    from hogformer.data.photos import heldout_photos
    from hogformer.metrics import PROTOCOL_AIO, psnr

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = dict(heldout_photos())
    missing = [n for n in args.photos if n not in photos]
    if missing:
        raise SystemExit(f"unknown photos {missing}; held-out photos: {', '.join(photos)}")
    whole = Restorer(args.weights, device="cpu")
    tiled_by = {t: Restorer(model=whole.model, device="cpu", tile=t, tile_overlap=args.overlap) for t in args.tiles}
    rows: dict[int, list[tuple[float, float, float]]] = {t: [] for t in args.tiles}
    for name in args.photos:
        clean = photos[name].astype(np.float32) / 255.0
        noisy = quantise_8bit(gaussian_noise(clean, np.random.default_rng(0), args.sigma))
        ref = whole(noisy)
        for tile in args.tiles:
            tiled = tiled_by[tile](noisy)
            diff = np.abs(tiled - ref)
            change = psnr(tiled, clean, PROTOCOL_AIO) - psnr(ref, clean, PROTOCOL_AIO)
            rows[tile].append((float(diff.mean()), float(diff.max()), change))
    print(
        f"- machine: {cpu_model()}, torch threads {torch.get_num_threads()}; "
        f"weights {args.weights or 'shipped default'}; photos {', '.join(args.photos)}, noise sigma {args.sigma:g}"
    )
    print()
    print("| tile / overlap | mean abs difference to whole image | max | PSNR change vs whole |")
    print("|---|---:|---:|---:|")
    for tile, values in rows.items():
        mean, change = float(np.mean([v[0] for v in values])), float(np.mean([v[2] for v in values]))
        print(f"| {tile} / {args.overlap} | {mean:.4f} | {max(v[1] for v in values):.3f} | {change:+.2f} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
