"""benchmarks.vs_official.vs_official_attention, the side-by-side harness for the attention module alone, driven with
stand-ins for the official file: the same computation gets a table from alternating processes, a different one
is refused before any timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-m", "benchmarks.vs_official.vs_official_attention"]

SAME = """
from hogformer.models.attention import DHOGSA as _Project


class DHOGSA(_Project):
    pass
"""

DIFFERENT = """
from hogformer.models.attention import DHOGSA as _Project


class DHOGSA(_Project):
    def forward(self, x):
        return super().forward(x) * 1.001
"""


def run(tmp_path: Path, source: str, *extra: str) -> subprocess.CompletedProcess:
    official = tmp_path / "attention.py"
    official.write_text(source)
    cmd = [*MODULE, "--official", str(official), "--sizes", "32", "--threads", "1", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


def test_same_computation_gets_a_table_from_alternating_processes(tmp_path: Path) -> None:
    done = run(tmp_path, SAME, "--repeats", "2")
    assert done.returncode == 0, done.stderr
    order = [line.split(": ", 1)[1] for line in done.stderr.splitlines() if line.startswith("# repeat")]
    assert order == ["official 32 done", "project 32 done", "project 32 done", "official 32 done"]
    assert "40 attention calls" in done.stdout
    diff = float(done.stdout.split("by at most ")[1].split()[0])
    assert diff < 1e-12
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 32 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")


def test_different_computation_is_refused_before_timing(tmp_path: Path) -> None:
    done = run(tmp_path, DIFFERENT, "--repeats", "1")
    assert done.returncode == 1
    assert "not the same computation" in done.stderr and "attention.py" in done.stderr
    assert "# repeat" not in done.stderr and "| 32 |" not in done.stdout


def test_missing_class_is_named(tmp_path: Path) -> None:
    done = run(tmp_path, "x = 1\n", "--repeats", "1")
    assert done.returncode != 0 and "DHOGSA" in done.stderr
