"""The quality table of the shipped weights: the model against classical baselines on the held-out photos.

:func:`quality_table` degrades each held-out photo (:func:`hogformer.data.photos.heldout_photos`) with every
named synthetic degradation, quantises the result to 8 bits (as a saved file would be), restores it with every
method (the untouched input, the classical baselines of :data:`hogformer.quality.baselines.BASELINES`, and
the model) and averages PSNR/SSIM under :data:`~hogformer.metrics.PROTOCOL_AIO` over the photos.
:func:`format_markdown` turns the rows into the table. ``python -m benchmarks.quality.quality_table`` is the
command line.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.crops import crop_to_side
from ..data.degradations import DEGRADATIONS, blur, degrade, quantise_8bit, random_blur_kernel
from ..metrics import PROTOCOL_AIO, evaluate_pair
from .baselines import BASELINES, WIENER_BALANCE, BaselineUnavailable, wiener_deconvolve

__all__ = [
    "DEFAULT_DEGRADATIONS",
    "ORACLE_LABEL",
    "TABLE_DEGRADATIONS",
    "format_markdown",
    "quality_table",
]

log = logging.getLogger(__name__)

DEFAULT_DEGRADATIONS = ("noise15", "noise25", "noise50", "haze", "lowlight", "blur", "rain")
#: The quality table's rows (docs/model-card.md): every degradation above, then ``clean`` (the photo itself:
#: what a method changes in a photo that needs nothing; it has no classical baselines).
TABLE_DEGRADATIONS = (*DEFAULT_DEGRADATIONS, "clean")
#: The non-blind Wiener row of ``blur``: it is given the kernel the degradation drew, which no real method knows.
ORACLE_LABEL = "Wiener, true kernel (oracle)"

Image = np.ndarray
Method = Callable[[Image], Image]


def _rng(seed: int, photo: str, degradation: str) -> np.random.Generator:
    """One generator per (photo, degradation), independent of which other photos or degradations are run."""
    key = zlib.crc32(f"{photo}/{degradation}".encode())
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def _oracle_wiener(clean: np.ndarray, degraded: np.ndarray, rng: np.random.Generator) -> Method | None:
    """Wiener deconvolution with the kernel :func:`~hogformer.data.degradations.blur` drew from ``rng``.

    ``rng`` is a fresh copy of the generator the degradation was given; the draw is replayed and checked:
    re-blurring ``clean`` with the kernel must give ``degraded`` exactly. Otherwise (the degradation's sampling
    changed) None is returned and the oracle row is left out. The Wiener balance is the one the blind baseline
    uses for the kernel's family.
    """
    kernel, family = random_blur_kernel(rng)
    family = {"motion": "line", "defocus": "disc"}[family]
    if not np.array_equal(blur(clean, rng, kernel=kernel), degraded):
        log.warning("could not replay the blur kernel of the degradation; the oracle row is left out")
        return None
    return lambda img: wiener_deconvolve(img, kernel, WIENER_BALANCE[family])


def model_label(restorer: Any) -> str:
    """``"hogformer (<weights name>)"``: the shipped name, else the file name, else ``in-memory model``."""
    info = getattr(restorer, "weights_info", None)
    path = getattr(restorer, "weights_path", None)
    if info is not None and getattr(info, "name", None):
        name = info.name
    elif path is not None:
        name = Path(path).name
    else:
        name = "in-memory model"
    return f"hogformer ({name})"


def quality_table(
    restorer: Method | None,
    photos: Sequence[tuple[str, np.ndarray]] | None = None,
    degradations: Iterable[str] = DEFAULT_DEGRADATIONS,
    seed: int = 0,
    max_side: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    baselines: Mapping[str, Sequence[tuple[str, Method]]] | None = None,
    oracle: bool = True,
) -> list[dict[str, Any]]:
    """Mean PSNR/SSIM of every method on every degradation of the held-out photos.

    Args:
        restorer: the model, called on float32 HxWx3 images in [0, 1] (a :class:`~hogformer.inference.Restorer`);
            None leaves the model row out.
        photos: ``(name, uint8 HxWx3)`` pairs; None uses :func:`hogformer.data.photos.heldout_photos`.
        degradations: names from :data:`hogformer.data.degradations.DEGRADATIONS`.
        seed: every (photo, degradation) pair draws its degradation from its own generator,
            ``default_rng(SeedSequence([seed, zlib.crc32(f"{photo}/{degradation}".encode())]))``, so every method
            sees the same degraded image and a run on a subset reproduces the full run's inputs.
        max_side: centre-crop each photo to at most ``max_side`` pixels a side (fast runs); None keeps it whole.
        progress: called as ``progress(done, total, label)`` after each (photo, degradation) pair.
        baselines: classical baselines per degradation; None uses :data:`~hogformer.quality.baselines.BASELINES`.
        oracle: add the non-blind Wiener row (true kernel) to ``blur``.

    Returns:
        One dict per (degradation, method), in the order degradations x (input, baselines, oracle, model):
        ``degradation``, ``method``, ``psnr`` and ``ssim`` (means over the photos; None for a baseline that is
        unavailable here), ``images`` (how many photos), ``seconds`` (time spent in the method, all photos),
        ``oracle`` (True for the oracle row), ``note`` (why a baseline is unavailable, else None),
        ``per_photo`` (``{photo: {"psnr", "ssim"}}``), ``max_side`` and ``seed``.
    """
    degradations = tuple(degradations)
    unknown = [d for d in degradations if d not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"unknown degradations {unknown}; valid names: {', '.join(DEGRADATIONS)}")
    if photos is None:
        from ..data.photos import heldout_photos

        photos = heldout_photos()
    if not photos:
        raise ValueError("no photos to evaluate")
    baselines = BASELINES if baselines is None else baselines
    label = model_label(restorer) if restorer is not None else None

    results: dict[tuple[str, str], dict[str, Any]] = {}

    def record(
        degradation: str,
        method: str,
        photo: str,
        metrics: dict[str, float] | None,
        seconds: float,
        *,
        is_oracle: bool = False,
        note: str | None = None,
    ) -> None:
        empty = {"degradation": degradation, "method": method, "seconds": 0.0, "oracle": is_oracle, "note": None}
        row = results.setdefault((degradation, method), {**empty, "per_photo": {}})
        row["seconds"] += seconds
        if note is not None:
            row["note"] = note
        if metrics is not None:
            row["per_photo"][photo] = metrics

    total = len(degradations) * len(photos)
    done = 0
    for degradation in degradations:
        unavailable: dict[str, str] = {}
        for photo, img in photos:
            clean = crop_to_side(np.asarray(img), max_side).astype(np.float32) / 255.0
            rng = _rng(seed, photo, degradation)
            replay = _rng(seed, photo, degradation)
            degraded_float = degrade(clean, degradation, rng)
            degraded = quantise_8bit(degraded_float)
            record(degradation, "input", photo, evaluate_pair(degraded, clean, PROTOCOL_AIO), 0.0)
            methods: list[tuple[str, Method, bool]] = [(n, f, False) for n, f in baselines.get(degradation, ())]
            if oracle and degradation == "blur":
                oracle_fn = _oracle_wiener(clean, degraded_float, replay)
                if oracle_fn is not None:
                    methods.append((ORACLE_LABEL, oracle_fn, True))
            if restorer is not None and label is not None:
                methods.append((label, restorer, False))
            for name, fn, is_oracle in methods:
                if name in unavailable:
                    record(degradation, name, photo, None, 0.0, note=unavailable[name])
                    continue
                start = time.perf_counter()
                try:
                    out = fn(degraded.copy())
                except BaselineUnavailable as e:
                    unavailable[name] = str(e)
                    log.warning("%s: %s", name, e)
                    record(degradation, name, photo, None, 0.0, note=str(e))
                    continue
                seconds = time.perf_counter() - start
                out = np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
                record(degradation, name, photo, evaluate_pair(out, clean, PROTOCOL_AIO), seconds, is_oracle=is_oracle)
            done += 1
            log.info("quality table: %s %s done (%d/%d)", photo, degradation, done, total)
            if progress is not None:
                progress(done, total, f"{photo} {degradation}")

    rows = []
    for row in results.values():
        values = list(row["per_photo"].values())
        row["images"] = len(values)
        row["psnr"] = float(np.mean([v["psnr"] for v in values])) if values else None
        row["ssim"] = float(np.mean([v["ssim"] for v in values])) if values else None
        row["max_side"] = max_side
        row["seed"] = seed
        rows.append(row)
    return rows


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def format_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown table of :func:`quality_table` rows, followed by the protocol and notes.

    One line per (degradation, method); per degradation the best PSNR and the best SSIM are bold (ties in the
    printed digits are all bold; the oracle row is not a competitor and is never bold).
    """
    if not rows:
        raise ValueError("no rows to format")
    lines = ["| Degradation | Method | PSNR (dB) | SSIM |", "|---|---|---:|---:|"]
    best: dict[str, dict[str, str]] = {}
    for degradation in dict.fromkeys(r["degradation"] for r in rows):
        group = [r for r in rows if r["degradation"] == degradation and not r.get("oracle") and r["psnr"] is not None]
        best[degradation] = {
            key: max((_fmt(r[key], digits) for r in group), key=float, default="")
            for key, digits in (("psnr", 2), ("ssim", 4))
        }
    notes: dict[str, str] = {}
    for r in rows:
        cells = []
        for key, digits in (("psnr", 2), ("ssim", 4)):
            text = _fmt(r[key], digits)
            if text != "n/a" and text == best[r["degradation"]][key] and not r.get("oracle"):
                text = f"**{text}**"
            cells.append(text)
        method = r["method"]
        if r["psnr"] is None and r.get("note"):
            notes.setdefault(method, r["note"])
            method += " (not installable here)"
        lines.append(f"| {r['degradation']} | {method} | {cells[0]} | {cells[1]} |")

    photos = list(dict.fromkeys(p for r in rows for p in r.get("per_photo", {})))
    max_side = rows[0].get("max_side")
    crop = f", centre-cropped to at most {max_side}x{max_side} px" if max_side else ""
    noise_note = (
        " (an estimate for `noise`, whose sigma is random)" if any(r["degradation"] == "noise" for r in rows) else ""
    )
    blur_note = "the kernel blindly (spectral fit over defocus discs and motion lines)"
    if any(r.get("oracle") for r in rows):
        blur_note += f"; the *{ORACLE_LABEL}* row is given the kernel the degradation drew and is not ranked"
    paragraphs = [
        "\n".join(lines),
        "",
        f"Mean over {len(photos)} held-out photos ({', '.join(photos)}){crop}. Each photo is degraded once per "
        f"degradation (`hogformer.data.degradations`, seed {rows[0].get('seed', 0)}), quantised to 8 bits, and "
        "every method restores that same image.",
        f"Protocol: PSNR and SSIM on RGB in [0, 1] as scikit-image computes them ({PROTOCOL_AIO.describe()}). "
        "Bold: best per degradation (PSNR and SSIM separately).",
        f"Baselines (`hogformer.quality.baselines`): denoisers get the true noise sigma{noise_note}; blur "
        f"baselines estimate {blur_note}.",
    ]
    for method, note in notes.items():
        paragraphs.append(f"{method}: not installable here ({note}).")
    return "\n".join(paragraphs)
