"""Shared fixtures. Golden fixtures come from ``$HOGFORMER_GOLDEN`` or ``../shared/golden`` beside the repo.

Where they are absent the golden tests skip, unless ``HOGFORMER_REQUIRE_GOLDEN=1`` (set by ``.ci/run``), which
turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
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


#: Mean absolute error a float32 forward reaches against float64 when no sort flips (about 1e-7 with the golden
#: weights), times 100: below it, float32 agrees with float64 to its own rounding.
FLOAT32_ROUNDING = 1e-5


@dataclass(frozen=True)
class Float32Agreement:
    """How a float32 forward compares with its float64 reference, against the network's own float32 noise.

    ``distance``: the smallest mean absolute difference to the reference over the float32 runs (the input and
    its perturbations). ``spread``: the largest mean absolute difference between the unperturbed float32 run and
    a perturbed one. The perturbations (uniform, +-1e-6) are far below an 8-bit level and move the float64
    result by ~1e-6 of that, so whatever they change in float32 is the network's own float32 chaos (near-tie
    sort keys that flip) on this CPU, with these kernels and threads. A correct float32 path is one more sample
    of that chaos: at least one run lands as close to the reference as the runs land to each other. A real
    mistake moves every run the same way, so even the closest run stays away from the reference.
    """

    distance: float
    spread: float

    @property
    def bound(self) -> float:
        return self.spread + FLOAT32_ROUNDING

    @property
    def agrees(self) -> bool:
        return self.distance <= self.bound


def _float32_agreement(
    run: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    reference: torch.Tensor,
    *,
    runs: int = 6,
    seed: int = 0,
) -> Float32Agreement:
    """Run ``run`` (a float32 forward) on float64 ``x`` and ``runs - 1`` perturbations of it, cast to float32,
    and compare with the float64 ``reference`` (see :class:`Float32Agreement`)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        outputs = [run(x.float()).double()]
        for _ in range(runs - 1):
            noise = 2 * torch.rand(x.shape, generator=generator, dtype=x.dtype) - 1
            outputs.append(run((x + 1e-6 * noise).float()).double())
    distance = min((out - reference).abs().mean().item() for out in outputs)
    spread = max((out - outputs[0]).abs().mean().item() for out in outputs[1:])
    return Float32Agreement(distance, spread)


@pytest.fixture()
def float32_agreement() -> Callable[..., Float32Agreement]:
    """:func:`_float32_agreement`: a float32 forward against its float64 reference, within the network's own
    float32 noise measured on this machine."""
    return _float32_agreement


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
    """The strip size of every low-memory block forward (:func:`hogformer.models.low_memory.add_block_`) during
    the test, in call order; the blocks still compute."""
    from hogformer.models import low_memory

    calls: list[int] = []
    add_block_ = low_memory.add_block_
    monkeypatch.setattr(low_memory, "add_block_", lambda block, x, px: calls.append(px) or add_block_(block, x, px))
    return calls
