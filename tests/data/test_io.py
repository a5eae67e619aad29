"""Tests for hogformer.data.io: reading images as users have them and writing results back faithfully."""

from __future__ import annotations

import io
import logging
import os
import pickle
import stat
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageOps

from hogformer.data import formats
from hogformer.data import io as hio
from hogformer.data.io import (
    ImageReadError,
    LoadedImage,
    read_image,
    to_image_array,
    write_image,
)
from hogformer.data.listing import IMAGE_EXTENSIONS, list_images
from hogformer.files import atomic_write_bytes

RNG = np.random.default_rng(1234)


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A small crop of a real photograph (uint8 HxWx3), odd-sized on purpose."""
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(data.astronaut()[40:77, 180:229])


def _rand_u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _rand_u16(*shape: int) -> np.ndarray:
    # full range, including values that are not multiples of 257 (which 8-bit data would give)
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


def _save(path: Path, array: np.ndarray, **options: object) -> Path:
    Image.fromarray(array).save(path, **options)
    return path


def _png_bytes(
    width: int,
    height: int,
    colour_type: int,
    bit_depth: int,
    rows: np.ndarray,
    before: Sequence[tuple[bytes, bytes]] = (),
    after: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """A minimal PNG written by hand (Pillow cannot write 16-bit colour PNGs), with extra chunks around IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + b"".join(chunk(kind, body) for kind, body in before)
        + chunk(b"IDAT", zlib.compress(raw))
        + b"".join(chunk(kind, body) for kind, body in after)
        + chunk(b"IEND", b"")
    )


def _png16(
    path: Path,
    pixels: np.ndarray,
    before: Sequence[tuple[bytes, bytes]] = (),
    after: Sequence[tuple[bytes, bytes]] = (),
) -> Path:
    """Write uint16 HxWx3 (RGB) or HxWx4 (RGBA) as a 16-bit PNG, by hand."""
    h, w, planes = pixels.shape
    rows = pixels.astype(">u2").reshape(h, w * planes)
    path.write_bytes(_png_bytes(w, h, 2 if planes == 3 else 6, 16, rows, before, after))
    return path


def _u16_colour(h: int, w: int, planes: int) -> np.ndarray:
    """uint16 HxWxplanes holding every value 0..65535 (a ramp) followed by random ones."""
    values = np.concatenate([np.arange(65536, dtype=np.uint16), _rand_u16(h * w * planes - 65536)])
    return values.reshape(h, w, planes)


def _png_header(path: Path) -> dict:
    """pypng's reading of a PNG (not Pillow's), with the pixels as uint16 HxWxplanes and the chunk tags."""
    width, height, rows, info = png.Reader(filename=str(path)).read()
    pixels = np.array([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
    chunks = dict(png.Reader(filename=str(path)).chunks())
    return {**info, "pixels": pixels, "chunks": chunks}


def _iccp(profile: bytes) -> tuple[bytes, bytes]:
    return b"iCCP", b"test profile\x00\x00" + zlib.compress(profile)


def _exif(orientation: int | None, make: str = "HOGtest") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def _srgb_profile() -> bytes:
    cms = pytest.importorskip("PIL.ImageCms")
    try:
        return cms.ImageCmsProfile(cms.createProfile("sRGB")).tobytes()
    except Exception as exc:  # pragma: no cover - depends on the Pillow build
        pytest.skip(f"LittleCMS not available: {exc}")


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff"])
def test_rgb_8bit_round_trip_is_exact(tmp_path: Path, photo: np.ndarray, ext: str) -> None:
    src = _save(tmp_path / f"in{ext}", photo)
    loaded = read_image(src)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (*photo.shape[:2], 3)
    assert 0.0 <= loaded.rgb.min() and loaded.rgb.max() <= 1.0
    assert (loaded.mode, loaded.bit_depth, loaded.is_grey, loaded.alpha) == ("RGB", 8, False, None)
    assert loaded.path == src
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), photo)
    out = write_image(tmp_path / f"out{ext}", loaded.rgb, loaded)
    assert out == tmp_path / f"out{ext}"
    np.testing.assert_array_equal(np.asarray(Image.open(out)), photo)


def test_format_is_reported(tmp_path: Path, photo: np.ndarray) -> None:
    names = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".webp": "WEBP"}
    for ext, name in names.items():
        assert read_image(_save(tmp_path / f"x{ext}", photo)).format == name


def test_every_8bit_and_16bit_value_survives_float_and_back() -> None:
    u8 = np.arange(256, dtype=np.uint8)
    u16 = np.arange(65536, dtype=np.uint16)
    like8 = LoadedImage(np.empty((0, 0, 3)), None, "L", 8, True, None, None, None, None)
    like16 = LoadedImage(np.empty((0, 0, 3)), None, "I;16", 16, True, None, None, None, None)
    rgb8 = hio._grey_to_rgb(u8[None, :], 255.0)
    rgb16 = hio._grey_to_rgb(u16[None, :], 65535.0)
    assert rgb8.dtype == np.float32 and rgb16.dtype == np.float32
    np.testing.assert_array_equal(to_image_array(rgb8, like8)[0], u8)
    np.testing.assert_array_equal(to_image_array(rgb16, like16)[0], u16)


def test_quantisation_clips_and_rounds_half_to_even() -> None:
    like = LoadedImage(np.empty((0, 0, 3)), None, "RGB", 8, False, None, None, None, None)
    values = np.array([-0.3, 126.5 / 255, 127.5 / 255, 2.5 / 255, 1.7], dtype=np.float64)
    rgb = np.repeat(values[None, :, None], 3, axis=2)
    out = to_image_array(rgb, like)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, 0], [0, 126, 128, 2, 255])


def test_grey_8bit_round_trip(tmp_path: Path) -> None:
    grey = _rand_u8(13, 17)
    loaded = read_image(_save(tmp_path / "g.png", grey))
    assert (loaded.mode, loaded.is_grey, loaded.bit_depth) == ("L", True, 8)
    assert loaded.rgb.shape == (13, 17, 3)
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])
    out = write_image(tmp_path / "g_out.png", loaded.rgb, loaded)
    back = Image.open(out)
    assert back.mode == "L"
    np.testing.assert_array_equal(np.asarray(back), grey)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_grey_16bit_round_trip_stays_16bit(tmp_path: Path, ext: str) -> None:
    grey = _rand_u16(11, 19)
    loaded = read_image(_save(tmp_path / f"g16{ext}", grey))
    assert loaded.mode.startswith("I;16") and loaded.bit_depth == 16 and loaded.is_grey
    np.testing.assert_allclose(loaded.rgb[..., 1], grey / 65535.0, atol=1e-7)
    out = write_image(tmp_path / f"g16_out{ext}", loaded.rgb, loaded)
    back = Image.open(out)
    assert back.mode.startswith("I;16")
    np.testing.assert_array_equal(np.asarray(back).astype(np.uint16), grey)


def test_big_endian_16bit_tiff_is_read_at_16bit(tmp_path: Path) -> None:
    grey = _rand_u16(5, 6)
    Image.frombytes("I;16B", (6, 5), grey.astype(">u2").tobytes()).save(tmp_path / "be.tif")
    loaded = read_image(tmp_path / "be.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), grey)


def test_32bit_integer_tiff(tmp_path: Path) -> None:
    small = RNG.integers(0, 65536, (4, 5)).astype(np.int32)
    loaded = read_image(_save(tmp_path / "i32.tif", small))
    assert loaded.mode == "I" and loaded.bit_depth == 16
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), small)
    _save(tmp_path / "big.tif", small * 1000 + 70000)
    with pytest.raises(ImageReadError, match=r"big\.tif: 32-bit integer"):
        read_image(tmp_path / "big.tif")


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_rgba_alpha_is_kept_exactly(tmp_path: Path, photo: np.ndarray, ext: str) -> None:
    alpha = _rand_u8(*photo.shape[:2])
    rgba = np.dstack([photo, alpha])
    loaded = read_image(_save(tmp_path / f"a{ext}", rgba))
    assert loaded.mode == "RGBA" and loaded.alpha is not None and loaded.alpha.dtype == np.uint8
    np.testing.assert_array_equal(loaded.alpha, alpha)
    # a restoration changes the colour; the alpha must come back untouched
    restored = np.clip(loaded.rgb * 0.5 + 0.1, 0, 1)
    back = np.asarray(Image.open(write_image(tmp_path / f"a_out{ext}", restored, loaded)))
    assert back.shape == rgba.shape
    np.testing.assert_array_equal(back[..., 3], alpha)
    np.testing.assert_array_equal(back[..., :3], np.rint(restored * 255).astype(np.uint8))


def test_grey_alpha_round_trip(tmp_path: Path) -> None:
    la = _rand_u8(9, 10, 2)
    loaded = read_image(_save(tmp_path / "la.png", la))
    assert (loaded.mode, loaded.is_grey) == ("LA", True)
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), la)
    back = Image.open(write_image(tmp_path / "la_out.png", loaded.rgb, loaded))
    assert back.mode == "LA"
    np.testing.assert_array_equal(np.asarray(back), la)


def test_jpeg_round_trip_and_alpha_dropped(tmp_path: Path, photo: np.ndarray) -> None:
    rgba = np.dstack([photo, _rand_u8(*photo.shape[:2])])
    loaded = read_image(_save(tmp_path / "a.png", rgba))
    out = write_image(tmp_path / "a.jpg", loaded.rgb, loaded, quality=95)
    back = read_image(out)
    assert (back.format, back.mode, back.alpha) == ("JPEG", "RGB", None)
    err = np.abs(back.rgb * 255 - photo.astype(np.float32)).mean()
    assert err < 3.0  # quality 95 on a real photo
    low = read_image(write_image(tmp_path / "low.jpg", loaded.rgb, loaded, quality=5))
    assert np.abs(low.rgb * 255 - photo.astype(np.float32)).mean() > err


def test_grey_jpeg_stays_grey(tmp_path: Path) -> None:
    grey = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    loaded = read_image(_save(tmp_path / "g.jpg", grey))
    assert loaded.is_grey
    assert Image.open(write_image(tmp_path / "g_out.jpg", loaded.rgb, loaded)).mode == "L"


def test_16bit_grey_to_8bit_format_rounds_from_float(tmp_path: Path) -> None:
    grey = _rand_u16(6, 7)
    loaded = read_image(_save(tmp_path / "g16.png", grey))
    back = np.asarray(Image.open(write_image(tmp_path / "g8.bmp", loaded.rgb, loaded)))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, np.rint(grey / 65535.0 * 255).astype(np.uint8))


def test_webp_round_trip_and_grey_becomes_rgb(tmp_path: Path, photo: np.ndarray) -> None:
    loaded = read_image(_save(tmp_path / "p.webp", photo, quality=95))
    assert loaded.format == "WEBP" and loaded.mode == "RGB"
    assert np.abs(loaded.rgb * 255 - photo.astype(np.float32)).mean() < 4.0
    grey = read_image(_save(tmp_path / "g.png", photo[..., 0]))
    back = Image.open(write_image(tmp_path / "g.webp", grey.rgb, grey))
    assert back.mode == "RGB"
    la = read_image(_save(tmp_path / "la.png", np.dstack([photo[..., 0], _rand_u8(*photo.shape[:2])])))
    back = Image.open(write_image(tmp_path / "la.webp", la.rgb, la))
    assert back.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(back)[..., 3], la.alpha)


def test_bmp_stores_alpha_bytes(tmp_path: Path) -> None:
    rgba = _rand_u8(3, 4, 4)
    loaded = read_image(_save(tmp_path / "a.png", rgba))
    data = write_image(tmp_path / "a.bmp", loaded.rgb, loaded).read_bytes()
    bits = struct.unpack_from("<H", data, 28)[0]
    offset = struct.unpack_from("<I", data, 10)[0]
    pixels = np.frombuffer(data, np.uint8, count=3 * 4 * 4, offset=offset).reshape(3, 4, 4)[::-1]
    assert bits == 32
    np.testing.assert_array_equal(pixels[..., 3], rgba[..., 3])  # BGRA, rows bottom-up


def test_write_without_like_is_8bit_rgb(tmp_path: Path) -> None:
    rgb = RNG.random((5, 6, 3), dtype=np.float32)
    back = Image.open(write_image(tmp_path / "x.png", rgb))
    assert back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), np.rint(rgb * 255).astype(np.uint8))


# ------------------------------------------------------------------------------------------ other modes


def test_palette_with_transparency_reads_as_rgba(tmp_path: Path) -> None:
    im = Image.new("P", (4, 3))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((1, 1), 1)
    im.save(tmp_path / "p.png", transparency=0)
    loaded = read_image(tmp_path / "p.png")
    assert loaded.mode == "P" and not loaded.is_grey and loaded.alpha is not None
    assert loaded.alpha[1, 1] == 255 and loaded.alpha[0, 0] == 0
    np.testing.assert_array_equal(loaded.rgb[1, 1], [1.0, 0.0, 0.0])
    im.save(tmp_path / "p_opaque.png")
    assert read_image(tmp_path / "p_opaque.png").alpha is None


def test_bilevel_and_cmyk(tmp_path: Path) -> None:
    Image.fromarray(np.eye(4, dtype=bool)).save(tmp_path / "b.png")
    bilevel = read_image(tmp_path / "b.png")
    assert bilevel.mode == "1" and bilevel.is_grey
    np.testing.assert_array_equal(bilevel.rgb[..., 0], np.eye(4))
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    cmyk = read_image(tmp_path / "c.jpg")
    assert cmyk.mode == "CMYK" and cmyk.rgb.shape == (4, 4, 3)
    np.testing.assert_allclose(cmyk.rgb[0, 0], [1.0, 0.0, 0.0], atol=0.02)


@pytest.mark.parametrize("planes", [3, 4])
def test_16bit_colour_png_round_trip_stays_16bit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, planes: int
) -> None:
    stored = _u16_colour(128, 200, planes)
    with caplog.at_level(logging.WARNING, logger="hogformer.data.io"):
        loaded = read_image(_png16(tmp_path / "c16.png", stored))
    assert caplog.text == ""  # no depth-reduction warning
    assert (loaded.mode, loaded.bit_depth, loaded.is_grey) == ("RGBA" if planes == 4 else "RGB", 16, False)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (128, 200, 3)
    np.testing.assert_allclose(loaded.rgb, stored[..., :3] / 65535.0, rtol=2.0**-24, atol=0)
    if planes == 4:
        assert loaded.alpha is not None and loaded.alpha.dtype == np.uint16
        np.testing.assert_array_equal(loaded.alpha, stored[..., 3])
    else:
        assert loaded.alpha is None
    back = to_image_array(loaded.rgb, loaded)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, stored)
    out = _png_header(write_image(tmp_path / "c16_out.png", loaded.rgb, like=loaded))
    assert (out["bitdepth"], out["planes"], out["greyscale"], out["alpha"]) == (16, planes, False, planes == 4)
    np.testing.assert_array_equal(out["pixels"], stored)


def test_16bit_rgba_png_restored_colour_keeps_alpha_exactly(tmp_path: Path) -> None:
    stored = _rand_u16(9, 11, 4)
    loaded = read_image(_png16(tmp_path / "a16.png", stored))
    restored = np.clip(loaded.rgb * 0.5 + 0.1, 0, 1)
    out = _png_header(write_image(tmp_path / "a16_out.png", restored, like=loaded))
    np.testing.assert_array_equal(out["pixels"][..., 3], stored[..., 3])
    np.testing.assert_array_equal(out["pixels"][..., :3], np.rint(restored * 65535).astype(np.uint16))


def test_interlaced_16bit_png(tmp_path: Path) -> None:
    stored = _rand_u16(13, 17, 3)
    with open(tmp_path / "i16.png", "wb") as fh:
        png.Writer(17, 13, greyscale=False, bitdepth=16, interlace=True).write(fh, stored.reshape(13, -1))
    loaded = read_image(tmp_path / "i16.png")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), stored)


_TIFF_LAYOUTS = {
    "plain": {},
    "deflate": {"compression": "zlib", "predictor": True},
    "planar": {"planarconfig": "separate"},
    "big-endian": {"byteorder": ">"},
}


@pytest.mark.parametrize("layout", list(_TIFF_LAYOUTS))
@pytest.mark.parametrize("planes", [3, 4])
def test_16bit_colour_tiff_round_trip_stays_16bit(tmp_path: Path, planes: int, layout: str) -> None:
    stored = _u16_colour(128, 200, planes)
    options = dict(_TIFF_LAYOUTS[layout])
    data = np.moveaxis(stored, -1, 0) if layout == "planar" else stored
    extra = ["unassalpha"] if planes == 4 else None
    tifffile.imwrite(tmp_path / "c16.tif", data, photometric="rgb", extrasamples=extra, metadata=None, **options)
    loaded = read_image(tmp_path / "c16.tif")
    assert (loaded.format, loaded.bit_depth, loaded.is_grey) == ("TIFF", 16, False)
    np.testing.assert_allclose(loaded.rgb, stored[..., :3] / 65535.0, rtol=2.0**-24, atol=0)
    if planes == 4:
        assert loaded.alpha is not None and loaded.alpha.dtype == np.uint16
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), stored)
    out = write_image(tmp_path / "c16_out.tif", loaded.rgb, like=loaded)
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert (page.bitspersample, page.samplesperpixel, page.photometric) == (16, planes, 2)
        if planes == 4:
            assert tuple(page.extrasamples) == (2,)  # straight (unassociated) alpha
        np.testing.assert_array_equal(page.asarray(), stored)


def test_16bit_colour_converts_between_png_and_tiff(tmp_path: Path) -> None:
    stored = _rand_u16(7, 9, 4)
    loaded = read_image(_png16(tmp_path / "x.png", stored))
    np.testing.assert_array_equal(tifffile.imread(write_image(tmp_path / "x.tif", loaded.rgb, loaded)), stored)
    again = read_image(tmp_path / "x.tif")
    out = _png_header(write_image(tmp_path / "y.png", again.rgb, again))
    np.testing.assert_array_equal(out["pixels"], stored)


def test_16bit_colour_to_8bit_formats_rounds_from_float(tmp_path: Path) -> None:
    stored = _rand_u16(6, 7, 4)
    loaded = read_image(_png16(tmp_path / "a16.png", stored))
    data = write_image(tmp_path / "a8.bmp", loaded.rgb, loaded).read_bytes()
    offset = struct.unpack_from("<I", data, 10)[0]
    bgra = np.frombuffer(data, np.uint8, count=6 * 7 * 4, offset=offset).reshape(6, 7, 4)[::-1]  # rows bottom-up
    assert struct.unpack_from("<H", data, 28)[0] == 32
    np.testing.assert_array_equal(bgra[..., [2, 1, 0, 3]], np.rint(stored / 65535.0 * 255).astype(np.uint8))


def _lzw_tiff(path: Path, rgb16: np.ndarray) -> Path:
    """A 16-bit RGB TIFF with LZW compression (encoded by hand: literal codes only, 9 bits each)."""
    codes: list[int] = []
    raw = rgb16.astype("<u2").tobytes()
    for i in range(0, len(raw), 250):  # a Clear code every 250 literals keeps the code width at 9 bits
        codes += [256, *raw[i : i + 250]]
    bits = "".join(f"{code:09b}" for code in [*codes, 257])
    bits += "0" * (-len(bits) % 8)
    lzw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb16, photometric="rgb", metadata=None, byteorder="<")
    data = bytearray(buffer.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages[0].tags
        where = {name: tags[name].valueoffset for name in ("Compression", "StripOffsets", "StripByteCounts")}
        assert (tags["StripOffsets"].dtype, tags["StripByteCounts"].dtype) == (4, 4)  # LONG
    struct.pack_into("<H", data, where["Compression"], 5)
    struct.pack_into("<I", data, where["StripOffsets"], len(data))
    struct.pack_into("<I", data, where["StripByteCounts"], len(lzw))
    path.write_bytes(bytes(data + lzw))
    return path


def test_16bit_lzw_tiff_needs_imagecodecs_for_16bit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stored = _rand_u16(5, 6, 3)
    with caplog.at_level(logging.WARNING, logger="hogformer.data.io"):
        loaded = read_image(_lzw_tiff(tmp_path / "lzw.tif", stored))
    if 5 in tifffile.TIFF.DECOMPRESSORS:  # imagecodecs installed: decoded at 16 bits
        assert loaded.bit_depth == 16 and caplog.text == ""
        np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), stored)
    else:  # Pillow decodes it, at 8 bits, and says so
        assert loaded.bit_depth == 8
        np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), (stored >> 8).astype(np.uint8))
        assert "lzw.tif" in caplog.text and "16-bit" in caplog.text and "imagecodecs" in caplog.text


def test_16bit_grey_alpha_png_is_read_at_8bit_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    la16 = _rand_u16(4, 5, 2)
    path = tmp_path / "la16.png"
    path.write_bytes(_png_bytes(5, 4, 4, 16, la16.astype(">u2").reshape(4, -1)))
    with caplog.at_level(logging.WARNING, logger="hogformer.data.io"):
        loaded = read_image(path)
    assert (loaded.mode, loaded.bit_depth, loaded.is_grey) == ("RGBA", 8, False)  # as Pillow decodes it
    expected = (la16[..., [0, 0, 0, 1]] >> 8).astype(np.uint8)
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), expected)
    assert "16-bit" in caplog.text and "la16.png" in caplog.text


# ------------------------------------------------------------------------------------------ EXIF and ICC


def test_jpeg_exif_orientation_is_applied_and_reset(tmp_path: Path) -> None:
    stored = np.zeros((16, 24, 3), dtype=np.uint8)  # H=16, W=24 as stored
    stored[:8, :8] = 255  # a white block in the stored top-left corner
    src = _save(tmp_path / "rot.jpg", stored, exif=_exif(6), quality=95)
    loaded = read_image(src)
    assert loaded.rgb.shape == (24, 16, 3)  # orientation 6: rotate 90 degrees clockwise to display
    assert loaded.rgb[:8, -8:].mean() > 0.9 and loaded.rgb[:8, :8].mean() < 0.1  # now top-right
    assert loaded.exif is not None
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "HOGtest"
    raw = Image.open(src).info["exif"]
    assert len(loaded.exif) == len(raw) and sum(a != b for a, b in zip(raw, loaded.exif, strict=True)) == 1
    out = write_image(tmp_path / "rot_out.jpg", loaded.rgb, loaded)
    again = Image.open(out)
    assert again.size == (16, 24)  # width 16, height 24: upright, not rotated twice
    assert again.getexif().get(0x0112) == 1 and again.getexif().get(0x010F) == "HOGtest"
    assert read_image(out).rgb.shape == (24, 16, 3)


@pytest.mark.parametrize("orientation, turn", [(3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1))])
def test_png_exif_orientation_exact_pixels(tmp_path: Path, orientation: int, turn: object) -> None:
    stored = _rand_u8(5, 7, 3)
    loaded = read_image(_save(tmp_path / "o.png", stored, exif=_exif(orientation)))
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), turn(stored))  # type: ignore[operator]


def test_file_without_exif_has_none(tmp_path: Path) -> None:
    assert read_image(_save(tmp_path / "n.png", _rand_u8(3, 3, 3))).exif is None


def test_exif_patch_handles_both_byte_orders_and_no_prefix() -> None:
    for order in ("<", ">"):
        mark = b"II" if order == "<" else b"MM"
        body = mark + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1)
        body += struct.pack(order + "HHIHH", 0x0112, 3, 1, 8, 0) + struct.pack(order + "I", 0)
        for raw in (body, b"Exif\x00\x00" + body):
            patched = formats.upright_exif(raw)
            assert patched is not None and len(patched) == len(raw)
            value_at = len(raw) - len(body) + 10 + 8
            assert struct.unpack_from(order + "H", patched, value_at)[0] == 1


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_is_carried(tmp_path: Path, photo: np.ndarray, ext: str) -> None:
    profile = _srgb_profile()
    loaded = read_image(_save(tmp_path / f"icc{ext}", photo, icc_profile=profile))
    assert loaded.icc_profile == profile
    out = write_image(tmp_path / f"icc_out{ext}", loaded.rgb, loaded)
    assert Image.open(out).info.get("icc_profile") == profile


def test_icc_profile_only_where_colour_space_fits(tmp_path: Path) -> None:
    profile = bytearray(_srgb_profile())
    profile[16:20] = b"GRAY"  # pretend it is a grey profile: Pillow embeds bytes as they are
    grey_profile = bytes(profile)
    loaded = read_image(_save(tmp_path / "g.png", _rand_u8(4, 4), icc_profile=grey_profile))
    assert loaded.icc_profile == grey_profile
    kept = write_image(tmp_path / "g_out.png", loaded.rgb, loaded)
    assert Image.open(kept).info.get("icc_profile") == grey_profile
    as_rgb = write_image(tmp_path / "g_out.webp", loaded.rgb, loaded)  # WebP has no grey: RGB output
    assert Image.open(as_rgb).info.get("icc_profile") is None
    assert Image.open(write_image(tmp_path / "g_out.bmp", loaded.rgb, loaded)).info.get("icc_profile") is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_png_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    stored = _rand_u16(5, 7, 3)
    raw_exif = _exif(orientation)
    loaded = read_image(_png16(tmp_path / "o16.png", stored, before=[(b"eXIf", raw_exif)]))
    assert loaded.bit_depth == 16
    reference = _save(tmp_path / "o8.png", (stored >> 8).astype(np.uint8), exif=raw_exif)
    with Image.open(reference) as im:
        upright8 = np.asarray(ImageOps.exif_transpose(im))  # what the 8-bit path (and Pillow) does
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded) >> 8, upright8)


@pytest.mark.parametrize("where", ["before", "after"])
def test_16bit_png_exif_orientation_6_applied_and_reset(tmp_path: Path, where: str) -> None:
    stored = _rand_u16(5, 7, 4)
    chunks = {where: [(b"eXIf", _exif(6))]}
    loaded = read_image(_png16(tmp_path / "r16.png", stored, **chunks))
    upright = np.rot90(stored, -1)  # orientation 6: turn 90 degrees clockwise to display
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), upright)
    assert loaded.alpha is not None and loaded.alpha.flags.c_contiguous
    assert loaded.exif is not None
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "HOGtest"
    out = write_image(tmp_path / "r16_out.png", loaded.rgb, like=loaded)
    header = _png_header(out)
    assert header["size"] == (5, 7) and header["bitdepth"] == 16  # width 5, height 7: upright
    np.testing.assert_array_equal(header["pixels"], upright)
    assert b"eXIf" in header["chunks"]
    with Image.open(out) as again:
        assert again.getexif().get(0x0112) == 1 and again.getexif().get(0x010F) == "HOGtest"
    assert read_image(out).rgb.shape == (7, 5, 3)  # not turned a second time


def test_16bit_tiff_orientation_tag_applied(tmp_path: Path) -> None:
    stored = _rand_u16(5, 7, 3)
    tifffile.imwrite(tmp_path / "r16.tif", stored, photometric="rgb", metadata=None, extratags=[(274, "H", 1, 6)])
    loaded = read_image(tmp_path / "r16.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(to_image_array(loaded.rgb, loaded), np.rot90(stored, -1))


def test_icc_profile_is_carried_by_16bit_png(tmp_path: Path) -> None:
    profile = _srgb_profile()
    loaded = read_image(_png16(tmp_path / "icc16.png", _rand_u16(4, 5, 3), before=[_iccp(profile)]))
    assert loaded.bit_depth == 16 and loaded.icc_profile == profile
    out = write_image(tmp_path / "icc16_out.png", loaded.rgb, like=loaded)
    tags = [tag for tag, _ in png.Reader(filename=str(out)).chunks()]
    assert tags.index(b"iCCP") < tags.index(b"IDAT")
    body = _png_header(out)["chunks"][b"iCCP"]
    name, rest = body.split(b"\x00", 1)
    assert 1 <= len(name) <= 79 and rest[0] == 0 and zlib.decompress(rest[1:]) == profile
    with Image.open(out) as again:
        assert again.info.get("icc_profile") == profile
    tif = write_image(tmp_path / "icc16_out.tif", loaded.rgb, like=loaded)  # and across formats
    with tifffile.TiffFile(tif) as t:
        assert t.pages[0].tags[34675].value == profile


def test_icc_profile_is_carried_by_16bit_tiff(tmp_path: Path) -> None:
    profile = _srgb_profile()
    path = tmp_path / "icc16.tif"
    tifffile.imwrite(path, _rand_u16(4, 5, 4), photometric="rgb", extrasamples=["unassalpha"], iccprofile=profile)
    loaded = read_image(path)
    assert loaded.bit_depth == 16 and loaded.icc_profile == profile
    out = write_image(tmp_path / "icc16_out.tif", loaded.rgb, like=loaded)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].tags[34675].value == profile
        assert tif.pages[0].bitspersample == 16
    with Image.open(out) as again:
        assert again.info.get("icc_profile") == profile


# ------------------------------------------------------------------------------------------ bad inputs


def _assert_read_error(path: Path, *fragments: str) -> ImageReadError:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    err = info.value
    message = str(err)
    assert isinstance(err, ValueError)
    assert message == f"{path}: {err.reason}" and err.path == path
    assert path.name in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message.lower()
    return err


def test_missing_file(tmp_path: Path) -> None:
    _assert_read_error(tmp_path / "nope.png", "not found")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    _assert_read_error(tmp_path / "folder.png", "directory")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    _assert_read_error(tmp_path / "empty.jpg", "empty file")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("these are my holiday notes\nline two\n")
    _assert_read_error(tmp_path / "notes.png", "cannot identify image format")


def test_unsupported_format(tmp_path: Path) -> None:
    Image.fromarray(_rand_u8(4, 4, 3)).save(tmp_path / "anim.gif")
    _assert_read_error(tmp_path / "anim.gif", "cannot identify image format", "png, jpeg")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp", ".bmp"])
def test_truncated_image(tmp_path: Path, photo: np.ndarray, ext: str) -> None:
    whole = io.BytesIO()
    Image.fromarray(photo).save(whole, format=Image.registered_extensions()[ext])
    data = whole.getvalue()
    (tmp_path / f"cut{ext}").write_bytes(data[: len(data) * 2 // 3])
    _assert_read_error(tmp_path / f"cut{ext}")


def test_corrupt_png_data(tmp_path: Path, photo: np.ndarray) -> None:
    whole = io.BytesIO()
    Image.fromarray(photo).save(whole, format="PNG")
    data = bytearray(whole.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = bytes(50)
    (tmp_path / "corrupt.png").write_bytes(bytes(data))
    _assert_read_error(tmp_path / "corrupt.png", "corrupt")


def test_decompression_bomb_limit(tmp_path: Path) -> None:
    path = _save(tmp_path / "bomb.png", _rand_u8(20, 20))  # 400 pixels
    before = Image.MAX_IMAGE_PIXELS
    for limit in (100, 300):  # 300: inside the band where Pillow itself would only warn
        with pytest.raises(ImageReadError) as info:
            read_image(path, max_pixels=limit)
        message = str(info.value)
        assert "bomb.png" in message and "400 pixels" in message and f"{limit} pixels" in message
        assert "max_pixels" in message
        assert Image.MAX_IMAGE_PIXELS == before
    assert read_image(path, max_pixels=400).rgb.shape == (20, 20, 3)
    assert Image.MAX_IMAGE_PIXELS == before


def test_decompression_bomb_limit_applies_before_16bit_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _png16(tmp_path / "bomb16.png", _rand_u16(20, 20, 3))  # 400 pixels
    decoded: list[object] = []
    real = formats.read_png16

    def spy(*args: object) -> object:
        decoded.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(formats, "read_png16", spy)
    for limit in (100, 300):
        with pytest.raises(ImageReadError) as info:
            read_image(path, max_pixels=limit)
        assert "bomb16.png" in str(info.value) and "400 pixels" in str(info.value)
    assert decoded == []  # refused on the header's size, no pixel decoded
    assert read_image(path, max_pixels=400).bit_depth == 16
    assert len(decoded) == 1  # the spy does see decoding


@pytest.mark.parametrize("cut", [2 / 3, 0.95])
def test_truncated_16bit_png(tmp_path: Path, cut: float) -> None:
    data = _png16(tmp_path / "whole16.png", _rand_u16(30, 40, 3)).read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: int(len(data) * cut)])
    _assert_read_error(tmp_path / "cut16.png", "corrupt png")


def test_corrupt_16bit_png_data_with_valid_crc(tmp_path: Path) -> None:
    rows = _rand_u16(6, 8, 3).astype(">u2").reshape(6, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    idat = bytearray(zlib.compress(raw))
    idat[5:25] = bytes(20)  # garbage inside the deflate stream; the chunk's CRC is computed on it
    good = _png_bytes(8, 6, 2, 16, rows)
    start = good.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", good, start)
    chunk = struct.pack(">I", len(idat)) + b"IDAT" + bytes(idat) + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    (tmp_path / "bad16.png").write_bytes(good[:start] + chunk + good[start + 12 + length :])
    _assert_read_error(tmp_path / "bad16.png", "corrupt png")


def test_truncated_16bit_tiff(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "whole16.tif", _rand_u16(30, 40, 3), photometric="rgb", compression="zlib")
    data = (tmp_path / "whole16.tif").read_bytes()
    (tmp_path / "cut16.tif").write_bytes(data[: len(data) * 2 // 3])
    _assert_read_error(tmp_path / "cut16.tif")


def test_max_pixels_can_raise_a_low_global_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "big.png", _rand_u8(20, 20))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(ImageReadError, match="400 pixels"):
        read_image(path)
    assert read_image(path, max_pixels=1000).rgb.shape == (20, 20, 3)
    assert Image.MAX_IMAGE_PIXELS == 50
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(path, max_pixels=0)


def test_read_error_pickles() -> None:
    err = ImageReadError(Path("a/b.png"), "empty file (0 bytes)")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ImageReadError
    assert (again.path, again.reason, str(again)) == (err.path, err.reason, str(err))
    assert str(ImageReadError("x.png", "two\nlines")) == "x.png: two lines"


# ------------------------------------------------------------------------------------------ write errors


def test_unknown_extension_and_bad_quality(tmp_path: Path) -> None:
    rgb = np.zeros((2, 2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\.gif"):
        write_image(tmp_path / "x.gif", rgb)
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "noext", rgb)
    with pytest.raises(ValueError, match="quality"):
        write_image(tmp_path / "x.jpg", rgb, quality=101)
    assert list(tmp_path.iterdir()) == []


def test_to_image_array_validation() -> None:
    like = LoadedImage(
        np.empty((0, 0, 3)), np.zeros((2, 2), np.uint8), "RGBA", 8, False, None, None, None, None
    )
    ok = to_image_array(np.full((2, 2, 3), 0.5), like)
    assert ok.shape == (2, 2, 4) and ok.dtype == np.uint8 and ok[0, 0, 0] == 128 and ok[0, 0, 3] == 0
    with pytest.raises(ValueError, match="alpha plane is 2x2 but the image is 3x2"):
        to_image_array(np.zeros((3, 2, 3)), like)
    with pytest.raises(ValueError, match="NaN"):
        to_image_array(np.full((2, 2, 3), np.nan), like)
    with pytest.raises(ValueError, match="HxWx3"):
        to_image_array(np.zeros((2, 2)), like)
    with pytest.raises(TypeError, match="float"):
        to_image_array(np.zeros((2, 2, 3), dtype=np.uint8), like)


def test_grey_output_is_channel_mean() -> None:
    like = LoadedImage(np.empty((0, 0, 3)), None, "L", 8, True, None, None, None, None)
    rgb = np.zeros((1, 1, 3))
    rgb[0, 0] = [0.0, 0.3, 0.6]
    out = to_image_array(rgb, like)
    assert out.shape == (1, 1) and out[0, 0] == round(0.3 * 255)


# ------------------------------------------------------------------------------------------ atomic writes


def test_write_creates_parents_and_leaves_no_temp_files(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    other = tmp_path / "out" / "keep.txt"
    other.write_bytes(b"unrelated")
    mtime = other.stat().st_mtime_ns
    rgb = RNG.random((4, 5, 3))
    target = write_image(tmp_path / "out" / "deep" / "x.png", rgb)
    assert target.is_file()
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["deep", "keep.txt", "x.png"]
    assert other.read_bytes() == b"unrelated" and other.stat().st_mtime_ns == mtime
    write_image(target, rgb * 0.5)  # overwrite in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(target)), np.rint(rgb * 0.5 * 255).astype(np.uint8))


def test_failed_replace_keeps_old_file_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"old contents")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(hio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        write_image(target, np.zeros((3, 3, 3)))
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_bytes_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a" / "blob.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o640


# ------------------------------------------------------------------------------------------ listing


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for rel in [
        "b.png",
        "a.JPG",
        "c.webp",
        "notes.txt",
        ".hidden.png",
        "sub/d.tif",
        "sub/deeper/e.bmp",
        ".cache/f.png",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    return tmp_path


def test_list_folder(tree: Path) -> None:
    assert list_images([tree]) == [tree / "a.JPG", tree / "b.png", tree / "c.webp"]


def test_list_folder_recursive(tree: Path) -> None:
    expected = [tree / n for n in ("a.JPG", "b.png", "c.webp", "sub/d.tif", "sub/deeper/e.bmp")]
    assert list_images([str(tree)], recursive=True) == expected


def test_list_glob(tree: Path) -> None:
    assert list_images([str(tree / "*.png")]) == [tree / "b.png"]
    assert list_images([str(tree / "**" / "*.*")], recursive=True) == [
        tree / n for n in ("a.JPG", "b.png", "c.webp", "sub/d.tif", "sub/deeper/e.bmp")
    ]
    assert list_images([str(tree / "*")]) == [tree / "a.JPG", tree / "b.png", tree / "c.webp"]


def test_list_explicit_files_order_and_dedup(tree: Path) -> None:
    got = list_images([tree / "notes.txt", tree / "c.webp", tree, str(tree / "b.png")])
    assert got == [tree / "notes.txt", tree / "c.webp", tree / "a.JPG", tree / "b.png"]
    assert list_images([tree / ".hidden.png"]) == [tree / ".hidden.png"]  # named explicitly: kept


def test_list_missing_inputs_raise(tree: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        list_images([tree / "b.png", tree / "missing.png"])
    with pytest.raises(FileNotFoundError, match=r"\*\.gif"):
        list_images([str(tree / "*.gif")])
    (tree / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        list_images([tree / "empty"])


def test_image_extensions_constant() -> None:
    assert IMAGE_EXTENSIONS == (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def test_multi_picture_jpeg_reads_first_frame(tmp_path: Path, photo: np.ndarray) -> None:
    first, second = Image.fromarray(photo), Image.fromarray(255 - photo)
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[second], quality=95)
    loaded = read_image(tmp_path / "phone.jpg")
    assert loaded.format == "MPO" and loaded.rgb.shape == (*photo.shape[:2], 3)
    assert np.abs(loaded.rgb * 255 - photo.astype(np.float32)).mean() < 3.0
