"""The weights that ship inside the package: registry, integrity, default use, and what they do to real photos."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import hogformer
from hogformer import pretrained
from hogformer.data.degradations import degrade
from hogformer.inference.restorer import Restorer
from hogformer.metrics import PROTOCOL_AIO, psnr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    return Restorer(device="cpu")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from hogformer.data.io import read_image
    from hogformer.inference.demo import SAMPLE

    return read_image(SAMPLE).rgb[:96, :128]  # a crop of the bundled (held-out) sample


def test_default_weights_are_shipped_with_their_config_and_hash():
    entries = pretrained.shipped()
    assert "default" in entries
    entry = entries["default"]
    assert entry.path.is_file() and entry.path.stat().st_size < 8_000_000
    assert pretrained.sha256_of(entry.path) == entry.sha256
    ckpt = hogformer.read_checkpoint(entry.path)
    assert ckpt.config_source == "metadata" and ckpt.config == hogformer.preset("small")
    assert ckpt.metadata.get("training_data")


def test_restorer_uses_the_default_weights(restorer):
    assert restorer.weights_info is not None and restorer.weights_info.name == "default"
    assert not restorer.weights_info.test_only


def test_unknown_name_and_tampered_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="shipped: .*default"):
        pretrained.resolve_weights("no-such-weights")
    entry = pretrained.shipped()["default"]
    fake = tmp_path / "weights"
    fake.mkdir()
    shutil.copy(entry.path, fake / entry.path.name)
    (fake / "index.json").write_text(json.dumps([{"name": "default", "file": entry.path.name, "sha256": "0" * 64}]))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", fake)
    with pytest.raises(ValueError, match="sha256"):
        pretrained.resolve_weights(None)


@pytest.mark.parametrize("degradation", ["noise25", "haze", "lowlight", "rain"])
def test_shipped_model_improves_degraded_photos(restorer, photo, degradation):
    degraded = np.round(degrade(photo, degradation, np.random.default_rng(3)) * 255) / 255
    restored = restorer(degraded.astype(np.float32))
    assert psnr(restored, photo, PROTOCOL_AIO) > psnr(degraded, photo, PROTOCOL_AIO) + 1.0


def test_tiled_output_stays_close_to_whole_image(restorer, photo):
    """HOGformer's attention is global, so tiles differ from the whole image; the README states by how much."""
    degraded = np.round(degrade(photo, "noise25", np.random.default_rng(0)) * 255) / 255
    x = torch.from_numpy(degraded.astype(np.float32)).permute(2, 0, 1)[None]
    whole = restorer.restore_tensor(x)
    tiled_restorer = Restorer(device="cpu", tile=64, tile_overlap=16)
    tiled = tiled_restorer.restore_tensor(x)
    diff = (tiled - whole).abs()
    assert diff.mean().item() < 0.01
    clean = torch.from_numpy(photo).permute(2, 0, 1)[None]
    # Tiling costs at most a small fraction of the restoration's gain.
    gain_whole = psnr(whole[0].permute(1, 2, 0).numpy(), photo, PROTOCOL_AIO) - psnr(degraded, photo, PROTOCOL_AIO)
    gain_tiled = psnr(tiled[0].permute(1, 2, 0).numpy(), photo, PROTOCOL_AIO) - psnr(degraded, photo, PROTOCOL_AIO)
    assert gain_tiled > 0.8 * gain_whole
    assert clean.shape == whole.shape


def test_demo_writes_images_and_prints_psnr(tmp_path, capsys):
    from hogformer.cli import main

    assert main(["demo", "-o", str(tmp_path), "--degradations", "noise25", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "noise25" in out and "weights: default" in out
    for name in ("clean.png", "noise25_degraded.png", "noise25_restored.png"):
        assert (tmp_path / name).is_file()
