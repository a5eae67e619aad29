"""HOGformer as a spandrel architecture (``pip install 'hogformer[spandrel]'``), for ComfyUI, chaiNNer, InvokeAI.

After :func:`register`, ``spandrel.ModelLoader().load_from_file(path)`` loads the official Setting I ``.pth``
(BasicSR ``params``), the Settings III/IV Lightning ``.ckpt`` (``net.``-prefixed ``state_dict`` with loss
buffers) and the project's ``.safetensors``, and returns an ``ImageModelDescriptor`` around
:class:`hogformer.models.HOGformer`. As spandrel's own architectures do, the hyper-parameters come from the
tensor shapes (spandrel hands over the state dict alone, not the safetensors metadata); the one thing shapes
cannot show, the norm type, is ``WithBias`` as in every published model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import canonicalize_state_dict, check_state_dict, infer_config
from ..models import HOGformer
from ..models.config import SIZE_MULTIPLE

log = logging.getLogger(__name__)

ARCH_ID = "HOGformer"
#: Keys every HOGformer state dict has (after the wrapper prefixes are stripped).
_DETECT_KEYS = (
    "patch_embed.proj.weight",
    "encoder_level1.0.attn_g_spatial.temperature",
    "encoder_level1.0.attn_g_spatial.qkv.weight",
    "encoder_level1.0.attn_g_spatial.bin_proj.weight",
    "encoder_level1.0.ffn.project_in.weight",
    "latent.0.attn_g_spatial.temperature",
    "skip_patch_embed1.proj.1.weight",
    "reduce_chan_level_1.weight",
    "output.weight",
)
#: Prefix of the network's keys in the official Settings III/IV Lightning checkpoints.
_LIGHTNING_PREFIX = "net."


def network_state_dict(state_dict: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network's entries of a state dict as spandrel hands it over: a Lightning ``state_dict`` keeps its
    ``net.`` entries (the loss buffers and other modules dropped); wrapper prefixes are stripped."""
    if any(k.startswith(_LIGHTNING_PREFIX) for k in state_dict) and not all(
        k.startswith(_LIGHTNING_PREFIX) for k in state_dict
    ):
        state_dict = {k: v for k, v in state_dict.items() if k.startswith(_LIGHTNING_PREFIX)}
    return canonicalize_state_dict({k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)})


def detect(state_dict: dict[str, Any]) -> bool:
    """Whether ``state_dict`` holds a HOGformer (keys only; cheap)."""
    keys = set(network_state_dict(state_dict)) if not all(k in state_dict for k in _DETECT_KEYS) else state_dict
    return all(k in keys for k in _DETECT_KEYS)


def _architecture() -> Any:
    from spandrel import Architecture, ImageModelDescriptor, ModelTiling, SizeRequirements

    class HOGformerArch(Architecture[HOGformer]):
        def __init__(self) -> None:
            super().__init__(id=ARCH_ID, name="HOGformer", detect=detect)

        def load(self, state_dict: dict[str, Any]) -> ImageModelDescriptor[HOGformer]:
            sd = network_state_dict(state_dict)
            config = infer_config(sd)
            sd = check_state_dict(Path(ARCH_ID), config, sd)
            model = HOGformer(config)
            model.load_state_dict(sd, strict=True)  # copies: float16 files give a float32 model
            return ImageModelDescriptor(
                model,
                model.state_dict(),
                architecture=self,
                purpose="Restoration",
                tags=[f"{config.dim}dim", "-".join(map(str, config.num_blocks))],
                # The sort keys of half-precision features tie far more often; the network is validated in
                # float32 (and float64) only.
                supports_half=False,
                supports_bfloat16=False,
                scale=1,
                input_channels=config.inp_channels,
                output_channels=config.out_channels,
                # Three 2x down-samplings: height and width multiples of 8 (spandrel pads and crops).
                size_requirements=SizeRequirements(multiple_of=SIZE_MULTIPLE),
                # The attention orders and attends over the whole image: tiles give a different result.
                tiling=ModelTiling.DISCOURAGED,
            )

    return HOGformerArch()


def register(registry: Any = None) -> bool:
    """Add HOGformer to ``registry`` (default ``spandrel.MAIN_REGISTRY``); safe to call again. Returns whether
    it was added now (False: it was there already)."""
    from spandrel import MAIN_REGISTRY, ArchSupport

    registry = MAIN_REGISTRY if registry is None else registry
    if ARCH_ID in registry:
        return False
    registry.add(ArchSupport.from_architecture(_architecture()), ignore_duplicates=True)
    log.debug("registered %s with spandrel", ARCH_ID)
    return True
