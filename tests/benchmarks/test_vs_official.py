"""benchmarks.vs_official.vs_official, the side-by-side harness, driven with a stand-in for the official model file (the
official code is not available here): processes alternate, both networks load the same weights, the table
has every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-m", "benchmarks.vs_official.vs_official"]

STAND_IN = '''
import torch
from hogformer.models import HOGformer, HOGformerConfig


class HOGformerStandIn(HOGformer):
    """Same state-dict names and constructor arguments as the official class."""

    def __init__(self, inp_channels=3, out_channels=3, dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4,
                 heads=(1, 2, 4, 8), ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias"):
        super().__init__(HOGformerConfig.from_dict(dict(
            inp_channels=inp_channels, out_channels=out_channels, dim=dim, num_blocks=num_blocks,
            num_refinement_blocks=num_refinement_blocks, heads=heads, ffn_expansion_factor=ffn_expansion_factor,
            bias=bias, LayerNorm_type=LayerNorm_type)))


class Helper(torch.nn.Module):  # not a candidate: no dim/num_blocks/heads
    pass
'''


def test_side_by_side_table(tmp_path: Path, golden_dir: Path) -> None:
    official = tmp_path / "model.py"
    official.write_text(STAND_IN)
    cmd = [*MODULE, "--official", str(official), "--config", str(golden_dir / "tiny_config.json")]
    cmd += ["--sizes", "32", "--train", "32x1", "--repeats", "2", "--threads", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    order = [line.split(": ", 1)[1] for line in done.stderr.splitlines() if line.startswith("# repeat")]
    # each case: repeat 1 runs the official process first, repeat 2 last
    assert len(order) == 2 * (3 + 2)
    assert order[0].startswith("official forward 32") and order[3].startswith("official train 32")
    assert order[5].startswith("project lowmem 32") and order[7].startswith("official forward 32")
    assert order[8].startswith("project train 32") and order[9].startswith("official train 32")
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 32x32")]
    assert [r.split(" | ")[0] for r in rows] == [
        "| 32x32 forward",
        "| 32x32 forward (project low-memory, 32768-pixel strips)",  # sized to the image: the smallest strip
        "| 32x32 x1 train step",
    ]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")
    assert "configuration" in done.stdout and json.loads((golden_dir / "tiny_config.json").read_text())["dim"] == 12


def test_missing_official_file_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([*MODULE, "--official", str(tmp_path / "nope.py")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "nope.py" in done.stderr


TWO_CANDIDATES = """
import torch


class A(torch.nn.Module):
    def __init__(self, dim, num_blocks, heads):
        super().__init__()


class B(A):
    pass
"""


@pytest.mark.parametrize("source", ["", TWO_CANDIDATES], ids=["none", "two"])
def test_no_single_candidate_class_is_reported(tmp_path: Path, source: str) -> None:
    from benchmarks.vs_official import vs_official

    path = tmp_path / "model.py"
    path.write_text(source)
    with pytest.raises(SystemExit, match="candidate network classes"):
        vs_official.official_class(str(path), None)


def test_the_official_file_imports_its_siblings(tmp_path: Path) -> None:
    from benchmarks.vs_official import vs_official

    (tmp_path / "hogformer_sibling_under_test.py").write_text("WIDTH = 7\n")
    (tmp_path / "model.py").write_text("from hogformer_sibling_under_test import WIDTH\n")
    try:
        assert vs_official.official_module(str(tmp_path / "model.py")).WIDTH == 7
    finally:
        sys.modules.pop("hogformer_sibling_under_test", None)
        sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "folder", None) != str(tmp_path)]
