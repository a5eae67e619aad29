"""Results as people read them: a terminal table that states each row's protocol, ``summary.json`` and
``per_image.csv``.

``summary.json`` is a list of rows, two per test set: ``method = "input"`` (the degraded images as they are,
the baseline) and ``method = "model"`` (the restorations). Each row holds ``set``, ``method``, ``psnr``,
``ssim``, ``images``, ``protocol`` (a dict: channel, border crop, SSIM window, crop multiple, noise, and a
one-line ``description``), ``task``, ``noise_sigma`` and ``noise_seed``, plus whatever run-level fields the
caller adds (benchmark, weights). ``per_image.csv`` has one line per image with both methods' scores.
An infinite PSNR (identical images) is written as the string ``"inf"``. Files are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from .runner import SetResult

__all__ = [
    "PER_IMAGE_FIELDS",
    "format_table",
    "per_image_rows",
    "protocol_dict",
    "summary_rows",
    "write_json",
    "write_per_image",
    "write_summary",
]

PER_IMAGE_FIELDS = (
    "set",
    "image",
    "lq",
    "gt",
    "noise_seed",
    "height",
    "width",
    "input_psnr",
    "input_ssim",
    "model_psnr",
    "model_ssim",
)


def _number(x: float) -> float | str | None:
    """A JSON/CSV-safe number: ``inf`` becomes the string "inf", NaN becomes None."""
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def protocol_dict(result: SetResult) -> dict[str, Any]:
    """Everything that defines how a set's numbers were computed, for machines and for people."""
    s = result.test_set
    out: dict[str, Any] = dict(s.protocol.to_dict())
    out["crop_multiple"] = s.crop_multiple
    out["noise_sigma"] = s.noise_sigma
    out["noise_seed"] = result.noise_seed
    out["description"] = s.describe(result.noise_seed)
    return out


def summary_rows(results: Sequence[SetResult], extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Two rows per set (``input`` then ``model``); ``extra`` fields are added to every row."""
    rows = []
    for r in results:
        for method in ("input", "model"):
            row: dict[str, Any] = {
                "set": r.test_set.name,
                "method": method,
                "psnr": _number(r.mean(method, "psnr")),
                "ssim": _number(r.mean(method, "ssim")),
                "images": len(r.images),
                "protocol": protocol_dict(r),
                "task": r.test_set.task,
                "noise_sigma": r.test_set.noise_sigma,
                "noise_seed": r.noise_seed,
            }
            if extra:
                row.update(extra)
            rows.append(row)
    return rows


def per_image_rows(results: Sequence[SetResult]) -> list[dict[str, Any]]:
    """One dict per image, keys :data:`PER_IMAGE_FIELDS`."""
    rows = []
    for r in results:
        for im in r.images:
            rows.append(
                {
                    "set": im.set,
                    "image": im.name,
                    "lq": "" if im.lq is None else os.fspath(im.lq),
                    "gt": os.fspath(im.gt),
                    "noise_seed": "" if im.noise_seed is None else im.noise_seed,
                    "height": im.height,
                    "width": im.width,
                    "input_psnr": _number(im.input_psnr),
                    "input_ssim": _number(im.input_ssim),
                    "model_psnr": _number(im.model_psnr),
                    "model_ssim": _number(im.model_ssim),
                }
            )
    return rows


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically; returns the path."""
    text = json.dumps(data, indent=1, allow_nan=False, default=os.fspath) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return Path(path)


def write_summary(
    path: str | os.PathLike[str], results: Sequence[SetResult], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``summary.json`` (:func:`summary_rows`) atomically."""
    return write_json(path, summary_rows(results, extra))


def write_per_image(path: str | os.PathLike[str], results: Sequence[SetResult]) -> Path:
    """Write ``per_image.csv`` (:func:`per_image_rows`, full float precision) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PER_IMAGE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in per_image_rows(results):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
    return Path(path)


def _fmt(x: float, digits: int) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def format_table(results: Sequence[SetResult], title: str | None = None) -> str:
    """A plain-text table: one row per set, the input's and the model's PSNR/SSIM, the image count and the
    protocol. When every set shares one metric protocol, an ``Average`` row gives the mean of the set means (as
    the papers' tables do)."""
    header = ("Set", "Images", "Input PSNR", "Input SSIM", "PSNR", "SSIM", "Protocol")
    body = [
        (
            r.test_set.name,
            str(len(r.images)),
            _fmt(r.mean("input", "psnr"), 2),
            _fmt(r.mean("input", "ssim"), 4),
            _fmt(r.mean("model", "psnr"), 2),
            _fmt(r.mean("model", "ssim"), 4),
            r.test_set.describe(r.noise_seed),
        )
        for r in results
    ]
    if len(results) > 1 and len({r.test_set.protocol for r in results}) == 1:

        def avg(method: str, metric: str) -> float:
            return sum(r.mean(method, metric) for r in results) / len(results)

        body.append(
            (
                "Average",
                str(sum(len(r.images) for r in results)),
                _fmt(avg("input", "psnr"), 2),
                _fmt(avg("input", "ssim"), 4),
                _fmt(avg("model", "psnr"), 2),
                _fmt(avg("model", "ssim"), 4),
                "mean of the set means above",
            )
        )
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    right = {1, 2, 3, 4, 5}

    def line(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(header), rule, *(line(row) for row in body)]
    if len(body) > len(results):
        lines.insert(len(lines) - 1, rule)
    if title:
        lines.insert(0, title)
    return "\n".join(lines)
