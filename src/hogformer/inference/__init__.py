"""Inference: restoring images of any size with a HOGformer on any device.

:class:`Restorer` is the entry point (weights, device, precision, tiling, low memory; PIL images, arrays or
tensors in and out). The pieces it is built from are public too: :func:`run_padded` (pad to a multiple, run,
crop back), :func:`tiled_apply` (tile, run, blend) and :func:`tune_cpu_allocator`.
"""

from __future__ import annotations

from .memory import tune_cpu_allocator
from .restorer import PRECISIONS, Restorer, pick_device
from .tiling import run_padded, tiled_apply

__all__ = ["PRECISIONS", "Restorer", "pick_device", "run_padded", "tiled_apply", "tune_cpu_allocator"]
