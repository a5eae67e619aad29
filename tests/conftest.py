"""Shared fixtures. Golden fixtures come from ``$HOGFORMER_GOLDEN`` or ``../shared/golden`` beside the repo.

Where they are absent the golden tests skip, unless ``HOGFORMER_REQUIRE_GOLDEN=1`` (set by ``.ci/run``), which
turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _golden_dir() -> Path:
    env = os.environ.get("HOGFORMER_GOLDEN")
    return Path(env) if env else REPO.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    path = _golden_dir()
    if not (path / "tiny_cases.safetensors").is_file():
        message = f"golden fixtures not found at {path} (set HOGFORMER_GOLDEN)"
        if os.environ.get("HOGFORMER_REQUIRE_GOLDEN") == "1":
            pytest.fail(message + " and HOGFORMER_REQUIRE_GOLDEN=1")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def golden_cases(golden_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(golden_dir / "tiny_cases.safetensors"))


@pytest.fixture(scope="session")
def tiny_config_dict(golden_dir: Path) -> dict:
    return json.loads((golden_dir / "tiny_config.json").read_text())


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: its networks are tiny, and on a shared 2-core machine more threads
    only contend."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def threads():
    """Restore torch's thread count after a test that changes it."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def saved_bytes():
    """``saved_bytes(fn)``: bytes of the distinct storages autograd keeps for the backward pass while ``fn()``
    runs (returns ``(fn's result, bytes)``)."""

    def measure(fn):
        seen: dict[tuple[int, int], int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            result = fn()
        return result, sum(seen.values())

    return measure


@pytest.fixture()
def strip_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The strip size of every low-memory block forward (``HOGformerBlock.add_low_memory_``) during the test, in
    call order; the blocks still compute."""
    from hogformer.models.block import HOGformerBlock

    calls: list[int] = []
    strip_forward = HOGformerBlock.add_low_memory_
    monkeypatch.setattr(
        HOGformerBlock, "add_low_memory_", lambda self, x, px: calls.append(px) or strip_forward(self, x, px)
    )
    return calls
