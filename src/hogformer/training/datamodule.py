"""The LightningDataModule: builds the training and validation sets of a config and their loaders.

The training loader's sampler (:class:`~hogformer.training.datasets.EpochSampler`) does the
shuffling and the split among processes itself (the Trainer runs with ``use_distributed_sampler=False``),
so a resumed run starts on the exact batch where the checkpoint was written.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from .config_schema import ConfigError, TrainConfig
from .datasets import EpochSampler, EvalDataset, PatchDataset, ShardSampler, Task, build_tasks, default_workers

__all__ = ["RestorationDataModule"]

log = logging.getLogger(__name__)


class RestorationDataModule(L.LightningDataModule):
    """Training patches and validation pairs of ``config.data`` (files are listed when it is built, so a
    missing folder or unpaired file fails at once, naming the path)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        data = config.data
        self.train_tasks: list[Task] = build_tasks(data.train, "data.train")
        self.val_tasks: list[Task] = build_tasks(data.val, "data.val") if data.val else []
        self.train_set = PatchDataset(
            self.train_tasks, data.patch_size, config.seed, data.augment, data.crop_multiple, data.degrade_context
        )
        self.val_set = (
            EvalDataset(self.val_tasks, data.val_size, config.seed, data.val_limit) if self.val_tasks else None
        )
        for t in self.train_tasks:
            log.info("train task %-16s %6d files x %d = %d samples", t.name, len(t.items), t.repeat, len(t))
        log.info("train samples per epoch: %d", len(self.train_set))

    @property
    def task_names(self) -> list[str]:
        """Names of the validation tasks, in the order of the ``task`` ids of validation batches."""
        return self.val_set.task_names if self.val_set is not None else []

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader_options(self) -> dict[str, Any]:
        workers = default_workers(self.config.data.num_workers)
        accel = self.trainer.accelerator if self.trainer is not None else None
        pin = bool(accel is not None and type(accel).__name__ == "CUDAAccelerator" and torch.cuda.is_available())
        return {"num_workers": workers, "pin_memory": pin, "persistent_workers": workers > 0}

    def train_dataloader(self) -> DataLoader:
        """Batches of ``data.batch_size`` (the last incomplete one dropped, as the official trainers do).

        On resume, starts where the checkpoint was written: the module's ``resume_position`` (epoch,
        batches of it done).
        """
        rank, world = self._rank()
        module = self.trainer.lightning_module if self.trainer is not None else None
        epoch, done = getattr(module, "resume_position", None) or (0, 0)
        batch = self.config.data.batch_size
        sampler = EpochSampler(len(self.train_set), self.config.seed, True, rank, world, epoch, done * batch)
        batches = len(sampler) // batch
        if batches == 0:
            raise ConfigError(
                f"data.batch_size: {len(self.train_set)} training samples give no batch of {batch} on each of "
                f"{world} processes; lower data.batch_size or add data"
            )
        if done >= batches:  # written after the last batch of `epoch`
            sampler = EpochSampler(len(self.train_set), self.config.seed, True, rank, world, epoch + 1)
        elif done:
            log.info("resuming epoch %d after batch %d of %d", epoch, done, batches)
        return DataLoader(self.train_set, batch_size=batch, sampler=sampler, drop_last=True, **self._loader_options())

    def val_dataloader(self) -> DataLoader | list[Any]:
        if self.val_set is None:
            return []
        rank, world = self._rank()
        batch = self.config.data.val_batch_size if self.config.data.val_size is not None else 1
        return DataLoader(
            self.val_set,
            batch_size=batch,
            sampler=ShardSampler(len(self.val_set), rank, world),
            **self._loader_options(),
        )
