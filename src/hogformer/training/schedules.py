"""Learning-rate schedules and the progressive patch/batch schedule of the published protocols (spec 6).

Each schedule is a pure function of the step (or epoch) count, so a resumed run computes exactly the values
of an uninterrupted one. :class:`ScheduleLR` wraps one as a ``torch.optim.lr_scheduler.LRScheduler``.

* Settings III/IV (AdaIR/PromptIR trainer): :func:`warmup_cosine_lr` is the closed form of
  ``LinearWarmupCosineAnnealingLR(warmup_epochs=15, max_epochs=180)`` (the Lightning-Bolts scheduler that
  PromptIR copies): value ``warmup_start_lr`` (0) at epoch 0, linear to the base rate at epoch
  ``warmup - 1`` (the warm-up divides by ``warmup - 1``), then ``eta_min + (base - eta_min)(1 + cos(pi (e -
  warmup) / (total - warmup))) / 2``, 0 at epoch 180. The official trainer calls
  ``scheduler.step(self.current_epoch)`` at the end of each epoch, with the index of the epoch just finished,
  so epoch ``e`` trains at the closed-form value of ``e - 1`` (epochs 0 and 1 both at 0): ``offset=1``.
* Setting I (Histoformer/BasicSR): :func:`cyclic_cosine_lr` is ``CosineAnnealingRestartCyclicLR`` with
  ``periods=(92000, 208000)``, ``restart_weights=(1, 1)``, ``eta_mins=(3e-4, 1e-6)``: 3e-4 for iterations
  0..92000, then cosine to 1e-6 at 300000. BasicSR steps it before every iteration but the first, so the
  0-based iteration ``t`` trains at the value for ``t``, as a scheduler stepped after every optimizer step.
* :class:`ProgressiveSchedule`: Restormer-style progressive patches and batches; iteration ``t`` (0-based)
  is in the first stage ``i`` whose cumulative iteration count exceeds ``t``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .config_schema import ScheduleConfig

__all__ = [
    "ProgressiveSchedule",
    "Schedule",
    "ScheduleLR",
    "cosine_lr",
    "cyclic_cosine_lr",
    "warmup_cosine_lr",
]


def warmup_cosine_lr(
    epoch: int,
    base_lr: float,
    warmup: int = 15,
    total: int = 180,
    warmup_start_lr: float = 0.0,
    eta_min: float = 0.0,
) -> float:
    """Closed form of Lightning-Bolts' ``LinearWarmupCosineAnnealingLR`` at ``epoch`` (see module docstring).

    Past ``total`` the value stays at ``eta_min`` (the original formula would rise again; the published
    protocol stops at epoch 150).
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if epoch < warmup:
        if warmup <= 1:
            return float(base_lr)
        return warmup_start_lr + epoch * (base_lr - warmup_start_lr) / (warmup - 1)
    if epoch >= total:
        return float(eta_min)
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (epoch - warmup) / (total - warmup)))


def cyclic_cosine_lr(
    step: int,
    base_lr: float,
    periods: Sequence[int],
    restart_weights: Sequence[float],
    eta_mins: Sequence[float],
) -> float:
    """BasicSR ``CosineAnnealingRestartCyclicLR`` at iteration ``step``.

    Cycle ``i`` covers iterations ``(c[i-1], c[i]]`` of the cumulative periods ``c`` (the first also holds
    0) and gives ``eta_mins[i] + restart_weights[i] (base - eta_mins[i]) (1 + cos(pi (step - c[i-1]) /
    periods[i])) / 2``. Past the last cycle the value stays at the last cycle's end.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    ends = list(_cumulative(periods))
    if step > ends[-1]:
        step = ends[-1]
    i = bisect.bisect_left(ends, step)
    start = ends[i - 1] if i else 0
    eta = eta_mins[i]
    return eta + restart_weights[i] * 0.5 * (base_lr - eta) * (1 + math.cos(math.pi * (step - start) / periods[i]))


def cosine_lr(
    t: int,
    base_lr: float,
    total: int,
    warmup: int = 0,
    warmup_start_lr: float = 0.0,
    eta_min: float = 0.0,
) -> float:
    """Linear warm-up from ``warmup_start_lr`` over ``warmup`` units (reaching ``base_lr`` at ``warmup``),
    then cosine from ``base_lr`` to ``eta_min`` at ``total``; ``eta_min`` afterwards."""
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    if t < warmup:
        return warmup_start_lr + (base_lr - warmup_start_lr) * t / warmup
    if t >= total:
        return float(eta_min)
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))


def _cumulative(values: Sequence[int]) -> list[int]:
    out, acc = [], 0
    for v in values:
        acc += int(v)
        out.append(acc)
    return out


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: :meth:`lr` gives the rate at a step or epoch count ``t``, for the ``config``'s
    kind and options and the optimizer's ``base_lr``."""

    config: ScheduleConfig
    base_lr: float

    @classmethod
    def from_config(cls, config: ScheduleConfig, base_lr: float) -> Schedule:
        return cls(config, float(base_lr))

    @property
    def interval(self) -> str:
        """``"step"`` or ``"epoch"``: what ``t`` counts (steps unless the config says otherwise)."""
        return self.config.interval or "step"

    def lr(self, t: int) -> float:
        """The learning rate while training step (or epoch, per :attr:`interval`) ``t``, counted from 0."""
        c, base = self.config, self.base_lr
        if c.kind == "constant":
            return base
        if c.kind == "warmup_cosine":
            return warmup_cosine_lr(max(t - c.offset, 0), base, c.warmup, c.total, c.warmup_start_lr, c.eta_min)
        if c.kind == "cyclic_cosine":
            return cyclic_cosine_lr(t, base, tuple(c.periods), tuple(c.restart_weights), tuple(c.eta_mins))
        if c.kind == "cosine":
            return cosine_lr(t, base, c.total, c.warmup, c.warmup_start_lr, c.eta_min)
        raise ValueError(f"unknown schedule kind {c.kind!r}")


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """Sets every parameter group's rate to ``schedule.lr(last_epoch)`` (the number of ``step()`` calls).

    The schedule object is left out of :meth:`state_dict` (it is rebuilt from the config), so checkpoints hold
    plain numbers only and load with ``torch.load(weights_only=True)``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1) -> None:
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]  # torch's stub: list[float | Tensor]
        lr = self.schedule.lr(max(self.last_epoch, 0))
        return [lr for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in ("optimizer", "schedule")})


@dataclass(frozen=True)
class ProgressiveSchedule:
    """Patch side and batch size at each optimizer step (Restormer/Histoformer progressive training)."""

    patch_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    iterations: tuple[int, ...]

    def stage(self, step: int) -> int:
        """Index of the stage that 0-based optimizer step ``step`` belongs to."""
        ends = _cumulative(self.iterations)
        return min(bisect.bisect_right(ends, step), len(ends) - 1)

    def at(self, step: int) -> tuple[int, int]:
        """``(patch_size, batch_size)`` at 0-based optimizer step ``step``."""
        i = self.stage(step)
        return self.patch_sizes[i], self.batch_sizes[i]
