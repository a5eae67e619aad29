"""``hogformer inspect``: the JSON lines, the figure, and bad files (named, skipped, exit code 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hogformer.cli import main
from hogformer.data.degradations import gaussian_noise, low_light, quantise_8bit

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "hogformer" / "assets" / "sample.png"


def _save(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255
    rng = np.random.default_rng(7)
    return {
        "noisy": _save(tmp_path / "noisy.png", quantise_8bit(gaussian_noise(rgb, rng, 40.0))),
        "dark": _save(tmp_path / "dark.jpg", low_light(rgb, rng, gamma_range=(2.5, 2.5), gain_range=(0.2, 0.2))),
    }


def test_json_lines(images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(images["noisy"]), str(images["dark"]), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    docs = [json.loads(line) for line in lines]
    for doc, key in zip(docs, ("noisy", "dark")):
        assert doc["file"] == str(images[key])
        assert set(doc["estimate"]) == {"noise", "blur", "haze", "low_light", "rain", "clean"}
        assert sum(doc["estimate"].values()) == pytest.approx(1.0, abs=1e-3)
        assert doc["top"] == max(doc["estimate"], key=doc["estimate"].get)
    assert docs[0]["top"] == "noise"
    assert docs[1]["top"] == "low_light"


def test_bad_files_are_named_and_the_rest_still_done(
    images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    tiny = _save(tmp_path / "tiny.png", np.zeros((16, 16, 3)))
    missing = tmp_path / "missing.png"
    code = main(["inspect", str(text), str(images["noisy"]), str(tiny), str(missing), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [json.loads(line)["file"] for line in out.strip().splitlines()] == [str(images["noisy"])]
    for bad in (text, tiny, missing):
        assert str(bad) in err
    assert "3 of 4" in err and "Traceback" not in err


def test_figure(images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots" / "inspect.png"
    assert main(["inspect", str(images["noisy"]), str(images["dark"]), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "noise" in text and str(out) in text
    with Image.open(out) as fig:
        assert fig.format == "PNG"
        w, h = fig.size
    assert w > 1000 and h > 500  # two rows of four panels
