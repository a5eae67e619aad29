"""What each image format can hold, and the parts of 16-bit colour and EXIF handling that Pillow lacks.

Pillow has no 16-bit colour mode: 16-bit RGB(A) PNG and TIFF pixels are decoded and encoded here with
``pypng`` and ``tifffile``. The EXIF helpers read a file's orientation and reset it once the rotation has been
applied to the pixels. :mod:`hogformer.data.io` uses these to read and write images faithfully.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger("hogformer.data.io")

EXIF_ORIENTATION = 0x0112
EXIF_PREFIX = b"Exif\x00\x00"
#: A 16-bit colour reader: (path, Pillow image with the header parsed) -> (uint16 HxWxC pixels, raw EXIF block).
DeepReader = Callable[[str | os.PathLike[str], Image.Image], tuple[np.ndarray, bytes | None]]


@dataclass(frozen=True)
class Codec:
    """What one output format can hold, as Pillow writes it."""

    format: str
    alpha: bool  # can hold an alpha plane
    sixteen_bit: bool  # can hold 16 bits per channel (grey, RGB, RGBA; not grey + alpha)
    grey: bool  # can hold single-channel grey
    grey_alpha: bool  # can hold grey + alpha (otherwise it becomes RGBA)
    icc: bool
    exif: bool
    lossy: bool


_PNG = Codec("PNG", True, True, True, True, True, True, False)
_JPEG = Codec("JPEG", False, False, True, False, True, True, True)
# BMP: Pillow writes RGBA as 32-bit BGRA, but its own reader (like many others) ignores the alpha byte.
_BMP = Codec("BMP", True, False, True, False, False, False, False)
_TIFF = Codec("TIFF", True, True, True, True, True, True, False)
_WEBP = Codec("WEBP", True, False, False, False, True, True, True)
CODECS: dict[str, Codec] = {
    ".png": _PNG,
    ".jpg": _JPEG,
    ".jpeg": _JPEG,
    ".bmp": _BMP,
    ".tif": _TIFF,
    ".tiff": _TIFF,
    ".webp": _WEBP,
}


# ------------------------------------------------------------------------------- 16-bit colour reading

# EXIF orientation -> the transpose ImageOps.exif_transpose applies, on an HxWxC array (rows are y).
ORIENT_ARRAY = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.swapaxes(0, 1),  # TRANSPOSE
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],  # ROTATE_270 (90 degrees clockwise)
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # TRANSVERSE
    8: lambda a: a.swapaxes(0, 1)[::-1],  # ROTATE_90 (90 degrees counter-clockwise)
}


def deep_colour_reader(path: str | os.PathLike[str], im: Image.Image) -> DeepReader | None:
    """The 16-bit reader for a 16-bit RGB/RGBA PNG or TIFF, from the header alone; None for anything else."""
    if im.mode not in ("RGB", "RGBA"):
        return None
    if im.format == "PNG":
        ihdr = png_ihdr(path)
        return read_png16 if ihdr is not None and ihdr[0] == 16 and ihdr[1] in (2, 6) else None
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        samples = len(im.mode)
        if (
            tags.get(262) != 2  # PhotometricInterpretation: RGB
            or tags.get(277, 1) != samples  # SamplesPerPixel
            or _as_tuple(tags.get(258)) != (16,) * samples  # BitsPerSample
            or _as_tuple(tags.get(339, 1)) not in ((1,), (1,) * samples)  # SampleFormat: unsigned integer
            or (samples == 4 and _as_tuple(tags.get(338)) != (2,))  # ExtraSamples: straight (unassociated) alpha
            or not _tiff_can_decode(tags)
        ):
            return None
        return read_tiff16
    return None


def png_ihdr(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(26)
    except OSError:
        return None
    return (header[24], header[25]) if len(header) == 26 and header[12:16] == b"IHDR" else None


def _as_tuple(value: object) -> tuple[object, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _tiff_can_decode(tags: Mapping[int, object]) -> bool:
    """Whether tifffile decodes this TIFF's compression and predictor (without imagecodecs: not LZW)."""
    from tifffile import TIFF

    return tags.get(259, 1) in TIFF.DECOMPRESSORS and tags.get(317, 1) in TIFF.UNPREDICTORS


def read_png16(path: str | os.PathLike[str], im: Image.Image) -> tuple[np.ndarray, bytes | None]:
    """A 16-bit RGB/RGBA PNG -> (uint16 HxWxC pixels as stored, the EXIF block as Pillow would report it)."""
    import png

    data = Path(path).read_bytes()
    raw_exif = None
    for tag, body in png.Reader(bytes=data).chunks():  # checks every chunk's CRC, up to IEND
        if tag == b"eXIf":  # before or after the pixel data, like Pillow
            raw_exif = EXIF_PREFIX + body
    width, height, rows, info = png.Reader(bytes=data).read()
    planes = info["planes"]
    if (width, height) != im.size or planes != len(im.mode) or info["bitdepth"] != 16:
        raise ValueError(f"pypng reads a {width}x{height} {planes}-channel image, Pillow's header says otherwise")
    pixels = np.empty((height, width * planes), dtype=np.uint16)
    count = 0
    for count, row in enumerate(rows, start=1):
        pixels[count - 1] = row  # pypng gives 16-bit rows as native-order array('H')
    if count != height:
        raise ValueError(f"image data holds {count} of {height} rows")
    return pixels.reshape(height, width, planes), raw_exif


def read_tiff16(path: str | os.PathLike[str], im: Image.Image) -> tuple[np.ndarray, bytes | None]:
    """A 16-bit RGB/RGBA TIFF (first page) -> (uint16 HxWxC pixels as stored, the EXIF block if any)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        pixels = page.asarray()
        axes = page.axes
    if axes == "SYX":  # PlanarConfiguration 2: one plane per sample
        pixels = np.moveaxis(pixels, 0, -1)
    stored = (
        getattr(im, "tag_v2", {}).get(257),
        getattr(im, "tag_v2", {}).get(256),
        len(im.mode),
    )  # im.size may already be turned upright
    if pixels.shape != stored or pixels.dtype.kind != "u" or pixels.itemsize != 2:
        raise ValueError(f"tifffile reads a {pixels.shape} {pixels.dtype} array ({axes}), the header says {stored}")
    return pixels.astype(np.uint16, copy=False), im.info.get("exif")


def orientation(im: Image.Image, raw_exif: bytes | None) -> int:
    """The EXIF orientation ImageOps.exif_transpose would apply, found without decoding pixels."""
    if im.format == "PNG":
        # PngImageFile.getexif decodes the whole image when the EXIF block is not in the header; ask
        # Pillow's generic reader instead, on a 1x1 stand-in with the same info (EXIF, raw-profile text, XMP).
        probe = Image.new("L", (1, 1))
        probe.info = {**im.info, "exif": raw_exif} if raw_exif else dict(im.info)
        exif = probe.getexif()
    else:
        exif = im.getexif()  # TIFF: read from the tags, no pixels decoded
    value = exif.get(EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def warn_if_depth_reduced(path: str | os.PathLike[str], im: Image.Image) -> None:
    """Log when Pillow decodes a file with more than 8 bits per channel at 8 bits (see the module notes)."""
    if im.mode.startswith("I"):
        return
    depth, why = 8, "Pillow decodes this layout at 8 bits"
    if im.format == "TIFF":
        bits = _as_tuple(getattr(im, "tag_v2", {}).get(258, 8))
        depth = max(b for b in bits if isinstance(b, int)) if any(isinstance(b, int) for b in bits) else 8
        if depth == 16 and im.mode in ("RGB", "RGBA") and not _tiff_can_decode(getattr(im, "tag_v2", {})):
            why = "its TIFF compression needs the imagecodecs package to be read at 16 bits"
    elif im.format == "PNG":
        ihdr = png_ihdr(path)
        depth = ihdr[0] if ihdr is not None else 8
    if depth > 8:
        logger.warning("%s: %d-bit image decoded at 8 bits per channel (%s)", path, depth, why)


def upright_exif(raw: bytes | None) -> bytes | None:
    """The EXIF block with its orientation set to 1, bytes otherwise unchanged; None if absent."""
    if not raw:
        return None
    try:
        return _patch_orientation(raw)
    except (ValueError, struct.error, IndexError):
        pass
    try:  # an unusual layout: let Pillow re-serialise it
        exif = Image.Exif()
        exif.load(raw)
        if EXIF_ORIENTATION in exif:
            exif[EXIF_ORIENTATION] = 1
        return exif.tobytes()
    except Exception:
        logger.debug("dropping an EXIF block that cannot be parsed", exc_info=True)
        return None


def _patch_orientation(raw: bytes) -> bytes:
    """Overwrite the IFD0 orientation value in place, keeping every other byte (and offset) as is."""
    start = 6 if raw.startswith(b"Exif\x00\x00") else 0
    order = raw[start : start + 2]
    if order not in (b"II", b"MM"):
        raise ValueError("not a TIFF-structured EXIF block")
    e = "<" if order == b"II" else ">"
    ifd0 = start + struct.unpack_from(e + "I", raw, start + 4)[0]
    (count,) = struct.unpack_from(e + "H", raw, ifd0)
    for i in range(count):
        entry = ifd0 + 2 + 12 * i
        tag, typ, n = struct.unpack_from(e + "HHI", raw, entry)
        if tag == EXIF_ORIENTATION:
            if typ != 3 or n != 1:  # SHORT, one value, stored inline
                raise ValueError("unexpected orientation entry")
            out = bytearray(raw)
            struct.pack_into(e + "H", out, entry + 8, 1)
            return bytes(out)
    return bytes(raw)


# ----------------------------------------------------------------------------------------- 16-bit writing


def encode_png16(array: np.ndarray, icc: bytes | None, exif: bytes | None) -> bytes:
    """uint16 HxWx3 or HxWx4 -> PNG bytes (pypng), with iCCP and eXIf chunks where given."""
    import png

    height, width, planes = array.shape
    rows = array.astype(">u2").reshape(height, width * planes).view(np.uint8)  # PNG samples are big-endian
    buffer = io.BytesIO()
    writer = png.Writer(width, height, greyscale=False, alpha=planes == 4, bitdepth=16)
    writer.write_packed(buffer, (row.tobytes() for row in rows))
    extra: list[tuple[bytes, bytes]] = []
    if icc:  # name, NUL, compression method 0 (zlib), compressed profile
        extra.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif:
        extra.append((b"eXIf", exif[len(EXIF_PREFIX) :] if exif.startswith(EXIF_PREFIX) else exif))
    if not extra:
        return buffer.getvalue()
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    out = io.BytesIO()
    png.write_chunks(out, [chunks[0], *extra, *chunks[1:]])  # right after IHDR: before IDAT, as both must be
    return out.getvalue()


def encode_tiff16(array: np.ndarray, icc: bytes | None) -> bytes:
    """uint16 HxWx3 or HxWx4 -> uncompressed TIFF bytes (tifffile), straight alpha, ICC profile where given."""
    import tifffile

    buffer = io.BytesIO()
    extrasamples = ("unassalpha",) if array.shape[2] == 4 else None
    tifffile.imwrite(
        buffer,
        array,
        photometric="rgb",
        planarconfig="contig",
        extrasamples=extrasamples,
        iccprofile=icc,
        metadata=None,
    )
    return buffer.getvalue()


def icc_colour_space(profile: bytes) -> bytes | None:
    """The data colour space signature of an ICC profile (bytes 16-19 of its header)."""
    return bytes(profile[16:20]) if len(profile) >= 20 else None
