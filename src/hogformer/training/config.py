"""Training configuration: one YAML file per protocol, dotted command-line overrides, a typed frozen result.

A config file has the sections ``model``, ``data``, ``optim``, ``schedule``, ``objective`` and ``trainer``
(see ``configs/published/*.yaml``). :func:`load_config` reads it, applies overrides such as ``optim.lr=1e-4`` or
``data.train.0.repeat=5`` (the value parsed with ``yaml.safe_load``), checks every key against the schema
below (an unknown key is an error that names it), resolves relative data paths against ``--data-root`` or
``data.root`` and returns a :class:`TrainConfig`. :meth:`TrainConfig.to_dict` gives the resolved config that
the trainer writes as ``config.yaml`` in the run directory; loading that file gives the same config back.

This module imports neither Lightning nor anything that trains.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..files import atomic_write_bytes
from ..losses import OFFICIAL_AIO, Objective
from ..models import SIZE_MULTIPLE, HOGformerConfig, preset

__all__ = [
    "AUGMENTATIONS",
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
    "apply_overrides",
    "load_config",
    "parse_config",
    "write_config",
]


class ConfigError(ValueError):
    """A training config that cannot be used; the message starts with the dotted key at fault."""


# ----------------------------------------------------------------------------------------------------------
# schema
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


# ----------------------------------------------------------------------------------------------------------
# generic conversion of plain data to the dataclasses above
# ----------------------------------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: a value is required, got null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"{key}: cannot use {value!r} ({'; '.join(errors)})")
    if value is None:
        raise ConfigError(f"{key}: a value is required, got null")
    if dataclasses.is_dataclass(tp):
        return _from_mapping(tp, value, key)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}.{i}") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{key}.{i}") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if number.is_integer():
                    return int(number)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover - schema bug


def _from_mapping(cls: type, raw: Any, key: str, skip: Sequence[str] = ()) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        where = f"{key}." if key else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key; valid keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in skip:
            continue
        sub = f"{key}.{name}" if key else name
        if name in raw:
            kwargs[name] = _convert(raw[name], hints[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{sub}: required")
    return kwargs if skip else cls(**kwargs)


def _check_kind(
    raw: Mapping[str, Any], key: str, kinds: Sequence[str], options: Mapping[str, set[str]], common: set[str]
) -> str:
    kind = raw.get("kind")
    if kind not in kinds:
        raise ConfigError(f"{key}.kind: must be one of {', '.join(kinds)}, got {kind!r}")
    for k in raw:
        if k not in common and k not in options[kind]:
            if any(k in opts for opts in options.values()):
                raise ConfigError(f"{key}.{k}: not an option of kind {kind!r}")
            allowed = sorted(common | options[kind])
            raise ConfigError(f"{key}.{k}: unknown key; valid keys for kind {kind!r}: {', '.join(allowed)}")
    return kind


# ----------------------------------------------------------------------------------------------------------
# section checks
# ----------------------------------------------------------------------------------------------------------
def _source(raw: Any, key: str) -> SourceConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping with kind and dir, got {raw!r}")
    kind = _check_kind(raw, key, SOURCE_KINDS, _SOURCE_OPTIONS, _SOURCE_COMMON)
    src: SourceConfig = _from_mapping(SourceConfig, raw, key)
    if src.repeat < 1:
        raise ConfigError(f"{key}.repeat: must be >= 1, got {src.repeat}")
    if kind == "noise":
        if not src.sigmas or any(not (s >= 0) for s in src.sigmas):
            raise ConfigError(f"{key}.sigmas: give one or more noise levels >= 0 (0..255 scale)")
    if kind == "paired" and src.match not in MATCH_RULES:
        raise ConfigError(f"{key}.match: must be one of {', '.join(MATCH_RULES)}, got {src.match!r}")
    if kind == "synthetic":
        from ..data.degradations import DEGRADATIONS

        if not src.degradations:
            raise ConfigError(f"{key}.degradations: name one or more of {', '.join(DEGRADATIONS)}")
        for i, name in enumerate(src.degradations):
            if name not in DEGRADATIONS:
                raise ConfigError(
                    f"{key}.degradations.{i}: unknown degradation {name!r}; valid: {', '.join(DEGRADATIONS)}"
                )
    return src


def _data(raw: Any, key: str = "data") -> DataConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {raw!r}")
    kwargs = _from_mapping(DataConfig, raw, key, skip=("train", "val"))
    for part in ("train", "val"):
        items = raw.get(part, [])
        if items is None:
            items = []
        if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
            raise ConfigError(f"{key}.{part}: expected a list of sources, got {items!r}")
        kwargs[part] = tuple(_source(item, f"{key}.{part}.{i}") for i, item in enumerate(items))
    data = DataConfig(**kwargs)
    if not data.train:
        raise ConfigError(f"{key}.train: give at least one training source")
    if data.augment not in AUGMENTATIONS:
        raise ConfigError(f"{key}.augment: must be one of {', '.join(AUGMENTATIONS)}, got {data.augment!r}")
    for name in ("patch_size", "val_size"):
        size = getattr(data, name)
        if size is not None and (size < SIZE_MULTIPLE or size % SIZE_MULTIPLE):
            raise ConfigError(f"{key}.{name}: must be a positive multiple of {SIZE_MULTIPLE}, got {size}")
    if data.batch_size < 1 or data.val_batch_size < 1:
        raise ConfigError(f"{key}.batch_size and {key}.val_batch_size must be >= 1")
    if data.crop_multiple is not None and data.crop_multiple < 1:
        raise ConfigError(f"{key}.crop_multiple: must be >= 1 or null, got {data.crop_multiple}")
    if data.num_workers < 0:
        raise ConfigError(f"{key}.num_workers: must be >= 0, got {data.num_workers}")
    if data.degrade_context is not None and data.degrade_context < data.patch_size:
        raise ConfigError(
            f"{key}.degrade_context: must be >= patch_size ({data.patch_size}) or null, got {data.degrade_context}"
        )
    prog = data.progressive
    if prog is not None:
        n = len(prog.patch_sizes)
        if n == 0 or len(prog.batch_sizes) != n or len(prog.iterations) != n:
            raise ConfigError(
                f"{key}.progressive: patch_sizes, batch_sizes and iterations need the same, non-zero length"
            )
        if any(p < SIZE_MULTIPLE or p % SIZE_MULTIPLE for p in prog.patch_sizes):
            raise ConfigError(f"{key}.progressive.patch_sizes: each must be a multiple of {SIZE_MULTIPLE}")
        if any(b < 1 for b in prog.batch_sizes) or any(i < 1 for i in prog.iterations):
            raise ConfigError(f"{key}.progressive: batch sizes and iterations must be >= 1")
        if data.patch_size != max(prog.patch_sizes) or data.batch_size != max(prog.batch_sizes):
            raise ConfigError(
                f"{key}.patch_size/batch_size: with progressive training they are the size loaded from disk "
                f"and must equal the largest stage ({max(prog.patch_sizes)} and {max(prog.batch_sizes)}), "
                f"got {data.patch_size} and {data.batch_size}"
            )
    return data


def _schedule(raw: Any, key: str = "schedule") -> ScheduleConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {raw!r}")
    kind = _check_kind(raw, key, SCHEDULE_KINDS, _SCHEDULE_OPTIONS, {"kind", "interval"})
    sched: ScheduleConfig = _from_mapping(ScheduleConfig, raw, key)
    interval = sched.interval or _SCHEDULE_INTERVAL[kind]
    if interval not in ("step", "epoch"):
        raise ConfigError(f"{key}.interval: must be 'step' or 'epoch', got {interval!r}")
    sched = dataclasses.replace(sched, interval=interval)
    if kind in ("warmup_cosine", "cosine"):
        if sched.total <= sched.warmup:
            raise ConfigError(f"{key}.total: must be larger than warmup ({sched.warmup}), got {sched.total}")
        if sched.warmup < 0 or sched.offset < 0:
            raise ConfigError(f"{key}: warmup and offset must be >= 0")
    if kind == "cyclic_cosine":
        n = len(sched.periods)
        if n == 0 or len(sched.restart_weights) != n or len(sched.eta_mins) != n:
            raise ConfigError(f"{key}: periods, restart_weights and eta_mins need the same, non-zero length")
        if any(p < 1 for p in sched.periods):
            raise ConfigError(f"{key}.periods: each must be >= 1")
    return sched


def _objective(raw: Any, key: str = "objective") -> ObjectiveConfig:
    obj: ObjectiveConfig = _from_mapping(ObjectiveConfig, raw, key)
    for name, part in obj.parts.items():
        if not isinstance(part, Mapping):
            raise ConfigError(f"{key}.parts.{name}: expected a mapping such as {{weight: 1.0}}, got {part!r}")
    try:
        Objective(obj.parts)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}.parts: {err}") from None
    for name, n in obj.off_last_epochs.items():
        if name not in obj.parts:
            raise ConfigError(f"{key}.off_last_epochs.{name}: no loss part of that name in {key}.parts")
        if int(n) < 0:
            raise ConfigError(f"{key}.off_last_epochs.{name}: must be >= 0, got {n}")
    return dataclasses.replace(obj, off_last_epochs={k: int(v) for k, v in obj.off_last_epochs.items()})


def _optim(raw: Any, key: str = "optim") -> OptimConfig:
    opt: OptimConfig = _from_mapping(OptimConfig, raw, key)
    if opt.name not in ("adamw", "adam"):
        raise ConfigError(f"{key}.name: must be 'adamw' or 'adam', got {opt.name!r}")
    if not (opt.lr > 0 and math.isfinite(opt.lr)):
        raise ConfigError(f"{key}.lr: must be a positive number, got {opt.lr}")
    return opt


def _trainer(raw: Any, key: str = "trainer") -> TrainerConfig:
    tr: TrainerConfig = _from_mapping(TrainerConfig, raw, key)
    if tr.max_epochs is None and tr.max_steps < 0:
        raise ConfigError(f"{key}: set max_epochs or max_steps")
    if tr.accumulate < 1:
        raise ConfigError(f"{key}.accumulate: must be >= 1, got {tr.accumulate}")
    for name in ("val_every_steps", "checkpoint_every_steps"):
        value = getattr(tr, name)
        if value is not None and value < 1:
            raise ConfigError(f"{key}.{name}: must be >= 1 or null, got {value}")
    if tr.grad_clip is not None and not tr.grad_clip > 0:
        raise ConfigError(f"{key}.grad_clip: must be > 0 or null, got {tr.grad_clip}")
    return tr


def _model(raw: Any, key: str = "model") -> HOGformerConfig:
    if raw is None:
        raw = {"preset": "official"}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping such as {{preset: official}}, got {raw!r}")
    fields = dict(raw)
    name = fields.pop("preset", None)
    names = {f.name for f in dataclasses.fields(HOGformerConfig)} | {"LayerNorm_type"}
    for k in fields:
        if k not in names:
            raise ConfigError(f"{key}.{k}: unknown key; valid keys: preset, {', '.join(sorted(names))}")
    try:
        base = preset(str(name)).to_dict() if name is not None else {}
        return HOGformerConfig.from_dict({**base, **fields})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


_TOP = ("name", "description", "seed", "init", "model", "data", "optim", "schedule", "objective", "trainer")


def parse_config(raw: Mapping[str, Any], default_name: str = "run") -> TrainConfig:
    """Check plain data (a parsed YAML file) against the schema and build a :class:`TrainConfig`.

    Paths are kept as written; :func:`load_config` resolves them.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a training config must be a mapping at the top level, got {type(raw).__name__}")
    for k in raw:
        if k not in _TOP:
            raise ConfigError(f"{k}: unknown key; valid top-level keys: {', '.join(_TOP)}")
    if "data" not in raw:
        raise ConfigError("data: required (at least data.train)")
    name = _convert(raw.get("name", default_name), str, "name")
    if not name or any(c in name for c in "/\\") or name in (".", ".."):
        raise ConfigError(f"name: must be a plain name usable as a folder, got {name!r}")
    return TrainConfig(
        name=name,
        description=_convert(raw.get("description", ""), str, "description"),
        seed=_convert(raw.get("seed", 0), int, "seed"),
        init=_convert(raw.get("init"), str | None, "init"),
        model=_model(raw.get("model")),
        data=_data(raw["data"]),
        optim=_optim(raw.get("optim", {})),
        schedule=_schedule(raw.get("schedule", {"kind": "constant"})),
        objective=_objective(raw.get("objective", {})),
        trainer=_trainer(raw.get("trainer", {})),
    )


# ----------------------------------------------------------------------------------------------------------
# overrides, paths, files
# ----------------------------------------------------------------------------------------------------------
def _split_override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{text!r}: an override must look like section.key=value (e.g. optim.lr=1e-4)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"{key}: cannot parse the value {value!r}: {err}") from None
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides to a parsed config in place (list items by index: ``data.train.0.repeat``).

    Unknown keys are not caught here but by :func:`parse_config`, which names the dotted key.
    """
    for text in overrides:
        path, value = _split_override(text)
        node: Any = raw
        for i, part in enumerate(path[:-1]):
            where = ".".join(path[: i + 1])
            if isinstance(node, list):
                index = _list_index(node, part, where)
                node = node[index]
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise ConfigError(f"{where}: cannot set {'.'.join(path)} inside a {type(node).__name__} value")
        last = path[-1]
        if isinstance(node, list):
            node[_list_index(node, last, ".".join(path))] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"{'.'.join(path[:-1])}: cannot set {last} inside a {type(node).__name__} value")
    return raw


def _list_index(node: list[Any], part: str, where: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"{where}: this level is a list; use an index such as 0") from None
    if not -len(node) <= index < len(node):
        raise ConfigError(f"{where}: index out of range (the list has {len(node)} entries)")
    return index


def _resolve(path: str, root: Path) -> str:
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (root / p).resolve())


def resolve_paths(config: TrainConfig, data_root: str | os.PathLike[str] | None = None) -> TrainConfig:
    """Make the data root and every source's ``dir`` and ``names`` absolute, and ``init`` when it names an
    existing file (relative to the working directory; otherwise it is the name of shipped weights).

    The root is ``data_root`` when given, else ``data.root`` (relative to the working directory).
    """
    root = Path(os.path.expanduser(str(data_root if data_root is not None else config.data.root)))
    root = (root if root.is_absolute() else Path.cwd() / root).resolve()

    def fix(src: SourceConfig) -> SourceConfig:
        names = _resolve(src.names, root) if src.names else None
        return dataclasses.replace(src, dir=_resolve(src.dir, root), names=names)

    data = dataclasses.replace(
        config.data,
        root=str(root),
        train=tuple(fix(s) for s in config.data.train),
        val=tuple(fix(s) for s in config.data.val),
    )
    init = config.init
    if init is not None and Path(os.path.expanduser(init)).exists():
        init = _resolve(init, Path.cwd())
    return dataclasses.replace(config, data=data, init=init)


def load_config(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    data_root: str | os.PathLike[str] | None = None,
) -> TrainConfig:
    """Read a YAML training config, apply ``key=value`` overrides, check it and resolve its data paths.

    The run name defaults to the file's stem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"training config not found: {path}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a training config must be a mapping at the top level")
    apply_overrides(raw, overrides)
    return resolve_paths(parse_config(raw, default_name=path.stem), data_root)


def write_config(config: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML, atomically (temporary file + rename)."""
    path = Path(path)
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
