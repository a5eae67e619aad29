"""ComfyUI custom node folder for HOGformer: importing it registers the architecture with spandrel.

Copy or link this folder into ``ComfyUI/custom_nodes/`` (``ComfyUI/custom_nodes/hogformer``) and install hogformer
into ComfyUI's Python (``python -m pip install 'hogformer[spandrel]'``; ComfyUI already has torch, torchvision and
spandrel, so nothing else is installed). Put HOGformer weights (official ``.pth``/``.ckpt`` or the project's
``.safetensors``) in ``ComfyUI/models/upscale_models/``; the core "Load Upscale Model" node then loads them and
"Upscale Image (using Model)" restores at scale 1. This folder adds no nodes of its own.
"""

from __future__ import annotations

import logging

try:
    from hogformer.integrations.spandrel import register
except ImportError as e:  # pragma: no cover - shown in ComfyUI's log when hogformer is missing
    raise ImportError(
        f"HOGformer custom node: hogformer is not installed in ComfyUI's Python ({e}); "
        "run: python -m pip install 'hogformer[spandrel]'"
    ) from e

if register():
    logging.getLogger("hogformer").info("HOGformer registered with spandrel (ComfyUI's upscale model loader)")

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
