"""Tests for the benchmark layouts, the evaluation runner, the reports and ``hogformer evaluate``.

Miniature copies of every layout are built from crops of real photos (scikit-image's astronaut, coffee and
chelsea; 40x52 and 45x37 so that the centre-crop-to-16 and the reflect-padding paths both run) with synthetic
degradations. Expected numbers are computed here independently: our own centre crop, scikit-image's metrics,
the MATLAB-style luma written out per channel, and the restorer called directly.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from hogformer.cli import main
from hogformer.data.crops import crop_to_multiple
from hogformer.data.degradations import degrade, official_test_noise
from hogformer.evaluation.runner import evaluate_sets, load_pair
from hogformer.evaluation.testsets import BENCHMARKS, find_pairs, get_benchmark, paired_set, select_sets
from hogformer.inference.restorer import Restorer
from hogformer.metrics import PROTOCOL_ALLWEATHER

skdata = pytest.importorskip("skimage.data")
skmetrics = pytest.importorskip("skimage.metrics")

_GOLDEN = os.environ.get("HOGFORMER_GOLDEN") or Path(__file__).resolve().parents[3] / "shared" / "golden"
GOLDEN_WEIGHTS = Path(_GOLDEN) / "tiny_weights.safetensors"
PSNR_TOL = 1e-4
SSIM_TOL = 1e-5


# ----------------------------------------------------------------------------------------------------------
# miniature layouts
# ----------------------------------------------------------------------------------------------------------
def _photos() -> list[np.ndarray]:
    return [
        skdata.astronaut()[100:140, 180:232],  # 40x52 -> 32x48 after the centre crop
        skdata.coffee()[150:190, 250:302],  # 40x52
        skdata.chelsea()[100:145, 150:187],  # 45x37 -> 32x32; odd sizes pad to 48x48
    ]


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix == ".jpg" else {}
    Image.fromarray(arr).save(path, **options)


def _degraded(arr: np.ndarray, name: str, seed: int) -> np.ndarray:
    out = degrade(arr.astype(np.float32) / 255.0, name, np.random.default_rng(seed))
    return np.rint(out * 255.0).astype(np.uint8)


def _build_aio(root: Path, five: bool) -> Path:
    """AdaIR's data/test layout (INSTALL.md): denoise/bsd68, derain/Rain100L, dehaze (+ deblur/gopro, enhance/lol)."""
    a, c, ch = _photos()
    _save(root / "denoise/bsd68/3096.jpg", a)
    _save(root / "denoise/bsd68/12084.png", c)
    _save(root / "denoise/bsd68/chelsea.png", ch)
    # Rain100L: same names (AdaIR's copy) and the original rain-N -> norain-N
    _save(root / "derain/Rain100L/input/1.png", _degraded(a, "rain", 1))
    _save(root / "derain/Rain100L/target/1.png", a)
    _save(root / "derain/Rain100L/input/rain-2.png", _degraded(ch, "rain", 2))
    _save(root / "derain/Rain100L/target/norain-2.png", ch)
    # SOTS outdoor: hazy 0001_0.8_0.2.jpg -> clear 0001.png
    _save(root / "dehaze/input/0001_0.8_0.2.jpg", _degraded(c, "haze", 3))
    _save(root / "dehaze/target/0001.png", c)
    _save(root / "dehaze/input/0002_0.8_0.08.jpg", _degraded(a, "haze", 4))
    _save(root / "dehaze/target/0002.png", a)
    if five:
        _save(root / "deblur/gopro/input/GOPR0384_11_00_000001.png", _degraded(c, "blur", 5))
        _save(root / "deblur/gopro/target/GOPR0384_11_00_000001.png", c)
        _save(root / "enhance/lol/input/1.png", _degraded(ch, "lowlight", 6))
        _save(root / "enhance/lol/target/1.png", ch)
    return root


def _build_allweather(root: Path) -> Path:
    """Histoformer's test layout (Allweather_Histoformer.yml): Snow100K-S/L synthetic|gt, Test1, RainDrop."""
    a, c, ch = _photos()
    _save(root / "Snow100K-S/synthetic/beautiful_smile_00001.jpg", _degraded(a, "noise", 7))
    _save(root / "Snow100K-S/gt/beautiful_smile_00001.jpg", a)
    _save(root / "Snow100K-L/synthetic/city_read_00003.png", _degraded(ch, "noise", 8))
    _save(root / "Snow100K-L/gt/city_read_00003.png", ch)
    _save(root / "Test1/input/im_0001_s80_a04.png", _degraded(c, "rain", 9))  # original Outdoor-Rain names
    _save(root / "Test1/gt/im_0001.png", c)
    _save(root / "RainDrop/input/0_rain.png", _degraded(ch, "rain", 10))  # original RainDrop names
    _save(root / "RainDrop/gt/0_clean.png", ch)
    _save(root / "RainDrop/input/1_rain.png", _degraded(a, "rain", 11))  # Histoformer's copy: same names
    _save(root / "RainDrop/gt/1_rain.png", a)
    return root


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    base = tmp_path_factory.mktemp("layouts")
    return SimpleNamespace(
        three=_build_aio(base / "three", five=False),
        five=_build_aio(base / "five", five=True),
        weather=_build_allweather(base / "weather"),
    )


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Identity(torch.nn.Module):
    """Returns its input: through Restorer, the 'model' scores must equal the 'input' scores."""

    config = SimpleNamespace(inp_channels=3, dim=12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture(scope="module")
def identity() -> Restorer:
    return Restorer(model=_Identity(), device="cpu")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny() -> Restorer:
    if not GOLDEN_WEIGHTS.is_file():
        pytest.skip(f"golden weights not found at {GOLDEN_WEIGHTS}")
    return Restorer(GOLDEN_WEIGHTS, device="cpu")


# ----------------------------------------------------------------------------------------------------------
# independent reference computations
# ----------------------------------------------------------------------------------------------------------
def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _crop16(img: np.ndarray) -> np.ndarray:
    """AdaIR crop_img(base=16), written out."""
    h, w = img.shape[:2]
    top, left = (h % 16) // 2, (w % 16) // 2
    return img[top : top + h - h % 16, left : left + w - w % 16]


def _rgb_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    return (
        skmetrics.peak_signal_noise_ratio(gt, pred, data_range=1),
        skmetrics.structural_similarity(gt, pred, data_range=1, channel_axis=-1),
    )


def _y_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Y-channel PSNR from the MATLAB formula; Gaussian SSIM (sigma 1.5, 11 taps, population covariance)."""

    def y255(img: np.ndarray) -> np.ndarray:
        img = img.astype(np.float64)
        return 16.0 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]

    yp, yg = y255(pred), y255(gt)
    psnr = 10 * np.log10(255.0**2 / np.mean((yp - yg) ** 2))
    ssim = skmetrics.structural_similarity(
        yg, yp, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    return float(psnr), float(ssim)


def _restore(restorer: Restorer, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    return restorer.restore_tensor(x)[0].permute(1, 2, 0).numpy()


def _expected_aio(root: Path, restorer: Restorer, set_name: str, seed: int = 0) -> dict[str, tuple[float, ...]]:
    """name -> (input psnr, input ssim, model psnr, model ssim) for one Setting III/IV set."""
    out = {}
    if set_name.startswith("CBSD68"):
        sigma = float(set_name.split("sigma")[1])
        for i, gt_path in enumerate(sorted((root / "denoise/bsd68").iterdir())):
            clean8 = _crop16(_read(gt_path))
            noisy = official_test_noise(clean8, sigma, seed + i).astype(np.float32) / 255
            gt = clean8.astype(np.float32) / 255
            out[gt_path.stem] = (*_rgb_scores(noisy, gt), *_rgb_scores(_restore(restorer, noisy), gt))
        return out
    folders = {
        "Rain100L": ("derain/Rain100L/input", "derain/Rain100L/target", lambda n: n.replace("rain-", "norain-")),
        "SOTS-outdoor": ("dehaze/input", "dehaze/target", lambda n: n.split("_")[0] + ".png"),
        "GoPro": ("deblur/gopro/input", "deblur/gopro/target", lambda n: n),
        "LOL": ("enhance/lol/input", "enhance/lol/target", lambda n: n),
    }
    lq_dir, gt_dir, to_gt = folders[set_name]
    for lq_path in sorted((root / lq_dir).iterdir()):
        lq = _crop16(_read(lq_path)).astype(np.float32) / 255
        gt = _crop16(_read(root / gt_dir / to_gt(lq_path.name))).astype(np.float32) / 255
        out[lq_path.stem] = (*_rgb_scores(lq, gt), *_rgb_scores(_restore(restorer, lq), gt))
    return out


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str], progress: bool = False) -> tuple[int, str, str]:
    rc = main(["evaluate", "--device", "cpu", *([] if progress else ["--no-progress"]), *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------------------
# end to end through `hogformer evaluate`
# ----------------------------------------------------------------------------------------------------------
def test_five_task_end_to_end_matches_independent_metrics(layouts, tiny, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--weights", str(GOLDEN_WEIGHTS), "--benchmark", "five-task", "--data-root", str(layouts.five)]
    rc, stdout, _ = _run_cli([*args, "--output", str(out), "--save-images"], capsys)
    assert rc == 0
    names = ["CBSD68-sigma15", "CBSD68-sigma25", "CBSD68-sigma50", "Rain100L", "SOTS-outdoor", "GoPro", "LOL"]
    for name in names:  # one table row per set, with its protocol stated
        row = next(line for line in stdout.splitlines() if line.startswith(name + " "))
        assert "RGB, uniform 7x7 SSIM" in row and "centre-crop to a multiple of 16" in row
    assert "Average" in stdout

    summary = json.loads((out / "summary.json").read_text())
    assert [(r["set"], r["method"]) for r in summary] == [(n, m) for n in names for m in ("input", "model")]
    per_image = _csv(out / "per_image.csv")
    for name in names:
        expected = _expected_aio(layouts.five, tiny, name)
        rows = {r["image"]: r for r in per_image if r["set"] == name}
        assert set(rows) == set(expected), name
        for image, (in_p, in_s, mo_p, mo_s) in expected.items():
            r = rows[image]
            assert float(r["input_psnr"]) == pytest.approx(in_p, abs=PSNR_TOL)
            assert float(r["input_ssim"]) == pytest.approx(in_s, abs=SSIM_TOL)
            assert float(r["model_psnr"]) == pytest.approx(mo_p, abs=PSNR_TOL)
            assert float(r["model_ssim"]) == pytest.approx(mo_s, abs=SSIM_TOL)
            assert (int(r["height"]), int(r["width"])) in ((32, 48), (32, 32))
        for row in (r for r in summary if r["set"] == name):
            assert row["images"] == len(expected)
            assert row["protocol"]["channel"] == "rgb" and row["protocol"]["crop_multiple"] == 16
            column = 0 if row["method"] == "input" else 2
            assert row["psnr"] == pytest.approx(np.mean([v[column] for v in expected.values()]), abs=PSNR_TOL)
            assert row["ssim"] == pytest.approx(np.mean([v[column + 1] for v in expected.values()]), abs=SSIM_TOL)
    sigma25 = [r for r in summary if r["set"] == "CBSD68-sigma25"]
    assert all(r["noise_sigma"] == 25 and r["noise_seed"] == 0 for r in sigma25)
    assert [r["noise_seed"] for r in per_image if r["set"] == "CBSD68-sigma15"] == ["0", "1", "2"]

    saved = sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.png"))
    assert "SOTS-outdoor/0001_0.8_0.2.png" in saved and "Rain100L/rain-2.png" in saved
    assert len(saved) == len(per_image)
    restored = _read(out / "images/LOL/1.png")
    assert restored.shape == (32, 32, 3)
    run = json.loads((out / "run.json").read_text())
    assert run["weights"]["sha256"] and run["noise_seed"] == 0 and run["device"] == "cpu"


def test_allweather_end_to_end_y_channel_whole_image(layouts, tiny, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--weights", str(GOLDEN_WEIGHTS), "--benchmark", "allweather", "--data-root", str(layouts.weather)]
    rc, stdout, _ = _run_cli([*args, "--output", str(out), "--save-images"], capsys)
    assert rc == 0
    assert "Y (BT.601), gaussian 11x11 SSIM" in stdout and "reflect-padded to a multiple of 16" in stdout
    per_image = {(r["set"], r["image"]): r for r in _csv(out / "per_image.csv")}
    snow_s, snow_l = "beautiful_smile_00001.jpg", "city_read_00003.png"
    cases = {
        ("Snow100K-S", "beautiful_smile_00001"): (f"Snow100K-S/synthetic/{snow_s}", f"Snow100K-S/gt/{snow_s}"),
        ("Snow100K-L", "city_read_00003"): (f"Snow100K-L/synthetic/{snow_l}", f"Snow100K-L/gt/{snow_l}"),
        ("Outdoor-Rain-Test1", "im_0001_s80_a04"): ("Test1/input/im_0001_s80_a04.png", "Test1/gt/im_0001.png"),
        ("RainDrop-test_a", "0_rain"): ("RainDrop/input/0_rain.png", "RainDrop/gt/0_clean.png"),
        ("RainDrop-test_a", "1_rain"): ("RainDrop/input/1_rain.png", "RainDrop/gt/1_rain.png"),
    }
    assert set(per_image) == set(cases)
    for key, (lq_rel, gt_rel) in cases.items():
        lq = _read(layouts.weather / lq_rel).astype(np.float32) / 255  # whole image: no crop
        gt = _read(layouts.weather / gt_rel).astype(np.float32) / 255
        row = per_image[key]
        assert (int(row["height"]), int(row["width"])) == gt.shape[:2]
        for method, pred in (("input", lq), ("model", _restore(tiny, lq))):
            psnr, ssim = _y_scores(pred, gt)
            assert float(row[f"{method}_psnr"]) == pytest.approx(psnr, abs=PSNR_TOL), (key, method)
            assert float(row[f"{method}_ssim"]) == pytest.approx(ssim, abs=SSIM_TOL), (key, method)
    assert _read(out / "images/Snow100K-L/city_read_00003.png").shape == (45, 37, 3)  # padded, cropped back
    summary = json.loads((out / "summary.json").read_text())
    assert {r["protocol"]["channel"] for r in summary} == {"y"}
    assert {r["protocol"]["ssim_window"] for r in summary} == {"gaussian11"}


def test_paired_end_to_end_protocol_from_flags(layouts, tiny, tmp_path, capsys):
    lq, gt = layouts.five / "deblur/gopro/input", layouts.five / "deblur/gopro/target"
    out = tmp_path / "out"
    args = ["--weights", str(GOLDEN_WEIGHTS), "--benchmark", "paired", "--lq", str(lq), "--gt", str(gt)]
    rc, stdout, _ = _run_cli([*args, "--channel", "y", "--crop-border", "4", "--output", str(out)], capsys, True)
    assert rc == 0
    assert "Y (BT.601), gaussian 11x11 SSIM, 4 px border crop" in stdout
    (row_in, row_model) = json.loads((out / "summary.json").read_text())
    assert row_in["set"] == "paired" and row_in["method"] == "input" and row_model["method"] == "model"
    assert row_in["protocol"]["crop_border"] == 4 and row_in["protocol"]["crop_multiple"] == 0
    lq_img = _read(next(lq.iterdir())).astype(np.float32) / 255
    gt_img = _read(next(gt.iterdir())).astype(np.float32) / 255
    psnr, ssim = _y_scores(lq_img[4:-4, 4:-4], gt_img[4:-4, 4:-4])
    assert row_in["psnr"] == pytest.approx(psnr, abs=PSNR_TOL)
    assert row_in["ssim"] == pytest.approx(ssim, abs=SSIM_TOL)


# ----------------------------------------------------------------------------------------------------------
# the runner: identity model, synthetic noise, selection
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["three-task", "allweather"])
def test_identity_model_scores_equal_input_scores(layouts, identity, which):
    root = layouts.three if which == "three-task" else layouts.weather
    calls: list[tuple[str, int, int]] = []
    results = evaluate_sets(identity, BENCHMARKS[which].sets, root, progress=lambda *a: calls.append(a))
    assert [r.test_set.name for r in results] == BENCHMARKS[which].set_names()
    expected_calls = [(r.test_set.name, i, len(r.images)) for r in results for i in range(len(r.images) + 1)]
    assert calls == expected_calls
    for result in results:
        assert result.images
        for im in result.images:
            assert im.model_psnr == im.input_psnr and im.model_ssim == im.input_ssim
    if which == "three-task":
        expected = _expected_aio(layouts.three, identity, "Rain100L")
        got = {im.name: im for im in results[3].images}
        for name, (psnr, ssim, _, _) in expected.items():
            assert got[name].input_psnr == pytest.approx(psnr, abs=PSNR_TOL)
            assert got[name].input_ssim == pytest.approx(ssim, abs=SSIM_TOL)


def test_threaded_scoring_gives_the_same_results_in_order(layouts, identity):
    sets = BENCHMARKS["five-task"].sets
    inline = evaluate_sets(identity, sets, layouts.five, metric_workers=1)
    threaded = evaluate_sets(identity, sets, layouts.five, metric_workers=3)
    assert [r.images for r in threaded] == [r.images for r in inline]
    with pytest.raises(ValueError, match="metric_workers must be >= 1"):
        evaluate_sets(identity, sets[:1], layouts.five, metric_workers=0)


def test_cbsd68_noise_is_official_test_noise_with_recorded_seed(layouts, identity, tmp_path):
    test_set = get_benchmark("three-task").sets[1]  # sigma 25
    pairs = find_pairs(test_set, layouts.three, noise_seed=7)
    assert [p.name for p in pairs] == ["12084", "3096", "chelsea"]  # file-name order
    assert [p.noise_seed for p in pairs] == [7, 8, 9] and all(p.lq is None for p in pairs)
    for pair in pairs:
        noisy, clean = load_pair(pair, test_set)
        clean8 = _crop16(_read(pair.gt))
        np.testing.assert_array_equal(noisy, official_test_noise(clean8, 25, pair.noise_seed) / np.float32(255))
        np.testing.assert_array_equal(clean, clean8 / np.float32(255))
    # what is restored and saved is exactly that noisy image (identity model, lossless 8-bit PNG)
    results = evaluate_sets(identity, [test_set], layouts.three, noise_seed=7, save_dir=tmp_path)
    assert results[0].noise_seed == 7 and [im.noise_seed for im in results[0].images] == [7, 8, 9]
    saved = _read(tmp_path / "CBSD68-sigma25/chelsea.png")
    np.testing.assert_array_equal(saved, official_test_noise(_crop16(_read(pairs[2].gt)), 25, 9))


def test_centre_crop_matches_adair_crop_img():
    img = np.arange(45 * 37 * 3).reshape(45, 37, 3)
    np.testing.assert_array_equal(crop_to_multiple(img, 16), img[6:38, 2:34])  # 45 % 16 = 13, 37 % 16 = 5
    np.testing.assert_array_equal(crop_to_multiple(img[:32, :32], 16), img[:32, :32])
    assert crop_to_multiple(img, 0) is img
    with pytest.raises(ValueError, match=r"tiny\.png: image is 10x37, smaller than the crop multiple 16"):
        crop_to_multiple(img[:10], 16, path="tiny.png")


def test_sets_limit_and_noise_seed_flags(layouts, tmp_path, capsys):
    if not GOLDEN_WEIGHTS.is_file():
        pytest.skip("golden weights missing")
    out = tmp_path / "out"
    args = ["--weights", str(GOLDEN_WEIGHTS), "--benchmark", "three-task", "--data-root", str(layouts.three)]
    args += ["--sets", "sots-outdoor,cbsd68-SIGMA50", "--limit", "1", "--noise-seed", "3", "-o", str(out)]
    rc, stdout, _ = _run_cli(args, capsys)
    assert rc == 0 and "first 1 image(s) per set only" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [r["set"] for r in summary][::2] == ["CBSD68-sigma50", "SOTS-outdoor"]  # benchmark order
    assert all(r["images"] == 1 for r in summary)
    assert summary[0]["noise_seed"] == 3 and summary[0]["protocol"]["noise_seed"] == 3
    assert select_sets(get_benchmark("five-task"), None)[-1].name == "LOL"
    with pytest.raises(ValueError, match="unknown set.*gopro.*valid names"):
        select_sets(get_benchmark("three-task"), ["GoPro"])


def test_protocol_override_is_flagged(layouts, tmp_path, capsys):
    if not GOLDEN_WEIGHTS.is_file():
        pytest.skip("golden weights missing")
    args = ["--weights", str(GOLDEN_WEIGHTS), "--benchmark", "allweather", "--data-root", str(layouts.weather)]
    rc, stdout, _ = _run_cli([*args, "--sets", "RainDrop-test_a", "--channel", "rgb", "-o", str(tmp_path)], capsys)
    assert rc == 0 and "PROTOCOL OVERRIDDEN" in stdout
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert rows[0]["protocol"]["channel"] == "rgb" and rows[0]["protocol"]["ssim_window"] == "gaussian11"


# ----------------------------------------------------------------------------------------------------------
# errors name the folder or the file
# ----------------------------------------------------------------------------------------------------------
def test_missing_folder_names_it(layouts, tmp_path, capsys):
    root = _copy(layouts.three, tmp_path)
    shutil.rmtree(root / "dehaze/target")
    with pytest.raises(FileNotFoundError, match=r"dehaze/target: the clean-image folder of SOTS-outdoor is missing"):
        find_pairs(get_benchmark("three-task").sets[4], root)
    # through the command: exit code 2, one line naming the folder, before any image is restored
    args = ["--benchmark", "three-task", "--data-root", str(root), "--weights", str(GOLDEN_WEIGHTS)]
    rc, _, stderr = _run_cli(args, capsys)
    assert rc == 2 and "hogformer evaluate: error:" in stderr and str(root / "dehaze/target") in stderr
    with pytest.raises(FileNotFoundError, match="data root not found"):
        find_pairs(get_benchmark("three-task").sets[0], tmp_path / "nowhere")


def test_unmatched_pairs_name_the_file(layouts, tmp_path):
    root = _copy(layouts.three, tmp_path)
    rain = get_benchmark("three-task").sets[3]
    shutil.copy(root / "derain/Rain100L/input/1.png", root / "derain/Rain100L/input/7.png")
    with pytest.raises(FileNotFoundError, match=r"input/7\.png: no clean image for this degraded image"):
        find_pairs(rain, root)
    (root / "derain/Rain100L/input/7.png").unlink()
    shutil.copy(root / "derain/Rain100L/target/1.png", root / "derain/Rain100L/target/9.png")
    with pytest.raises(ValueError, match=r"target/9\.png: clean image of Rain100L that no degraded image"):
        find_pairs(rain, root)
    # paired folders match by name, else by stem; two clean files with the degraded image's stem are ambiguous
    a = _photos()[0]
    _save(tmp_path / "lq/a.jpg", a)
    _save(tmp_path / "gt/a.png", a)
    assert [p.gt.name for p in find_pairs(paired_set(tmp_path / "lq", tmp_path / "gt"), None)] == ["a.png"]
    _save(tmp_path / "gt/a.bmp", a)
    with pytest.raises(ValueError, match=r"lq/a\.jpg: ambiguous clean image .*a\.bmp, a\.png"):
        find_pairs(paired_set(tmp_path / "lq", tmp_path / "gt"), None)


def test_size_mismatch_names_the_file(layouts, identity, tmp_path, capsys):
    root = _copy(layouts.weather, tmp_path)
    _save(root / "Test1/gt/im_0001.png", _photos()[1][:39])  # one row short
    with pytest.raises(ValueError, match=r"im_0001_s80_a04\.png: size mismatch.*40x52.*im_0001\.png is 39x52"):
        evaluate_sets(identity, [get_benchmark("allweather").sets[2]], root)
    args = ["--benchmark", "paired", "--lq", str(root / "Test1/input"), "--gt", str(root / "Test1/gt")]
    shutil.move(root / "Test1/gt/im_0001.png", root / "Test1/gt/im_0001_s80_a04.png")
    rc, _, stderr = _run_cli([*args, "--weights", str(GOLDEN_WEIGHTS)], capsys)
    assert rc == 2 and "size mismatch" in stderr and "im_0001_s80_a04.png" in stderr


def test_argument_errors(capsys):
    rc, _, stderr = _run_cli(["--benchmark", "three-task"], capsys)
    assert rc == 2 and "needs --data-root" in stderr
    rc, _, stderr = _run_cli(["--benchmark", "paired", "--lq", "x"], capsys)
    assert rc == 2 and "needs --lq DIR and --gt DIR" in stderr
    rc, _, stderr = _run_cli(["--benchmark", "allweather", "--data-root", "x", "--save-images"], capsys)
    assert rc == 2 and "--save-images needs --output" in stderr


def test_registries_describe_the_paper_settings():
    three, five, weather = (BENCHMARKS[n] for n in ("three-task", "five-task", "allweather"))
    assert five.set_names() == three.set_names() + ["GoPro", "LOL"]
    assert all(s.crop_multiple == 16 and s.protocol.channel == "rgb" for s in five.sets)
    assert [s.noise_sigma for s in three.sets[:3]] == [15, 25, 50]
    assert all(s.protocol == PROTOCOL_ALLWEATHER and s.crop_multiple == 0 for s in weather.sets)
    assert weather.set_names() == ["Snow100K-S", "Snow100K-L", "Outdoor-Rain-Test1", "RainDrop-test_a"]
