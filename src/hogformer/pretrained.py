"""Weights that ship inside the package, by name, and resolving a ``--weights`` argument to a file."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .locations import is_hf_uri, local_weights

WEIGHTS_DIR = Path(__file__).with_name("weights")
DEFAULT_NAME = "default"


@dataclass(frozen=True)
class ShippedWeights:
    name: str
    path: Path
    sha256: str
    description: str
    test_only: bool = False


def _registry() -> dict[str, ShippedWeights]:
    index = WEIGHTS_DIR / "index.json"
    if not index.is_file():
        return {}
    entries = json.loads(index.read_text())
    return {
        e["name"]: ShippedWeights(
            e["name"], WEIGHTS_DIR / e["file"], e["sha256"], e.get("description", ""), bool(e.get("test_only"))
        )
        for e in entries
    }


def shipped() -> dict[str, ShippedWeights]:
    """The weights bundled with the package, by name."""
    return _registry()


def sha256_of(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_weights(weights: str | os.PathLike[str] | None) -> tuple[Path, ShippedWeights | None]:
    """A file path, a Hub folder (its ``model.safetensors``), ``hf://OWNER/NAME[@REVISION]`` (downloaded once
    through huggingface_hub's cache), or the name of shipped weights (``None`` = the default); checks a shipped
    file's sha256."""
    if weights is not None and (is_hf_uri(weights) or Path(weights).is_dir()):
        return local_weights(weights), None
    if weights is not None and (Path(weights).exists() or os.sep in str(weights) or "." in Path(weights).name):
        return Path(weights), None
    name = DEFAULT_NAME if weights is None else str(weights)
    registry = _registry()
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise FileNotFoundError(f"{name}: no such weights file, and no shipped weights of that name (shipped: {known})")
    entry = registry[name]
    if sha256_of(entry.path) != entry.sha256:
        raise ValueError(f"{entry.path}: shipped weights do not match their sha256; reinstall hogformer")
    return entry.path, entry
