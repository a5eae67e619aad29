"""File-level image I/O: read images as users have them, write restorations back in the same layout.

Reading turns any supported file (PNG, JPEG, BMP, TIFF, WebP) into a float32 HxWx3 array in [0, 1] plus
what is needed to write the result back faithfully: the alpha plane, the bit depth, whether it was
greyscale, the ICC profile and the EXIF block. Writing is atomic (encode in memory, write a temporary
file in the same folder, ``os.replace`` it onto the target), so an interrupted run never leaves a
half-written output.

PNG and TIFF keep 8 and 16 bits per channel for grey, RGB and RGBA. Pillow, which parses every header
and decodes everything else, has no 16-bit colour mode, so 16-bit RGB(A) pixels are decoded and encoded
with ``pypng`` (PNG) and ``tifffile`` (TIFF); the header, the pixel limit, the ICC profile and the EXIF
orientation still come from Pillow's header parse, before any pixel is decoded. Remaining limits:

* 16-bit grey+alpha files (which Pillow decodes as RGBA), and 16-bit colour TIFFs with premultiplied
  alpha, a photometric other than RGB, or a compression ``tifffile`` cannot decode on its own (LZW needs
  the ``imagecodecs`` package) are decoded by Pillow at 8 bits per channel (``bit_depth == 8``), and a
  warning is logged.
* 16-bit colour TIFF output is uncompressed and carries no EXIF block (the ICC profile is kept).
* Multi-frame files (multi-page TIFF, animated WebP) are read as their first frame.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..files import atomic_write_bytes
from .formats import (
    _PNG,
    CODECS,
    ORIENT_ARRAY,
    deep_colour_reader,
    encode_png16,
    encode_tiff16,
    icc_colour_space,
    orientation,
    upright_exif,
    warn_if_depth_reduced,
)
from .listing import IMAGE_EXTENSIONS

__all__ = ["ImageReadError", "LoadedImage", "read_image", "to_image_array", "write_image"]

logger = logging.getLogger(__name__)

# Pillow formats read_image accepts (the JPEG opener also yields "MPO", the multi-picture JPEGs phones write).
_READ_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")
# Guards the temporary change of Image.MAX_IMAGE_PIXELS and of the warning filters while a header is parsed.
_OPEN_LOCK = threading.Lock()


class ImageReadError(ValueError):
    """An input file cannot be read as an image; ``str(err)`` is ``"<path>: <reason>"`` on one line."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = path
        self.reason = " ".join(str(reason).split())  # one line, whatever the underlying library said
        super().__init__(f"{path}: {self.reason}")

    def __reduce__(self) -> tuple[type[ImageReadError], tuple[str | os.PathLike[str], str]]:
        # Lets the error cross process boundaries (DataLoader workers, multiprocessing) intact.
        return (type(self), (self.path, self.reason))


@dataclass
class LoadedImage:
    """An image read from a file, with what is needed to write a result back in the same layout.

    ``rgb`` is float32 HxWx3 in [0, 1], upright (EXIF orientation applied); greyscale images are
    replicated to three channels. ``alpha`` is the file's alpha plane (HxW; uint16 for 16-bit RGBA, uint8
    otherwise), untouched, or ``None``. ``mode`` is the Pillow mode of the file before any conversion
    (``"RGB"`` or ``"RGBA"`` for 16-bit colour too: ``bit_depth`` tells them apart).
    ``icc_profile`` is the embedded profile as found in the file (for CMYK input it describes the CMYK
    data, not ``rgb``; :func:`write_image` embeds a profile only where its colour space matches).
    ``exif`` is the file's EXIF block with the orientation tag set to 1, since the rotation has been
    applied to the pixels; ``None`` when the file has no EXIF block (TIFF tags are not EXIF blocks).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    is_grey: bool
    icc_profile: bytes | None
    exif: bytes | None
    format: str | None
    path: Path | None


# --------------------------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage`, fully decoded and upright.

    ``max_pixels`` overrides ``PIL.Image.MAX_IMAGE_PIXELS`` (the decompression-bomb limit) for this
    call only; ``None`` uses Pillow's current limit. An image over the limit is refused, including the
    band where Pillow would only warn.

    Raises:
        ImageReadError: the file is missing, a directory, empty, not an image, truncated or corrupt,
            over the pixel limit, or in a pixel format this module does not handle. The message names
            the file and the problem on one line.
    """
    if max_pixels is not None and max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    _check_file(path)
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    im = _open(path, max_pixels, limit)
    with im:
        if limit is not None and im.width * im.height > limit:
            raise ImageReadError(path, _bomb_reason(im.width * im.height, limit))
        mode, fmt = im.mode, im.format
        icc = im.info.get("icc_profile") or None
        deep_reader = deep_colour_reader(path, im)
        try:
            if deep_reader is not None:  # 16-bit RGB(A), which Pillow would decode at 8 bits
                pixels, raw_exif = deep_reader(path, im)
                pixels = ORIENT_ARRAY.get(orientation(im, raw_exif), np.asarray)(pixels)
            else:
                im.load()  # full decode now, so truncation and corruption surface here and not later
                upright = ImageOps.exif_transpose(im)
                raw_exif = im.info.get("exif")
        except MemoryError as exc:
            raise ImageReadError(path, f"not enough memory to decode a {im.width}x{im.height} image") from exc
        except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error, zlib.error, ...
            raise ImageReadError(path, f"truncated or corrupt {im.format} image ({exc})") from exc
        exif = upright_exif(raw_exif)
        if deep_reader is not None:
            rgb = pixels[..., :3].astype(np.float32) / np.float32(65535.0)
            alpha = np.ascontiguousarray(pixels[..., 3]) if pixels.shape[2] == 4 else None
            bit_depth, is_grey = 16, False
        else:
            warn_if_depth_reduced(path, im)
            rgb, alpha, bit_depth, is_grey = _decode_pixels(path, upright)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        mode=mode,
        bit_depth=bit_depth,
        is_grey=is_grey,
        icc_profile=icc,
        exif=exif,
        format=fmt,
        path=Path(path),
    )


def _check_file(path: str | os.PathLike[str]) -> None:
    """Raise ImageReadError for the problems that can be named before any decoding."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot access file ({exc.strerror or exc})") from None
    if p.is_dir():
        raise ImageReadError(path, "is a directory, not an image file")
    if not p.is_file():
        raise ImageReadError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")


def _open(path: str | os.PathLike[str], max_pixels: int | None, limit: int | None) -> Image.Image:
    """Open (header only) with the pixel limit in force and the bomb warning turned into an error."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        if max_pixels is not None:
            Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            return Image.open(path, formats=_READ_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = int(found.group(1)) if found else None
            raise ImageReadError(path, _bomb_reason(pixels, limit)) from None
        except UnidentifiedImageError:
            reason = "not an image, or not a supported format: cannot identify image format"
            raise ImageReadError(path, f"{reason} (supported: PNG, JPEG, BMP, TIFF, WebP)") from None
        except PermissionError as exc:
            raise ImageReadError(path, f"cannot open file ({exc.strerror or exc})") from None
        except Exception as exc:  # a header that identifies but does not parse
            raise ImageReadError(path, f"corrupt image header ({exc})") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _bomb_reason(pixels: int | None, limit: int | None) -> str:
    size = f"{pixels} pixels" if pixels is not None else "more pixels than allowed"
    return (
        f"image has {size}, over the decompression-bomb limit of {limit} pixels; if you trust the file, "
        "raise the limit with read_image(..., max_pixels=N) (or PIL.Image.MAX_IMAGE_PIXELS)"
    )


def _decode_pixels(path: str | os.PathLike[str], im: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int, bool]:
    """Pillow image -> (rgb float32 HxWx3, alpha or None, bit depth, is_grey)."""
    mode = im.mode
    if mode.startswith("I;16"):
        grey = np.asarray(im).astype(np.uint16)  # I;16B arrives big-endian; make it native
        return _grey_to_rgb(grey, 65535.0), None, 16, True
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageReadError(
                path, "32-bit integer pixels outside 0..65535 are not supported; convert the image to 16-bit"
            )
        return _grey_to_rgb(values.astype(np.uint16), 65535.0), None, 16, True
    if mode == "F":
        raise ImageReadError(path, "32-bit float images are not supported; convert the image to 8- or 16-bit")
    if mode in ("1", "L"):
        return _grey_to_rgb(np.asarray(im.convert("L")), 255.0), None, 8, True
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        return _grey_to_rgb(la[..., 0], 255.0), la[..., 1].copy(), 8, True
    has_alpha = "A" in im.getbands() or (mode == "P" and "transparency" in im.info)
    try:
        converted = im.convert("RGBA" if has_alpha else "RGB")
    except Exception as exc:
        raise ImageReadError(path, f"unsupported pixel mode {mode!r} ({exc})") from exc
    arr = np.asarray(converted)
    rgb = arr[..., :3].astype(np.float32) / np.float32(255.0)
    alpha = arr[..., 3].copy() if has_alpha else None
    return rgb, alpha, 8, False


def _grey_to_rgb(grey: np.ndarray, scale: float) -> np.ndarray:
    plane = grey.astype(np.float32) / np.float32(scale)
    return np.repeat(plane[..., None], 3, axis=2)


# --------------------------------------------------------------------------------------------- writing


def to_image_array(rgb: np.ndarray, like: LoadedImage) -> np.ndarray:
    """Quantise a float HxWx3 image in [0, 1] to the layout and bit depth ``like`` was read in.

    Values are clipped to [0, 1], scaled by 255 or 65535 and rounded half to even. Greyscale inputs
    give HxW (the mean of the three channels), or HxWx2 with alpha; colour gives HxWx3 or HxWx4, at 8
    or 16 bits alike. The alpha plane of ``like`` is re-attached unchanged (rescaled only if its dtype
    differs from the output's). Returns uint8 (8-bit) or uint16 (16-bit).

    Raises:
        TypeError: ``rgb`` is not a floating-point array.
        ValueError: ``rgb`` is not HxWx3, contains NaN, or its size differs from ``like.alpha``'s.
    """
    return _quantise(rgb, is_grey=like.is_grey, bit_depth=like.bit_depth, alpha=like.alpha)


def _quantise(rgb: np.ndarray, *, is_grey: bool, bit_depth: int, alpha: np.ndarray | None) -> np.ndarray:
    rgb = np.asarray(rgb)
    if not np.issubdtype(rgb.dtype, np.floating):
        raise TypeError(f"expected a float image in [0, 1], got dtype {rgb.dtype}; divide integer data first")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {rgb.shape}")
    if np.isnan(rgb).any():
        raise ValueError("image contains NaN values; refusing to write them as black pixels")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    dtype, top = (np.uint8, 255.0) if bit_depth == 8 else (np.uint16, 65535.0)
    work = rgb.astype(np.float32) if rgb.dtype.itemsize < 4 else rgb
    if is_grey:
        work = work.mean(axis=2, dtype=np.float64)
    out = np.rint(np.clip(work, 0.0, 1.0) * top).astype(dtype)
    if alpha is None:
        return out
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(
            f"alpha plane is {alpha.shape[0]}x{alpha.shape[1]} but the image is "
            f"{rgb.shape[0]}x{rgb.shape[1]}; an output of a different size cannot reuse the input's alpha"
        )
    plane = _rescale_alpha(alpha, dtype)
    return np.dstack([out, plane]) if is_grey else np.concatenate([out, plane[..., None]], axis=2)


def _rescale_alpha(alpha: np.ndarray, dtype: type[np.unsignedinteger]) -> np.ndarray:
    if alpha.dtype == dtype:
        return alpha
    src = float(np.iinfo(alpha.dtype).max) if np.issubdtype(alpha.dtype, np.integer) else 1.0
    dst = float(np.iinfo(dtype).max)
    return np.rint(np.clip(alpha.astype(np.float64) / src, 0.0, 1.0) * dst).astype(dtype)


def write_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    like: LoadedImage | None = None,
    *,
    quality: int = 95,
) -> Path:
    """Write a float HxWx3 image in [0, 1] atomically, in the format its extension names.

    With ``like`` the output keeps the input's layout where the format can hold it: grey stays grey,
    the alpha plane is re-attached exactly, 16-bit grey, RGB and RGBA stay 16-bit in PNG and TIFF
    (16-bit colour is encoded with pypng and tifffile), and the ICC profile and EXIF block are embedded
    where the format supports them. Where it cannot: JPEG drops alpha; JPEG, BMP and WebP hold 8 bits
    only; grey + alpha is written at 8 bits; WebP has no grey mode (grey is written as RGB); BMP cannot
    hold grey + alpha (written as RGBA) and carries no ICC or EXIF; 16-bit colour TIFF (uncompressed)
    carries no EXIF. An ICC profile is embedded only when its colour space matches the output (grey
    profile for grey, RGB for RGB).
    Without ``like``, writes 8-bit RGB. ``quality`` (0-100) applies to JPEG and WebP.

    Parent folders are created. Returns the path written.

    Raises:
        ValueError: unknown extension, bad quality, or an array :func:`to_image_array` rejects.
    """
    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(
            f"cannot write {path}: unknown image extension {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(IMAGE_EXTENSIONS)}"
        )
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be between 0 and 100, got {quality}")
    is_grey = like.is_grey if like is not None else False
    bit_depth = like.bit_depth if like is not None else 8
    alpha = like.alpha if like is not None and codec.alpha else None
    if is_grey and (not codec.grey or (alpha is not None and not codec.grey_alpha)):
        is_grey = False
    if bit_depth == 16 and (not codec.sixteen_bit or (is_grey and alpha is not None)):
        bit_depth = 8  # the format holds 8 bits only, or grey + alpha (written at 8 bits)
    array = _quantise(rgb, is_grey=is_grey, bit_depth=bit_depth, alpha=alpha)
    if like is not None and like.alpha is not None and alpha is None:
        logger.debug("%s: %s cannot hold alpha; the alpha plane is dropped", path, codec.format)

    icc = exif = None
    if like is not None:
        if codec.icc and like.icc_profile and icc_colour_space(like.icc_profile) == (b"GRAY" if is_grey else b"RGB "):
            icc = like.icc_profile
        elif like.icc_profile:
            logger.debug("%s: ICC profile not embedded (format or colour space does not fit)", path)
        exif = like.exif if codec.exif else None
    if array.dtype == np.uint16 and array.ndim == 3:  # 16-bit colour: Pillow has no such mode
        if codec is _PNG:
            data = encode_png16(array, icc, exif)
        else:
            if exif:
                logger.debug("%s: 16-bit colour TIFF is written without the EXIF block", path)
            data = encode_tiff16(array, icc)
    else:
        options: dict[str, object] = {}
        if codec.lossy:
            options["quality"] = quality
        if icc:
            options["icc_profile"] = icc
        if exif:
            options["exif"] = exif
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=codec.format, **options)
        data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return path
