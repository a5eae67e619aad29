"""The published configuration at 256x256 in float32 (plain and low-memory) against the float64 reference, within
the network's own float32 noise measured on this machine (the sorts make float32 chaotic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hogformer.models import HOGformer, preset

skdata = pytest.importorskip("skimage.data")

pytestmark = [pytest.mark.slow, pytest.mark.float32]


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    model = HOGformer(preset("official")).double().eval()
    with torch.no_grad():  # weights away from their initialisation, so every branch contributes
        for p in model.parameters():
            p.add_(0.005 * torch.randn_like(p))
    photo = skdata.astronaut()[:256, 128:384].astype(np.float64) / 255.0
    x = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0).contiguous()
    with torch.no_grad():
        out = model(x)
    return model, x, out


@pytest.mark.parametrize("low_memory", [False, True], ids=["plain", "low-memory"])
def test_float32_within_its_own_noise_of_float64_at_256(reference, low_memory, float32_agreement):
    model64, x, ref = reference
    model = HOGformer(preset("official")).eval()
    model.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    model.set_low_memory(64 * 256 if low_memory else None)
    assert (ref - x).abs().mean().item() > 0.05  # the network changes the image: the bound means something
    with torch.inference_mode():
        agreement = float32_agreement(model, x, ref, runs=3)
    assert agreement.agrees, agreement
