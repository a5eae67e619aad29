"""Training losses: each a module ``(pred, target) -> scalar``, combined by :class:`Objective`."""

from .hog import HOGDescriptor, HOGLoss
from .objective import LOSSES, OFFICIAL_AIO, OFFICIAL_ALLWEATHER, Objective
from .pearson import PearsonLoss
from .pixel import L1Loss, MSELoss

__all__ = [
    "LOSSES",
    "OFFICIAL_AIO",
    "OFFICIAL_ALLWEATHER",
    "HOGDescriptor",
    "HOGLoss",
    "L1Loss",
    "MSELoss",
    "Objective",
    "PearsonLoss",
]
