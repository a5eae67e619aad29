"""hogformer: the HOGformer all-in-one image restoration network (AAAI 2026, arXiv 2504.09377) as software.

Quick start::

    import hogformer
    model = hogformer.load_model("net_g_latest.pth")        # any official or project checkpoint
    restorer = hogformer.Restorer()                           # shipped default weights, best device
    clean = restorer(pil_image_or_array_or_tensor)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checkpoints import CheckpointError, load_model, read_checkpoint, save_model
from .inference.memory import tune_cpu_allocator
from .models import HOGformer, HOGformerConfig, preset

# Keep glibc from unmapping and re-faulting every large temporary (3x faster CPU inference measured here);
# HOGFORMER_NO_MALLOPT=1 or the user's own MALLOC_* settings turn this off.
tune_cpu_allocator()

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
]

if TYPE_CHECKING:
    from .inference.restorer import Restorer


def __getattr__(name: str) -> Any:
    if name == "Restorer":
        from .inference.restorer import Restorer

        return Restorer
    raise AttributeError(f"module 'hogformer' has no attribute {name!r}")
