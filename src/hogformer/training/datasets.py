"""Training and validation datasets of (degraded, clean) pairs, and the sampler that makes epochs resumable.

Sources (see :class:`~hogformer.training.config_schema.SourceConfig`):

* ``noise``: clean images with Gaussian noise added on the fly (AdaIR/PromptIR denoising: BSD400 + WED in
  ``Train/Denoise``, sigma 15, 25, 50, each image list repeated 3 times per sigma);
* ``paired``: degraded and clean folders. The AdaIR/PromptIR layout is ``Train/Derain/rainy/rain-N.png`` +
  ``Train/Derain/gt/norain-N.png`` (``replace: [rain-, norain-]``, repeated 120x),
  ``Train/Dehaze/synthetic/partK/ID_A_B.jpg`` + ``Train/Dehaze/original/ID.jpg`` (``match: prefix``),
  ``Train/Deblur/blur`` + ``Train/Deblur/sharp`` (5x) and ``Train/Enhance/low`` + ``Train/Enhance/gt`` (20x);
  the Histoformer (Setting I) layout is ``input/`` + ``gt/`` with equal file names;
* ``synthetic``: clean photos degraded on the fly by :mod:`hogformer.data.degradations`.

Every random choice of a training sample (crop, flip/rotation, noise, degradation) is drawn from a generator
seeded by ``(seed, epoch, index)``: a sample does not depend on worker, rank, or whether the run was resumed.
:class:`EpochSampler` yields ``(epoch, index)`` keys, shuffles per ``(seed, epoch)``, splits them among
ranks and can start an epoch part-way through, so an interrupted run resumes on exactly the batches it would
have seen.

Geometric augmentation follows the reference code exactly. ``dihedral7`` is AdaIR/PromptIR's
``random_augmentation`` (``random.randint(1, 7)``: one of the 7 flips/rotations other than the identity,
never the image as it is); ``dihedral8`` is Restormer/BasicSR's (``random.randint(0, 7)``: the identity
included). Mode ``m`` is, on an HxWxC array: 0 identity, 1 ``flipud``, 2 ``rot90``, 3 ``flipud(rot90)``,
4 ``rot90(k=2)``, 5 ``flipud(rot90(k=2))``, 6 ``rot90(k=3)``, 7 ``flipud(rot90(k=3))`` (``np.rot90`` turns
counter-clockwise).
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..data.crops import crop_to_multiple
from ..data.listing import IMAGE_EXTENSIONS
from ..models import SIZE_MULTIPLE
from .config_schema import SourceConfig

__all__ = [
    "EpochSampler",
    "EvalDataset",
    "PatchDataset",
    "Task",
    "build_tasks",
    "dihedral",
]

log = logging.getLogger(__name__)

#: Validation images are centre-cropped to a multiple of this when taken whole (the AdaIR test protocol).
EVAL_MULTIPLE = 16
_TRAIN_STREAM, _EVAL_STREAM, _ORDER_STREAM = 1, 2, 0


# ----------------------------------------------------------------------------------------------------------
# image helpers
# ----------------------------------------------------------------------------------------------------------
def _read_rgb(path: Path) -> np.ndarray:
    """Float32 HxWx3 RGB in [0, 1]."""
    try:
        from ..data.io import read_image
    except ImportError:  # the project's reader is not available: decode with Pillow
        return _read_rgb_pillow(path)
    return np.ascontiguousarray(read_image(path).rgb, dtype=np.float32)


def _read_rgb_pillow(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    return arr / 255.0


def dihedral(img: np.ndarray, mode: int) -> np.ndarray:
    """Flip/rotation ``mode`` (0..7) of an HxW[xC] array, numbered as AdaIR/Restormer ``data_augmentation``."""
    if not 0 <= mode <= 7:
        raise ValueError(f"mode must be in 0..7, got {mode}")
    out = np.rot90(img, k=mode // 2) if mode >= 2 else img
    if mode % 2:
        out = np.flipud(out)
    return np.ascontiguousarray(out)


def pad_to(img: np.ndarray, size: int) -> np.ndarray:
    """Pad at the bottom/right by reflection (edge pixel repeated, OpenCV ``BORDER_REFLECT``) to >= size."""
    h, w = img.shape[:2]
    ph, pw = max(0, size - h), max(0, size - w)
    if not ph and not pw:
        return img
    while ph > 0 or pw > 0:  # symmetric padding can at most double a side per call
        h, w = img.shape[:2]
        step_h, step_w = min(ph, h), min(pw, w)
        img = np.pad(img, ((0, step_h), (0, step_w), (0, 0)), mode="symmetric")
        ph, pw = ph - step_h, pw - step_w
    return img


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def _noise(img: np.ndarray, sigma: float, rng: np.random.Generator, quantize: bool) -> np.ndarray:
    if quantize:  # AdaIR/PromptIR: uint8 patch + randn * sigma, clipped, truncated to uint8
        base = np.round(img * 255.0)
        noisy = np.clip(base + rng.standard_normal(img.shape) * sigma, 0, 255).astype(np.uint8)
        return noisy.astype(np.float32) / 255.0
    from ..data.degradations import gaussian_noise

    return gaussian_noise(img, rng, sigma)


# ----------------------------------------------------------------------------------------------------------
# listing sources
# ----------------------------------------------------------------------------------------------------------
def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _list_images(folder: Path, recursive: bool, key: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{key}: folder not found: {folder}")
    found = folder.rglob("*") if recursive else folder.iterdir()
    images = sorted(p for p in found if p.is_file() and _is_image(p))
    if not images:
        raise FileNotFoundError(f"{key}: no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return images


def _listed(src: SourceConfig, base: Path, key: str) -> list[Path] | None:
    if not src.names:
        return None
    names_file = Path(src.names)
    if not names_file.is_file():
        raise FileNotFoundError(f"{key}.names: file not found: {names_file}")
    entries = [line.strip() for line in names_file.read_text(encoding="utf-8").splitlines()]
    paths = [base / e for e in entries if e and not e.startswith("#")]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise FileNotFoundError(f"{key}: {missing[0]} (listed in {names_file}) not found{more}")
    if not paths:
        raise FileNotFoundError(f"{key}.names: {names_file} lists no files")
    return paths


def _subset(items: list[Any], src: SourceConfig, key: str) -> list[Any]:
    if src.subset is not None:
        items = items[slice(*src.subset)]
        if not items:
            raise ValueError(f"{key}.subset: {list(src.subset)} leaves no files")
    return items


def _gt_name(lq: Path, src: SourceConfig) -> str:
    """The ground truth's file name (``match: name``) or stem (``stem``, ``prefix``) for input ``lq``."""
    name = lq.name
    if src.replace is not None:
        name = name.replace(src.replace[0], src.replace[1], 1)
    if src.match == "name":
        return name
    stem = Path(name).stem
    return stem.split("_")[0] if src.match == "prefix" else stem


def _pairs(src: SourceConfig, key: str) -> list[tuple[Path, Path]]:
    root = Path(src.dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{key}.dir: folder not found: {root}")
    lq_dir, gt_dir = root / src.lq, root / src.gt
    for name, folder in (("lq", lq_dir), ("gt", gt_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{key}.{name}: folder not found: {folder}")
    listed = _listed(src, root, key)
    lqs = listed if listed is not None else _list_images(lq_dir, src.recursive, f"{key}.lq")
    by_stem: dict[str, list[Path]] = {}
    if src.match != "name":
        for p in _list_images(gt_dir, False, f"{key}.gt"):
            by_stem.setdefault(p.stem, []).append(p)
    pairs = []
    for lq in lqs:
        name = _gt_name(lq, src)
        if src.match == "name":
            gt: Path | None = gt_dir / name
            expected = str(gt)
        else:  # any image extension, the input's first (RESIDE: hazy .jpg, clean .jpg or .png)
            found = sorted(by_stem.get(name, []), key=lambda p: p.suffix.lower() != lq.suffix.lower())
            gt = found[0] if found else None
            expected = f"{gt_dir / name}.* (any image extension)"
        if gt is None or not gt.is_file():
            raise FileNotFoundError(f"{key}: no ground truth for {lq}: expected {expected}")
        pairs.append((lq, gt))
    return _subset(pairs, src, key)


def _clean(src: SourceConfig, key: str) -> list[tuple[None, Path]]:
    root = Path(src.dir)
    listed = _listed(src, root, key) if root.is_dir() else None
    images = listed if listed is not None else _list_images(root, src.recursive, f"{key}.dir")
    return _subset([(None, p) for p in images], src, key)


@dataclass(frozen=True)
class Task:
    """One kind of degradation from one source: its items, how to degrade them, its repetition factor."""

    name: str
    kind: str
    items: tuple[tuple[Path | None, Path], ...]  # (degraded file or None, clean file)
    repeat: int = 1
    sigma: float = 0.0
    quantize: bool = True
    degradation: str = ""

    def __len__(self) -> int:
        return len(self.items) * self.repeat


def build_tasks(sources: Sequence[SourceConfig], key: str = "data.train") -> list[Task]:
    """List every source's files (checking folders and pairs) and split it into tasks.

    Raises:
        FileNotFoundError: a folder, a listed file or a ground-truth file is missing; the message names the
            config key and the path.
    """
    tasks: list[Task] = []
    for i, src in enumerate(sources):
        where = f"{key}.{i}"
        if src.kind == "paired":
            tasks.append(Task(src.label, "paired", tuple(_pairs(src, where)), src.repeat))
        elif src.kind == "noise":
            items = tuple(_clean(src, where))
            for sigma in src.sigmas:
                name = f"{src.name or 'denoise'}_{sigma:g}"
                tasks.append(Task(name, "noise", items, src.repeat, sigma=float(sigma), quantize=src.quantize))
        elif src.kind == "synthetic":
            items = tuple(_clean(src, where))
            for deg in src.degradations:
                name = f"{src.name}_{deg}" if src.name else deg
                tasks.append(Task(name, "synthetic", items, src.repeat, degradation=deg))
        else:  # pragma: no cover - the config rejects other kinds
            raise ValueError(f"{where}.kind: unknown kind {src.kind!r}")
    return tasks


# ----------------------------------------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------------------------------------
class _TaskIndex:
    """Maps a flat index to (task number, item number); task ``t`` holds its items ``repeat`` times over."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)
        self.ends: list[int] = []
        total = 0
        for t in self.tasks:
            total += len(t)
            self.ends.append(total)

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        t = bisect.bisect_right(self.ends, index)
        start = self.ends[t - 1] if t else 0
        return t, (index - start) % len(self.tasks[t].items)


def _load_pair(task: Task, item: int) -> tuple[np.ndarray | None, np.ndarray]:
    lq_path, gt_path = task.items[item]
    gt = _read_rgb(gt_path)
    if lq_path is None:
        return None, gt
    lq = _read_rgb(lq_path)
    if lq.shape != gt.shape:
        raise ValueError(
            f"{lq_path} is {lq.shape[1]}x{lq.shape[0]} but its ground truth {gt_path} is {gt.shape[1]}x{gt.shape[0]}"
        )
    return lq, gt


def _degrade(task: Task, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(input, target)`` of a noise or synthetic task; the target is ``clean`` except for the dark-on-purpose
    scenes of :data:`hogformer.data.degradations.SCENES`."""
    if task.kind == "noise":
        return _noise(clean, task.sigma, rng, task.quantize), clean
    from ..data.degradations import SCENES, degrade_pair

    lq, gt = degrade_pair(np.ascontiguousarray(clean), task.degradation, rng)
    return lq, (gt if task.degradation in SCENES else clean)


class PatchDataset(Dataset):
    """Random training patches ``{"lq", "gt": (3, P, P) float32 in [0, 1], "task": int}``.

    ``dataset[(epoch, index)]`` (or ``dataset[index]`` for epoch 0) is a pure function of the files,
    ``seed``, ``epoch`` and ``index``. Steps: read; centre-crop to ``crop_multiple`` (if set); pad by
    reflection if smaller than the patch; random ``patch_size`` crop (the same place in input and ground
    truth); flip/rotation per ``augment``; for ``noise``/``synthetic`` tasks, degrade the clean patch. With
    ``degrade_context``, a synthetic task's crop is that size (at most the image), degraded whole, and the patch
    is cut from it at random.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        patch_size: int,
        seed: int = 0,
        augment: str = "dihedral7",
        crop_multiple: int | None = None,
        degrade_context: int | None = None,
    ) -> None:
        if augment not in ("dihedral7", "dihedral8", "none"):
            raise ValueError(f"augment must be dihedral7, dihedral8 or none, not {augment!r}")
        self.index = _TaskIndex(tasks)
        if not len(self.index):
            raise ValueError("no training samples")
        self.tasks = self.index.tasks
        self.task_names = [t.name for t in self.tasks]
        self.patch_size, self.seed, self.augment, self.crop_multiple = patch_size, seed, augment, crop_multiple
        self.degrade_context = degrade_context

    def __len__(self) -> int:
        return len(self.index)

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _TRAIN_STREAM, epoch, index])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = (0, key) if isinstance(key, (int, np.integer)) else key
        t, item = self.index.locate(int(index))
        task = self.tasks[t]
        rng = self.rng(int(epoch), int(index))
        lq, gt = _load_pair(task, item)
        if self.crop_multiple:
            gt = crop_to_multiple(gt, self.crop_multiple)
            lq = crop_to_multiple(lq, self.crop_multiple) if lq is not None else None
        p = self.patch_size
        # Synthetic degradations with a context window are applied to a larger crop first (see DataConfig).
        context = self.degrade_context if (lq is None and task.kind == "synthetic" and self.degrade_context) else p
        gt = pad_to(gt, p)
        lq = pad_to(lq, p) if lq is not None else None
        h, w = gt.shape[:2]
        ch, cw = min(context, h), min(context, w)
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        gt = gt[top : top + ch, left : left + cw]
        lq = lq[top : top + ch, left : left + cw] if lq is not None else None
        if self.augment != "none":
            mode = int(rng.integers(1 if self.augment == "dihedral7" else 0, 8))
            gt = dihedral(gt, mode)
            lq = dihedral(lq, mode) if lq is not None else None
        if lq is None:
            lq, gt = _degrade(task, gt, rng)
        if gt.shape[0] != p or gt.shape[1] != p:
            h, w = gt.shape[:2]
            top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            gt = np.ascontiguousarray(gt[top : top + p, left : left + p])
            lq = np.ascontiguousarray(lq[top : top + p, left : left + p])
        return {"lq": _to_tensor(lq), "gt": _to_tensor(gt), "task": t}


class EvalDataset(Dataset):
    """Fixed validation pairs ``{"lq", "gt", "task"}``: the centre ``size`` crop of each image (padded by
    reflection if smaller), or with ``size=None`` the whole image centre-cropped to a multiple of 16.
    Synthesised degradations are drawn from a generator seeded by ``(seed, index)``: the same every epoch.
    ``limit`` keeps the first items of each task."""

    def __init__(self, tasks: Sequence[Task], size: int | None = None, seed: int = 0, limit: int | None = None):
        if limit is not None:
            tasks = [Task(t.name, t.kind, t.items[:limit], 1, t.sigma, t.quantize, t.degradation) for t in tasks]
        else:
            tasks = [Task(t.name, t.kind, t.items, 1, t.sigma, t.quantize, t.degradation) for t in tasks]
        self.index = _TaskIndex(tasks)
        self.tasks = self.index.tasks
        self.task_names = [t.name for t in self.tasks]
        self.size, self.seed = size, seed
        if size is not None and size % SIZE_MULTIPLE:
            raise ValueError(f"size must be a multiple of {SIZE_MULTIPLE}, got {size}")

    def __len__(self) -> int:
        return len(self.index)

    def _crop(self, img: np.ndarray) -> np.ndarray:
        if self.size is None:
            out = crop_to_multiple(img, EVAL_MULTIPLE)
            if 0 in out.shape[:2]:
                raise ValueError(
                    f"a validation image of {img.shape[1]}x{img.shape[0]} is smaller than "
                    f"{EVAL_MULTIPLE}x{EVAL_MULTIPLE}; set data.val_size"
                )
            return out
        s = self.size
        img = pad_to(img, s)
        h, w = img.shape[:2]
        top, left = (h - s) // 2, (w - s) // 2
        return img[top : top + s, left : left + s]

    def __getitem__(self, index: int) -> dict[str, Any]:
        t, item = self.index.locate(int(index))
        task = self.tasks[t]
        lq, gt = _load_pair(task, item)
        gt = self._crop(gt)
        if lq is None:
            lq, gt = _degrade(task, gt, np.random.default_rng([self.seed, _EVAL_STREAM, int(index)]))
        else:
            lq = self._crop(lq)
        return {"lq": _to_tensor(lq), "gt": _to_tensor(gt), "task": t}


# ----------------------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------------------
class EpochSampler(Sampler[tuple[int, int]]):
    """``(epoch, index)`` keys of one rank's share of an epoch; resumable part-way through an epoch.

    Per epoch the indices are shuffled by a generator seeded by ``(seed, epoch)``; the first
    ``num_samples // world_size * world_size`` are dealt to the ranks round-robin (as ``DistributedSampler``
    with ``drop_last=True``). ``len()`` is always the whole share; the first ``skip`` keys of epoch ``epoch``
    are left out (a resumed run), and :meth:`set_epoch` with another epoch clears ``skip``. Wrap it in a
    ``BatchSampler`` (``DataLoader(batch_size=..., drop_last=True)``), with ``skip`` a multiple of the batch
    size.
    """

    def __init__(
        self,
        num_samples: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        epoch: int = 0,
        skip: int = 0,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.rank, self.world_size, self.epoch, self.skip = rank, world_size, epoch, skip

    def __len__(self) -> int:
        return self.num_samples // self.world_size

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.skip = epoch, 0

    def order(self, epoch: int) -> np.ndarray:
        """This rank's sample indices for ``epoch``, in order."""
        if self.shuffle:
            perm = np.random.default_rng([self.seed, _ORDER_STREAM, epoch]).permutation(self.num_samples)
        else:
            perm = np.arange(self.num_samples)
        return perm[self.rank : len(self) * self.world_size : self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        for i in self.order(epoch)[self.skip :]:
            yield epoch, int(i)


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, ...`` of a validation set (no padding, no duplicates)."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_samples, self.rank, self.world_size = num_samples, rank, world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_samples, self.world_size))


def default_workers(requested: int) -> int:
    """``requested`` DataLoader workers, at most the CPUs this process may use minus one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(0, min(requested, cpus - 1))
