"""Losses against the official implementation's values (../shared/golden/losses.safetensors)."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from hogformer.losses import OFFICIAL_AIO, HOGDescriptor, HOGLoss, L1Loss, Objective, PearsonLoss


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_file(str(golden_dir / "losses.safetensors"))


@pytest.mark.parametrize("block", [1, 2])
def test_hog_descriptor_matches_official(golden, block):
    got = HOGDescriptor(block=block)(golden["target"])
    ref = golden[f"hog_block{block}"]
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() < 1e-5


def test_hog_losses_and_gradient_match_official(golden):
    pred = golden["pred"].clone().requires_grad_()
    a = HOGLoss(block=2, distance="l1")(pred, golden["target"])
    b = HOGLoss(block=1, distance="l2")(pred, golden["target"])
    assert abs(a.item() - golden["hogloss_block2_l1"].item()) < 1e-5
    assert abs(b.item() - golden["hogloss_block1_l2"].item()) < 1e-5
    (a + b).backward()
    assert (pred.grad - golden["grad_pred_hogloss_sum"]).abs().max().item() < 1e-5


def test_pearson_matches_official(golden):
    got = PearsonLoss()(golden["pred"], golden["target"])
    assert abs(got.item() - golden["pearson_loss"].item()) < 1e-5


def test_pearson_leaves_out_nonfinite_samples():
    x = torch.rand(2, 3, 8, 8)
    y = x.clone()
    y[1] = -x[1]  # perfectly anti-correlated: term 1
    assert abs(PearsonLoss()(x, y).item() - 0.5) < 1e-5
    y[0] = float("nan")
    assert abs(PearsonLoss()(x, y).item() - 1.0) < 1e-5


def test_hog_block_norm_falls_back_on_small_grids():
    img = torch.rand(1, 3, 15, 40)  # 1 x 5 cells: no 2x2 block fits
    assert HOGDescriptor(block=2)(img).shape == (1, 9 * 1 * 5)
    assert HOGDescriptor(block=2)(torch.rand(1, 3, 16, 24)).shape == (1, 2 * 9 * 4)


def test_signed_and_unsigned_orientation_bins():
    ramp = torch.linspace(0, 1, 24).expand(1, 1, 24, 24).contiguous()  # gradient along +x: orientation 0
    for img, signed, expected_bins in (
        (ramp, False, {0}),
        (ramp.flip(-1), False, {0}),  # orientation pi: the same as 0 when unsigned
        (ramp.flip(-1), True, {4, 5}),  # pi lies half-way between signed bins 4 (8pi/9) and 5 (10pi/9)
    ):
        hist = HOGDescriptor(block=1, signed=signed)(img).view(9, 3, 3)[:, 1, 1]
        active = {int(i) for i in torch.nonzero(hist > 1e-3 * hist.max())}
        assert active == expected_bins, (signed, hist)


def test_objective_weights_parts_and_disables():
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    obj = Objective({"l1": {"weight": 2.0}, "pearson": {"weight": 0.5}, "hog": {"weight": 1.0, "block": 2}})
    total, parts = obj(pred, target)
    expected = 2 * L1Loss()(pred, target) + 0.5 * PearsonLoss()(pred, target) + HOGLoss(2)(pred, target)
    assert math.isclose(total.item(), expected.item(), rel_tol=1e-6)
    assert set(parts) == {"l1", "pearson", "hog"}
    obj.disabled.add("hog")
    total2, parts2 = obj(pred, target)
    assert "hog" not in parts2
    assert math.isclose(total2.item(), (expected - HOGLoss(2)(pred, target)).item(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        Objective({"ssim": {}})
    assert set(Objective(OFFICIAL_AIO).parts) == {"l1", "pearson", "hog"}
