"""hogformer.data.photo_sources on tiny packages built here (no network): filters, splits, manifest, CLI."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hogformer.cli import main
from hogformer.data.photo_sources import DEB_PACKAGES, HELDOUT_PACKAGE, build_photos, looks_like_photo, split_of

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb to build .deb files")
#: The manifest of the real build (hogformer photos build), committed beside the training configs.
COMMITTED = Path(__file__).resolve().parents[2] / "configs" / "photos-manifest.csv"


def _photo(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth random colour field with texture: passes looks_like_photo."""
    rng = np.random.default_rng(seed)
    small = rng.random((4, 4, 3))
    field = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float64)
    return np.clip(field + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _deb(folder: Path, package: str, files: dict[str, Image.Image]) -> Path:
    root = folder / f"{package}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@e.org>\nDescription: test\n"
    )
    for rel, image in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / rel)
    deb = folder / f"{package}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("debs")
    big = Image.fromarray(_photo(1, 96, 128))
    transparent = Image.fromarray(_photo(2)).convert("RGBA")
    transparent.putalpha(Image.new("L", transparent.size, 0))
    wall = {f"usr/share/backgrounds/w{i:02d}.png": Image.fromarray(_photo(10 + i)) for i in range(12)}
    wall |= {
        "usr/share/backgrounds/big.png": big,
        "usr/share/backgrounds/big-small.jpg": big.resize((64, 48)),  # the same wallpaper, smaller: dropped
        "usr/share/backgrounds/tiny.png": Image.fromarray(_photo(3, 20, 20)),  # too small
        "usr/share/backgrounds/logo.png": Image.new("RGB", (64, 64), (200, 30, 30)),  # flat
        "usr/share/backgrounds/overlay.png": transparent,
    }
    opencv = {
        "usr/share/doc/opencv-doc/examples/data/fruit.jpg": Image.fromarray(_photo(4)),
        "usr/share/doc/opencv-doc/opencv4/html/screenshot.png": Image.fromarray(_photo(5)),  # not an example
    }
    held = {"usr/share/backgrounds/sea.jpg": Image.fromarray(_photo(6))}
    return [
        _deb(d, "sway-backgrounds", wall),
        _deb(d, "opencv-doc", opencv),
        _deb(d, "lomiri-wallpapers-20.04", held),
    ]


def _manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@needs_dpkg
def test_build_filters_splits_and_writes_the_manifest(debs: list[Path], tmp_path: Path) -> None:
    records = build_photos(tmp_path, debs, python_sources=False, min_side=32, val_percent=25)
    sources = {r.source for r in records}
    assert "usr/share/backgrounds/big.png" in sources
    assert "usr/share/doc/opencv-doc/examples/data/fruit.jpg" in sources
    for dropped in ("big-small.jpg", "tiny.png", "logo.png", "overlay.png", "screenshot.png"):
        assert not any(s.endswith(dropped) for s in sources), dropped
    assert len(records) == 12 + 1 + 1 + 1
    held = [r for r in records if r.package == "lomiri-wallpapers-20.04"]
    assert [r.split for r in held] == ["heldout"]
    assert {r.split for r in records if r.package != "lomiri-wallpapers-20.04"} == {"train", "val"}
    rows = _manifest(tmp_path / "manifest.csv")
    assert [row["file"] for row in rows] == sorted(r.file for r in records)
    for row in rows:
        path = tmp_path / row["file"]
        assert path.is_file() and row["file"].startswith(row["split"] + "/")
        with Image.open(path) as im:
            assert im.size == (int(row["width"]), int(row["height"])) and im.mode == "RGB"
        assert len(row["sha256"]) == 64 and row["version"] == "1.0-1"
    assert {p.name for p in (tmp_path / "train").iterdir()} | {p.name for p in (tmp_path / "val").iterdir()} == {
        Path(r.file).name for r in records if r.split != "heldout"
    }


@needs_dpkg
def test_build_is_deterministic_and_caps_the_size(debs: list[Path], tmp_path: Path) -> None:
    a = build_photos(tmp_path / "a", debs, python_sources=False, min_side=32, max_side=80)
    b = build_photos(tmp_path / "b", list(reversed(debs)), python_sources=False, min_side=32, max_side=80)
    assert a == b
    assert (tmp_path / "a/manifest.csv").read_bytes() == (tmp_path / "b/manifest.csv").read_bytes()
    assert max(max(r.width, r.height) for r in a) == 80


def test_split_is_a_stable_hash() -> None:
    names = [f"usr/share/x{i}.png" for i in range(2000)]
    splits = [split_of("pkg", n, 10.0, "held") for n in names]
    assert splits == [split_of("pkg", n, 10.0, "held") for n in names]
    assert 0.07 < splits.count("val") / len(names) < 0.13
    assert split_of("held", names[0], 10.0, "held") == "heldout"


def test_looks_like_photo() -> None:
    assert looks_like_photo(_photo(0))
    grey = np.repeat(_photo(0).mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert looks_like_photo(grey)  # grey photos count their 8-bit levels
    assert not looks_like_photo(np.full((64, 64, 3), 128, np.uint8))
    two = np.zeros((64, 64, 3), np.uint8)
    two[:, 32:] = 255
    assert not looks_like_photo(two)


@needs_dpkg
def test_cli_builds_from_a_folder_of_debs(debs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["photos", "build", str(tmp_path / "out"), "--debs", str(debs[0].parent), "--no-download"]
    assert main([*argv, "--min-side", "32"]) == 0
    out = capsys.readouterr().out
    assert "lomiri-wallpapers-20.04" in out and "heldout" in out and "manifest.csv" in out
    assert (tmp_path / "out" / "manifest.csv").is_file()


@pytest.mark.skipif(not COMMITTED.is_file(), reason="no committed manifest")
def test_committed_manifest_is_consistent() -> None:
    rows = _manifest(COMMITTED)
    allowed = {*DEB_PACKAGES, "scikit-image", "scikit-learn"}
    assert rows and {r["package"] for r in rows} <= allowed  # sporco (the quality table) never appears
    assert len({r["file"] for r in rows}) == len({r["sha256"] for r in rows}) == len(rows)
    for r in rows:
        assert r["split"] == split_of(r["package"], r["source"], 10.0, HELDOUT_PACKAGE)
        assert r["file"].startswith(r["split"] + "/") and max(int(r["width"]), int(r["height"])) <= 1024
    assert {r["package"] for r in rows if r["split"] == "heldout"} == {HELDOUT_PACKAGE}
