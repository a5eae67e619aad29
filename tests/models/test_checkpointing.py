"""Activation checkpointing (HOGformer.set_checkpointing): the same gradients, far fewer saved activations."""

from __future__ import annotations

import torch

from hogformer.models import HOGformer, preset


def _grads_and_saved_bytes(model: HOGformer, x: torch.Tensor, saved_bytes) -> tuple[dict[str, torch.Tensor], int]:
    model.zero_grad(set_to_none=True)
    loss, nbytes = saved_bytes(lambda: model(x).square().mean())
    loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}, nbytes


def test_checkpointed_gradients_equal_the_plain_ones_with_far_less_saved(saved_bytes):
    torch.manual_seed(0)
    model = HOGformer(preset("tiny")).double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x = torch.rand(2, 3, 48, 64, dtype=torch.float64)
    plain, plain_bytes = _grads_and_saved_bytes(model, x, saved_bytes)
    assert model.set_checkpointing() is model and model.checkpointing
    ckpt, ckpt_bytes = _grads_and_saved_bytes(model, x, saved_bytes)
    assert set(plain) == set(ckpt)
    for name, g in plain.items():
        assert g.abs().max() > 0, name
        torch.testing.assert_close(ckpt[name], g, rtol=1e-10, atol=1e-14)
    assert ckpt_bytes < 0.3 * plain_bytes, (ckpt_bytes, plain_bytes)


def test_checkpointing_changes_nothing_without_autograd():
    torch.manual_seed(1)
    model = HOGformer(preset("tiny")).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        out = model.set_checkpointing(True)(x)
    assert torch.equal(ref, out)
    model.set_checkpointing(False)
    assert not model.checkpointing
