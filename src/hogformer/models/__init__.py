"""The HOGformer network (imports nothing from the rest of the package)."""

from .attention import DHOGSA
from .block import HOGformerBlock
from .config import HOG_BINS, HOG_PATCH_SIZE, PRESETS, SIZE_MULTIPLE, HOGformerConfig, preset
from .feedforward import DIFF
from .hogformer import HOGformer

__all__ = [
    "DHOGSA",
    "DIFF",
    "HOG_BINS",
    "HOG_PATCH_SIZE",
    "PRESETS",
    "SIZE_MULTIPLE",
    "HOGformer",
    "HOGformerBlock",
    "HOGformerConfig",
    "preset",
]
