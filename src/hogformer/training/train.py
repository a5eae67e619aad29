"""``hogformer train``: train HOGformer with a published protocol, on one device or many, resumable.

The command line layer: :func:`add_arguments` declares the options, :func:`run` runs them (returns the exit
status); :func:`fit` is the same for Python callers. Also runnable as ``python -m hogformer.training.train``
(which is also how Lightning re-launches the other ranks of a multi-device run).

A run directory (``--output``, default ``runs/<config name>``) holds ``config.yaml`` (the resolved config),
``checkpoints/last.ckpt`` (everything needed to resume), ``best.safetensors`` and ``final.safetensors`` (the
network's weights and config, for :func:`hogformer.load_model`) and ``logs/version_N/metrics.csv`` (plus
TensorBoard logs under ``tb/`` when TensorBoard is installed).

Multi-GPU / multi-node: ``--devices N`` launches the other processes itself; under ``torchrun`` or SLURM
(``srun``) the launcher's environment is used, as Lightning does. Use ``--resume auto`` for jobs that may be
requeued: it continues from ``last.ckpt`` when there is one and starts afresh otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoints import grow_state_dict, read_checkpoint
from ..models import HOGformer
from .config import write_config
from .config_schema import ConfigError, TrainConfig
from .recipe import load_stage

if TYPE_CHECKING:
    import lightning as L

__all__ = ["add_arguments", "fit", "grow_state_dict", "init_weights", "main", "run"]

log = logging.getLogger(__name__)

_MISSING_LIGHTNING = (
    "hogformer train needs PyTorch Lightning, which is not installed. Install the training extras with\n"
    "    pip install 'hogformer[train]'\n"
    "(or: pip install lightning)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``hogformer train`` on ``parser``."""
    parser.add_argument(
        "--config", "-c", required=True, metavar="FILE", help="training config (configs/published/*.yaml) or recipe"
    )
    parser.add_argument("--stage", metavar="NAME", help="the stage to run of a recipe of stages (configs/shipped.yaml)")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4 data.num_workers=2"
    )
    parser.add_argument(
        "--set",
        dest="set_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override (repeatable); same as a positional KEY=VALUE",
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="folder that relative data paths are relative to "
        "(default: the config's data.root, relative to the working directory)",
    )
    parser.add_argument("--output", "-o", metavar="DIR", help="run directory (default: runs/<config name>)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        metavar="PATH|auto",
        help="continue a run: from a checkpoint file, or 'auto' (the default when the flag is given alone): "
        "the run directory's last checkpoint if there is one, else start afresh",
    )
    parser.add_argument("--lq", metavar="DIR", help="train on this folder of degraded images ...")
    parser.add_argument("--gt", metavar="DIR", help="... paired by file name with this folder of clean images")
    parser.add_argument("--val-lq", metavar="DIR", help="validate on this folder of degraded images ...")
    parser.add_argument("--val-gt", metavar="DIR", help="... paired by file name with this folder")
    group = parser.add_argument_group("trainer (each overrides the config's trainer section)")
    group.add_argument("--devices", help="devices per node: a number, a list such as 0,1, or auto")
    group.add_argument("--num-nodes", type=int, help="number of nodes")
    group.add_argument("--accelerator", help="cpu, gpu, cuda, mps or auto")
    group.add_argument("--strategy", help="Lightning strategy: auto, ddp, ddp_spawn, fsdp, ...")
    group.add_argument("--precision", help="32-true, bf16-mixed, 16-mixed, ...")
    group.add_argument("--accumulate", type=int, metavar="N", help="accumulate gradients over N batches")
    group.add_argument("--max-epochs", type=int, metavar="N")
    group.add_argument("--max-steps", type=int, metavar="N", help="optimizer steps")
    group.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per process (torch.set_num_threads)")
    parser.add_argument("--no-progress-bar", action="store_true", help="no progress bar (e.g. in batch jobs)")
    parser.add_argument(
        "--dry-run", action="store_true", help="check the config and list the data, write nothing, train nothing"
    )


def _launch_rank() -> int:
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return 0


def _cli_overrides(args: argparse.Namespace) -> list[str]:
    out = list(getattr(args, "overrides", None) or []) + list(getattr(args, "set_overrides", None) or [])
    mapping = {
        "devices": "trainer.devices",
        "num_nodes": "trainer.num_nodes",
        "accelerator": "trainer.accelerator",
        "strategy": "trainer.strategy",
        "precision": "trainer.precision",
        "accumulate": "trainer.accumulate",
        "max_epochs": "trainer.max_epochs",
        "max_steps": "trainer.max_steps",
        "seed": "seed",
    }
    for attr, key in mapping.items():
        value = getattr(args, attr, None)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def _folder_pair(lq: str | None, gt: str | None, flag: str) -> list[dict[str, Any]] | None:
    if lq is None and gt is None:
        return None
    if lq is None or gt is None:
        raise ConfigError(f"--{flag}lq and --{flag}gt go together")
    lq_dir, gt_dir = Path(lq).expanduser().resolve(), Path(gt).expanduser().resolve()
    return [{"kind": "paired", "dir": str(lq_dir.parent), "lq": str(lq_dir), "gt": str(gt_dir), "name": "pairs"}]


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The resolved config that ``args`` describe (file, overrides, trainer flags, folder pairs)."""
    overrides = _cli_overrides(args)
    config = load_stage(args.config, getattr(args, "stage", None), overrides, data_root=args.data_root)
    train_pairs = _folder_pair(args.lq, args.gt, "")
    val_pairs = _folder_pair(getattr(args, "val_lq", None), getattr(args, "val_gt", None), "val-")
    if train_pairs is None and val_pairs is None:
        return config
    import yaml

    from .config import resolve_paths
    from .config_parse import parse_config

    raw = config.to_dict()
    if train_pairs is not None:
        raw["data"]["train"] = train_pairs
    if val_pairs is not None:
        raw["data"]["val"] = val_pairs
    return resolve_paths(parse_config(yaml.safe_load(yaml.safe_dump(raw)), config.name))


def _resume_path(resume: str | None, run_dir: Path) -> str | None:
    if resume is None:
        last = run_dir / "checkpoints" / "last.ckpt"
        if last.exists():
            raise FileExistsError(
                f"{run_dir} already holds a run ({last}); pass --resume to continue it, or --output to start "
                "a new run elsewhere"
            )
        return None
    if resume == "auto":
        candidates = [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")]
        found = [p for p in candidates if p.is_file()]
        if not found:
            log.info("no checkpoint in %s: starting a new run", run_dir)
            return None
        return str(max(found, key=lambda p: p.stat().st_mtime))
    path = Path(resume).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"--resume: checkpoint not found: {path}")
    return str(path)


def _strategy(config: TrainConfig) -> Any:
    tr = config.trainer
    if tr.strategy != "auto":
        return tr.strategy
    devices = tr.devices
    many = (
        tr.num_nodes > 1
        or (isinstance(devices, int) and devices > 1)
        or (isinstance(devices, str) and ("," in devices or devices == "-1"))
    )
    if not many:
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    # Every parameter takes part in the loss; no unused-parameter search (the official trainer enables it).
    return DDPStrategy(find_unused_parameters=False)


def _loggers(run_dir: Path) -> list[Any]:
    import importlib.util

    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers: list[Any] = [CSVLogger(str(run_dir), name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(str(run_dir), name="tb"))
    return loggers


def init_weights(net: HOGformer, weights: str) -> None:
    """Load ``weights`` (a checkpoint path or the name of shipped weights) into ``net`` for fine-tuning.

    The file's network must have ``net``'s configuration, or the same with fewer blocks in some levels: then the
    extra blocks start as the identity (:func:`hogformer.checkpoints.grow_state_dict`), so fine-tuning starts
    from exactly the file's outputs with more capacity."""
    from ..pretrained import resolve_weights

    path, _ = resolve_weights(weights)
    ckpt = read_checkpoint(path)
    if ckpt.config != net.config:
        try:
            grown = grow_state_dict(ckpt.state_dict, ckpt.config, net)
        except ValueError as e:
            raise ConfigError(f"init: {e} (init: {path})") from None
        log.info("initialised the network from %s, with new identity blocks %s", path, ", ".join(grown))
        return
    net.load_state_dict(ckpt.state_dict, strict=True)  # copies into net's own dtype (fp16 files included)
    log.info("initialised the network from %s", path)


def fit(
    config: TrainConfig,
    run_dir: str | os.PathLike[str],
    resume: str | None = None,
    callbacks: Sequence[L.Callback] = (),
    progress_bar: bool = False,
    loggers: bool = True,
) -> L.Trainer:
    """Train ``config`` in ``run_dir``, resuming from the checkpoint file ``resume`` if given.

    Returns the Lightning ``Trainer`` after ``fit`` (its ``lightning_module.net`` is the trained network).
    """
    import lightning as L

    from .callbacks import AtomicCheckpointIO, RunArtifacts
    from .datamodule import RestorationDataModule
    from .module import RestorationModule

    run_dir = Path(run_dir)
    tr = config.trainer
    L.seed_everything(config.seed, verbose=False)
    datamodule = RestorationDataModule(config)
    module = RestorationModule(config, datamodule.task_names)
    if config.init is not None and resume is None:
        init_weights(module.net, config.init)
    artifacts = RunArtifacts(run_dir, config.name, tr.checkpoint_every_steps)
    # Validate every N optimizer steps (Lightning counts batches) or else every N epochs.
    val_check_interval = tr.val_every_steps * tr.accumulate if tr.val_every_steps is not None else None
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        accelerator=tr.accelerator,
        devices=tr.devices,
        num_nodes=tr.num_nodes,
        strategy=_strategy(config),
        precision=tr.precision,  # type: ignore[arg-type]  # a str from the config; Lightning checks it
        max_epochs=tr.max_epochs if tr.max_epochs is not None else -1,
        max_steps=tr.max_steps,
        accumulate_grad_batches=tr.accumulate,
        gradient_clip_val=tr.grad_clip,
        gradient_clip_algorithm="norm",
        log_every_n_steps=tr.log_every_steps,
        num_sanity_val_steps=tr.sanity_val_steps if datamodule.val_set is not None else 0,
        limit_val_batches=1.0 if datamodule.val_set is not None else 0,
        callbacks=[artifacts, *callbacks],
        logger=_loggers(run_dir) if loggers else False,
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=progress_bar,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
        val_check_interval=val_check_interval,
        check_val_every_n_epoch=tr.val_every_epochs if val_check_interval is None else None,
    )
    with warnings.catch_warnings():
        # Lightning cannot see that the training sampler resumes mid-epoch by itself (EpochSampler).
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable")
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    return trainer


def _setup_logging() -> None:
    logger = logging.getLogger("hogformer")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run(args: argparse.Namespace) -> int:
    """Run ``hogformer train`` with parsed ``args``; returns the exit status."""
    try:
        import lightning  # noqa: F401
    except ImportError:
        print(_MISSING_LIGHTNING, file=sys.stderr)
        return 2
    _setup_logging()
    if args.resume is not None and "=" in args.resume and not Path(args.resume).exists():
        # `--resume key=value`: argparse took an override for the optional value
        args.overrides = [*(args.overrides or []), args.resume]
        args.resume = "auto"
    try:
        config = config_from_args(args)
        run_dir = Path(args.output) if args.output else Path("runs") / config.name
        if args.dry_run:
            import yaml

            from .datamodule import RestorationDataModule

            datamodule = RestorationDataModule(config)
            print(yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None), end="")
            print(f"# run directory: {run_dir}")
            for t in datamodule.train_tasks:
                print(f"# train {t.name}: {len(t.items)} files x {t.repeat} = {len(t)} samples")
            for t in datamodule.val_tasks:
                print(f"# val {t.name}: {len(t.items)} files")
            return 0
        resume = _resume_path(args.resume, run_dir)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"hogformer train: {err}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if _launch_rank() == 0:
        write_config(config, run_dir / "config.yaml")
    if resume:
        log.info("resuming from %s", resume)
    try:
        fit(config, run_dir, resume, progress_bar=not args.no_progress_bar)
    except (ConfigError, FileNotFoundError) as err:  # data listing: a missing folder, file or pair
        print(f"hogformer train: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hogformer train", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
