"""Training recipes: several training stages in one YAML file, each stage a training config.

A recipe (``configs/shipped.yaml``) is a mapping with ``name``, ``description``, ``base`` (a training config
shared by every stage) and ``stages``, a list of mappings, each with its own ``name`` and ``description`` and any
keys of a training config that differ from ``base``. A stage's config is ``base`` merged with the stage's keys:
mappings merge key by key, any other value (a list, a number, a string) replaces the base's. The stage's config
is named ``<recipe name>-<stage name>`` (its run directory is ``runs/<recipe name>-<stage name>``).

:func:`load_stage` is what ``hogformer train --config FILE [--stage NAME]`` calls: a plain config file loads as
:func:`~hogformer.training.config.load_config` loads it; a recipe needs ``--stage``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import load_config, resolve_paths
from .config_parse import apply_overrides, parse_config
from .config_schema import ConfigError, TrainConfig

__all__ = ["is_recipe", "load_stage", "stage_names", "stage_raw"]

_RECIPE_KEYS = ("name", "description", "base", "stages")


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # load_config reports a missing or malformed file


def is_recipe(raw: Any) -> bool:
    """Whether parsed YAML is a recipe (it has a top-level ``stages`` list) rather than a training config."""
    return isinstance(raw, Mapping) and "stages" in raw


def _stages(raw: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    for key in raw:
        if key not in _RECIPE_KEYS:
            raise ConfigError(
                f"{where}: {key}: unknown key; valid top-level keys of a recipe: {', '.join(_RECIPE_KEYS)}"
            )
    stages = raw["stages"]
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{where}: stages: must be a non-empty list of mappings")
    for i, stage in enumerate(stages):
        if not isinstance(stage, Mapping) or not isinstance(stage.get("name"), str) or not stage["name"]:
            raise ConfigError(f"{where}: stages.{i}: must be a mapping with a name")
    return stages


def stage_names(raw: Mapping[str, Any], where: str = "recipe") -> list[str]:
    """The names of a parsed recipe's stages, in order."""
    return [s["name"] for s in _stages(raw, where)]


def stage_raw(raw: Mapping[str, Any], stage: str, where: str = "recipe") -> dict[str, Any]:
    """The training config (plain data, paths unresolved) of the stage named ``stage`` of a parsed recipe."""
    found = [s for s in _stages(raw, where) if s["name"] == stage]
    if not found:
        raise ConfigError(f"{where}: no stage {stage!r}; stages: {', '.join(stage_names(raw, where))}")
    recipe_name = str(raw.get("name") or Path(where).stem)
    base = raw.get("base") or {}
    if not isinstance(base, Mapping):
        raise ConfigError(f"{where}: base: must be a mapping (a training config)")
    overrides = {k: v for k, v in found[0].items() if k != "name"}
    return _merge(base, {"name": f"{recipe_name}-{stage}", **overrides})


def load_stage(
    path: str | os.PathLike[str],
    stage: str | None = None,
    overrides: Sequence[str] = (),
    data_root: str | os.PathLike[str] | None = None,
) -> TrainConfig:
    """:func:`~hogformer.training.config.load_config` for a config file or for one stage of a recipe file.

    ``stage`` is required for a recipe and refused for a plain config; overrides apply to the stage's config.
    """
    path = Path(path)
    raw = _read(path)
    if not is_recipe(raw):
        if stage is not None:
            raise ConfigError(f"--stage {stage}: {path} is a training config, not a recipe of stages")
        return load_config(path, overrides, data_root=data_root)
    if stage is None:
        names = ", ".join(stage_names(raw, str(path)))
        raise ConfigError(f"{path} is a recipe of stages ({names}); choose one with --stage NAME")
    config = apply_overrides(stage_raw(raw, stage, str(path)), overrides)
    return resolve_paths(parse_config(config), data_root)
