"""Deepening a trained network for fine-tuning: ``init`` from a file with fewer blocks per level
(:func:`hogformer.training.train.grow_state_dict`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import hogformer
from hogformer.training import ConfigError
from hogformer.training.train import grow_state_dict, init_weights

TINY = hogformer.preset("tiny")  # blocks 1-1-1-2, one refinement block
DEEPER = dataclasses.replace(TINY, num_blocks=(2, 1, 2, 3), num_refinement_blocks=2)


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(7)
    net = hogformer.HOGformer(TINY)
    # Random output projections everywhere, so that a block left in by mistake would change the output.
    for p in net.parameters():
        p.data.normal_(0, 0.05).add_(p.data)
    path = tmp_path_factory.mktemp("grow") / "tiny.safetensors"
    hogformer.save_model(net, path)
    return path


def _load(path: Path, config) -> torch.nn.Module:
    torch.manual_seed(99)
    net = hogformer.HOGformer(config)
    init_weights(net, str(path))
    return net.double().eval()


def test_grown_network_computes_what_the_source_did(source_file: Path) -> None:
    source, grown = _load(source_file, TINY), _load(source_file, DEEPER)
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in source.parameters())
    x = torch.rand(1, 3, 32, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(x)
        assert torch.allclose(grown(x), expected, rtol=0, atol=1e-12)
        # The new blocks are in the forward path: once their projections move off zero, the output changes.
        grown.latent[2].ffn.project_out.weight.fill_(0.01)
        assert (grown(x) - expected).abs().max() > 1e-6


def test_grown_blocks_get_gradients(source_file: Path) -> None:
    grown = _load(source_file, DEEPER).float().train()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    (grown(x) - x).abs().mean().backward()
    for name in ("encoder_level1.1", "decoder_level1.1", "encoder_level3.1", "latent.2", "refinement.1"):
        block = grown.get_submodule(name)
        assert block.attn_g_spatial.project_out.weight.grad.abs().sum() > 0, name
        assert block.ffn.project_out.weight.grad.abs().sum() > 0, name


def test_grow_reports_the_new_blocks(source_file: Path) -> None:
    state = hogformer.load_model(source_file).state_dict()
    new = grow_state_dict(state, TINY, hogformer.HOGformer(DEEPER))
    assert sorted(new) == sorted(
        ["encoder_level1.1", "decoder_level1.1", "encoder_level3.1", "decoder_level3.1", "latent.2", "refinement.1"]
    )


def test_grow_refuses_anything_but_more_blocks(source_file: Path) -> None:
    wider = dataclasses.replace(DEEPER, dim=18)
    with pytest.raises(ConfigError, match="tiny.safetensors"):
        init_weights(hogformer.HOGformer(wider), str(source_file))
    shallower = dataclasses.replace(TINY, num_blocks=(1, 1, 1, 1))
    with pytest.raises(ConfigError, match="latent has 2 blocks in the file but 1"):
        init_weights(hogformer.HOGformer(shallower), str(source_file))
