"""End-to-end tests of ``hogformer restore`` through ``hogformer.cli.main``, on folders of small real files.

Most runs use a tiny network whose ``output`` convolution is zeroed, which makes it exactly the identity: a
lossless output must then equal its input pixel for pixel, so every difference is the file handling's doing
(modes, bit depths, alpha, orientation). One run uses a random network, to show outputs are really recomputed.

16-bit files keep their 16 bits: greyscale through Pillow, colour through pypng (PNG) and tifffile (TIFF).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
import pytest
import torch
from PIL import Image, ImageCms, ImageOps, features

import hogformer
from hogformer.cli import main
from hogformer.data.listing import list_images

H, W = 19, 33  # odd on purpose: every image is padded to 32x48 and cropped back
ORIENTATION = 0x0112
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(identity: bool) -> hogformer.HOGformer:
    torch.manual_seed(0)
    model = hogformer.HOGformer(hogformer.preset("tiny"))
    if identity:
        with torch.no_grad():
            model.output.weight.zero_()  # the network adds its input: now it returns it
    return model


@pytest.fixture(scope="module")
def identity_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hogformer.save_model(_tiny(identity=True), tmp_path_factory.mktemp("w") / "identity.safetensors")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hogformer.save_model(_tiny(identity=False), tmp_path_factory.mktemp("w") / "random.safetensors")


@dataclass
class Run:
    rc: int
    err: str

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def _restore(*argv: str | os.PathLike[str]) -> Run:
    """``hogformer restore ARGV --no-progress``; stderr captured (works inside module-scoped fixtures too)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["restore", *map(str, argv), "--no-progress"])
    return Run(rc, err.getvalue())


# ----------------------------------------------------------------------------------------- test images


def _rgb(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """Smooth gradients plus mild noise (so lossy codecs stay close), uint8 HxWx3."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([40 + 150 * xx / w, 60 + 130 * yy / h, 200 - 120 * (xx + yy) / (h + w)], axis=2)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _alpha(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)


def _grey16() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx * 1987 + yy * 97 + 1).astype(np.uint16)  # uses the low byte: 8 bits would lose it


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def _png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour, nor a header for a huge image)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _rgb16() -> np.ndarray:
    return _rgb(5).astype(np.uint16) * 256 + _rgb(7)  # uses the low byte: 8 bits would lose it


def _rgb16_png() -> bytes:
    rows = _rgb16().astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return _png_bytes(W, H, 16, 2, raw)


@dataclass(frozen=True)
class Case:
    """A valid input file: how to make it, and what its output must be."""

    name: str  # relative path
    pixels: np.ndarray  # as stored in the file
    mode: str  # Pillow mode of the file (and of the output)
    save: dict  # extra arguments of Image.save
    lossy: bool = False
    turned: bool = False  # EXIF orientation 6: the output is the stored image turned upright

    @property
    def upright(self) -> np.ndarray:
        return np.rot90(self.pixels, -1) if self.turned else self.pixels  # orientation 6: 90 degrees clockwise


def _cases() -> list[Case]:
    rgb, grey, alpha = _rgb(0), _rgb(1)[..., 1], _alpha()
    rgba, la = np.dstack([_rgb(2), alpha]), np.dstack([grey, alpha])
    icc, rot = {"icc_profile": ICC}, {"exif": _exif(6), "icc_profile": ICC}
    cases = [
        Case("png_rgb.png", rgb, "RGB", icc),
        Case("png_grey.png", grey, "L", {}),
        Case("png_grey_alpha.png", la, "LA", {}),
        Case("png_rgba.png", rgba, "RGBA", {}),
        Case("png_grey16.png", _grey16(), "I;16", {}),
        Case("png_rotated.png", _rgb(3), "RGB", {"exif": _exif(6)}, turned=True),
        Case("jpg_rgb.jpg", rgb, "RGB", {"quality": 95, **icc}, lossy=True),
        Case("jpg_grey.jpg", grey, "L", {"quality": 95}, lossy=True),
        Case("jpg_rotated.jpg", _rgb(4), "RGB", {"quality": 95, **rot}, lossy=True, turned=True),
        Case("bmp_rgb.bmp", rgb, "RGB", {}),
        Case("bmp_grey.bmp", grey, "L", {}),
        Case("tif_rgb.tif", rgb, "RGB", icc),
        Case("tif_grey.tif", grey, "L", {}),
        Case("tif_rgba.tif", rgba, "RGBA", {}),
        Case("tif_grey16.tif", _grey16(), "I;16", {}),
        Case("sub/png_nested.png", _rgb(6), "RGB", {}),
        Case("sub/deeper/tif_nested.tif", grey, "L", {}),
    ]
    if features.check("webp"):
        cases += [
            Case("webp_rgb.webp", rgb, "RGB", {"quality": 95, **icc}, lossy=True),
            Case("webp_rgba.webp", rgba, "RGBA", {"quality": 95}, lossy=True),
        ]
    return cases


BAD = {  # relative path -> the kind of failure
    "bad_corrupt.png": "truncated or corrupt",
    "bad_text.png": "not an image",
    "bad_empty.jpg": "empty file",
    "bad_bomb.png": "decompression-bomb limit",
    "sub/bad_truncated.jpg": "corrupt",  # cut inside the header or the data, depending on the size
}


def _write_folder(root: Path) -> list[Case]:
    cases = _cases()
    for case in cases:
        path = root / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(case.pixels, mode=case.mode if case.mode in ("LA", "RGBA") else None).save(path, **case.save)
    (root / "png_rgb16.png").write_bytes(_rgb16_png())  # 16-bit colour: Pillow cannot write it, pypng checks it
    good = (root / "png_rgb.png").read_bytes()
    (root / "bad_corrupt.png").write_bytes(good[: len(good) // 2])
    (root / "bad_text.png").write_text("this is a text file, not an image\n")
    (root / "bad_empty.jpg").write_bytes(b"")
    (root / "bad_bomb.png").write_bytes(_png_bytes(20000, 20000, 8, 0, b"\x00" * 20001))  # 400 Mpx header
    jpeg = (root / "jpg_rgb.jpg").read_bytes()
    (root / "sub" / "bad_truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "notes.txt").write_text("not an image extension: ignored by folder expansion\n")
    return cases


def _snapshot(root: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


# ------------------------------------------------------------------------------------- the mixed folder


@dataclass
class MixedRun:
    src: Path
    out: Path
    cases: list[Case]
    before: dict[Path, tuple[bytes, int]]
    run: Run


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, identity_weights: Path) -> MixedRun:
    base = tmp_path_factory.mktemp("mixed")
    src, out = base / "in", base / "out"
    cases = _write_folder(src)
    before = _snapshot(src)
    run = _restore(src, "-o", out, "--recursive", "-w", identity_weights)
    return MixedRun(src, out, cases, before, run)


def test_one_output_per_valid_input_structure_mirrored(mixed: MixedRun) -> None:
    expected = {c.name for c in mixed.cases} | {"png_rgb16.png"}
    assert _files(mixed.out) == expected  # nothing for bad inputs, no temporary files, sub-folders mirrored


def test_outputs_keep_size_and_mode(mixed: MixedRun) -> None:
    for case in mixed.cases:
        with Image.open(mixed.out / case.name) as out:
            h, w = case.upright.shape[:2]
            assert (out.mode, out.size) == (case.mode, (w, h)), case.name
    width, height, rows, info = png.Reader(filename=str(mixed.out / "png_rgb16.png")).read()
    assert (width, height, info["bitdepth"], info["planes"]) == (W, H, 16, 3)  # read by pypng, not Pillow
    got = np.array([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(H, W, 3)
    np.testing.assert_array_equal(got, _rgb16())


def test_outputs_equal_inputs_for_the_identity_network(mixed: MixedRun) -> None:
    """Lossless formats: pixel for pixel (16-bit values included); lossy ones: within re-encoding error."""
    for case in mixed.cases:
        got = _pixels(mixed.out / case.name)
        if case.lossy:
            with Image.open(mixed.src / case.name) as im:
                decoded = np.asarray(ImageOps.exif_transpose(im)).astype(np.float64)
            assert np.abs(got - decoded).mean() < 2.0, case.name
        else:
            np.testing.assert_array_equal(got, case.upright, err_msg=case.name)


def test_16bit_greyscale_stays_16bit(mixed: MixedRun) -> None:
    for name in ("png_grey16.png", "tif_grey16.tif"):
        got = _pixels(mixed.out / name)
        assert got.dtype == np.uint16 and (got & 0xFF).any()
        np.testing.assert_array_equal(got, _grey16())


def test_alpha_is_identical(mixed: MixedRun) -> None:
    for case in mixed.cases:
        if case.mode in ("LA", "RGBA"):  # WebP too: its alpha plane is stored losslessly
            np.testing.assert_array_equal(_pixels(mixed.out / case.name)[..., -1], _alpha(), err_msg=case.name)


def test_exif_orientation_applied_and_reset(mixed: MixedRun) -> None:
    for name in ("jpg_rotated.jpg", "png_rotated.png"):
        with Image.open(mixed.src / name) as im:
            assert im.size == (W, H) and im.getexif()[ORIENTATION] == 6
        with Image.open(mixed.out / name) as out:
            assert out.size == (H, W)  # stored upright: width and height swapped
            assert out.getexif()[ORIENTATION] == 1  # so that no viewer turns it again


def test_icc_profile_carried(mixed: MixedRun) -> None:
    for case in mixed.cases:
        if "icc_profile" in case.save:
            with Image.open(mixed.out / case.name) as out:
                assert out.info.get("icc_profile") == ICC, case.name


def test_bad_inputs_get_one_error_line_each(mixed: MixedRun) -> None:
    errors = mixed.run.error_lines()
    assert len(errors) == len(BAD)
    for name, why in BAD.items():
        path = str(mixed.src / name)
        lines = [line for line in errors if path + ":" in line]
        assert len(lines) == 1, (name, errors)
        assert why in lines[0], lines[0]


def test_summary_counts_and_exit_code(mixed: MixedRun) -> None:
    good = len(mixed.cases) + 1
    assert f"restored {good}, skipped 0, failed {len(BAD)}" in mixed.run.err
    assert mixed.run.rc == 1


def test_inputs_untouched(mixed: MixedRun) -> None:
    assert _snapshot(mixed.src) == mixed.before  # same files, same bytes, same modification times


# ---------------------------------------------------------------------------------------------- options


def _small_folder(root: Path, n: int = 3) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        Image.fromarray(_rgb(10 + i)).save(root / f"img{i}.png")
        paths.append(root / f"img{i}.png")
    return paths


def test_random_network_recomputes_pixels_keeps_alpha(tmp_path: Path, random_weights: Path) -> None:
    rgba = np.dstack([_rgb(7), _alpha()])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    run = _restore(tmp_path / "a.png", "-o", tmp_path / "out", "-w", random_weights)
    assert run.rc == 0 and not run.error_lines()
    got = _pixels(tmp_path / "out" / "a.png")
    assert got.shape == rgba.shape and not np.array_equal(got[..., :3], rgba[..., :3])
    np.testing.assert_array_equal(got[..., 3], rgba[..., 3])


def test_low_memory_run_gives_the_whole_image_result(tmp_path: Path, random_weights: Path, strip_calls) -> None:
    """In float64 (``--precision fp64``) the low-memory forward equals the plain one to ~1e-12, so the 8-bit files
    agree but for a rounding that lands within that of a half level (none expected in 2,880 pixels)."""
    Image.fromarray(_rgb(9, h=40, w=72)).save(tmp_path / "a.png")
    assert _restore(tmp_path / "a.png", "-o", tmp_path / "plain", "-w", random_weights, "--precision", "fp64").rc == 0
    assert strip_calls == []
    run = _restore(
        tmp_path / "a.png", "-o", tmp_path / "low", "-w", random_weights, "--low-memory", "--precision", "fp64"
    )
    assert run.rc == 0 and not run.error_lines()
    assert strip_calls  # the low-memory forward ran
    plain, low = _pixels(tmp_path / "plain" / "a.png"), _pixels(tmp_path / "low" / "a.png")
    assert np.abs(plain.astype(int) - _rgb(9, h=40, w=72).astype(int)).mean() > 2  # the network changes the image
    np.testing.assert_array_equal(plain, low)


def test_tiled_run_equals_input_for_the_identity_network(tmp_path: Path, identity_weights: Path) -> None:
    big = _rgb(8, h=40, w=72)
    Image.fromarray(big).save(tmp_path / "big.png")
    run = _restore(tmp_path / "big.png", "-o", tmp_path / "out", "-w", identity_weights, "--tile", "32")
    assert run.rc == 0
    np.testing.assert_array_equal(_pixels(tmp_path / "out" / "big.png"), big)


def test_skip_existing(tmp_path: Path, identity_weights: Path) -> None:
    _small_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert _restore(tmp_path / "in", "-o", out, "-w", identity_weights).rc == 0
    (out / "img1.png").unlink()
    kept = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    run = _restore(tmp_path / "in", "-o", out, "-w", identity_weights, "--skip-existing")
    assert run.rc == 0 and "restored 1, skipped 2, failed 0" in run.err
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the existing outputs were not rewritten
    assert (out / "img1.png").is_file()


def test_output_over_an_input_is_refused(tmp_path: Path, identity_weights: Path) -> None:
    folder = tmp_path / "photos"
    inputs = _small_folder(folder, n=2)
    Image.fromarray(_rgb(20)).save(folder / "img0.jpg", quality=90)  # --format png would turn it into img0.png
    before = _snapshot(folder)
    run = _restore(folder, "-o", folder, "-w", identity_weights)
    assert run.rc == 1 and "restored 0, skipped 0, failed 3" in run.err
    errors = run.error_lines()
    assert len(errors) == 3 and all("would overwrite an input" in line for line in errors)
    assert all(any(str(p) in line for line in errors) for p in inputs)
    run = _restore(folder, "-o", folder, "-w", identity_weights, "--format", "png")  # img0.jpg -> img0.png
    assert run.rc == 1 and "restored 0, skipped 0, failed 3" in run.err
    assert f"output {folder / 'img0.png'} would overwrite an input" in run.err
    assert _snapshot(folder) == before


def test_two_inputs_never_share_an_output(tmp_path: Path, identity_weights: Path) -> None:
    """Same names in two folders, or one name in two formats with --format png: the first input keeps the output,
    the second is refused (it would silently replace the first's restoration)."""
    for folder, seed in (("one", 30), ("two", 31)):
        (tmp_path / folder).mkdir()
        Image.fromarray(_rgb(seed)).save(tmp_path / folder / "a.png")
    Image.fromarray(_rgb(32)).save(tmp_path / "one" / "b.bmp")
    Image.fromarray(_rgb(33)).save(tmp_path / "one" / "b.tif")
    out = tmp_path / "out"
    run = _restore(tmp_path / "one", tmp_path / "two", "-o", out, "-w", identity_weights, "--format", "png")
    assert run.rc == 1 and "restored 2, skipped 0, failed 2" in run.err
    errors = run.error_lines()
    assert len(errors) == 2
    assert str(tmp_path / "one" / "b.tif") in errors[0] and f"that of {tmp_path / 'one' / 'b.bmp'}" in errors[0]
    assert str(tmp_path / "two" / "a.png") in errors[1] and f"that of {tmp_path / 'one' / 'a.png'}" in errors[1]
    assert _files(out) == {"a.png", "b.png"}
    np.testing.assert_array_equal(_pixels(out / "a.png"), _rgb(30))
    np.testing.assert_array_equal(_pixels(out / "b.png"), _rgb(32))


def test_suffix_and_format(tmp_path: Path, identity_weights: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_rgb(21)).save(folder / "a.jpg", quality=95)
    Image.fromarray(_rgb(22)[..., 0]).save(folder / "b.bmp")
    run = _restore(folder, "-o", folder, "-w", identity_weights, "--suffix", "_restored", "--format", "png")
    assert run.rc == 0, run.err
    assert _files(folder) == {"a.jpg", "b.bmp", "a_restored.png", "b_restored.png"}
    with Image.open(folder / "a_restored.png") as a, Image.open(folder / "b_restored.png") as b:
        assert (a.format, a.mode, a.size) == ("PNG", "RGB", (W, H))
        assert (b.format, b.mode, b.size) == ("PNG", "L", (W, H))
    np.testing.assert_array_equal(_pixels(folder / "b_restored.png"), _rgb(22)[..., 0])


def test_max_pixels(tmp_path: Path, identity_weights: Path) -> None:
    _small_folder(tmp_path / "in", n=1)
    run = _restore(tmp_path / "in", "-o", tmp_path / "out", "-w", identity_weights, "--max-pixels", "100")
    assert run.rc == 1 and "restored 0, skipped 0, failed 1" in run.err
    (line,) = run.error_lines()
    assert str(tmp_path / "in" / "img0.png") in line and "decompression-bomb limit of 100 pixels" in line
    assert not (tmp_path / "out" / "img0.png").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path: Path, identity_weights: Path) -> None:
    _small_folder(tmp_path / "in", n=1)
    run = _restore(tmp_path / "in", "-o", tmp_path / "out", "-w", identity_weights, "--device", "cuda")
    assert run.rc == 2 and "no CUDA device is available" in run.err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- interrupted writes


def _no_partial_outputs(out: Path, complete: set[str]) -> None:
    """Only complete outputs are visible as images; anything else is a hidden temporary file."""
    assert {p.relative_to(out).as_posix() for p in list_images([out], recursive=True)} == complete
    for p in out.rglob("*"):
        if p.is_file() and p.relative_to(out).as_posix() not in complete:
            assert p.name.startswith(".") and p.name.endswith(".tmp"), p


def test_failed_rename_leaves_no_output(
    tmp_path: Path, identity_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_folder(tmp_path / "in", n=2)
    out = tmp_path / "out"

    def refuse(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(os, "replace", refuse)
    run = _restore(tmp_path / "in", "-o", out, "-w", identity_weights)
    monkeypatch.undo()
    assert run.rc == 1 and len(run.error_lines()) == 2 and "No space left" in run.err
    assert _files(out) == set()  # not even the temporary files


def test_interrupt_during_write(tmp_path: Path, identity_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _small_folder(tmp_path / "in", n=3)
    out = tmp_path / "out"
    real_replace, calls = os.replace, []

    def interrupted(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C between writing the temporary file and renaming it
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    run = _restore(tmp_path / "in", "-o", out, "-w", identity_weights)
    monkeypatch.undo()
    assert run.rc == 130 and "interrupted" in run.err
    assert _files(out) == {"img0.png"}
    np.testing.assert_array_equal(_pixels(out / "img0.png"), _pixels(inputs[0]))


_KILLER = """
import os, signal, stat, sys
import torch
from hogformer.cli import main

torch.set_num_threads(1)
real_fsync, calls = os.fsync, []


def fsync(fd):
    if stat.S_ISREG(os.fstat(fd).st_mode):  # files, not the folder synced after each rename
        calls.append(fd)
    if len(calls) == 2:  # the second output's bytes are in its temporary file, not yet renamed
        os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)


os.fsync = fsync
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_process_leaves_no_partial_output_and_resumes(tmp_path: Path, identity_weights: Path) -> None:
    _small_folder(tmp_path / "in", n=3)
    out = tmp_path / "out"
    argv = ["restore", str(tmp_path / "in"), "-o", str(out), "-w", str(identity_weights), "--no-progress"]
    killed = subprocess.run([sys.executable, "-c", _KILLER, *argv], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _no_partial_outputs(out, {"img0.png"})
    assert any(p.name.startswith(".img1.png.") for p in out.iterdir())  # the kill did happen mid-write
    run = _restore(tmp_path / "in", "-o", out, "-w", identity_weights, "--skip-existing")
    assert run.rc == 0 and "restored 2, skipped 1, failed 0" in run.err
    _no_partial_outputs(out, {"img0.png", "img1.png", "img2.png"})


def test_low_memory_options_default_to_auto_and_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from hogformer.inference.cli import add_execution_arguments

    p = argparse.ArgumentParser()
    add_execution_arguments(p)
    assert p.parse_args([]).low_memory == "auto"
    assert p.parse_args(["--low-memory"]).low_memory is True
    assert p.parse_args(["--no-low-memory"]).low_memory is False
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--low-memory", "--no-low-memory"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- a batch that behaves


def test_a_missing_path_is_reported_and_the_rest_restored(tmp_path: Path, identity_weights: Path) -> None:
    _small_folder(tmp_path / "in", n=2)
    missing = tmp_path / "nowhere.png"
    run = _restore(
        tmp_path / "in" / "img0.png",
        missing,
        tmp_path / "in" / "img1.png",
        "-o",
        tmp_path / "out",
        "-w",
        identity_weights,
    )
    assert run.rc == 1
    assert _files(tmp_path / "out") == {"img0.png", "img1.png"}
    errors = run.error_lines()
    assert len(errors) == 1 and str(missing) in errors[0] and "no such file" in errors[0]
    assert "restored 2, skipped 0, failed 1" in run.err


@pytest.mark.parametrize("suffix", ["", "_r"])
def test_rerunning_a_command_is_idempotent(tmp_path: Path, identity_weights: Path, suffix: str) -> None:
    """Outputs of an earlier run (``--suffix`` names beside their originals, or an output folder inside the input
    folder) are never taken as inputs: the second run restores the same images to the same files."""
    folder = tmp_path / "photos"
    _small_folder(folder, n=2)
    out = folder if suffix else folder / "restored"
    argv = [folder, "-r", "-o", out, "-w", identity_weights, "--suffix", suffix]
    first = _restore(*argv)
    files = _files(folder)
    second = _restore(*argv)
    assert first.rc == second.rc == 0, (first.err, second.err)
    assert not second.error_lines()
    assert _files(folder) == files  # no a_r_r.png, no restored/restored/
    assert "restored 2, skipped 0, failed 0" in first.err and "restored 2, skipped 0, failed 0" in second.err
    assert "left 2 earlier outputs alone" in second.err


def test_output_is_one_header_each_error_once_and_a_true_summary(tmp_path: Path, identity_weights: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    run = _restore(tmp_path / "broken.png", "-o", tmp_path / "out", "-w", identity_weights)
    lines = run.err.splitlines()
    assert lines[0].startswith("hogformer restore: 1 image, weights ") and len(lines[0]) < 160
    assert lines[0].endswith(", cpu, fp32")
    assert sum("broken.png" in line for line in lines) == 1  # the error, once
    assert lines[-1].startswith("restored 0, skipped 0, failed 1") and "->" not in lines[-1]
    assert not (tmp_path / "out").exists()  # the summary names no folder that was never made


def test_shipped_weights_header_names_them_without_their_history(tmp_path: Path) -> None:
    Image.fromarray(_rgb(3, h=16, w=16)).save(tmp_path / "a.png")
    run = _restore(tmp_path / "a.png", "-o", tmp_path / "out")
    header = run.err.splitlines()[0]
    assert run.rc == 0 and header == "hogformer restore: 1 image, weights 'default', cpu, fp32"
