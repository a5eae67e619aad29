"""Training configuration: one YAML file per protocol, dotted command-line overrides, a typed frozen result.

A config file has the sections ``model``, ``data``, ``optim``, ``schedule``, ``objective`` and ``trainer``
(see ``configs/published/*.yaml``). :func:`load_config` reads it, applies overrides such as ``optim.lr=1e-4`` or
``data.train.0.repeat=5`` (the value parsed with ``yaml.safe_load``), checks every key against the schema
(an unknown key is an error that names it), resolves relative data paths against ``--data-root`` or
``data.root`` and returns a :class:`TrainConfig`. :meth:`TrainConfig.to_dict` gives the resolved config that
the trainer writes as ``config.yaml`` in the run directory; loading that file gives the same config back.

This is the module to import: the schema's dataclasses live in :mod:`.config_schema`, the checks and the
overrides in :mod:`.config_parse`; this module reads and writes the files and resolves paths. It imports
neither Lightning nor anything that trains.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..files import atomic_write_bytes
from .config_parse import apply_overrides, parse_config
from .config_schema import ConfigError, SourceConfig, TrainConfig

__all__ = ["load_config", "resolve_paths", "write_config"]


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
