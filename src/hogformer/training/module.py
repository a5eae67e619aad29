"""The LightningModule: HOGformer (the attribute ``net``) trained with the published objective (spec 5, 6).

Only this module, :mod:`.datamodule`, :mod:`.callbacks` and :mod:`.train` import Lightning. The network
itself never knows about it: ``module.net`` is a plain :class:`~hogformer.models.HOGformer`, exported with
:func:`hogformer.save_model` and loaded with :func:`hogformer.load_model`.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

from ..losses import Objective
from ..models import HOGformer
from .config_schema import TrainConfig
from .schedules import ProgressiveSchedule, Schedule, ScheduleLR

__all__ = ["RestorationModule", "get_rng_state", "set_rng_state"]

log = logging.getLogger(__name__)

#: Key of this project's entry in a Lightning checkpoint.
CHECKPOINT_KEY = "hogformer"
_PROGRESSIVE_STREAM = 3
#: PSNR reported for a perfect restoration (MSE 0).
PSNR_CAP = 100.0


def get_rng_state() -> dict[str, Any]:
    """Global torch (CPU and CUDA), numpy and Python RNG states as tensors, ints and tuples only (so a
    checkpoint holding them loads with ``weights_only=True``)."""
    np_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    npst = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
            "has_gauss": npst["has_gauss"],
            "gauss": npst["gauss"],
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def psnr_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each image of a batch: RGB, range [0, 1] (the prediction clamped), no border crop,
    mean squared error over all pixels and channels; a perfect match gives :data:`PSNR_CAP`."""
    mse = (pred.clamp(0, 1) - target).float().square().flatten(1).mean(dim=1)
    cap = 10 ** (-PSNR_CAP / 10)
    return 10 * torch.log10(1.0 / mse.clamp_min(cap))


class RestorationModule(L.LightningModule):
    """Trains ``net`` on ``{"lq", "gt", "task"}`` batches with ``config.objective``.

    Logs ``train/loss`` and each weighted part, ``train/lr``; after each validation ``val/psnr`` (mean over
    images, see :func:`psnr_per_image`), ``val/loss`` (the full objective, every part on), ``val/l1`` and
    ``val/psnr_<task>``. Parts named in ``objective.off_last_epochs`` are off in the last N epochs of
    ``trainer.max_epochs``. With ``data.progressive``, each training batch is cut down to the stage's batch
    size and patch side (a random subset and a random crop, as Restormer's trainer does).

    Checkpoints also hold the global RNG states and the data position (epoch, batches done in it), which
    :class:`~hogformer.training.datamodule.RestorationDataModule` reads on resume.
    """

    def __init__(self, config: TrainConfig, task_names: list[str] | None = None) -> None:
        super().__init__()
        self.config = config
        self.net = HOGformer(config.model).set_checkpointing(config.trainer.activation_checkpointing)
        self.objective = Objective(config.objective.parts)
        self.task_names = list(task_names or [])
        prog = config.data.progressive
        self.progressive = (
            ProgressiveSchedule(tuple(prog.patch_sizes), tuple(prog.batch_sizes), tuple(prog.iterations))
            if prog is not None
            else None
        )
        #: (epoch, batches of it done) after the current batch; saved in checkpoints.
        self.data_position: tuple[int, int] = (0, 0)
        #: The data position read from the checkpoint being resumed, or None.
        self.resume_position: tuple[int, int] | None = None
        self._val_sums: torch.Tensor | None = None
        self._step_clock: float | None = None  # wall clock at the previous training step (None after validation)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img)

    # ---------------------------------------------------------------------------------------------- train
    def disabled_parts(self, epoch: int, max_epochs: int | None) -> set[str]:
        """Loss parts switched off during ``epoch`` (0-based) of a ``max_epochs``-epoch run (the official
        trainer: ``current_epoch >= epochs - 5``); none when the run is not counted in epochs."""
        if not max_epochs or max_epochs < 0:
            return set()
        return {name for name, n in self.config.objective.off_last_epochs.items() if n and epoch >= max_epochs - n}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Decided per batch, not per epoch: a run resumed mid-epoch does not go through on_train_epoch_start.
        disabled = self.disabled_parts(self.current_epoch, self.trainer.max_epochs)
        if disabled != self.objective.disabled:
            log.info("epoch %d: loss parts off: %s", self.current_epoch, ", ".join(sorted(disabled)) or "none")
            self.objective.disabled = disabled
        self.data_position = (self.current_epoch, batch_idx + 1)

    def progressive_crop(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Cut a loaded batch down to the progressive stage's batch size and patch side at this step.

        The subset and the crop come from a generator seeded by (seed, epoch, batch index, rank).
        """
        if self.progressive is None:
            return batch
        patch, size = self.progressive.at(self.global_step)
        lq, gt, task = batch["lq"], batch["gt"], batch["task"]
        n, _, h, w = gt.shape
        rng = np.random.default_rng(
            [self.config.seed, _PROGRESSIVE_STREAM, self.current_epoch, batch_idx, self.global_rank]
        )
        if size < n:
            keep = torch.as_tensor(np.sort(rng.choice(n, size=size, replace=False)), device=gt.device)
            lq, gt, task = lq[keep], gt[keep], task[keep]
        if patch < min(h, w):
            top, left = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
            lq = lq[..., top : top + patch, left : left + patch]
            gt = gt[..., top : top + patch, left : left + patch]
        return {"lq": lq, "gt": gt, "task": task}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        batch = self.progressive_crop(batch, batch_idx)
        pred = self.net(batch["lq"])
        with torch.autocast(pred.device.type, enabled=False):  # the loss in float32 under mixed precision
            loss, parts = self.objective(pred.float(), batch["gt"].float())
        n = pred.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for name, value in parts.items():
            self.log(f"train/{name}", value, batch_size=n)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        now = time.perf_counter()  # wall time per step, data loading included, validation pauses excluded
        if self._step_clock is not None:
            self.log("train/step_seconds", now - self._step_clock, batch_size=n)
        self._step_clock = now
        return loss

    # ---------------------------------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        self._step_clock = None
        # psnr sum, l1 sum, loss sum, count; then psnr sum and count per task
        self._val_sums = torch.zeros(4 + 2 * len(self.task_names), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        lq, gt, task = batch["lq"], batch["gt"], batch["task"]
        pred = self.net(lq)
        disabled, self.objective.disabled = self.objective.disabled, set()
        try:
            with torch.autocast(pred.device.type, enabled=False):
                loss, _ = self.objective(pred.float(), gt.float())
        finally:
            self.objective.disabled = disabled
        psnr = psnr_per_image(pred, gt).double()
        l1 = (pred.float() - gt).abs().flatten(1).mean(dim=1).double()
        n = pred.shape[0]
        sums = self._val_sums
        assert sums is not None
        sums[0] += psnr.sum()
        sums[1] += l1.sum()
        sums[2] += loss.double() * n
        sums[3] += n
        if self.task_names:
            t = task.long()
            sums[4 : 4 + len(self.task_names)].index_add_(0, t, psnr)
            sums[4 + len(self.task_names) :].index_add_(0, t, torch.ones_like(psnr))

    def on_validation_epoch_end(self) -> None:
        sums = self._val_sums
        if sums is None:
            return
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum") if self.trainer.world_size > 1 else sums
        count = float(sums[3])
        if count == 0:
            return
        # The sums are already totals over all processes: every rank logs the same values (sync_dist then
        # averages equal numbers; it is set so that Lightning knows the values are global).
        means = {"val/psnr": sums[0] / count, "val/l1": sums[1] / count, "val/loss": sums[2] / count}
        k = len(self.task_names)
        for i, name in enumerate(self.task_names):
            if float(sums[4 + k + i]) > 0:
                means[f"val/psnr_{name}"] = sums[4 + i] / sums[4 + k + i]
        for key, value in means.items():
            self.log(key, value.float(), prog_bar=key == "val/psnr", sync_dist=True)
        self._val_sums = None

    # ----------------------------------------------------------------------------------------- optimizer
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        opt = self.config.optim
        cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
        optimizer = cls(self.net.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)
        schedule = Schedule.from_config(self.config.schedule, opt.lr)
        scheduler = ScheduleLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": schedule.interval, "frequency": 1},
        }

    # -------------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.config.to_dict(),
            "data_position": list(self.data_position),
            "rng": get_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if not state:
            log.warning("the checkpoint has no %r entry: data order and RNG states start afresh", CHECKPOINT_KEY)
            return
        epoch, done = state["data_position"]
        self.resume_position = self.data_position = (int(epoch), int(done))
        set_rng_state(state["rng"])
        saved = state.get("config", {})
        if saved.get("model") != self.config.model.to_dict():
            raise ValueError(
                "the checkpoint was trained with another network configuration "
                f"({saved.get('model')}) than this run's ({self.config.model.to_dict()})"
            )
