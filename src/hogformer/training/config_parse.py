"""Checking plain data (a parsed YAML file) against the training config's schema, and dotted overrides.

:func:`parse_config` converts each section to its dataclass (:mod:`.config_schema`), checks every key (an
unknown key is an error that names it) and every value; :func:`apply_overrides` sets ``a.b=value`` keys (the
value parsed with ``yaml.safe_load``) before that. Paths are kept as written.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..losses import Objective
from ..models import SIZE_MULTIPLE, HOGformerConfig, preset
from .config_schema import (
    _SCHEDULE_INTERVAL,
    _SCHEDULE_OPTIONS,
    _SOURCE_COMMON,
    _SOURCE_OPTIONS,
    AUGMENTATIONS,
    MATCH_RULES,
    SCHEDULE_KINDS,
    SOURCE_KINDS,
    ConfigError,
    DataConfig,
    ObjectiveConfig,
    OptimConfig,
    ScheduleConfig,
    SourceConfig,
    TrainConfig,
    TrainerConfig,
)

__all__ = ["apply_overrides", "parse_config"]


# ----------------------------------------------------------------------------------------------------------
# generic conversion of plain data to the dataclasses of the schema
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
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
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
    if not isinstance(kind, str) or kind not in kinds:
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
# overrides
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
