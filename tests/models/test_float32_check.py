"""The float32 comparison of the golden tests (``float32_agreement`` in conftest) fails on real mistakes.

Each mistake is one a float32 test must not let through: a patch sort in the wrong order, the HOG histogram
shifted by one bin, and the low-memory strips run without the halo their 3x3 convolutions need (a seam every
strip). The float64 comparison with the official output catches each too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import hogformer.models.attention as attention
import hogformer.models.hog as hog
import hogformer.models.low_memory as low_memory
from hogformer import load_model

pytestmark = [pytest.mark.float32, pytest.mark.usefixtures("one_torch_thread")]

CASES = (0, 1, 2)  # random inputs; case 3 is an 8-bit photo whose float32 ties make it the weakest test


def _flipped_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_sort_index = attention.patch_sort_index
    monkeypatch.setattr(attention, "patch_sort_index", lambda key, *a: patch_sort_index(-key, *a))


def _wrong_hog_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    hog_from_gradients = hog.hog_from_gradients

    def shifted(*args, **kwargs):
        histogram, key = hog_from_gradients(*args, **kwargs)
        return histogram.roll(1, dims=1), key

    monkeypatch.setattr(hog, "hog_from_gradients", shifted)
    monkeypatch.setattr(low_memory, "hog_from_gradients", shifted)


def _strip_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    halo_window = low_memory.halo_window
    monkeypatch.setattr(low_memory, "halo_window", lambda r0, r1, height, halo: halo_window(r0, r1, height, 0))


MISTAKES = {"flipped-sort": _flipped_sort, "wrong-hog-bin": _wrong_hog_bin, "strip-seam": _strip_seam}


@pytest.fixture(params=list(MISTAKES))
def mistake(request, monkeypatch) -> Iterator[str]:
    MISTAKES[request.param](monkeypatch)
    yield request.param


def _model(golden_dir, dtype: torch.dtype, mistake: str, width: int):
    model = load_model(golden_dir / "tiny_weights.safetensors", dtype=dtype)
    if mistake == "strip-seam":
        model.set_low_memory(8 * width)  # strips of 8 rows: seams at every level
    return model


@pytest.mark.parametrize("i", CASES)
def test_float32_comparison_fails_on_a_real_mistake(golden_dir, golden_cases, mistake, i, float32_agreement):
    x, ref = golden_cases[f"input_{i}"], golden_cases[f"output_{i}"]
    agreement = float32_agreement(_model(golden_dir, torch.float32, mistake, x.shape[-1]), x, ref, seed=i)
    assert not agreement.agrees, agreement


def test_float64_comparison_fails_on_a_real_mistake(golden_dir, golden_cases, mistake):
    x, ref = golden_cases["input_0"], golden_cases["output_0"]
    with torch.no_grad():
        out = _model(golden_dir, torch.float64, mistake, x.shape[-1])(x)
    assert (out - ref).abs().max().item() > 1e-7


def test_float32_comparison_passes_without_a_mistake(golden_dir, golden_cases, float32_agreement):
    """The control: the same model and inputs with nothing patched (also the low-memory path)."""
    for i in CASES:
        x, ref = golden_cases[f"input_{i}"], golden_cases[f"output_{i}"]
        for strip in (None, 8 * x.shape[-1]):
            model = load_model(golden_dir / "tiny_weights.safetensors").set_low_memory(strip)
            agreement = float32_agreement(model, x, ref, seed=i)
            assert agreement.agrees, (i, strip, agreement)
