"""Degrade a bundled photo (a crop of Kodak kodim23), restore it, write before/degraded/restored images and
print PSNR/SSIM of the degraded input and of the restoration, per degradation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.png"
DEMO_DEGRADATIONS = ("noise25", "haze", "lowlight", "blur", "rain")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="hogformer-demo", help="folder for the images (default hogformer-demo)")
    p.add_argument("-w", "--weights", help="checkpoint file or shipped weights name (default: shipped default)")
    p.add_argument("--image", default=str(SAMPLE), help="a clean photo to degrade (default: the bundled sample)")
    p.add_argument(
        "--degradations", default=",".join(DEMO_DEGRADATIONS), help="comma-separated; see hogformer.data.degradations"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from ..data.degradations import degrade, quantise_8bit
    from ..data.io import read_image, write_image
    from ..metrics import PROTOCOL_AIO, evaluate_pair
    from .restorer import Restorer

    restorer = Restorer(args.weights, device=args.device)
    info = restorer.weights_info
    # One line: the weights' training history is in `hogformer info` and docs/model-card.md.
    print(f"weights: {info.name}" if info else f"weights: {restorer.weights_path}")
    if info is not None and info.test_only:
        print("NOTE: these are TEST WEIGHTS (random, untrained): the 'restored' images are not restorations.")
    clean = read_image(args.image)
    out = Path(args.output)
    write_image(out / "clean.png", clean.rgb)
    rows = []
    for i, name in enumerate(n.strip() for n in args.degradations.split(",") if n.strip()):
        rng = np.random.default_rng(args.seed + i)
        degraded = quantise_8bit(degrade(clean.rgb, name, rng))
        restored = restorer(degraded)
        write_image(out / f"{name}_degraded.png", degraded)
        write_image(out / f"{name}_restored.png", restored)
        before = evaluate_pair(degraded, clean.rgb, PROTOCOL_AIO)
        after = evaluate_pair(restored, clean.rgb, PROTOCOL_AIO)
        rows.append((name, before, after))
    print(f"\n{'degradation':12s} {'input PSNR':>10s} {'SSIM':>6s}   {'restored PSNR':>13s} {'SSIM':>6s}")
    for name, b, a in rows:
        print(f"{name:12s} {b['psnr']:10.2f} {b['ssim']:6.3f}   {a['psnr']:13.2f} {a['ssim']:6.3f}")
    print(f"\nprotocol: {PROTOCOL_AIO.describe()}; images written to {out}/", file=sys.stdout)
    return 0
