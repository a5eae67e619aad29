"""``--fix``: parsing, the post-process's promises, and its wiring through Restorer and ``hogformer restore``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import hogformer
from hogformer.cli import build_parser, main
from hogformer.inference.cli import restorer_from_args
from hogformer.inference.fix import FIXES, apply_fix, estimate_noise, gaussian_lowpass, parse_fix, unclip_mean
from hogformer.inference.restorer import Restorer

skdata = pytest.importorskip("skimage.data")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _brightener(lift: float = 0.25, seed: int = 0) -> hogformer.HOGformer:
    """A tiny network that returns its input plus ``lift``: it 'restores' every photo by brightening it."""
    torch.manual_seed(seed)
    model = hogformer.HOGformer(dataclasses.replace(hogformer.preset("tiny"), bias=True))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(lift)
    return model.eval()


def _luma(img: np.ndarray) -> float:
    return float(np.mean(img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])))


@pytest.fixture(scope="module")
def dark() -> np.ndarray:
    """A clean photo, dark on purpose: mean luma 0.15, its colours kept."""
    img = skdata.astronaut()[::4, ::4].astype(np.float32) / 255.0
    return np.round(img * (0.15 / _luma(img)) * 255.0).astype(np.float32) / 255.0


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)


# ------------------------------------------------------------------------------------------------ parsing


def test_parse_fix_names() -> None:
    assert parse_fix("noise,blur") == frozenset({"noise", "blur"})
    assert parse_fix(" Noise , JPEG ") == frozenset({"noise", "jpeg"})
    assert parse_fix(["haze"]) == frozenset({"haze"})
    assert parse_fix("auto") is None and parse_fix(None) is None
    assert set(FIXES) == {"noise", "blur", "jpeg", "haze", "lowlight", "rain", "snow"}


@pytest.mark.parametrize(
    "spec, message",
    [("fog", "unknown fix 'fog'; valid: auto, noise"), ("noise,fog", "'fog'"), ("auto,noise", "cannot be combined"),
     ("", "one or more")],
)  # fmt: skip
def test_parse_fix_rejects_with_the_valid_names(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fix(spec)


def test_restore_fix_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["restore", str(tmp_path), "-o", str(tmp_path / "out"), "--fix", "noise,fog"])
    assert e.value.code == 2
    assert "unknown fix 'fog'; valid: auto, noise, blur" in capsys.readouterr().err
    weights = hogformer.save_model(_brightener(), tmp_path / "b.safetensors")
    args = build_parser("restore").parse_args(["restore", "x.png", "-o", "o", "-w", str(weights), "--fix", "noise"])
    assert restorer_from_args(args).fix == frozenset({"noise"})
    args = build_parser("restore").parse_args(["restore", "x.png", "-o", "o", "-w", str(weights)])
    assert restorer_from_args(args).fix is None  # auto by default


def test_restorer_rejects_unknown_fix() -> None:
    with pytest.raises(ValueError, match="unknown fix 'sharpen'"):
        Restorer(model=_brightener(), device="cpu", fix="sharpen")


# ------------------------------------------------------------------------------------------------ promises


def test_fix_noise_keeps_a_dark_photos_brightness(dark: np.ndarray) -> None:
    auto = Restorer(model=_brightener(), device="cpu")(dark)
    assert _luma(auto) > 1.5 * _luma(dark)  # the blind network brightens the dark photo
    for fix in ("noise", "noise,blur", "jpeg"):
        out = Restorer(model=_brightener(), device="cpu", fix=fix)(dark)
        assert abs(_luma(out) - _luma(dark)) < 0.02 * _luma(dark), fix
        for c in range(3):  # and its colours
            assert abs(out[..., c].mean() - dark[..., c].mean()) < 0.02 * dark[..., c].mean()


def test_restorer_fix_is_the_post_process_of_auto(dark: np.ndarray) -> None:
    x = _tensor(dark)
    auto = Restorer(model=_brightener(), device="cpu").restore_tensor(x)
    for fix in ("noise", "haze", "rain"):
        fixed = Restorer(model=_brightener(), device="cpu", fix=fix).restore_tensor(x)
        torch.testing.assert_close(fixed, apply_fix(x, auto, parse_fix(fix)))
    torch.testing.assert_close(apply_fix(x, auto, parse_fix("rain")), auto)  # rain and snow: the model's output
    torch.testing.assert_close(apply_fix(x, auto, parse_fix("noise,haze")), auto)  # detail and tone: all of it


def test_fix_noise_keeps_the_models_denoising() -> None:
    """A perfect denoiser's output survives --fix noise: only the low frequencies come from the input."""
    clean = 0.3 + 0.4 * skdata.astronaut()[::4, ::4].astype(np.float32) / 255.0  # no clipping
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    out = apply_fix(_tensor(noisy), _tensor(clean), parse_fix("noise"))
    rms = float(torch.sqrt(((out - _tensor(clean)) ** 2).mean()))
    assert rms < 0.01 < float(np.sqrt(np.mean((noisy - clean) ** 2)))


def test_fix_haze_keeps_the_inputs_detail(dark: np.ndarray) -> None:
    """A tone fix takes the model's local brightness and keeps the input's detail (here: its noise)."""
    noisy = np.clip(dark + np.random.default_rng(1).normal(0, 0.02, dark.shape), 0, 1).astype(np.float32)
    smooth_bright = gaussian_lowpass(_tensor(noisy), 2.0) * 2.0  # a model that brightens and smooths
    out = apply_fix(_tensor(noisy), smooth_bright, parse_fix("haze"))
    assert float(out.mean()) == pytest.approx(float(smooth_bright.mean()), rel=0.03)
    assert float(estimate_noise(out)) > 1.5 * float(estimate_noise(smooth_bright))


def test_lowpass_and_unclip() -> None:
    x = torch.full((1, 3, 5, 7), 0.4)
    torch.testing.assert_close(gaussian_lowpass(x, 8.0), x)  # smaller than the kernel: replicate padding
    rng = np.random.default_rng(0)
    for m, s in ((0.02, 0.1), (0.5, 0.2), (0.97, 0.05)):
        clipped = float(np.clip(m + rng.normal(0, s, 400_000), 0, 1).mean())
        got = unclip_mean(torch.full((1, 1, 2, 2), clipped), torch.tensor([s]))
        assert float(got[0, 0, 0, 0]) == pytest.approx(m, abs=0.003)
    noise = torch.from_numpy(rng.normal(0.5, 0.1, (1, 3, 64, 64)).astype(np.float32))
    assert float(estimate_noise(noise)) == pytest.approx(0.1, rel=0.05)
