"""The training config's schema: frozen dataclasses, one per section of a config file, and the kinds and options
each accepts.

:func:`~hogformer.training.config.load_config` builds a :class:`TrainConfig` from a YAML file
(:mod:`.config_parse` checks the plain data against these classes); :meth:`TrainConfig.to_dict` writes it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..losses import OFFICIAL_AIO
from ..models import HOGformerConfig

__all__ = [
    "AUGMENTATIONS",
    "MATCH_RULES",
    "SCHEDULE_KINDS",
    "SOURCE_KINDS",
    "ConfigError",
    "DataConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "ProgressiveConfig",
    "ScheduleConfig",
    "SourceConfig",
    "TrainConfig",
    "TrainerConfig",
]


class ConfigError(ValueError):
    """A training config that cannot be used; the message starts with the dotted key at fault."""


# ----------------------------------------------------------------------------------------------------------
# kinds and their options
# ----------------------------------------------------------------------------------------------------------
#: Kinds of training/validation data source (see :mod:`hogformer.training.datasets`).
SOURCE_KINDS = ("noise", "paired", "synthetic")
_SOURCE_COMMON = {"kind", "dir", "name", "repeat", "names", "subset", "recursive"}
_SOURCE_OPTIONS = {
    "noise": {"sigmas", "quantize"},
    "paired": {"lq", "gt", "match", "replace"},
    "synthetic": {"degradations"},
}
#: How a paired source finds the ground truth of an input file (see :class:`SourceConfig`).
MATCH_RULES = ("name", "stem", "prefix")
#: Geometric augmentations: the 7 non-identity flips/rotations (AdaIR/PromptIR), all 8 (Restormer/BasicSR).
AUGMENTATIONS = ("dihedral7", "dihedral8", "none")
SCHEDULE_KINDS = ("constant", "warmup_cosine", "cyclic_cosine", "cosine")
_SCHEDULE_OPTIONS = {
    "constant": set(),
    "warmup_cosine": {"warmup", "total", "warmup_start_lr", "eta_min", "offset"},
    "cyclic_cosine": {"periods", "restart_weights", "eta_mins"},
    "cosine": {"warmup", "total", "warmup_start_lr", "eta_min"},
}
_SCHEDULE_INTERVAL = {"constant": "step", "warmup_cosine": "epoch", "cyclic_cosine": "step", "cosine": "step"}


@dataclass(frozen=True)
class SourceConfig:
    """One source of (degraded, clean) pairs; ``kind`` says how pairs are made.

    * ``noise``: clean images in ``dir``; Gaussian noise of each sigma in ``sigmas`` (0..255 scale) added on
      the fly, one task per sigma. ``quantize`` (default, as AdaIR/PromptIR) rounds the clean patch to 8 bits,
      adds the noise on 0..255, clips and truncates to uint8.
    * ``paired``: degraded files under ``dir/lq``, ground truth under ``dir/gt``; the ground truth of an input
      has the same file name (``match: name``), the same stem with any image extension (``stem``), or the stem
      cut at its first ``_`` with any image extension, the input's first (``prefix``: RESIDE
      ``0025_0.8_0.04.jpg`` -> ``0025.jpg``, or ``0025.png`` in the SOTS test set); ``replace: [old, new]``
      first rewrites the input's file name (Rain100L ``rain-1.png`` -> ``norain-1.png``). ``lq``/``gt`` may
      be absolute.
    * ``synthetic``: clean images in ``dir``; each degradation named in ``degradations``
      (:data:`hogformer.data.degradations.DEGRADATIONS`) synthesised on the fly, one task per degradation.

    Common options: ``name`` labels the task(s) in logs; ``repeat`` is the per-task repetition factor of one
    epoch; ``names`` is a text file listing the files to use, one path per line relative to ``dir`` (the
    AdaIR ``data_dir/*.txt`` lists); ``subset: [start, stop]`` keeps a Python slice of the sorted file list
    (e.g. ``[null, -8]`` for training and ``[-8, null]`` for validation on the same folder); ``recursive``
    also lists sub-folders.
    """

    kind: str
    dir: str
    name: str = ""
    repeat: int = 1
    names: str | None = None
    subset: tuple[int | None, int | None] | None = None
    recursive: bool = False
    sigmas: tuple[float, ...] = ()
    quantize: bool = True
    lq: str = "input"
    gt: str = "gt"
    match: str = "name"
    replace: tuple[str, str] | None = None
    degradations: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or Path(self.dir).name or self.kind


@dataclass(frozen=True)
class ProgressiveConfig:
    """Progressive training (Restormer/Histoformer): stage ``i`` lasts ``iterations[i]`` optimizer steps and
    trains on ``batch_sizes[i]`` random ``patch_sizes[i]`` crops taken from the loaded batch; after the last
    stage the last sizes are kept."""

    patch_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    iterations: tuple[int, ...]


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is cut into training batches.

    ``crop_multiple`` centre-crops every training image to a multiple of it before the random crop (AdaIR: 16);
    an image smaller than the patch is padded by reflection at the bottom/right (BasicSR). Validation takes
    the centre ``val_size`` crop of every image, or, with ``val_size: null``, the whole image centre-cropped to a
    multiple of 16 (batch size 1); ``val_limit`` keeps the first N items of each validation task.
    ``degrade_context`` (synthetic sources): degrade a window of this size around the patch, then cut the patch
    from it, so that degradations with large-scale structure (the haze depth map, rain streak layout) have the
    statistics of a whole photo rather than of one small patch; null degrades the patch itself.
    """

    root: str = "."
    train: tuple[SourceConfig, ...] = ()
    val: tuple[SourceConfig, ...] = ()
    patch_size: int = 128
    batch_size: int = 8
    crop_multiple: int | None = None
    augment: str = "dihedral7"
    val_size: int | None = None
    val_batch_size: int = 1
    val_limit: int | None = None
    num_workers: int = 4
    progressive: ProgressiveConfig | None = None
    degrade_context: int | None = None


@dataclass(frozen=True)
class OptimConfig:
    """AdamW (``name: adamw``) or Adam; unset values are torch's defaults."""

    name: str = "adamw"
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule (:mod:`hogformer.training.schedules`), stepped per ``interval``.

    * ``warmup_cosine`` (Settings III/IV, per epoch): linear warm-up over ``warmup`` epochs from
      ``warmup_start_lr``, cosine to ``eta_min`` at epoch ``total``; ``offset: 1`` reproduces the official
      trainer, which steps the scheduler with the index of the epoch just finished (epoch ``e`` trains at the
      closed-form value of ``e - 1``).
    * ``cyclic_cosine`` (Setting I, per iteration): BasicSR ``CosineAnnealingRestartCyclicLR`` with
      ``periods``, ``restart_weights``, ``eta_mins``.
    * ``cosine``: optional linear warm-up over ``warmup`` units, then cosine to ``eta_min`` at ``total``.
    * ``constant``.
    """

    kind: str = "constant"
    interval: str = ""
    warmup: int = 0
    total: int = 0
    warmup_start_lr: float = 0.0
    eta_min: float = 0.0
    offset: int = 0
    periods: tuple[int, ...] = ()
    restart_weights: tuple[float, ...] = ()
    eta_mins: tuple[float, ...] = ()


@dataclass(frozen=True)
class ObjectiveConfig:
    """``parts`` as :class:`hogformer.losses.Objective` takes them; ``off_last_epochs`` switches a part off
    for the last N epochs of the run (Settings III/IV: ``{hog: 5}``)."""

    parts: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: OFFICIAL_AIO)
    off_last_epochs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainerConfig:
    """Lightning ``Trainer`` settings. ``accumulate`` is gradient accumulation; ``grad_clip`` clips the global
    gradient norm; ``val_every_steps`` validates every N optimizer steps instead of every
    ``val_every_epochs`` epochs; ``checkpoint_every_steps`` also writes ``last.ckpt`` every N optimizer steps
    (it is always written at the end of each epoch); ``activation_checkpointing`` trades time for memory."""

    max_epochs: int | None = None
    max_steps: int = -1
    precision: str = "32-true"
    accumulate: int = 1
    grad_clip: float | None = None
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    val_every_epochs: int = 1
    val_every_steps: int | None = None
    log_every_steps: int = 50
    checkpoint_every_steps: int | None = None
    sanity_val_steps: int = 0
    #: Recompute each transformer block's activations in the backward pass (``HOGformer.set_checkpointing``):
    #: a fraction of the activation memory for about a third more time per step.
    activation_checkpointing: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run. ``model`` is the network's own :class:`~hogformer.models.HOGformerConfig`.

    ``init`` starts the network from weights instead of a random initialisation (fine-tuning): a checkpoint
    path (any format :func:`hogformer.load_model` reads) or the name of shipped weights; the file's network must
    have the configuration of ``model``. A run resumed from a checkpoint takes its weights from the checkpoint.
    """

    name: str
    model: HOGformerConfig
    data: DataConfig
    seed: int = 0
    description: str = ""
    init: str | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-able data (the model written out field by field, each source and
        the schedule with the keys of their kind only); :func:`parse_config` reads it back."""
        data = _plain(self.data)
        data["train"] = [_source_dict(s) for s in self.data.train]
        data["val"] = [_source_dict(s) for s in self.data.val]
        schedule = {
            k: v
            for k, v in _plain(self.schedule).items()
            if k in ("kind", "interval") or k in _SCHEDULE_OPTIONS[self.schedule.kind]
        }
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "init": self.init,
            "model": self.model.to_dict(),
            "data": data,
            "optim": _plain(self.optim),
            "schedule": schedule,
            "objective": _plain(self.objective),
            "trainer": _plain(self.trainer),
        }


def _source_dict(src: SourceConfig) -> dict[str, Any]:
    keep = _SOURCE_COMMON | _SOURCE_OPTIONS[src.kind]
    return {k: v for k, v in _plain(src).items() if k in keep}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
