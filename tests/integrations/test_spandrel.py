"""HOGformer as a spandrel architecture: detection, hyper-parameters from shapes, outputs equal to load_model.

Runs in the spandrel environment (tests/integrations/conftest.py; docs/integrations.md)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import spandrel
import torch

import hogformer
from hogformer.integrations.spandrel import ARCH_ID, register

REPO = Path(__file__).resolve().parents[2]
FILES = ("tiny_official_basicsr.pth", "tiny_official_lightning.ckpt", "tiny_weights.safetensors")


@pytest.fixture(scope="module", autouse=True)
def _registered(one_torch_thread):
    register()


def test_register_is_idempotent():
    assert ARCH_ID in spandrel.MAIN_REGISTRY
    n = len(spandrel.MAIN_REGISTRY)
    assert register() is False
    assert len(spandrel.MAIN_REGISTRY) == n


def test_register_into_a_fresh_registry():
    registry = spandrel.ArchRegistry()
    assert register(registry) is True and register(registry) is False
    assert [a.architecture.id for a in registry.architectures()] == [ARCH_ID]


@pytest.mark.parametrize("name", FILES)
def test_load_from_file_matches_load_model_float64(golden_dir, golden_cases, name):
    path = golden_dir / name
    desc = spandrel.ModelLoader().load_from_file(path)
    assert isinstance(desc, spandrel.ImageModelDescriptor)
    assert desc.architecture.id == ARCH_ID and desc.architecture.name == "HOGformer"
    assert desc.purpose == "Restoration"
    assert desc.scale == 1 and desc.input_channels == 3 and desc.output_channels == 3
    assert desc.size_requirements.multiple_of == 8 and not desc.size_requirements.square
    assert desc.tiling == spandrel.ModelTiling.DISCOURAGED
    assert isinstance(desc.model, hogformer.HOGformer)
    reference = hogformer.load_model(path, dtype=torch.float64)
    assert desc.model.config == reference.config
    desc.model.double()
    x = golden_cases["input_0"]
    with torch.no_grad():
        got = desc.model(x)
        want = reference(x)
    assert (got - want).abs().max().item() < 1e-7
    # ... and the golden output of the official code
    assert (got - golden_cases["output_0"]).abs().max().item() < 1e-7


def test_descriptor_call_pads_and_clamps_like_load_model(golden_dir):
    path = golden_dir / "tiny_weights.safetensors"
    desc = spandrel.ModelLoader().load_from_file(path)
    desc.model.double()
    reference = hogformer.load_model(path, dtype=torch.float64)
    x = torch.rand(1, 3, 21, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = desc(x)
        padded = torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect")  # spandrel's padding to 8
        want = reference(padded)[..., :21, :30].clamp(0, 1)
    assert got.shape == x.shape
    assert (got - want).abs().max().item() < 1e-7


def test_project_safetensors_and_shipped_weights_load(tmp_path):
    from hogformer.pretrained import resolve_weights

    path, _ = resolve_weights(None)  # float16, config in metadata
    desc = spandrel.ModelLoader().load_from_file(path)
    model = hogformer.load_model(path)
    assert desc.model.config == model.config
    assert next(desc.model.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(desc.model(x), model(x))


def test_hyperparameters_come_from_shapes(golden_dir, tiny_config_dict):
    from safetensors.torch import load_file

    sd = load_file(str(golden_dir / "tiny_weights.safetensors"))  # no metadata reaches spandrel
    desc = spandrel.MAIN_REGISTRY.load(sd)
    cfg = desc.model.config
    assert cfg.dim == tiny_config_dict["dim"]
    assert list(cfg.num_blocks) == list(tiny_config_dict["num_blocks"])
    assert cfg.num_refinement_blocks == tiny_config_dict["num_refinement_blocks"]
    assert list(cfg.heads) == list(tiny_config_dict["heads"])


def test_other_architectures_are_not_taken(golden_dir):
    from safetensors.torch import load_file

    sd = load_file(str(golden_dir / "tiny_weights.safetensors"))
    del sd["latent.0.attn_g_spatial.temperature"]
    from hogformer.integrations.spandrel import detect

    assert not detect(sd)
    assert not detect({"conv_first.weight": torch.zeros(1)})


def test_comfyui_node_folder_registers_on_import(monkeypatch):
    folder = REPO / "integrations" / "comfyui"
    monkeypatch.syspath_prepend(str(folder.parent))
    sys.modules.pop("comfyui", None)
    module = importlib.import_module("comfyui")
    assert module.NODE_CLASS_MAPPINGS == {}
    assert ARCH_ID in spandrel.MAIN_REGISTRY
