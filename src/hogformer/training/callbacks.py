"""Checkpoints that survive interruptions, and the exported weights of a run.

Lightning's own checkpoint writer (``_atomic_save``) serialises to memory, writes a temporary file in the
*system temp folder* and moves it over the target at the end. When that folder is on another filesystem
than the run (a local ``/tmp`` and a network or scratch run directory: the common case on clusters) the move
is a copy, and a job killed during it leaves a truncated checkpoint; nothing is fsync-ed either.
:class:`AtomicCheckpointIO` writes the temporary file next to the target, fsyncs it and renames it, so
``last.ckpt`` is always either the previous or the new complete file.

:class:`RunArtifacts` writes ``checkpoints/last.ckpt`` (full training state) at the end of every epoch and
every ``every_n_steps`` optimizer steps, and exports ``best.safetensors`` (best validation PSNR) and
``final.safetensors`` with :func:`hogformer.save_model`: the network's weights and config, loadable by
:func:`hogformer.load_model` without Lightning.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..checkpoints import save_model
from ..files import atomic_writer
from .module import RestorationModule

__all__ = ["AtomicCheckpointIO", "RunArtifacts"]

log = logging.getLogger(__name__)


def _restoration_module(pl_module: L.LightningModule) -> RestorationModule:
    if not isinstance(pl_module, RestorationModule):
        raise TypeError(f"RunArtifacts needs a RestorationModule, got {type(pl_module).__name__}")
    return pl_module


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file in the target's folder, fsync, then ``os.replace``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        with atomic_writer(path) as f:
            torch.save(checkpoint, f)


class RunArtifacts(L.Callback):
    """Writes ``<run>/checkpoints/last.ckpt`` and exports ``<run>/best.safetensors`` / ``final.safetensors``.

    The exported files' metadata hold ``config_name``, ``epoch``, ``step``, ``val_psnr`` and ``kind`` (best or
    final). The best value survives resumes (it is part of the checkpoint).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        config_name: str,
        every_n_steps: int | None = None,
        monitor: str = "val/psnr",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config_name = config_name
        self.every_n_steps = every_n_steps
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_step: int | None = None
        self._last_saved_step: int | None = None

    @property
    def last_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.ckpt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    @property
    def final_path(self) -> Path:
        return self.run_dir / "final.safetensors"

    # ---------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_epoch = state_dict.get("best_epoch")
        self.best_step = state_dict.get("best_step")

    # ---------------------------------------------------------------------------------------- writing
    def _save(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch_end: bool) -> None:
        if epoch_end:  # the next run starts at the beginning of the next epoch
            _restoration_module(pl_module).data_position = (trainer.current_epoch + 1, 0)
        trainer.save_checkpoint(self.last_path, weights_only=False)
        self._last_saved_step = trainer.global_step
        log.debug("wrote %s at step %d", self.last_path, trainer.global_step)

    def _export(self, trainer: L.Trainer, pl_module: L.LightningModule, path: Path, kind: str) -> None:
        if not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.monitor)
        # 0-based index of the last epoch these weights trained in (Lightning has already counted the last
        # epoch as finished when training ends)
        epoch = max(trainer.current_epoch - 1, 0) if kind == "final" else trainer.current_epoch
        metadata = {
            "config_name": self.config_name,
            "epoch": str(epoch),
            "step": str(trainer.global_step),
            "val_psnr": f"{float(value):.4f}" if value is not None else "",
            "kind": kind,
        }
        save_model(_restoration_module(pl_module).net, path, metadata)
        log.info("exported %s (epoch %d, step %d)", path, epoch, trainer.global_step)

    # ---------------------------------------------------------------------------------------- hooks
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == 0 or step == self._last_saved_step:
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            return  # the end-of-epoch checkpoint follows
        if self.every_n_steps is not None and step % self.every_n_steps == 0:
            self._save(trainer, pl_module, epoch_end=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer, pl_module, epoch_end=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metric = trainer.callback_metrics.get(self.monitor)
        if metric is None or not math.isfinite(float(metric)):
            return
        value = float(metric)
        if self.best is None or value > self.best:
            self.best, self.best_epoch, self.best_step = value, trainer.current_epoch, trainer.global_step
            self._export(trainer, pl_module, self.best_path, "best")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._export(trainer, pl_module, self.final_path, "final")
