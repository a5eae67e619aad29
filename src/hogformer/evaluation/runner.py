"""Run a restorer over test sets under their protocols: per-image PSNR/SSIM of the input and of the restoration.

For each pair the runner reads both images, makes the degraded one when the set is synthetic (CBSD68 noise,
seeded), applies the set's preprocessing (centre-crop to a multiple of 16 for Settings III/IV, the whole image
for Setting I), restores it through :meth:`hogformer.inference.Restorer.restore_tensor` (devices, precision,
tiling and the reflect-padding to a multiple of 16 all live there) and scores two things against the clean
image under the set's protocol: the degraded input as it is (``input``, the baseline) and the restoration
(``model``). Metrics are computed on the float restoration, before any 8-bit rounding, as the official test
scripts do; saved images are 8-bit PNGs.

The runner prints nothing; pass ``progress`` to hear about each image.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.crops import crop_to_multiple
from ..data.degradations import official_test_noise
from ..data.io import read_image, write_image
from ..metrics import evaluate_pair
from .testsets import Pair, TestSet, find_pairs

if TYPE_CHECKING:
    from ..inference.restorer import Restorer

__all__ = [
    "ImageResult",
    "Progress",
    "SetResult",
    "evaluate_set",
    "evaluate_sets",
    "load_pair",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(set_name, done, total)``: called with ``done = 0`` before a set's first image and after each."""


@dataclass(frozen=True)
class ImageResult:
    """The scores of one image pair; ``height``/``width`` are the size that was restored and scored."""

    set: str
    name: str
    gt: Path
    lq: Path | None
    noise_seed: int | None
    height: int
    width: int
    input_psnr: float
    input_ssim: float
    model_psnr: float
    model_ssim: float


@dataclass
class SetResult:
    """All image results of one test set, and their means (the numbers a paper's table reports)."""

    test_set: TestSet
    noise_seed: int | None
    images: list[ImageResult] = field(default_factory=list)

    def mean(self, method: str, metric: str) -> float:
        """Mean over images of ``metric`` (``psnr``/``ssim``) for ``method`` (``input``/``model``)."""
        if method not in ("input", "model") or metric not in ("psnr", "ssim"):
            raise ValueError(f"method must be input or model and metric psnr or ssim, got {method!r}, {metric!r}")
        values = [getattr(r, f"{method}_{metric}") for r in self.images]
        return float(np.mean(values)) if values else math.nan


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def load_pair(pair: Pair, test_set: TestSet) -> tuple[np.ndarray, np.ndarray]:
    """Read (or synthesise) one pair and apply the set's preprocessing.

    Returns ``(degraded, clean)``, float32 HxWx3 in [0, 1], of equal size. A synthetic set's degraded image is
    :func:`~hogformer.data.degradations.official_test_noise` of the cropped 8-bit clean image with the pair's
    seed, as the official test adds noise after cropping.

    Raises:
        ValueError: the two files differ in size (the message names both), or an image is smaller than the
            crop multiple; ImageReadError for a file that cannot be read.
    """
    gt = read_image(pair.gt).rgb
    if pair.lq is None:
        if test_set.noise_sigma is None or pair.noise_seed is None:
            raise ValueError(f"{pair.gt}: set {test_set.name} has no degraded folder and no noise to synthesise")
        clean8 = crop_to_multiple(_to_uint8(gt), test_set.crop_multiple, path=pair.gt)
        noisy8 = official_test_noise(clean8, test_set.noise_sigma, pair.noise_seed)
        return noisy8.astype(np.float32) / np.float32(255.0), clean8.astype(np.float32) / np.float32(255.0)
    lq = read_image(pair.lq).rgb
    if lq.shape != gt.shape:
        raise ValueError(
            f"{pair.lq}: size mismatch, degraded image is {lq.shape[0]}x{lq.shape[1]} but its clean image "
            f"{pair.gt} is {gt.shape[0]}x{gt.shape[1]}"
        )
    return crop_to_multiple(lq, test_set.crop_multiple, path=pair.lq), crop_to_multiple(
        gt, test_set.crop_multiple, path=pair.gt
    )


def _restore(restorer: Restorer, lq: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(lq, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    out = restorer.restore_tensor(x)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).cpu().numpy())  # HxWx3, laid out as the input


def _score(test_set: TestSet, pair: Pair, lq: np.ndarray, restored: np.ndarray, gt: np.ndarray) -> ImageResult:
    before = evaluate_pair(lq, gt, test_set.protocol)
    after = evaluate_pair(restored, gt, test_set.protocol)
    log.debug("%s %s: input %.4f dB, model %.4f dB", test_set.name, pair.name, before["psnr"], after["psnr"])
    return ImageResult(
        set=test_set.name,
        name=pair.name,
        gt=pair.gt,
        lq=pair.lq,
        noise_seed=pair.noise_seed,
        height=gt.shape[0],
        width=gt.shape[1],
        input_psnr=before["psnr"],
        input_ssim=before["ssim"],
        model_psnr=after["psnr"],
        model_ssim=after["ssim"],
    )


def _default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def evaluate_set(
    restorer: Restorer,
    test_set: TestSet,
    pairs: Sequence[Pair],
    *,
    noise_seed: int | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    metric_workers: int | None = None,
) -> SetResult:
    """Restore and score every pair of one set.

    Scoring (numpy, which releases the GIL) runs in up to ``metric_workers`` threads while the next images are
    restored: on a 1280x720 image PSNR/SSIM of input and restoration take about as long as a GPU restoration.
    Results keep the order of ``pairs`` and do not depend on the number of workers.

    Args:
        restorer: the :class:`~hogformer.inference.restorer.Restorer` that restores every image.
        test_set: the set, which gives the preprocessing and the protocol.
        pairs: its pairs, from :func:`~hogformer.evaluation.testsets.find_pairs`.
        noise_seed: the base seed the pairs were given (recorded in the result).
        save_dir: when given, each restoration is written atomically to ``save_dir/<pair name>.png``.
        progress: optional callback, see :data:`Progress`; called as each image's scores are ready.
        metric_workers: scoring threads; ``None`` picks up to 4 (one fewer than the CPUs), 1 scores inline.
    """
    result = SetResult(test_set, noise_seed if test_set.synthetic else None)
    total = len(pairs)
    workers = _default_workers() if metric_workers is None else metric_workers
    if workers < 1:
        raise ValueError(f"metric_workers must be >= 1, got {workers}")
    if progress:
        progress(test_set.name, 0, total)

    def collect(image: ImageResult) -> None:
        result.images.append(image)
        if progress:
            progress(test_set.name, len(result.images), total)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hogformer-metrics") if workers > 1 else None
    pending: deque[Future[ImageResult]] = deque()
    try:
        for pair in pairs:
            lq, gt = load_pair(pair, test_set)
            restored = _restore(restorer, lq)
            if save_dir is not None:
                write_image(Path(save_dir) / f"{pair.name}.png", restored)
            if pool is None:
                collect(_score(test_set, pair, lq, restored, gt))
                continue
            pending.append(pool.submit(_score, test_set, pair, lq, restored, gt))
            while pending and (len(pending) > 2 * workers or pending[0].done()):  # bounded memory, in order
                collect(pending.popleft().result())
        while pending:
            collect(pending.popleft().result())
    finally:
        if pool is not None:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
    return result


def evaluate_sets(
    restorer: Restorer,
    sets: Sequence[TestSet],
    data_root: str | os.PathLike[str] | None,
    *,
    noise_seed: int = 0,
    limit: int | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    metric_workers: int | None = None,
) -> list[SetResult]:
    """Evaluate several sets under ``data_root``.

    Every set's folders are checked and paired before the first image is restored, so a layout problem fails
    fast. ``limit`` keeps the first N pairs of each set (in file-name order; noise seeds stay those of the full
    set). With ``save_dir``, restorations go to ``save_dir/<set name>/``. ``metric_workers``: see
    :func:`evaluate_set`.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    found = [(s, find_pairs(s, data_root, noise_seed=noise_seed)) for s in sets]
    results = []
    for test_set, pairs in found:
        chosen = pairs[:limit] if limit is not None else pairs
        target = None if save_dir is None else Path(save_dir) / test_set.name
        results.append(
            evaluate_set(
                restorer,
                test_set,
                chosen,
                noise_seed=noise_seed,
                save_dir=target,
                progress=progress,
                metric_workers=metric_workers,
            )
        )
    return results
