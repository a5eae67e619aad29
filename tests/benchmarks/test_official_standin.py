"""benchmarks/vs_official/official_standin.py: the project's U-Net with every block's attention, feed-forward and norms
swapped for classes from the user's official files. Here the "official" files hold subclasses of the project's
modules, so the stand-in must reproduce the project's network exactly; its own norm is checked on its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from hogformer.models import HOGformer, HOGformerConfig
from hogformer.models.layers import ChannelNorm

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vs_official" / "official_standin.py"

ATTENTION = """
from hogformer.models.attention import DHOGSA as _P


class DHOGSA(_P):
    calls = 0

    def forward(self, x):
        DHOGSA.calls += 1
        return super().forward(x)
"""

FFN = """
from hogformer.models.feedforward import DIFF


class FFN_DIFF(DIFF):
    def __init__(self, dim, ffn_expansion_factor, bias):
        super().__init__(dim, int(dim * ffn_expansion_factor), bias)
"""


def load_standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, with_files: bool = True):
    monkeypatch.setenv("HOGFORMER_NO_MALLOPT", "0")  # restored after the test (the module sets it)
    if with_files:
        (tmp_path / "att.py").write_text(ATTENTION)
        (tmp_path / "ffn.py").write_text(FFN)
        monkeypatch.setenv("HOGFORMER_OFFICIAL_ATTENTION", str(tmp_path / "att.py"))
        monkeypatch.setenv("HOGFORMER_OFFICIAL_FFN", str(tmp_path / "ffn.py"))
    else:
        monkeypatch.delenv("HOGFORMER_OFFICIAL_ATTENTION", raising=False)
    spec = importlib.util.spec_from_file_location("official_standin_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_standin_with_the_projects_modules_is_the_projects_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_config_dict: dict
) -> None:
    module = load_standin(monkeypatch, tmp_path)
    torch.manual_seed(0)
    ours = HOGformer(HOGformerConfig.from_dict(tiny_config_dict)).double().eval()
    with torch.no_grad():
        for t in ours.parameters():
            t.add_(0.01 * torch.randn_like(t))
    theirs = module.HOGformerOfficialStandIn(**tiny_config_dict).double().eval()
    theirs.load_state_dict(ours.state_dict())  # strict: the published names
    blocks = sum(tiny_config_dict["num_blocks"]) * 2 - tiny_config_dict["num_blocks"][-1]
    blocks += tiny_config_dict["num_refinement_blocks"]
    x = torch.rand(1, 3, 32, 40, dtype=torch.float64)
    before = type(theirs.encoder_level1[0].attn_g_spatial).calls
    with torch.no_grad():
        diff = (theirs(x) - ours(x)).abs().max().item()
    assert diff < 1e-12
    assert type(theirs.encoder_level1[0].attn_g_spatial).calls - before == blocks  # every block swapped
    assert isinstance(theirs.encoder_level1[0].norm_g, module.ThreeDNorm)


@pytest.mark.parametrize("norm_type", ["WithBias", "BiasFree"])
def test_three_d_norm_is_the_channel_norm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, norm_type: str) -> None:
    module = load_standin(monkeypatch, tmp_path)
    x = torch.randn(2, 7, 5, 6, dtype=torch.float64) * 3 + 1
    got = module.ThreeDNorm(norm_type == "WithBias")(x)
    torch.testing.assert_close(got, ChannelNorm(norm_type)(x), rtol=0, atol=1e-12)


def test_missing_official_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_config_dict: dict):
    module = load_standin(monkeypatch, tmp_path, with_files=False)
    with pytest.raises(SystemExit, match="HOGFORMER_OFFICIAL_ATTENTION"):
        module.HOGformerOfficialStandIn(**tiny_config_dict)
