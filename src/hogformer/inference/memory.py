"""Memory available to inference and the allocator settings that keep CPU inference from re-faulting memory."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

import torch

log = logging.getLogger(__name__)

_tuned = False


def tune_cpu_allocator() -> bool:
    """Keep freed memory in the process instead of returning every block over 32 MB to the system.

    glibc serves large blocks with ``mmap`` and unmaps them on free, so every large temporary of every layer is
    page-faulted in again (millions of faults per megapixel). Raising the mmap and trim thresholds keeps the
    memory for reuse; the peak is unchanged. Respects ``MALLOC_MMAP_MAX_`` / ``MALLOC_TRIM_THRESHOLD_``
    set by the user and ``HOGFORMER_NO_MALLOPT=1``. Returns whether the settings were applied.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("HOGFORMER_NO_MALLOPT") == "1":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        # No mmap'ed blocks (the mmap threshold cannot exceed 32 MB), and never trim the heap top.
        ok = libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, (1 << 31) - 1)
    except (OSError, AttributeError):
        return False
    _tuned = bool(ok)
    log.debug("glibc mallopt applied: %s", _tuned)
    return _tuned


def available_bytes(device: torch.device) -> int:
    """Memory free for a forward pass on ``device`` (GPU: free device memory plus what PyTorch's caching
    allocator holds unused, so the answer does not shrink after a large forward; CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except AttributeError:
            return 4 << 30
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def bytes_per_pixel(dim: int, element_size: int = 4, low_memory: bool = False) -> int:
    """Peak activation memory of one forward pass per input pixel, for a network of width ``dim``.

    A fit to measured peaks (docs/performance.md; ``python -m benchmarks.memory.bench_restore`` and
    ``python -m benchmarks.speed.bench_inference --low-memory``) with a safety margin of 1.5x: the plain
    forward holds about ``2000 + 220 * dim`` bytes per pixel at float32; the low-memory mode
    (:meth:`hogformer.models.HOGformer.set_low_memory`) only a few full-resolution feature maps (the level-1
    skip, the decoder's input and the upsampling temporaries) plus strip buffers, about ``1024 + 40 * dim``.
    """
    per_px = (1024 + 40 * dim) if low_memory else (2000 + 220 * dim)
    return int(1.5 * per_px * element_size / 4)


def auto_tile(
    device: torch.device,
    dim: int,
    element_size: int = 4,
    multiple: int = 16,
    fraction: float = 0.6,
    low_memory: bool = False,
) -> int:
    """The largest square tile whose forward fits ``fraction`` of the memory available now."""
    budget = available_bytes(device) * fraction
    side = int((budget / bytes_per_pixel(dim, element_size, low_memory)) ** 0.5)
    side = max(multiple * 4, min(side, 8192 if low_memory else 4096))
    return side // multiple * multiple
