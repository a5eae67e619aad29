"""Hub folders and hf:// weights: the export, loading a folder, hf:// through a mocked download and through a
real (offline) huggingface_hub cache, and the one-line error when the repository cannot be had."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import hogformer
from hogformer.checkpoints import CheckpointError
from hogformer.integrations.hub import write_hub_folder
from hogformer.locations import parse_hf_uri
from hogformer.pretrained import resolve_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_folder(tmp_path_factory) -> Path:
    return write_hub_folder(None, tmp_path_factory.mktemp("hub") / "hogformer-small", repo_hint="me/hogformer-small")


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Same network and weights: equal outputs in float64 (float32 ones can differ in the last bits with the
    memory layout of the weights, and the network's sorts amplify that)."""
    a, b = copy.deepcopy(a).double(), copy.deepcopy(b).double()
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return (a(x) - b(x)).abs().max().item() < 1e-10


def test_folder_contents_and_model_card(default_folder):
    assert sorted(p.name for p in default_folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (default_folder / "README.md").read_text()
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "mit" and front["library_name"] == "hogformer"
    assert front["pipeline_tag"] == "image-to-image" and "image-restoration" in front["tags"]
    for section in ("## What it restores", "## Training data and protocol", "## Quality", "## Limits", "## Citation"):
        assert section in card
    assert "| noise, sigma 25 | 20.36 | 28.50 |" in card  # the shipped weights' measured table ...
    assert "python -m benchmarks.quality.compare_weights default --threads 2" in card  # ... and its command
    assert "2504.09377" in card and "hf://me/hogformer-small" in card
    default, _ = resolve_weights(None)
    config = json.loads((default_folder / "config.json").read_text())
    assert hogformer.HOGformerConfig.from_dict(config) == hogformer.read_checkpoint(default).config


def test_folder_loads_everywhere_weights_are_accepted(default_folder):
    default, _ = resolve_weights(None)
    reference = hogformer.load_model(default)
    assert resolve_weights(default_folder)[0] == default_folder / "model.safetensors"
    assert resolve_weights(str(default_folder))[0] == default_folder / "model.safetensors"
    assert _same_outputs(hogformer.load_model(default_folder), reference)
    assert hogformer.read_checkpoint(default_folder).format == "hogformer safetensors"
    restorer = hogformer.Restorer(str(default_folder), device="cpu")
    assert _same_outputs(restorer.model, reference)


def test_folder_of_other_weights_has_no_invented_table(golden_dir, tmp_path):
    out = write_hub_folder(golden_dir / "tiny_official_basicsr.pth", tmp_path / "tiny")
    card = (out / "README.md").read_text()
    assert "Not measured for these weights" in card and "28.50" not in card
    assert "benchmarks.quality.compare_weights" in card
    ref = hogformer.load_model(golden_dir / "tiny_official_basicsr.pth")
    assert _same_outputs(hogformer.load_model(out), ref)


def test_existing_folder_is_not_overwritten(default_folder):
    before = (default_folder / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="model.safetensors"):
        write_hub_folder(None, default_folder)
    assert (default_folder / "model.safetensors").read_bytes() == before


def test_folder_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        hogformer.load_model(tmp_path)


@pytest.mark.parametrize(
    "uri, repo, rev",
    [
        ("hf://me/model", "me/model", None),
        ("hf://me/model@v1.0", "me/model", "v1.0"),
        ("hf://a-b/c.d_e/", "a-b/c.d_e", None),
    ],
)
def test_parse_hf_uri(uri, repo, rev):
    assert parse_hf_uri(uri) == (repo, rev)


@pytest.mark.parametrize("uri", ["hf://model", "hf://a/b/c", "hf://a/b@", "hf:///b"])
def test_bad_hf_uri(uri):
    with pytest.raises(ValueError, match="hf://"):
        parse_hf_uri(uri)


def test_hf_uri_downloads_through_huggingface_hub(default_folder, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub", reason="pip install 'hogformer[hub]'")
    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):
        calls.append((repo_id, revision, tuple(allow_patterns or ())))
        return str(default_folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    model = hogformer.load_model("hf://me/hogformer-small@abc123")
    assert calls == [("me/hogformer-small", "abc123", ("model.safetensors", "config.json", "README.md"))]
    assert _same_outputs(model, hogformer.load_model(default_folder))
    restorer = hogformer.Restorer("hf://me/hogformer-small", device="cpu")
    assert calls[-1][:2] == ("me/hogformer-small", None)
    assert restorer.weights_path == default_folder / "model.safetensors"


def test_hf_uri_failure_is_one_line_naming_the_repository(monkeypatch, capsys):
    huggingface_hub = pytest.importorskip("huggingface_hub", reason="pip install 'hogformer[hub]'")
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot find an appropriate cached snapshot folder.\nSecond line.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError, match="me/missing"):
        hogformer.load_model("hf://me/missing")
    from hogformer.cli import main

    assert main(["info", "hf://me/missing@v2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "me/missing at revision v2" in err and "Traceback" not in err


def _fake_cache(cache: Path, repo: str, folder: Path) -> None:
    """The layout huggingface_hub's cache gives a downloaded repository."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full = dict(os.environ, OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, "-m", "hogformer.cli", *args], capture_output=True, text=True, env=full)


def test_offline_with_and_without_a_cached_copy(default_folder, tmp_path):
    """No mock: huggingface_hub itself, offline, on a cache that holds one repository and not another."""
    pytest.importorskip("huggingface_hub", reason="pip install 'hogformer[hub]'")
    cache = tmp_path / "cache"
    _fake_cache(cache, "me/cached", default_folder)
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")}
    ok = _cli(["info", "hf://me/cached"], env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["format"] == "hogformer safetensors"
    missing = _cli(["info", "hf://me/not-cached"], env)
    assert missing.returncode != 0
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "me/not-cached" in lines[0] and "HF_HUB_OFFLINE" in lines[0], missing.stderr


def test_export_hub_cli(tmp_path, capsys):
    from hogformer.cli import main

    out = tmp_path / "folder"
    assert main(["export", "hub", str(out), "--repo", "me/x"]) == 0
    assert "hf://me/x" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    with pytest.raises(SystemExit, match="already holds"):
        main(["export", "hub", str(out)])
    assert main(["export", "hub", str(out), "--overwrite"]) == 0
