"""``Restorer``: weights + device + precision + tiling, applied to PIL images, numpy arrays or tensors."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from ..checkpoints import load_model
from ..models import HOGformer
from ..models.hogformer import auto_strip_pixels
from .fix import apply_fix, parse_fix
from .memory import auto_tile, available_bytes, bytes_per_pixel
from .tiling import run_padded, tile_starts, tiled_apply

log = logging.getLogger(__name__)

#: Inputs are reflect-padded to a multiple of this (as the official Setting I test script does) and cropped back.
PAD_MULTIPLE = 16
#: With ``low_memory="auto"`` on CPU, images of this many pixels (512x512) and more run the low-memory forward.
AUTO_LOW_MEMORY_PIXELS = 512 * 512
#: Inference precisions: the dtype each computes in. ``fp32`` is true float32 everywhere (on CUDA with
#: TensorFloat-32 off: TF32 convolutions move the published configuration's outputs by about 1e-2);
#: ``tf32`` is CUDA's TF32 convolutions and matrix products; ``fp16`` and ``bf16`` run under autocast; ``fp64``
#: runs the network in float64, whose results agree across CPUs, thread counts and the low-memory forward to
#: ~1e-12 (the sorts make float32 results depend on the machine; docs/float32.md), at several times the cost.
PRECISIONS = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp64": torch.float64,
}

T = TypeVar("T")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else Apple MPS, else CPU; otherwise checks the named device exists."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps: Apple MPS is not available (use --device auto or cpu)")
    return dev


@contextlib.contextmanager
def cuda_tf32(allow: bool) -> Iterator[None]:
    """Allow or forbid TensorFloat-32 in CUDA convolutions and matrix products inside the block. The settings
    are process-wide and restored on exit. PyTorch >= 2.9 has per-backend ``fp32_precision`` settings, and
    mixing them with the older ``allow_tf32`` flags makes the latter raise, so those are used where they exist."""
    matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):
        saved = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision = conv.fp32_precision = "tf32" if allow else "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = saved
        return
    saved_flags = torch.backends.cudnn.allow_tf32, matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = saved_flags


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU computes bfloat16 products in hardware (the ``avx512_bf16`` or ``amx_bf16`` flag of
    ``/proc/cpuinfo``); ``None`` where that cannot be read. Without it PyTorch emulates bfloat16 on the CPU and
    the network runs several times slower than in float32."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return None


def check_precision(device: torch.device, precision: str) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``; refuses a precision the device cannot run."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(f"tf32 is a CUDA mode (TensorFloat-32 tensor cores), not available on {device.type}; use fp32")
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("fp16 is not supported on CPU; use bf16 (on CPUs with AVX512-BF16/AMX) or fp32")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("bf16 is not supported on this GPU; use fp16 or fp32")
    if dtype == torch.bfloat16 and device.type == "cpu" and cpu_has_native_bf16() is False:
        warnings.warn(
            "bf16 on a CPU without AVX512-BF16 or AMX is emulated and several times slower than fp32",
            stacklevel=2,
        )
    if dtype == torch.float64 and device.type == "mps":
        raise ValueError("fp64 is not supported on Apple MPS; use fp32 or the CPU")
    return dtype


class Restorer:
    """Restore images with a HOGformer.

    ``weights``: a checkpoint path (any supported format) or the name of shipped weights; ``None`` uses the
    shipped default. ``tile``: ``None`` processes whole images, an int processes ``tile x tile`` tiles blended
    over ``tile_overlap`` pixels, ``"auto"`` picks the largest tile the free memory allows (and, on GPU
    out-of-memory, retries with half the tile). Any height and width is accepted (reflect-padded to a multiple
    of 16 and cropped back). ``low_memory``: run the network's low-memory mode
    (:meth:`hogformer.models.HOGformer.set_low_memory`; ``True`` for strips sized per image by
    :func:`hogformer.models.hogformer.auto_strip_pixels`, or a strip size in pixels): the same results, a
    fraction of the activation memory, so large images run whole. The default, ``"auto"``, picks per forward
    (:meth:`strip_pixels_for`): on CPU from 512x512 pixels up, elsewhere when the plain forward would not fit;
    ``False`` runs the network as it is (the plain forward, unless the model passed in was set to low memory by
    its owner). ``fix``: what to restore, ``"auto"`` (everything the network sees, the default) or names from
    :data:`hogformer.inference.fix.FIXES` (``"noise,blur"`` or a list): what was not asked for is kept
    (:func:`hogformer.inference.fix.apply_fix`).

    Calling the restorer accepts a PIL image, a numpy array (``HxW`` or ``HxWxC``; uint8, uint16 or float in
    [0, 1]) or a float tensor (``CxHxW`` or ``BxCxHxW`` in [0, 1]) and returns the same kind and shape: arrays
    keep their dtype, float tensors their dtype (other tensors come back float32), PIL images their mode,
    except palette images (returned as RGB, or RGBA with transparency: restored colours do not fit a palette)
    and 32-bit integer images (returned as 16-bit ``I;16``).
    """

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        tile: int | str | None = None,
        tile_overlap: int = 32,
        tile_batch: int = 1,
        model: HOGformer | None = None,
        low_memory: bool | int | str = "auto",
        fix: str | Sequence[str] | None = "auto",
    ) -> None:
        #: The fixes asked for (None: ``auto``, blind restoration).
        self.fix = parse_fix(fix)
        self.device = pick_device(device)
        dtype = check_precision(self.device, precision)
        #: The dtype of the network's weights, its inputs and the blended tiles: float64 for ``fp64``, else float32.
        self.dtype = torch.float64 if dtype == torch.float64 else torch.float32
        #: Autocast's dtype for ``fp16`` / ``bf16``, else the compute dtype (no autocast).
        self.autocast_dtype = dtype
        self.precision = precision
        self.weights_info: Any = None
        if model is None:
            from ..pretrained import resolve_weights

            path, self.weights_info = resolve_weights(weights)
            model = load_model(path, device=self.device)
            self.weights_path: Path | None = path
        else:
            model = model.to(self.device).eval()
            self.weights_path = None
        self.model = model.to(self.dtype)
        if isinstance(tile, str) and tile != "auto":
            tile = int(tile)
        if isinstance(tile, int) and (tile < PAD_MULTIPLE or tile % PAD_MULTIPLE):
            raise ValueError(f"tile must be a multiple of {PAD_MULTIPLE} and at least {PAD_MULTIPLE}, got {tile}")
        if tile_overlap < 0:
            raise ValueError("tile_overlap must be >= 0")
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.tile_batch = tile_batch
        #: Whether the low-memory forward runs: "auto" (decided per forward, see :meth:`strip_pixels_for`),
        #: True (always) or False (the model as it is).
        self.low_memory: bool | str
        #: Its strip size: "auto" (sized per image, as :meth:`hogformer.models.HOGformer.set_low_memory` names it)
        #: or pixels; None when the low-memory forward never runs.
        self.strip_pixels: int | str | None
        can = hasattr(self.model, "set_low_memory")
        if low_memory == "auto":
            self.low_memory, self.strip_pixels = ("auto", "auto") if can else (False, None)
        elif low_memory is True:
            self.low_memory, self.strip_pixels = True, "auto"
        elif low_memory is False or low_memory is None:
            self.low_memory, self.strip_pixels = False, None
        elif isinstance(low_memory, int) and low_memory >= 1:
            self.low_memory, self.strip_pixels = True, low_memory
        else:
            raise ValueError(
                f"low_memory must be 'auto', True, False or a strip size in pixels (>= 1), got {low_memory!r}"
            )
        if self.low_memory and not can:
            raise ValueError(f"low_memory needs a HOGformer network, not {type(self.model).__name__}")

    @property
    def _element_size(self) -> int:
        """Bytes per activation value: 2 under half-precision autocast, 8 in float64, else 4."""
        return self.autocast_dtype.itemsize

    def strip_pixels_for(self, x: torch.Tensor) -> int | None:
        """The strip size of the forward on ``x`` (None: the plain forward); ``"auto"`` strips are
        :func:`~hogformer.models.hogformer.auto_strip_pixels` of ``x``'s height and width. With
        ``low_memory="auto"``: on CPU the low-memory forward from :data:`AUTO_LOW_MEMORY_PIXELS` pixels up (there
        it needs a fraction of the plain forward's memory for a little more time, and from about 1024x1024 it is
        also the faster one: cache-sized working sets); on other devices only when the plain forward would not
        fit the free memory (a GPU runs the plain forward faster). docs/performance.md has the figures."""
        b, _, h, w = x.shape
        if self.low_memory is False:
            return None
        size = auto_strip_pixels(h, w) if isinstance(self.strip_pixels, str) else self.strip_pixels  # str: "auto"
        if self.low_memory is True:
            return size
        if self.device.type == "cpu":
            return size if h * w >= AUTO_LOW_MEMORY_PIXELS else None
        need = b * h * w * bytes_per_pixel(self.model.config.dim, self._element_size)
        return None if need <= 0.8 * available_bytes(self.device) else size

    # ------------------------------------------------------------------------------------------ tensors

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        """Autocast for fp16/bf16; on CUDA, TF32 on for ``tf32`` and off otherwise."""
        with contextlib.ExitStack() as stack:
            if self.autocast_dtype in (torch.float16, torch.bfloat16):
                stack.enter_context(torch.autocast(self.device.type, dtype=self.autocast_dtype))
            if self.device.type == "cuda":
                stack.enter_context(cuda_tf32(self.precision == "tf32"))
            yield

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.low_memory is False:  # the model as it is (a HOGformer may have its own low-memory setting)
            with self._precision():
                return self.model(x).to(self.dtype)
        strip_pixels = self.strip_pixels_for(x)
        if strip_pixels is None and self.low_memory == "auto":
            try:
                return self._run(x, None)
            except torch.OutOfMemoryError:  # the estimate was optimistic: the same result in low memory
                log.warning(
                    "out of memory in the plain forward on %dx%d; retrying with the low-memory forward", *x.shape[-2:]
                )
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                strip_pixels = auto_strip_pixels(*x.shape[-2:])
        return self._run(x, strip_pixels)

    def _run(self, x: torch.Tensor, strip_pixels: int | None) -> torch.Tensor:
        with self._precision():
            return self.model(x, strip_pixels=strip_pixels).to(self.dtype)

    def _tile_for(self, x: torch.Tensor) -> int | None:
        if not isinstance(self.tile, str):  # the only str left after __init__: "auto"
            return self.tile
        return auto_tile(
            self.device,
            self.model.config.dim,
            element_size=self._element_size,
            multiple=PAD_MULTIPLE,
            low_memory=self.low_memory is not False,  # "auto" switches to it where the plain forward won't fit
        )

    def _overlap(self, tile: int) -> int:
        """The blend overlap of ``tile``-sized tiles: ``tile_overlap``, at most just under half a tile."""
        return min(self.tile_overlap, tile // 2 - 1)

    def _forwards(self, x: torch.Tensor, tile: int | None) -> int:
        """Network forwards one restore of ``x`` runs with ``tile``."""
        h, w = x.shape[-2:]
        if tile is None or (h <= tile and w <= tile):
            return 1
        overlap = self._overlap(tile)
        tiles = len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))
        return -(-tiles // self.tile_batch)

    @contextlib.contextmanager
    def _block_progress(self, progress: Callable[[int, int], None] | None, forwards: int) -> Iterator[None]:
        """``progress(done, total)`` after every transformer block of ``forwards`` forwards (a network without
        block callbacks reports once per forward)."""
        if progress is None:
            yield
            return
        if not hasattr(self.model, "set_block_callback"):
            done = [0]

            def forward_done() -> None:
                done[0] += 1
                progress(done[0], forwards)

            handle = self.model.register_forward_hook(lambda *_: forward_done())
            try:
                yield
            finally:
                handle.remove()
            return
        total = forwards * self.model.num_blocks
        done = [0]

        def block_done() -> None:
            done[0] = min(done[0] + 1, total)
            progress(done[0], total)

        saved = self.model.block_callback
        self.model.set_block_callback(block_done)
        try:
            yield
        finally:
            self.model.set_block_callback(saved)

    def restore_tensor(self, x: torch.Tensor, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Restore ``(B, C, H, W)`` float images in [0, 1]; returns float32 (float64 for ``fp64``) in [0, 1] on
        the input's device. ``progress(done, total)`` is called as the work advances (after every transformer
        block of every tile), so one large image can show its progress."""
        if x.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        channels = self.model.config.inp_channels
        if x.shape[1] != channels:
            raise ValueError(f"the model takes {channels} channels, the image has {x.shape[1]}")
        source_device = x.device
        x = x.to(self.device, self.dtype)
        tile = self._tile_for(x)
        with torch.inference_mode():
            while True:
                try:
                    with self._block_progress(progress, self._forwards(x, tile)):
                        if tile is None or (x.shape[-2] <= tile and x.shape[-1] <= tile):
                            out = run_padded(self._forward, x, PAD_MULTIPLE, mode="reflect")
                        else:
                            out = tiled_apply(
                                self._forward,
                                x,
                                tile=tile,
                                overlap=self._overlap(tile),
                                multiple=PAD_MULTIPLE,
                                tile_batch=self.tile_batch,
                            )
                    break
                except torch.OutOfMemoryError:
                    if self.tile != "auto":
                        raise
                    smaller = (min(tile or max(x.shape[-2:]), max(x.shape[-2:])) // 2) // PAD_MULTIPLE * PAD_MULTIPLE
                    if smaller < 4 * PAD_MULTIPLE:
                        raise
                    log.warning("out of memory with tile %s; retrying with tile %d", tile, smaller)
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    tile = smaller
            out = apply_fix(x, out.clamp_(0, 1), self.fix).to(source_device)
        return out.clone()  # an ordinary tensor: callers may modify it outside inference mode

    # ------------------------------------------------------------------------------------------ any image

    def __call__(self, image: T, *, progress: Callable[[int, int], None] | None = None) -> T:
        """Restore a PIL image, numpy array or tensor; returns the same kind (see the class docstring).
        ``progress``: as in :meth:`restore_tensor`."""
        if isinstance(image, torch.Tensor):
            batched = image.ndim == 4
            x = image if batched else image.unsqueeze(0)
            out = self.restore_tensor(x.float(), progress).to(
                image.dtype if image.is_floating_point() else torch.float32
            )
            return out if batched else out[0]  # type: ignore[return-value]
        if isinstance(image, np.ndarray):
            return _restore_array(self, image, progress)  # type: ignore[return-value]
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover
            Image = None  # type: ignore[assignment]
        if Image is not None and isinstance(image, Image.Image):
            return _restore_pil(self, image, progress)
        raise TypeError(f"Restorer takes a PIL image, numpy array or torch tensor, not {type(image).__name__}")


def _restore_rgb(restorer: Restorer, rgb: np.ndarray, progress: Callable[[int, int], None] | None) -> np.ndarray:
    """float HxWx3 in [0, 1] -> restored float32 HxWx3."""
    x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    return restorer.restore_tensor(x, progress)[0].permute(1, 2, 0).numpy()


def _restore_array(
    restorer: Restorer, arr: np.ndarray, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an HxW or HxWxC (C = 1 to 4) array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        scale = 255.0
    elif arr.dtype == np.uint16:
        scale = 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        scale = 1.0
    else:
        raise TypeError(f"unsupported array dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    x = arr.astype(np.float32) / scale
    if x.ndim == 2:
        x = x[..., None]
    grey = x.shape[2] in (1, 2)
    rgb = np.repeat(x[..., :1], 3, axis=2) if grey else x[..., :3]
    out = _restore_rgb(restorer, rgb, progress)
    if grey:
        out = out.mean(axis=2, keepdims=True)
    if x.shape[2] in (2, 4):
        out = np.concatenate([out, x[..., -1:]], axis=2)  # alpha passes through untouched
    if arr.ndim == 2:
        out = out[..., 0]
    if scale == 1.0:
        return out.astype(arr.dtype, copy=False)
    return np.rint(np.clip(out, 0, 1) * scale).astype(arr.dtype)


def _restore_pil(restorer: Restorer, image: Any, progress: Callable[[int, int], None] | None = None) -> Any:
    from PIL import Image

    mode = image.mode
    if mode in ("RGB", "L", "RGBA", "LA"):
        arr = np.asarray(image)
        out = _restore_array(restorer, arr, progress)
        result = Image.fromarray(out, mode=mode)
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image).astype(np.uint16)
        result = Image.fromarray(_restore_array(restorer, arr, progress))
    else:
        converted = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        result = Image.fromarray(_restore_array(restorer, np.asarray(converted), progress), mode=converted.mode)
    if image.info.get("icc_profile"):
        result.info["icc_profile"] = image.info["icc_profile"]
    return result
