"""Smoke tests of benchmark modules that read real data: benchmarks.quality.compare_weights (weights side by side
on the held-out photos, here a folder of stand-ins) and benchmarks.vs_official.device_equivalence (the golden checks,
here on the CPU), each run as ``python -m`` from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import hogformer
from hogformer.data.photos import HELDOUT_PHOTOS

REPO = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=600, env=env, cwd=REPO)


def test_compare_weights_identity_returns_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photos = tmp_path / "heldout"
    photos.mkdir()
    for name in HELDOUT_PHOTOS:
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photos / name)
    torch.manual_seed(0)
    model = hogformer.HOGformer(hogformer.preset("tiny"))
    with torch.no_grad():
        model.output.weight.zero_()  # the network adds its input: it returns it
    identity = hogformer.save_model(model, tmp_path / "identity.safetensors")
    done = _run(
        "benchmarks.quality.compare_weights", str(identity), "--photos", str(photos), "--degradations", "noise25"
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| noise25")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "noise25" and cells[1] == cells[2]  # the identity network scores exactly the input


def test_device_equivalence_on_cpu(golden_dir: Path) -> None:
    module = "benchmarks.vs_official.device_equivalence"
    done = _run(module, "--device", "cpu", "--golden", str(golden_dir), "--size", "32")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| golden")]
    assert len(rows) == 9 and all(r.endswith("| ok |") for r in rows if "(ties)" not in r)
    assert any("fp32: mean abs(out - float64)" in line and line.endswith("| ok |") for line in done.stdout.splitlines())


def test_targets_degradations_follow_their_formulas() -> None:
    from benchmarks.quality.targets import degrade

    rng = np.random.default_rng(0)
    img = (rng.integers(0, 256, (32, 40, 3)) / 255.0).astype(np.float32)
    level = np.round
    assert np.array_equal(degrade("clean", img, 0), img)
    assert np.allclose(degrade("lowlight", img, 0), level(0.45 * img.astype(np.float64) ** 1.8 * 255) / 255, atol=1e-6)
    assert np.allclose(degrade("haze", img, 0), level((0.55 * img.astype(np.float64) + 0.3825) * 255) / 255, atol=1e-6)
    motion = degrade("motion9", img, 0)
    assert np.allclose(motion[:, 10], level(img[:, 6:15].mean(axis=1) * 255) / 255, atol=1e-6)  # horizontal box
    noisy = degrade("noise25", img, 0)
    assert 20 < np.std((noisy - img) * 255) < 30
    for case in ("rain", "snow"):
        assert (degrade(case, img, 0) >= img - 1e-6).all()  # both only brighten
        assert np.array_equal(degrade(case, img, 3), degrade(case, img, 3))  # seeded
    assert not np.array_equal(degrade("jpeg30", img, 0), img)


def test_targets_identity_returns_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photos = tmp_path / "heldout"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    torch.manual_seed(0)
    model = hogformer.HOGformer(hogformer.preset("tiny"))
    with torch.no_grad():
        model.output.weight.zero_()
    identity = hogformer.save_model(model, tmp_path / "identity.safetensors")
    done = _run(
        "benchmarks.quality.targets", "--weights", str(identity), "--photos", str(photos), "--no-bm3d",
        "--cases", "noise25", "haze", "jpeg30", "--threads", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| case")
    }
    assert rows["noise25"][1] == rows["noise25"][2]  # the identity scores exactly the input
    assert rows["haze"][-2] == "no" and rows["jpeg30"][-2] == "yes" and rows["jpeg30"][-1] == "2/2"
