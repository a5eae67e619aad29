"""Where weights are: a file, a Hugging Face Hub folder, or ``hf://OWNER/NAME[@REVISION]``.

Turning such a location into a local weights file is the first step of loading weights, below the checkpoint
formats (:mod:`hogformer.checkpoints`). A Hub folder holds ``model.safetensors`` (weights, with the network
config in its metadata), ``config.json`` and ``README.md`` (a model card); ``hf://`` locations are downloaded once
through huggingface_hub's cache (offline, the cached copy is used). Only downloading needs huggingface_hub
(``pip install 'hogformer[hub]'``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)


class LocationError(ValueError):
    """Weights cannot be found where a location says; ``str(err)`` is ``"<location>: <reason>"`` on one line."""

    def __init__(self, location: str | os.PathLike[str], reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"{location}: {reason}")


HF_SCHEME = "hf://"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
#: Files a download fetches (the card comes along so that the cached folder is a complete Hub folder).
_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)
_REPO_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_HF_RE = re.compile(rf"^hf://(?P<repo>{_REPO_PART}/{_REPO_PART})(?:@(?P<rev>[^@\s]+))?/?$")


def is_hf_uri(text: str | os.PathLike[str]) -> bool:
    return isinstance(text, str) and text.startswith(HF_SCHEME)


def parse_hf_uri(uri: str) -> tuple[str, str | None]:
    """``hf://OWNER/NAME[@REVISION]`` -> ``(OWNER/NAME, REVISION or None)``; ValueError for anything else."""
    m = _HF_RE.match(uri)
    if m is None:
        raise ValueError(f"{uri}: not a Hub address; expected hf://OWNER/NAME or hf://OWNER/NAME@REVISION")
    return m.group("repo"), m.group("rev")


def weights_in_folder(folder: str | os.PathLike[str]) -> Path:
    """The weights file of a Hub folder (``model.safetensors``); LocationError naming the folder otherwise."""
    folder = Path(folder)
    weights = folder / WEIGHTS_NAME
    if weights.is_file():
        return weights
    found = sorted(p.name for p in folder.glob("*.safetensors"))
    if len(found) == 1:
        return folder / found[0]
    what = f"several .safetensors files ({', '.join(found)})" if found else "no .safetensors file"
    raise LocationError(
        folder, f"is a directory, not a checkpoint file nor a Hub folder (no {WEIGHTS_NAME}, {what}): give the file"
    )


def resolve_hf(uri: str) -> Path:
    """Download (or find in huggingface_hub's cache) the Hub repository ``uri`` names; return its weights file.

    Raises LocationError with a one-line message naming the repository when it cannot be had (offline and
    not cached, no such repository or revision, no weights in it)."""
    repo, revision = parse_hf_uri(uri)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise LocationError(uri, "loading from the Hub needs huggingface_hub: pip install 'hogformer[hub]'") from None
    try:
        folder = snapshot_download(repo_id=repo, revision=revision, allow_patterns=list(_FILES))
    except Exception as e:  # huggingface_hub raises many types (offline, 404, auth); all mean "not available"
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = (
            "not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            if offline
            else f"could not be downloaded and is not in the local Hugging Face cache ({type(e).__name__}: {first})"
        )
        rev = f" at revision {revision}" if revision else ""
        raise LocationError(uri, f"Hub repository {repo}{rev} {reason}") from None
    log.debug("%s -> %s", uri, folder)
    return weights_in_folder(folder)


def local_weights(location: str | os.PathLike[str]) -> Path:
    """The local weights file of ``location``: ``hf://`` downloaded (:func:`resolve_hf`), a folder's
    ``model.safetensors`` (:func:`weights_in_folder`), anything else as the path it is."""
    if is_hf_uri(location):
        return resolve_hf(str(location))
    if Path(location).is_dir():
        return weights_in_folder(location)
    return Path(location)
