"""What the app does, without a browser or Gradio: restore one file, and one-line messages for every failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hogformer.app.core import AppError, Options, RestorerPool, parse_tile, restore_file, sample_images, user_message
from hogformer.data.io import ImageReadError


@pytest.fixture(scope="module")
def restorer(one_torch_thread):
    from hogformer import Restorer

    return Restorer(device="cpu")


def _noisy(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, shape[1])[None, :, None] * np.array([1.0, 0.6, 0.3])
    return np.clip(base + rng.normal(0, 0.12, (*shape, 3)), 0, 1)


def test_restores_into_the_inputs_format_and_depth(restorer, tmp_path: Path) -> None:
    src16 = (_noisy((40, 56)) * 65535).astype(np.uint16)
    # 16-bit RGB PNG through pypng, since Pillow cannot write it
    import png

    with open(tmp_path / "deep.png", "wb") as f:
        png.Writer(56, 40, bitdepth=16, greyscale=False).write(f, src16.reshape(40, -1).tolist())
    r = restore_file(tmp_path / "deep.png", restorer, out_dir=tmp_path / "out", with_inspection=False)
    assert r.output == tmp_path / "out" / "deep-restored.png"
    rows = list(png.Reader(filename=str(r.output)).asDirect()[2])
    out = np.array(rows, dtype=np.uint16).reshape(40, 56, 3)
    assert out.shape == src16.shape
    assert np.abs(out.astype(np.float64) - src16).mean() > 500  # restored, not copied
    assert len(np.unique(out % 256)) > 16  # 16 bits of depth, not 8 scaled up

    Image.fromarray((_noisy((48, 64), 1) * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=95)
    r = restore_file(tmp_path / "photo.jpg", restorer, out_dir=tmp_path / "out")
    with Image.open(r.output) as im:
        assert (im.format, im.size, im.mode) == ("JPEG", (64, 48), "RGB")
    assert r.before.shape == r.after.shape == (48, 64, 3)
    assert set(r.estimate) == {"noise", "blur", "haze", "low_light", "rain", "clean"}


def test_progress_is_reported(restorer, tmp_path: Path) -> None:
    from hogformer import Restorer

    tiled = Restorer(device="cpu", tile=32, tile_overlap=8)
    Image.fromarray((_noisy((64, 80)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    calls: list[tuple[int, int]] = []
    restore_file(
        tmp_path / "a.png", tiled, out_dir=tmp_path, with_inspection=False, progress=lambda d, t: calls.append((d, t))
    )
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1]


def test_not_an_image_names_the_file(restorer, tmp_path: Path) -> None:
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ImageReadError) as info:
        restore_file(bad, restorer, out_dir=tmp_path)
    message = user_message("holiday.jpg", info.value)
    assert message.startswith("holiday.jpg: ") and "\n" not in message and "image" in message


def test_too_large_is_refused_before_restoring(tmp_path: Path) -> None:
    class Never:
        def restore_tensor(self, *a, **k):
            raise AssertionError("a refused image must not reach the network")

    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(AppError, match="too large") as info:
        restore_file(tmp_path / "big.png", Never(), out_dir=tmp_path, max_pixels=5000)
    assert user_message("big.png", info.value).startswith("big.png: too large")


def test_out_of_memory_message(tmp_path: Path) -> None:
    class Oom:
        def restore_tensor(self, *a, **k):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(torch.OutOfMemoryError) as info:
        restore_file(tmp_path / "x.png", Oom(), out_dir=tmp_path)
    message = user_message("x.png", info.value)
    assert "out of memory" in message and "tile" in message and "low memory" in message


def test_unknown_errors_do_not_leak_details() -> None:
    class Weird(Exception):
        pass

    message = user_message("a.png", Weird("secret internal state"))
    assert "secret" not in message and "server log" in message


def test_parse_tile() -> None:
    assert parse_tile("") is None and parse_tile(" none ") is None and parse_tile(None) is None
    assert parse_tile("auto") == "auto" and parse_tile("256") == 256
    with pytest.raises(AppError, match="tile"):
        parse_tile("big")


def test_pool_reuses_the_restorer_until_options_change() -> None:
    built: list[Options] = []

    def factory(o: Options) -> object:
        built.append(o)
        return object()

    pool = RestorerPool(factory)
    a = pool.get(Options())
    assert pool.get(Options()) is a
    b = pool.get(Options(tile=64))
    assert b is not a and built == [Options(), Options(tile=64)]


def test_sample_images_ship() -> None:
    names = [p.name for p in sample_images()]
    assert "sample.png" in names
