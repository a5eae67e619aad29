"""Tests for hogformer.quality.baselines (baselines) and hogformer.quality.table (the README table)."""

from __future__ import annotations

import math
import sys
import zlib

import numpy as np
import pytest

from hogformer.data import degradations as deg
from hogformer.metrics import PROTOCOL_AIO, evaluate_pair, psnr
from hogformer.quality import baselines as classical
from hogformer.quality.table import DEFAULT_DEGRADATIONS, ORACLE_LABEL, format_markdown, quality_table

skdata = pytest.importorskip("skimage.data")


def _crop(top: int, left: int, size: int) -> np.ndarray:
    return skdata.astronaut()[top : top + size, left : left + size].astype(np.float32) / 255.0


def _quantise(img: np.ndarray) -> np.ndarray:
    return (np.round(img * 255.0) / 255.0).astype(np.float32)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """96x96 crop of the astronaut: face, hair and background (a training photo, not a benchmark one)."""
    return _crop(40, 180, 96)


# ----------------------------------------------------------------------------------------------------------
# each baseline helps on its degradation
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "denoise", [classical.nl_means, classical.tv_chambolle, classical.wavelet, classical.bm3d_denoise]
)
def test_denoisers_improve_psnr_at_sigma_25(face: np.ndarray, denoise) -> None:
    if denoise is classical.bm3d_denoise:
        pytest.importorskip("bm3d")
    noisy = _quantise(deg.gaussian_noise(face, np.random.default_rng(0), 25.0))
    out = denoise(noisy, 25.0)
    assert out.dtype == np.float32 and out.shape == face.shape
    assert psnr(out, face) > psnr(noisy, face) + 4.0


def test_denoisers_estimate_sigma_when_not_given(face: np.ndarray) -> None:
    noisy = _quantise(deg.gaussian_noise(face, np.random.default_rng(1), 25.0))
    assert psnr(classical.nl_means(noisy), face) > psnr(noisy, face) + 3.0


def test_bm3d_missing_raises_baseline_unavailable(face: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` fail
    with pytest.raises(classical.BaselineUnavailable, match="pip install bm3d"):
        classical.bm3d_denoise(face, 25.0)


def test_dark_channel_prior_dehazes(face: np.ndarray) -> None:
    for seed in range(2):
        hazy = _quantise(deg.haze(face, np.random.default_rng(seed)))
        out = classical.dark_channel_prior(hazy)
        assert psnr(out, face) > psnr(hazy, face) + 5.0
        assert out.std() > 1.3 * hazy.std()  # contrast comes back


def test_guided_filter_keeps_constants_and_smooths() -> None:
    rng = np.random.default_rng(0)
    guide = rng.random((40, 50))
    np.testing.assert_allclose(classical.guided_filter(guide, np.full((40, 50), 0.3), 5, 1e-3), 0.3, atol=1e-9)
    noise = rng.random((40, 50))
    smoothed = classical.guided_filter(np.full((40, 50), 0.5), noise, 5, 1e-3)  # flat guide: a box filter
    assert smoothed.std() < 0.3 * noise.std()
    with pytest.raises(ValueError, match="same shape"):
        classical.guided_filter(guide, noise[:10], 5, 1e-3)


def test_low_light_baselines(face: np.ndarray) -> None:
    dark = _quantise(deg.low_light(face, np.random.default_rng(0)))
    bright = classical.gamma_correction(dark)
    assert abs(float(bright.mean()) - 0.45) < 0.01
    assert psnr(bright, face) > psnr(dark, face) + 8.0
    assert psnr(classical.clahe(dark), face) > psnr(dark, face) + 3.0
    flat = np.zeros((8, 8, 3), np.float32)
    np.testing.assert_array_equal(classical.gamma_correction(flat), flat)  # nothing to brighten


@pytest.mark.parametrize("radius", [1.5, 2.5, 3.5])
def test_blur_kernel_estimate_and_deconvolution(radius: float) -> None:
    clean = _crop(20, 160, 128)
    blurred = _quantise(deg.blur(clean, None, kernel=deg.defocus_kernel(radius)))
    est = classical.estimate_blur_kernel(blurred)
    assert est.family == "disc" and abs(est.size - radius) <= 0.5
    assert est.kernel.sum() == pytest.approx(1.0)
    before = psnr(blurred, clean)
    assert psnr(classical.wiener_blind(blurred), clean) > before + 2.0
    assert psnr(classical.richardson_lucy_blind(blurred), clean) > before + 0.5


def test_blur_kernel_estimate_sharp_image_and_motion_line() -> None:
    clean = _crop(20, 160, 128)
    assert classical.estimate_blur_kernel(clean).family == "none"
    line = classical.line_kernel(9, 0)
    assert line.shape[0] % 2 == 1 and line.sum() == pytest.approx(1.0)
    est = classical.estimate_blur_kernel(_quantise(deg.blur(clean, None, kernel=line)))
    assert est.family == "line" and est.angle in (0.0, 170.0, 10.0)
    with pytest.raises(ValueError, match="too small"):
        classical.estimate_blur_kernel(clean[:12, :12])


def test_rain_min_median_improves(face: np.ndarray) -> None:
    rainy = _quantise(deg.rain(face, np.random.default_rng(0)))
    assert psnr(classical.min_median_filter(rainy), face) > psnr(rainy, face) + 1.0


def test_registry_covers_the_table_degradations() -> None:
    for name in DEFAULT_DEGRADATIONS:
        assert classical.BASELINES[name], name
    assert set(classical.BASELINES) <= set(deg.DEGRADATIONS)
    with pytest.raises(TypeError, match="float"):
        classical.dark_channel_prior(np.zeros((8, 8, 3), np.uint8))


# ----------------------------------------------------------------------------------------------------------
# the quality table
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_photos() -> list[tuple[str, np.ndarray]]:
    from hogformer.data.photos import heldout_photos

    try:
        return heldout_photos()[:2]
    except ImportError:
        return [("astronaut", skdata.astronaut()), ("chelsea", skdata.chelsea())]


def _centre(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - side) // 2, (w - side) // 2
    return img[top : top + side, left : left + side].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def tiny_rows(two_photos) -> list[dict]:
    import torch

    from hogformer.inference.restorer import Restorer
    from hogformer.models import HOGformer
    from hogformer.models.config import preset

    torch.manual_seed(0)
    restorer = Restorer(model=HOGformer(preset("tiny")), device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 48 px images: a second thread only waits, and on a busy machine it stalls
    try:
        return quality_table(restorer, two_photos, max_side=48, seed=0)
    finally:
        torch.set_num_threads(threads)


def test_quality_table_rows_for_every_degradation_and_method(tiny_rows, two_photos) -> None:
    bm3d_here = classical.BASELINES["noise25"][-1][0]
    for d in DEFAULT_DEGRADATIONS:
        expected = ["input"] + [name for name, _ in classical.BASELINES[d]]
        expected += [ORACLE_LABEL] if d == "blur" else []
        expected += ["hogformer (in-memory model)"]
        assert [r["method"] for r in tiny_rows if r["degradation"] == d] == expected
    assert [r["degradation"] for r in tiny_rows] == sorted(
        (r["degradation"] for r in tiny_rows), key=DEFAULT_DEGRADATIONS.index
    )
    for r in tiny_rows:
        if r["method"] == bm3d_here and r["psnr"] is None:  # bm3d not installed here
            assert "bm3d" in r["note"]
            continue
        assert r["images"] == len(two_photos)
        assert math.isfinite(r["psnr"]) and 0.0 < r["ssim"] <= 1.0, r
        assert set(r["per_photo"]) == {name for name, _ in two_photos}


def test_quality_table_input_rows_match_an_independent_evaluation(tiny_rows, two_photos) -> None:
    for d in DEFAULT_DEGRADATIONS:
        values = []
        for name, img in two_photos:
            clean = _centre(img, 48)
            seq = np.random.SeedSequence([0, zlib.crc32(f"{name}/{d}".encode())])  # the documented seeding
            degraded = _quantise(deg.degrade(clean, d, np.random.default_rng(seq)))
            values.append(evaluate_pair(degraded, clean, PROTOCOL_AIO))
        row = next(r for r in tiny_rows if r["degradation"] == d and r["method"] == "input")
        assert row["psnr"] == pytest.approx(np.mean([v["psnr"] for v in values]), rel=1e-12)
        assert row["ssim"] == pytest.approx(np.mean([v["ssim"] for v in values]), rel=1e-12)


def test_quality_table_subset_sees_the_same_inputs(tiny_rows, two_photos) -> None:
    rows = quality_table(None, two_photos, degradations=("rain",), max_side=48, seed=0)
    assert [r["method"] for r in rows] == ["input"] + [name for name, _ in classical.BASELINES["rain"]]
    full = {r["method"]: r for r in tiny_rows if r["degradation"] == "rain"}
    for r in rows:
        assert r["psnr"] == full[r["method"]]["psnr"]


def test_format_markdown(tiny_rows) -> None:
    text = format_markdown(tiny_rows)
    table = [line for line in text.splitlines() if line.startswith("| ") and "Degradation" not in line]
    assert len(table) == len(tiny_rows)
    assert "RGB in [0, 1]" in text and PROTOCOL_AIO.describe() in text
    assert "48x48" in text and "quantised to 8 bits" in text
    for d in DEFAULT_DEGRADATIONS:
        lines = [line for line in table if line.startswith(f"| {d} |")]
        assert sum(line.split("|")[3].strip().startswith("**") for line in lines) >= 1  # best PSNR in bold
    oracle = next(line for line in table if ORACLE_LABEL in line)
    assert "**" not in oracle


def test_unavailable_baseline_is_reported(two_photos, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)
    only_bm3d = {"noise25": [("BM3D lc (true sigma)", classical.BASELINES["noise25"][-1][1])]}
    rows = quality_table(None, two_photos, degradations=("noise25",), max_side=32, baselines=only_bm3d)
    bm3d_row = rows[-1]
    assert bm3d_row["psnr"] is None and bm3d_row["images"] == 0 and "bm3d" in bm3d_row["note"]
    assert "BM3D lc (true sigma) (not installable here) | n/a | n/a |" in format_markdown(rows)


def test_quality_table_rejects_unknown_degradation(two_photos) -> None:
    with pytest.raises(ValueError, match="unknown degradations"):
        quality_table(None, two_photos, degradations=("fog",))


def test_quality_table_clean_row_measures_what_a_method_changes(two_photos) -> None:
    def darken(img: np.ndarray) -> np.ndarray:
        return img * 0.9

    rows = quality_table(darken, two_photos, degradations=("clean",), max_side=48, seed=0)
    assert [r["method"] for r in rows] == ["input", "hogformer (in-memory model)"]  # no baselines for clean
    source, changed = rows
    assert source["method"] == "input" and math.isinf(source["psnr"]) and source["ssim"] == 1.0
    expected = np.mean([psnr(_centre(img, 48) * 0.9, _centre(img, 48)) for _, img in two_photos])
    assert changed["psnr"] == pytest.approx(expected, abs=1e-6)
    text = format_markdown(rows)
    assert "| clean | input | **inf** | **1.0000** |" in text
