"""``hogformer inspect IMAGE... [-o plot.png] [--json]``: the paper's motivation made visible.

For each image: its HOG orientation histogram (9 unsigned bins, 8x8 cells, spec section 5) beside the profile
of clean photos, a map of where the gradient energy sits, and an estimate of what it suffers from (noise, blur,
haze, low light, rain or clean) with probabilities, from a small classifier on HOG features. ``--json`` prints
one JSON object per image and line: ``{"file": ..., "estimate": {"noise": p, ...}, "top": "noise"}``.

A file that cannot be read is reported on stderr and skipped; the exit code is 1 when any was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classifier import CLASSES, load_classifier
from .hog import bin_centres_degrees, cell_histograms, orientation_profile

log = logging.getLogger(__name__)

__all__ = ["Inspection", "add_arguments", "inspect_image", "plot_inspection", "run"]

#: Above this many pixels the profile and the map are computed on a block-averaged copy (the estimate always
#: looks at full-resolution pixels).
MAP_MAX_PIXELS = 4_000_000
LABELS = {"noise": "noise", "blur": "blur", "haze": "haze", "low_light": "low light", "rain": "rain", "clean": "clean"}


@dataclass(frozen=True)
class Inspection:
    """What ``inspect`` finds in one image."""

    file: str
    estimate: dict[str, float]  # class -> probability, in CLASSES order
    profile: np.ndarray  # (9,) orientation histogram, sums to 1
    energy: np.ndarray  # (Hc, Wc) gradient energy per 8x8 cell (of the block-averaged copy if shrunk)
    thumbnail: np.ndarray  # HxWx3 float, at most 512 px a side, for the figure

    @property
    def top(self) -> str:
        return max(self.estimate, key=self.estimate.__getitem__)

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "estimate": {k: round(v, 4) for k, v in self.estimate.items()}, "top": self.top}


def _shrink(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    k = int(np.ceil(np.sqrt(h * w / max_pixels)))
    if k <= 1:
        return rgb
    h2, w2 = h // k * k, w // k * k
    return rgb[:h2, :w2].reshape(h2 // k, k, w2 // k, k, 3).mean(axis=(1, 3))


def inspect_image(rgb: np.ndarray, file: str = "") -> Inspection:
    """Inspect a float HxWx3 image in [0, 1].

    Raises:
        ValueError: the image is too small (see :data:`hogformer.diagnosis.features.MIN_SIDE`) or not HxWx3.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    estimate = load_classifier().estimate(rgb)  # validates the shape and the size first
    view = _shrink(rgb, MAP_MAX_PIXELS)
    hist = cell_histograms(view)
    thumb = _shrink(rgb, 512 * 512)
    return Inspection(file, estimate, orientation_profile(hist), hist.sum(axis=-1), thumb)


def plot_inspection(reports: list[Inspection], path: str | os.PathLike[str]) -> Path:
    """Draw one row per image (the image, its orientation histogram against the clean profile, the gradient
    energy map, the estimate) and write it as PNG (or any format matplotlib knows from the extension).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'hogformer[inspect]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("the inspect figure needs matplotlib: pip install 'hogformer[inspect]'") from e
    from ..files import atomic_write_bytes

    clean = load_classifier().clean_profile
    centres = bin_centres_degrees()
    fig, axes = plt.subplots(len(reports), 4, figsize=(17, 3.6 * len(reports)), squeeze=False)
    for row, r in zip(axes, reports):
        ax_img, ax_hist, ax_map, ax_est = row
        ax_img.imshow(np.clip(r.thumbnail, 0, 1))
        ax_img.set_title(Path(r.file).name or "image", fontsize=10)
        ax_img.axis("off")
        ax_hist.bar(centres, r.profile, width=16, color="tab:blue", alpha=0.75, label="this image")
        ax_hist.plot(centres, clean, "o-", color="black", lw=1.5, label="clean photos (mean)")
        ax_hist.set_xticks(centres)
        ax_hist.set_xlabel("gradient orientation (degrees, unsigned; 0 = vertical edge)")
        ax_hist.set_ylabel("share of gradient energy")
        ax_hist.set_title("HOG orientation histogram (9 bins, 8x8 cells)", fontsize=10)
        ax_hist.legend(fontsize=8, loc="upper right")
        im = ax_map.imshow(np.log10(r.energy + 1e-3), cmap="magma")
        ax_map.set_title("gradient energy per 8x8 cell (log10)", fontsize=10)
        ax_map.axis("off")
        fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.04)
        names = [LABELS[c] for c in CLASSES]
        probs = [r.estimate[c] for c in CLASSES]
        colours = ["tab:red" if c == r.top else "tab:gray" for c in CLASSES]
        ax_est.barh(names, probs, color=colours)
        ax_est.set_xlim(0, 1)
        ax_est.invert_yaxis()
        ax_est.set_title(f"estimate: {LABELS[r.top]} ({r.estimate[r.top]:.0%})", fontsize=10)
        for y, p in enumerate(probs):
            inside = p > 0.8  # a long bar carries its label inside, in white
            x, ha, colour = (p - 0.02, "right", "white") if inside else (p + 0.02, "left", "black")
            ax_est.text(x, y, f"{p:.0%}", va="center", ha=ha, color=colour, fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    fig.savefig(buf, format=suffix, dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


# ----------------------------------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("-o", "--output", type=Path, help="write the figure (histogram, energy map, estimate) here")
    p.add_argument("--json", action="store_true", help="print one JSON object per image and line")


def run(args: argparse.Namespace) -> int:
    from ..data.io import read_image

    if args.output is not None:  # fail before the work, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("hogformer inspect: -o needs matplotlib: pip install 'hogformer[inspect]'") from None
    load_classifier()  # a broken install says so once, not once per image
    reports: list[Inspection] = []
    failed = 0
    for name in args.images:
        try:
            rgb = read_image(name).rgb
            report = inspect_image(rgb, str(name))
        except (ValueError, OSError) as e:  # ImageReadError is a ValueError naming the file
            failed += 1
            msg = str(e) if str(name) in str(e) else f"{name}: {e}"
            print(f"hogformer inspect: error: {msg}", file=sys.stderr)
            continue
        reports.append(report)
        if args.json:
            print(json.dumps(report.as_json()), flush=True)
        else:
            ranked = sorted(report.estimate.items(), key=lambda kv: -kv[1])
            print(f"{name}: {LABELS[report.top]} ({', '.join(f'{LABELS[k]} {v:.0%}' for k, v in ranked)})")
    if args.output is not None and reports:
        path = plot_inspection(reports, args.output)
        print(f"figure: {path}", file=sys.stderr if args.json else sys.stdout)
    if failed:
        print(f"hogformer inspect: {failed} of {len(args.images)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0
