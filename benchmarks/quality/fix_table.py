"""Measure ``--fix`` against ``auto`` on the held-out photos (issue: let the user say what to fix).

    python -m benchmarks.quality.fix_table [--weights W] [--max-side N] [--threads 1] [--sigmas 4 8 16]
                                           [--folder data/photos-v2/heldout]

Each held-out sporco photo is degraded (seeded, quantised to 8 bits), restored once by the model, and the
output is post-processed by :func:`hogformer.inference.fix.apply_fix` for each ``--fix`` setting (exactly what
``Restorer(fix=...)`` returns; tests/inference/test_fix.py checks the two agree). Cases:

* ``clean dark``: the photo scaled to a mean luminance of 0.15 (its colours kept), no degradation; the
  target is the input itself. ``lum`` is the change of mean luminance (Rec. 601 luma) against the input.
* ``dark + noise25``: that dark photo with Gaussian noise sigma 25; the target is the dark photo.
* ``noise15`` ... ``lowlight``: the quality table's degradations; the target is the photo.

PSNR is on RGB, no border crop (the quality table's protocol, ``hogformer.metrics.PROTOCOL_AIO``), averaged
over the photos. ``--sigmas`` repeats the ``--fix noise`` column for other low-pass widths (how
``LOWPASS_SIGMA`` was chosen). ``--folder`` measures the PNG/JPEG photos of a folder instead, e.g. the
held-out package of ``hogformer photos build`` (``DIR/heldout``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import zlib

import numpy as np
import torch

from hogformer.data.degradations import degrade, gaussian_noise, quantise_8bit
from hogformer.data.photos import heldout_photos
from hogformer.inference.fix import LOWPASS_SIGMA, apply_fix, parse_fix
from hogformer.metrics import PROTOCOL_AIO, psnr

#: (case, degradation applied, the fix that case asks for); "dark" cases start from the photo made dark.
CASES = (
    ("clean dark", None, "noise"),
    ("dark + noise25", "noise25", "noise"),
    ("noise15", "noise15", "noise"),
    ("noise25", "noise25", "noise"),
    ("noise50", "noise50", "noise"),
    ("clean", None, "noise"),
    ("blur", "blur", "blur"),
    ("haze", "haze", "haze"),
    ("lowlight", "lowlight", "lowlight"),
)
DARK_LUMA = 0.15


def luma(img: np.ndarray) -> float:
    """Mean Rec. 601 luma of an HxWx3 image in [0, 1]."""
    return float(np.mean(img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])))


def make_dark(img: np.ndarray, target: float = DARK_LUMA) -> np.ndarray:
    """``img`` scaled to mean luma ``target`` (a dark photo, colours kept), quantised to 8 bits."""
    return quantise_8bit(img * np.float32(target / max(luma(img), 1e-6)))


def _crop(img: np.ndarray, max_side: int | None) -> np.ndarray:
    if max_side is None:
        return img
    h, w = img.shape[:2]
    top, left = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    return img[top : top + max_side, left : left + max_side]


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)


def _to_array(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).numpy()


def measure(restorer, photos, sigmas, seed: int = 0, log=None, cases=None) -> list[dict[str, object]]:  # noqa: ANN001
    """One row per case (all, or those named in ``cases``): mean PSNR of input, ``auto`` and ``--fix`` (per
    low-pass sigma), mean and worst luma change."""
    rows = []
    for case, degradation, fix in CASES:
        if cases and case not in cases:
            continue
        fixes = parse_fix(fix)
        acc: dict[str, list[float]] = {}
        for index, (name, photo) in enumerate(photos):
            clean = photo.astype(np.float32) / 255.0
            if case.startswith("clean dark") or case.startswith("dark"):
                clean = make_dark(clean)
            rng = np.random.default_rng([seed, index, zlib.crc32(case.encode())])
            if degradation is None:
                inp = clean
            elif degradation.startswith("noise"):
                inp = quantise_8bit(gaussian_noise(clean, rng, float(degradation[5:])))
            else:
                inp = quantise_8bit(degrade(clean, degradation, rng))
            x = _to_tensor(inp)
            t0 = time.perf_counter()
            out = restorer.restore_tensor(x)
            if log:
                log(f"{case} {name}: {time.perf_counter() - t0:.1f} s")
            results = {"input": inp, "auto": _to_array(out)}
            for s in sigmas:
                results[f"fix {fix} (sigma {s:g})"] = _to_array(apply_fix(x, out, fixes, sigma=s))
            for label, img in results.items():
                acc.setdefault(f"psnr {label}", []).append(
                    psnr(img, clean, PROTOCOL_AIO) if label != "input" or degradation else float("inf")
                )
                acc.setdefault(f"lum {label}", []).append(100.0 * (luma(img) - luma(inp)) / luma(inp))
        worst = {f"worst {k}": float(max(v, key=abs)) for k, v in acc.items() if k.startswith("lum")}
        rows.append({"case": case, "fix": fix, **{k: float(np.mean(v)) for k, v in acc.items()}, **worst})
    return rows


def format_rows(rows: list[dict[str, object]], sigmas: list[float], digits: int = 2) -> str:
    main = f"fix (sigma {LOWPASS_SIGMA:g})"
    head = ["case", "--fix", "input dB", "auto dB", f"{main} dB", "auto lum", f"{main} lum", f"{main} worst lum"]
    extra = [s for s in sigmas if s != LOWPASS_SIGMA]
    head += [f"fix (sigma {s:g}) dB" for s in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        fix = r["fix"]

        def get(kind: str, label: str, r: dict = r) -> float:
            return float(r[f"{kind} {label}"])

        cells = [
            str(r["case"]),
            str(fix),
            f"{get('psnr', 'input'):.{digits}f}",
            f"{get('psnr', 'auto'):.{digits}f}",
            f"{get('psnr', f'fix {fix} (sigma {LOWPASS_SIGMA:g})'):.{digits}f}",
            f"{get('lum', 'auto'):+.1f}%",
            f"{get('lum', f'fix {fix} (sigma {LOWPASS_SIGMA:g})'):+.1f}%",
            f"{get('worst lum', f'fix {fix} (sigma {LOWPASS_SIGMA:g})'):+.1f}%",
        ]
        cells += [f"{get('psnr', f'fix {fix} (sigma {s:g})'):.{digits}f}" for s in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file or shipped name (default: the shipped default)")
    p.add_argument("--max-side", type=int, default=None, help="centre-crop the photos to at most N px a side")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--sigmas", type=float, nargs="+", default=[LOWPASS_SIGMA], help="low-pass widths to compare")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", nargs="+", default=None, choices=[c[0] for c in CASES], metavar="CASE", help="subset")
    p.add_argument("--digits", type=int, default=2, help="decimals of the PSNR columns")
    p.add_argument("--folder", default=None, help="photos to measure instead of the sporco held-out photos")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    from hogformer.inference.restorer import Restorer

    restorer = Restorer(args.weights, device="cpu")
    if args.folder:
        from pathlib import Path

        from PIL import Image

        files = sorted(f for f in Path(args.folder).iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
        photos = [(f.stem, np.asarray(Image.open(f).convert("RGB"))) for f in files]
    else:
        photos = heldout_photos()
    photos = [(n, _crop(img, args.max_side)) for n, img in photos]
    sigmas = sorted({LOWPASS_SIGMA, *args.sigmas})
    start = time.perf_counter()
    log = None if args.quiet else lambda m: print(m, file=sys.stderr)
    rows = measure(restorer, photos, sigmas, args.seed, log, args.cases)
    print(format_rows(rows, sigmas, args.digits))
    weights = restorer.weights_path.name if restorer.weights_path else "?"
    print(
        f"\n{len(photos)} photos ({args.folder or 'sporco held-out'}), weights {weights}, "
        f"{time.perf_counter() - start:.0f} s on CPU ({torch.get_num_threads()} threads); "
        f"`python -m benchmarks.quality.fix_table {' '.join(argv if argv is not None else sys.argv[1:])}`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
