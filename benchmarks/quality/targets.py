"""The default weights against the quality targets of the shipped model, on photos never trained on.

    python -m benchmarks.quality.targets [--weights default runs/x/final.safetensors] [--max-side 512]
        [--photos sporco data/photos-v2/heldout] [--no-bm3d] [--threads 2]

Every case is a fixed degradation of each held-out photo (a centre crop of at most ``--max-side`` pixels a
side, 8-bit as a photo file is), restored as ``hogformer restore`` does with its defaults (the ``Restorer``,
fp32, blind); PSNR on RGB in [0, 1] of the 8-bit result against the clean photo, mean over the photos:

* ``noise15/25/50``: Gaussian noise of that sigma (0..255 scale); beside the model, scikit-image's NL-means
  (``h = 0.8 sigma_est``, fast mode, 5x5 patches, patch distance 6) and BM3D given the true sigma (the
  ``bm3d`` package, if installed). Target: at least NL-means.
* ``lowlight``: ``0.45 x^1.8``, target +8 dB over the input; ``haze``: ``0.55 x + 0.85 * 0.45``, +6 dB;
  ``motion9``: a 9-pixel horizontal box blur, +1 dB; ``rain`` and ``snow``: the training generators
  (:func:`hogformer.data.degradations.rain`, :func:`hogformer.data.weather.snow`) with a fixed seed, +3 dB.
* No harm: ``clean`` comes back at >= 40 dB; ``gblur1`` (Gaussian blur, sigma 1) and ``jpeg30`` (JPEG quality
  30) come back no worse than the input, in the mean and on at least 80% of the photos (the ``not worse``
  column counts the photos).

Photo sets: ``sporco`` (the five photos of :func:`hogformer.data.photos.heldout_photos`) and folders of
images (for example the held-out split of ``hogformer photos build``). None of them is trained on.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

CASES = ("noise15", "noise25", "noise50", "lowlight", "haze", "motion9", "rain", "snow", "clean", "gblur1", "jpeg30")
NOISE = {"noise15": 15.0, "noise25": 25.0, "noise50": 50.0}
GAIN_TARGETS = {"lowlight": 8.0, "haze": 6.0, "motion9": 1.0, "rain": 3.0, "snow": 3.0}
NO_HARM = ("gblur1", "jpeg30")


def _to8(img: np.ndarray) -> np.ndarray:
    """Round to 8-bit levels, as a saved photo is (float32 in [0, 1])."""
    return (np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def degrade(case: str, img: np.ndarray, seed: int) -> np.ndarray:
    """``img`` (float32 HxWx3 in [0, 1]) under the fixed degradation ``case``, 8-bit."""
    from scipy.ndimage import convolve1d, gaussian_filter

    rng = np.random.default_rng(seed)
    if case in NOISE:
        out = img + rng.normal(0.0, NOISE[case] / 255.0, img.shape)
    elif case == "lowlight":
        out = 0.45 * img**1.8
    elif case == "haze":
        out = 0.55 * img + 0.85 * 0.45
    elif case == "motion9":
        out = convolve1d(img, np.full(9, 1 / 9), axis=1, mode="reflect")
    elif case == "gblur1":
        out = gaussian_filter(img, sigma=(1.0, 1.0, 0.0), mode="reflect")
    elif case == "jpeg30":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buf, format="JPEG", quality=30)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    elif case == "rain":
        from hogformer.data.degradations import rain

        out = rain(img, rng)
    elif case == "snow":
        from hogformer.data.weather import snow

        out = snow(img, rng)
    elif case == "clean":
        out = img
    else:
        raise ValueError(f"unknown case {case!r}")
    return _to8(np.asarray(out, dtype=np.float32))


def load_photos(sets: list[str], max_side: int) -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    from hogformer.data.photos import heldout_photos

    photos: list[tuple[str, np.ndarray]] = []
    for name in sets:
        if name == "sporco":
            photos += [(f"sporco/{n}", a) for n, a in heldout_photos()]
            continue
        folder = Path(name)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".webp"))
        if not files:
            raise SystemExit(f"{folder}: no images (build it with `hogformer photos build`)")
        photos += [(f"{folder.name}/{p.stem}", np.asarray(Image.open(p).convert("RGB"))) for p in files]
    out = []
    for name, a in photos:
        h, w = a.shape[:2]
        ch, cw = min(h, max_side), min(w, max_side)
        y, x = (h - ch) // 2, (w - cw) // 2
        crop = a[y : y + ch, x : x + cw]
        crop = crop[: ch - ch % 2, : cw - cw % 2]
        out.append((name, crop.astype(np.float32) / 255.0))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", nargs="+", default=["default"], help="weights to score (default: the shipped)")
    p.add_argument("--photos", nargs="+", default=["sporco", "data/photos-v2/heldout"])
    p.add_argument("--max-side", type=int, default=512)
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--no-bm3d", action="store_true", help="leave out BM3D (the slowest column)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    from hogformer.inference import Restorer
    from hogformer.quality.baselines import BaselineUnavailable, bm3d_denoise, nl_means

    torch.set_num_threads(args.threads)
    photos = load_photos(args.photos, args.max_side)
    restorers = {w: Restorer(weights=w, device="cpu") for w in args.weights}
    start = time.perf_counter()
    scores: dict[tuple[str, str], list[float]] = {}
    bm3d_missing = args.no_bm3d
    for i, (name, clean) in enumerate(photos):
        for case in args.cases:
            lq = degrade(case, clean, seed=1000 * i + CASES.index(case))
            scores.setdefault((case, "input"), []).append(_psnr(lq, clean))
            for w, restorer in restorers.items():
                x = torch.from_numpy(lq).permute(2, 0, 1)[None]
                out = restorer.restore_tensor(x)[0].permute(1, 2, 0).float().numpy()
                scores.setdefault((case, w), []).append(_psnr(_to8(out), clean))
            if case in NOISE:
                scores.setdefault((case, "NL-means"), []).append(_psnr(_to8(nl_means(lq)), clean))
                if not bm3d_missing:
                    try:
                        scores.setdefault((case, "BM3D"), []).append(_psnr(_to8(bm3d_denoise(lq, NOISE[case])), clean))
                    except BaselineUnavailable:
                        bm3d_missing = True
        print(f"# {i + 1}/{len(photos)} {name}", file=sys.stderr, flush=True)

    print(
        f"- {len(photos)} photos ({', '.join(args.photos)}), centre crops of at most {args.max_side} px, "
        f"{time.perf_counter() - start:.0f} s, torch threads {args.threads}"
    )
    print()
    labels = [f"`{w}`" for w in args.weights]
    print("| case | input | " + " | ".join(labels) + " | NL-means | BM3D | target | met | not worse |")
    print("|---|---:|" + "---:|" * len(labels) + "---:|---:|---|---|---|")
    for case in args.cases:
        inp = np.array(scores[(case, "input")])
        cells, met, worse = [], [], []
        nlm = np.mean(scores[(case, "NL-means")]) if case in NOISE else None
        bm = np.mean(scores[(case, "BM3D")]) if (case, "BM3D") in scores else None
        for w in args.weights:
            got = np.array(scores[(case, w)])
            cells.append(f"{np.mean(got):.2f}")
            if case in NOISE:
                target, ok = "NL-means", bool(np.mean(got) >= nlm)
            elif case in GAIN_TARGETS:
                target = f"input +{GAIN_TARGETS[case]:g} dB"
                ok = bool(np.mean(got) >= np.mean(inp) + GAIN_TARGETS[case])
            elif case == "clean":
                target, ok = ">= 40 dB", bool(np.mean(got) >= 40.0)
            else:
                share = float(np.mean(got >= inp))
                target = "input, on 80% of photos"
                ok = bool(np.mean(got) >= np.mean(inp) and share >= 0.8)
                worse.append(f"{int(np.sum(got >= inp))}/{len(got)}")
            met.append("yes" if ok else "no")
        input_cell = "inf" if np.isinf(np.mean(inp)) else f"{np.mean(inp):.2f}"
        print(
            f"| {case} | {input_cell} | " + " | ".join(cells) + f" | {'' if nlm is None else f'{nlm:.2f}'} | "
            f"{'' if bm is None else f'{bm:.2f}'} | {target} | {' / '.join(met)} | {' / '.join(worse)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
