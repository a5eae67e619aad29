"""Training: configs, datasets, learning-rate schedules and the Lightning trainer (``hogformer train``).

Importing this package does not import Lightning; :mod:`.module`, :mod:`.datamodule`, :mod:`.callbacks` and
:func:`.train.fit` do (``pip install 'hogformer[train]'``).
"""

from .config import load_config, write_config
from .config_parse import parse_config
from .config_schema import ConfigError, TrainConfig
from .schedules import ProgressiveSchedule, Schedule, ScheduleLR, cosine_lr, cyclic_cosine_lr, warmup_cosine_lr

__all__ = [
    "ConfigError",
    "ProgressiveSchedule",
    "Schedule",
    "ScheduleLR",
    "TrainConfig",
    "cosine_lr",
    "cyclic_cosine_lr",
    "load_config",
    "parse_config",
    "warmup_cosine_lr",
    "write_config",
]
