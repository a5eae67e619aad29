"""hogformer: the HOGformer all-in-one image restoration network (AAAI 2026, arXiv 2504.09377) as software.

Quick start::

    import hogformer
    hogformer.tune_cpu_allocator()                            # optional: much faster CPU inference (glibc)
    restorer = hogformer.Restorer()                           # shipped default weights, best device
    clean = restorer(pil_image_or_array_or_tensor)
    model = hogformer.load_model("net_g_latest.pth")        # any official or project checkpoint
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checkpoints import CheckpointError, load_model, read_checkpoint, save_model
from .inference.memory import tune_cpu_allocator
from .models import HOGformer, HOGformerConfig, preset

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "HOGformer",
    "HOGformerConfig",
    "Restorer",
    "__version__",
    "load_model",
    "preset",
    "read_checkpoint",
    "save_model",
    "tune_cpu_allocator",
]

if TYPE_CHECKING:
    from .inference.restorer import Restorer


def __getattr__(name: str) -> Any:
    if name == "Restorer":
        from .inference.restorer import Restorer

        return Restorer
    raise AttributeError(f"module 'hogformer' has no attribute {name!r}")
