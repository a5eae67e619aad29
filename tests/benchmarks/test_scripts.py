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
