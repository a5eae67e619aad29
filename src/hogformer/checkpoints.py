"""Load any published or project checkpoint as ``(config, state_dict)``; save safetensors with the config.

Supported containers (all read without unpickling arbitrary objects):

* the project's ``.safetensors`` (config in the metadata),
* a bare ``.safetensors`` state dict (config derived from the shapes),
* the official Setting I BasicSR file ``{"params": ..., "params_ema": ...}``,
* the official Settings III/IV Lightning ``.ckpt`` (``state_dict`` with ``net.`` prefixes and loss buffers),
* a bare ``torch.save``-d state dict, with or without ``module.`` / ``_orig_mod.`` prefixes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write_bytes
from .locations import LocationError, local_weights
from .models import HOGformer, HOGformerConfig
from .models.layers import sobel_kernels

log = logging.getLogger(__name__)

#: Metadata keys of the project's safetensors files.
META_FORMAT = "format"
META_FORMAT_VALUE = "hogformer"
META_CONFIG = "hogformer_config"

_PREFIXES = ("module.", "_orig_mod.", "net.", "model.", "net_g.")
_FFN_FACTORS = (2.667, 2.66, 2.0, 4.0, 3.0, 1.0, 1.5, 2.5, 8.0 / 3.0)


class CheckpointError(ValueError):
    """A file that cannot be loaded as HOGformer weights; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class Checkpoint:
    """A checkpoint read from disk, canonicalised to the official state-dict names."""

    config: HOGformerConfig
    state_dict: dict[str, torch.Tensor]
    format: str
    path: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    config_source: str = "metadata"  # "metadata" or "shapes"
    dropped_keys: list[str] = field(default_factory=list)

    @property
    def num_parameters(self) -> int:
        return sum(v.numel() for k, v in self.state_dict.items() if not k.endswith(("sobel_x", "sobel_y")))


# ----------------------------------------------------------------------------------------------- reading


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(path, "empty file (0 bytes)")
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head[:1] == b"\x80":
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    raise CheckpointError(
        path, "not a checkpoint: neither a safetensors file nor a PyTorch file (unknown file signature)"
    )


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for every corruption
        raise CheckpointError(path, f"corrupt or truncated safetensors file ({e})") from None
    return tensors, metadata


def _read_torch(path: Path, kind: str) -> Any:
    if kind == "torch-zip":
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except zipfile.BadZipFile as e:
            raise CheckpointError(path, f"corrupt or truncated PyTorch file ({e})") from None
        if bad is not None:
            raise CheckpointError(path, f"corrupt PyTorch file (member {bad} fails its checksum)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "GLOBAL" in msg:
            first = next((ln.strip() for ln in msg.splitlines() if "Unsupported" in ln or "global" in ln), "")
            raise CheckpointError(
                path,
                "refused to load: the file holds pickled Python objects that could run code, and only plain "
                f"tensors and containers are accepted ({first or 'weights_only=True failed'}). "
                "If you trust the file, re-save its state dict with torch.save(model.state_dict(), ...)",
            ) from None
        raise CheckpointError(path, f"corrupt or truncated PyTorch file ({msg.splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(path, f"corrupt or truncated PyTorch file ({first})") from None


def _state_dict_from_container(path: Path, obj: Any, key: str | None) -> tuple[dict[str, Any], str, list[str]]:
    """Find the state dict in a torch container; return it, the format name and keys dropped on the way."""
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"not a checkpoint: the file holds a {type(obj).__name__}, not a dict")
    if key is not None:
        if key not in obj:
            raise CheckpointError(path, f"has no entry {key!r} (entries: {', '.join(map(str, obj))})")
        return obj[key], f"dict[{key!r}]", []
    if "params" in obj or "params_ema" in obj:
        which = "params" if "params" in obj else "params_ema"
        return obj[which], f"basicsr ({which})", []
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        sd = obj["state_dict"]
        kind = "lightning" if "pytorch-lightning_version" in obj or any(k.startswith("net.") for k in sd) else "dict"
        if any(k.startswith("net.") for k in sd):
            dropped = [k for k in sd if not k.startswith("net.")]
            sd = {k: v for k, v in sd.items() if k.startswith("net.")}
            return sd, kind, dropped
        return sd, kind, []
    for name in ("model", "net", "net_g", "model_state_dict"):
        if name in obj and isinstance(obj[name], dict):
            return obj[name], f"dict[{name!r}]", []
    return obj, "state_dict", []


def canonicalize_state_dict(sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes (``module.``, ``_orig_mod.``, ``net.``, ...) that every key shares."""
    sd = {str(k): v for k, v in sd.items()}
    changed = True
    while changed and sd:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix) :]: v for k, v in sd.items()}
                changed = True
    # torch.compile inserts _orig_mod. in the middle of names of compiled sub-modules.
    return {k.replace("._orig_mod.", "."): v for k, v in sd.items()}


def _count_blocks(sd: dict[str, Any], level: str) -> int:
    pattern = re.compile(rf"^{re.escape(level)}\.(\d+)\.")
    idx = {int(m.group(1)) for k in sd if (m := pattern.match(k))}
    return max(idx) + 1 if idx else 0


def infer_config(sd: dict[str, torch.Tensor], layernorm_type: str = "WithBias") -> HOGformerConfig:
    """Derive every hyper-parameter visible in the tensor shapes.

    The norm type has no parameters and cannot be seen: it is taken from ``layernorm_type`` (every published
    model uses ``WithBias``). Raises ``KeyError``/``ValueError`` when the dict is not a HOGformer.
    """
    embed = sd["patch_embed.proj.weight"]
    dim, inp = int(embed.shape[0]), int(embed.shape[1])
    out = int(sd["output.weight"].shape[0])
    levels = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
    blocks = tuple(_count_blocks(sd, lv) for lv in levels)
    if min(blocks) < 1:
        raise ValueError("a U-Net level has no blocks")
    heads = tuple(int(sd[f"{lv}.0.attn_g_spatial.temperature"].shape[0]) for lv in levels)
    refinement = _count_blocks(sd, "refinement")
    bias = "patch_embed.proj.bias" in sd or "encoder_level1.0.attn_g_spatial.qkv.bias" in sd
    hidden = {
        w: int(sd[f"{lv}.0.ffn.project_in.weight"].shape[0]) // 2
        for w, lv in zip((dim, 2 * dim, 4 * dim, 8 * dim), levels)
    }
    candidates = list(_FFN_FACTORS) + [hidden[dim] / dim + 1e-9]
    factor = next((f for f in candidates if all(int(w * f) == h for w, h in hidden.items())), None)
    if factor is None:
        raise ValueError(f"no ffn_expansion_factor gives the feed-forward widths {hidden}")
    return HOGformerConfig(
        inp_channels=inp,
        out_channels=out,
        dim=dim,
        num_blocks=blocks,  # type: ignore[arg-type]
        num_refinement_blocks=refinement,
        heads=heads,  # type: ignore[arg-type]
        ffn_expansion_factor=factor,
        bias=bias,
        layernorm_type=layernorm_type,
    )


def _describe_keys(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def check_state_dict(path: Path, config: HOGformerConfig, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Compare ``sd`` with the network ``config`` builds; raise a :class:`CheckpointError` naming what differs.

    The Sobel buffers are constants: where a file lacks them they are taken from a fresh model.
    """
    with torch.device("meta"):
        reference = HOGformer(config).state_dict()
    missing = [k for k in reference if k not in sd and not k.endswith(("sobel_x", "sobel_y"))]
    unexpected = [k for k in sd if k not in reference]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_describe_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_describe_keys(unexpected)}")
        raise CheckpointError(path, "not weights of this HOGformer configuration; " + "; ".join(parts))
    wrong = [
        f"{k} {tuple(sd[k].shape)} (expected {tuple(v.shape)})"
        for k, v in reference.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise CheckpointError(path, "tensor shapes do not match the configuration: " + _describe_keys(wrong, 4))
    complete = dict(sd)
    for k in reference:
        if k not in complete:
            kx, ky = sobel_kernels(reference[k].shape[0])
            complete[k] = kx if k.endswith("sobel_x") else ky
    return complete


def blocks_per_level(keys: Iterable[str]) -> dict[str, int]:
    """How many transformer blocks each level of a HOGformer state dict holds (``latent.3.attn_g_spatial...``:
    at least four in ``latent``), read from the parameter names."""
    counts: dict[str, int] = {}
    for key in keys:
        match = re.match(r"(\w+)\.(\d+)\.attn_g_spatial\.", key)
        if match:
            counts[match[1]] = max(counts.get(match[1], 0), int(match[2]) + 1)
    return counts


def grow_state_dict(state: dict[str, torch.Tensor], source: HOGformerConfig, net: HOGformer) -> list[str]:
    """Load ``state`` (a network configured as ``source``) into ``net``, which has more blocks per level.

    ``net``'s configuration must equal ``source`` except for ``num_blocks`` / ``num_refinement_blocks``, each at
    least the source's. Every block of the source keeps its place; each level's extra blocks come after them and
    start as the identity: their two output projections (``attn_g_spatial.project_out``, ``ffn.project_out``) are
    zero, so both residual branches add nothing, and the grown network computes exactly what the source did
    (progressive deepening; the other weights of a new block are ``net``'s fresh initialisation and get gradients
    once the projections move off zero). Returns the names of the new blocks (``"latent.3"``, ...).
    Raises ``ValueError`` when the configurations differ otherwise, a level would shrink or the keys do not fit.
    """
    target = net.config
    same_sizes = dataclasses.replace(
        target, num_blocks=source.num_blocks, num_refinement_blocks=source.num_refinement_blocks
    )
    if same_sizes != source:
        raise ValueError(
            f"the file's network {source.to_dict()} differs from this run's model {target.to_dict()} in more "
            "than the number of blocks per level"
        )
    out = net.state_dict()
    have, want = blocks_per_level(state), blocks_per_level(out)
    new_blocks = []
    for level, count in want.items():
        if count < have.get(level, 0):
            raise ValueError(f"{level} has {have[level]} blocks in the file but {count} in this run's model")
        for i in range(have.get(level, 0), count):
            new_blocks.append(f"{level}.{i}")
            for branch in ("attn_g_spatial", "ffn"):
                for name in ("weight", "bias"):
                    key = f"{level}.{i}.{branch}.project_out.{name}"
                    if key in out:
                        out[key] = torch.zeros_like(out[key])
    new_prefixes = tuple(f"{b}." for b in new_blocks)
    missing = [k for k in out if k not in state and not k.startswith(new_prefixes)]
    unexpected = [k for k in state if k not in out]
    if missing or unexpected:
        raise ValueError(f"state dict does not fit (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for k, v in state.items():
        out[k] = v.to(dtype=out[k].dtype)
    net.load_state_dict(out, strict=True)
    return new_blocks


def read_checkpoint(path: str | os.PathLike[str], *, key: str | None = None) -> Checkpoint:
    """Read any supported checkpoint file; see the module docstring. ``key`` picks an entry of a dict
    container (e.g. ``"params_ema"`` of a BasicSR file). A Hub folder or ``hf://OWNER/NAME[@REVISION]`` is read
    through :func:`hogformer.locations.local_weights`."""
    try:
        path = local_weights(path)
    except LocationError as e:
        raise CheckpointError(e.location, e.reason) from None
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    kind = _sniff(path)
    metadata: dict[str, str] = {}
    dropped: list[str] = []
    if kind == "safetensors":
        raw, metadata = _read_safetensors(path)
        fmt = "hogformer safetensors" if metadata.get(META_FORMAT) == META_FORMAT_VALUE else "safetensors"
    else:
        obj = _read_torch(path, kind)
        raw, fmt, dropped = _state_dict_from_container(path, obj, key)
        if not isinstance(raw, dict):
            raise CheckpointError(path, "not a checkpoint: its state dict is not a dict of tensors")
    non_tensor = [k for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if non_tensor:
        raise CheckpointError(path, f"not a state dict: entries that are not tensors: {_describe_keys(non_tensor)}")
    sd = canonicalize_state_dict(raw)
    if dropped:
        log.info("%s: ignoring %d entries that are not network weights: %s", path, len(dropped), dropped[:4])

    config_source = "shapes"
    if META_CONFIG in metadata:
        try:
            config = HOGformerConfig.from_json(metadata[META_CONFIG])
        except (ValueError, TypeError) as e:
            raise CheckpointError(path, f"invalid config in the file's metadata ({e})") from None
        config_source = "metadata"
    else:
        try:
            config = infer_config(sd)
        except (KeyError, ValueError, IndexError) as e:
            with torch.device("meta"):
                official = HOGformer(HOGformerConfig()).state_dict()
            missing = [k for k in official if k not in sd]
            unexpected = [k for k in sd if k not in official]
            raise CheckpointError(
                path,
                f"not a HOGformer checkpoint ({type(e).__name__}: {e}); compared with the published "
                f"HOGformer: missing keys: {_describe_keys(missing)}; unexpected keys: {_describe_keys(unexpected)}",
            ) from None
    sd = check_state_dict(path, config, sd)
    return Checkpoint(config, sd, fmt, path, metadata, config_source, dropped)


def load_model(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    *,
    key: str | None = None,
) -> HOGformer:
    """Build the network a checkpoint describes, load its weights and return it in eval mode.

    The model is float32 unless ``dtype`` says otherwise (``torch.float64`` for equivalence checks), whatever
    precision the file stores."""
    ckpt = read_checkpoint(path, key=key)
    with torch.device("meta"):
        model = HOGformer(ckpt.config)
    model.load_state_dict(ckpt.state_dict, strict=True, assign=True)
    # Weights stored in half precision (the shipped ones) compute in float32 unless asked otherwise.
    model = model.to(device=device, dtype=dtype or torch.float32)
    return model.eval()


# ----------------------------------------------------------------------------------------------- writing


def save_model(
    model_or_state: HOGformer | tuple[HOGformerConfig, dict[str, torch.Tensor]],
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write weights and config as a safetensors file, atomically (temp file + rename)."""
    from safetensors.torch import save

    if isinstance(model_or_state, HOGformer):
        config, sd = model_or_state.config, model_or_state.state_dict()
    else:
        config, sd = model_or_state
    path = Path(path)
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    meta[META_FORMAT] = META_FORMAT_VALUE
    meta[META_CONFIG] = config.to_json()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in sd.items()}
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def describe(ckpt: Checkpoint) -> dict[str, Any]:
    """A JSON-able summary for ``hogformer info``."""
    meta = {k: v for k, v in ckpt.metadata.items() if k not in (META_FORMAT, META_CONFIG)}
    return {
        "file": str(ckpt.path),
        "format": ckpt.format,
        "config": ckpt.config.to_dict(),
        "config_source": ckpt.config_source
        + ("" if ckpt.config_source == "metadata" else " (layernorm_type assumed WithBias: not visible in weights)"),
        "parameters": ckpt.num_parameters,
        "tensors": len(ckpt.state_dict),
        "dtype": sorted({str(v.dtype).replace("torch.", "") for v in ckpt.state_dict.values()}),
        "ignored_entries": ckpt.dropped_keys,
        "metadata": meta,
    }


__all__ = [
    "Checkpoint",
    "CheckpointError",
    "blocks_per_level",
    "canonicalize_state_dict",
    "check_state_dict",
    "describe",
    "grow_state_dict",
    "infer_config",
    "load_model",
    "read_checkpoint",
    "save_model",
]
