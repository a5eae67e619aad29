"""End-to-end training on CPU with a tiny model and a miniature dataset: learning, exact resume, two-process
DDP (gloo), exported weights, atomic checkpoints, and Lightning staying optional."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

L = pytest.importorskip("lightning")
skdata = pytest.importorskip("skimage.data")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import hogformer  # noqa: E402
from hogformer.data.photos import sample_crops  # noqa: E402
from hogformer.training import ConfigError, load_config  # noqa: E402
from hogformer.training.callbacks import AtomicCheckpointIO  # noqa: E402
from hogformer.training.datamodule import RestorationDataModule  # noqa: E402
from hogformer.training.module import RestorationModule  # noqa: E402
from hogformer.training.train import fit, main  # noqa: E402

pytestmark = pytest.mark.slow
photos = sample_crops
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = CONFIGS / "tiny.yaml"


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layout configs/tiny.yaml expects: clean/, pairs/{input,gt}/, val/ (48x48 photos)."""
    root = tmp_path_factory.mktemp("mini")
    for d in ("clean", "pairs/input", "pairs/gt", "val"):
        (root / d).mkdir(parents=True)
    for i, img in enumerate(photos(6, seed=1)):
        Image.fromarray(img).save(root / "clean" / f"c{i}.png")
    for i, img in enumerate(photos(4, seed=2)):
        Image.fromarray(img).save(root / "pairs/gt" / f"p{i}.png")
        Image.fromarray((img.astype(np.float32) * 0.4).astype(np.uint8)).save(root / "pairs/input" / f"p{i}.png")
    for i, img in enumerate(photos(4, seed=3)):
        Image.fromarray(img).save(root / "val" / f"v{i}.png")
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the tests compare runs bit for bit, and two threads on a shared 2-core machine are
    slower than one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    (path,) = sorted(run_dir.glob("logs/version_*/metrics.csv"))[-1:]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_model_learns_and_exports(mini_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = load_config(TINY, ["trainer.max_epochs=4"], data_root=mini_root)
    L.seed_everything(config.seed, verbose=False)  # the initial network of the run below
    dm = RestorationDataModule(config)
    start = RestorationModule(config, dm.task_names)
    before = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    ).validate(start, datamodule=dm, verbose=False)[0]

    argv = [
        "--config",
        str(TINY),
        "--data-root",
        str(mini_root),
        "-o",
        str(run_dir),
        "--max-epochs",
        "4",
        "--no-progress-bar",
    ]
    assert main(argv) == 0
    rows = read_metrics(run_dir)
    val = [r for r in rows if r.get("val/loss")]
    assert [int(r["epoch"]) for r in val] == [0, 1, 2, 3]
    losses = [float(r["val/loss"]) for r in val]
    psnrs = [float(r["val/psnr"]) for r in val]
    assert losses[-1] < before["val/loss"] - 0.01, (before, losses)
    assert psnrs[-1] > before["val/psnr"] + 0.5, (before, psnrs)

    # the schedule of configs/tiny.yaml, per epoch: warm-up 2 epochs from 1e-3 to 2e-3, cosine to 1e-4 at 6
    train = [r for r in rows if r.get("train/lr")]
    lr_by_epoch = {int(r["epoch"]): float(r["train/lr"]) for r in train}
    expected = [1e-3, 2e-3, 2e-3, 1e-4 + 0.5 * 1.9e-3 * (1 + math.cos(math.pi / 4))]
    assert [lr_by_epoch[e] for e in range(4)] == pytest.approx(expected, rel=1e-6)
    # the HOG term is off in the last epoch only
    hog_epochs = {int(r["epoch"]) for r in train if r.get("train/hog")}
    assert hog_epochs == {0, 1, 2}
    # wall time per step is logged (not for the first step of the run, nor the first after a validation)
    step_seconds = [float(r["train/step_seconds"]) for r in train if r.get("train/step_seconds")]
    assert step_seconds and all(0 < t < 60 for t in step_seconds)

    # the resolved config, the checkpoint and the exported weights
    assert load_config(run_dir / "config.yaml") == config
    ckpt = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    assert ckpt["hogformer"]["data_position"] == [4, 0] and "optimizer_states" in ckpt
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name != "last.ckpt"]
    for name, kind in (("best", "best"), ("final", "final")):
        model = hogformer.load_model(run_dir / f"{name}.safetensors")
        assert model.config == config.model
        with safe_open(str(run_dir / f"{name}.safetensors"), "pt") as f:
            meta = f.metadata()
        assert meta["config_name"] == "tiny" and meta["kind"] == kind
        assert int(meta["step"]) > 0 and float(meta["val_psnr"]) > 0
    final = load_file(run_dir / "final.safetensors")
    trained = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    assert set(trained) == {f"net.{k}" for k in final}
    assert all(torch.equal(trained[f"net.{k}"], v) for k, v in final.items())

    # a second start in the same folder must not overwrite the run
    assert main(argv) == 2


class Crash(L.Callback):
    """Raises after the checkpoint of a given epoch end or optimizer step has been written."""

    def __init__(self, epoch: int | None = None, step: int | None = None) -> None:
        self.epoch, self.step = epoch, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def uninterrupted(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    config = load_config(TINY, ["trainer.max_epochs=2"], data_root=mini_root)
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    fit(config, run_dir, loggers=False)
    return load_file(run_dir / "final.safetensors")


@pytest.mark.parametrize(
    ("crash", "overrides"),
    [
        (Crash(epoch=0), []),  # killed right after the end of epoch 1 (of 2)
        (Crash(step=11), ["trainer.checkpoint_every_steps=3"]),  # mid-epoch: last checkpoint at step 9
    ],
    ids=["after-epoch-1", "mid-epoch"],
)
def test_resumed_run_equals_uninterrupted(
    mini_root: Path, tmp_path: Path, uninterrupted: dict[str, torch.Tensor], crash: Crash, overrides: list[str]
) -> None:
    config = load_config(TINY, ["trainer.max_epochs=2", *overrides], data_root=mini_root)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(config, tmp_path, callbacks=[crash], loggers=False)
    assert not (tmp_path / "final.safetensors").exists()
    fit(config, tmp_path, resume=str(tmp_path / "checkpoints/last.ckpt"), loggers=False)
    resumed = load_file(tmp_path / "final.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    worst = max(float((resumed[k] - uninterrupted[k]).abs().max()) for k in resumed)
    assert worst <= 1e-6


DDP_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import lightning as L
    from safetensors.torch import save_file

    from hogformer.training import load_config
    from hogformer.training.train import fit

    out, data = Path(sys.argv[1]), sys.argv[2]


    class Dump(L.Callback):
        def on_train_end(self, trainer, pl_module):
            sd = {k: v.detach().contiguous() for k, v in pl_module.net.state_dict().items()}
            save_file(sd, str(out / f"rank{trainer.global_rank}.safetensors"))
            seen = sorted(trainer.datamodule.train_dataloader().sampler.order(0).tolist())
            (out / f"rank{trainer.global_rank}.txt").write_text(" ".join(map(str, seen)))


    overrides = ["trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=2"]
    fit(load_config(sys.argv[3], overrides, data_root=data), out / "run", loggers=False, callbacks=[Dump()])
    """
)


def test_two_processes_gloo_ddp_end_with_identical_weights(mini_root: Path, tmp_path: Path) -> None:
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(mini_root), str(TINY)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # and the two ranks trained on different halves of the data
    seen0, seen1 = ({int(i) for i in (tmp_path / f"rank{r}.txt").read_text().split()} for r in (0, 1))
    assert seen0 and seen1 and not seen0 & seen1
    assert hogformer.load_model(tmp_path / "run" / "final.safetensors").config.dim == 8


def test_progressive_crop_cuts_batch_and_patch(mini_root: Path) -> None:
    config = load_config(
        TINY,
        ["data.progressive={patch_sizes: [16, 32], batch_sizes: [2, 1], iterations: [5, 5]}"],
        data_root=mini_root,
    )
    module = RestorationModule(config)
    lq = torch.rand(2, 3, 32, 32)
    batch = {"lq": lq, "gt": lq + 1, "task": torch.tensor([0, 1])}
    out = module.progressive_crop(batch, 0)  # step 0: stage 0 -> 2 patches of 16
    assert out["lq"].shape == (2, 3, 16, 16)
    assert torch.equal(out["gt"], out["lq"] + 1)  # the same crop of input and ground truth
    windows = [lq[i, :, t : t + 16, s : s + 16] for i in range(2) for t in range(17) for s in range(17)]
    assert any(torch.equal(out["lq"][0], w) for w in windows)
    again = module.progressive_crop(batch, 0)
    assert torch.equal(again["lq"], out["lq"])  # a function of (seed, epoch, batch index, rank)


def test_atomic_checkpoint_io_never_leaves_a_partial_file(tmp_path: Path, monkeypatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1  # the previous checkpoint, intact
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_lightning_stays_optional(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import hogformer, hogformer.training, hogformer.training.datasets, hogformer.training.schedules
        assert "lightning" not in sys.modules, "importing hogformer imported lightning"
        sys.modules["lightning"] = None  # as if it were not installed
        from hogformer.training.train import main
        sys.exit(main(["--config", sys.argv[1]]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code, str(TINY)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'hogformer[train]'" in proc.stderr


def test_rng_states_round_trip_through_a_safe_checkpoint(tmp_path: Path) -> None:
    import random

    from hogformer.training.module import get_rng_state, set_rng_state

    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2:] == expected[2:]


def test_resume_argument(tmp_path: Path) -> None:
    from hogformer.training.train import _resume_path

    assert _resume_path("auto", tmp_path) is None  # nothing to resume: a new run
    assert _resume_path(None, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        _resume_path(str(tmp_path / "nope.ckpt"), tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"x")
    assert _resume_path("auto", tmp_path) == str(last)
    with pytest.raises(FileExistsError, match="--resume"):
        _resume_path(None, tmp_path)


class StartWeights(L.Callback):
    """Records the network's weights when training starts."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.weights = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}


def test_init_starts_from_the_given_weights(mini_root: Path, tmp_path: Path) -> None:
    config = load_config(TINY, ["trainer.max_steps=1"], data_root=mini_root)
    torch.manual_seed(123)
    start = hogformer.HOGformer(config.model)
    hogformer.save_model(start, tmp_path / "start.safetensors")
    seen = StartWeights()
    init = load_config(TINY, ["trainer.max_steps=1", f"init={tmp_path / 'start.safetensors'}"], data_root=mini_root)
    fit(init, tmp_path / "run", callbacks=[seen], loggers=False)
    expected = start.state_dict()
    assert set(seen.weights) == set(expected)
    assert all(torch.equal(seen.weights[k], v) for k, v in expected.items())

    fresh = StartWeights()  # without init: the seeded random initialisation, not the file
    fit(config, tmp_path / "run2", callbacks=[fresh], loggers=False)
    assert not torch.equal(fresh.weights["output.weight"], expected["output.weight"])


def test_init_with_another_network_is_refused(mini_root: Path, tmp_path: Path) -> None:
    hogformer.save_model(hogformer.HOGformer(hogformer.preset("small")), tmp_path / "small.safetensors")
    config = load_config(TINY, ["trainer.max_steps=1", f"init={tmp_path / 'small.safetensors'}"], data_root=mini_root)
    with pytest.raises(ConfigError, match="small.safetensors"):
        fit(config, tmp_path / "run", loggers=False)
    missing = load_config(TINY, ["trainer.max_steps=1", "init=no_such_weights"], data_root=mini_root)
    with pytest.raises(FileNotFoundError, match="no_such_weights"):
        fit(missing, tmp_path / "run2", loggers=False)


def test_activation_checkpointing_option_reaches_the_network() -> None:
    config = load_config(TINY, ["trainer.activation_checkpointing=true"])
    assert config.trainer.activation_checkpointing is True
    module = RestorationModule(config, ["denoise"])
    assert module.net.checkpointing
    x = torch.rand(2, 3, 32, 32)
    (module.net(x) - x).abs().mean().backward()
    assert all(p.grad is not None for p in module.net.parameters() if p.requires_grad)
    assert not RestorationModule(load_config(TINY), ["denoise"]).net.checkpointing  # off by default
