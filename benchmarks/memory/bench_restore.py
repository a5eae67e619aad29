"""Seconds per megapixel and peak memory of ``hogformer.Restorer``, whole-image and tiled, by image size.

    python -m benchmarks.memory.bench_restore                                   # official width, 512/1024/2048 px
    python -m benchmarks.memory.bench_restore --preset small --sizes 256 512    # a few minutes on a 2-core CPU
    python -m benchmarks.memory.bench_restore --weights model.safetensors --device cuda --tiles whole 512

Each configuration (size x whole-or-tile) runs in a fresh Python process, so the memory it reports is its own:
on CPU, how far the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` just
before the restoration) rose above its resident set at that moment, i.e. what restoring one image adds to a
process that already holds the model and the input; on GPU, ``torch.cuda.max_memory_allocated`` above the
memory allocated before. The time is that of ``Restorer.restore_tensor`` on one random ``1x3xSxS`` image,
after a small warm-up, best of ``--repeats``. Without ``--weights`` the network is the preset with random
weights: speed and memory do not depend on the values of the weights.

A configuration whose memory, estimated with ``hogformer.inference.memory.bytes_per_pixel``, exceeds the memory
available is skipped, as is one whose time, extrapolated from the smaller sizes already measured, exceeds
``--timeout``; a run that still outlasts the timeout is stopped. Each says so in its row instead of stopping
the benchmark. The table also prints the measured bytes per pixel beside that estimate, to check the estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass

from benchmarks._machine import cpu_model, module_command, proc_status_kib, reset_peak_rss

MIB = 1 << 20


# ------------------------------------------------------------------------------------------------- worker


def _max_rss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def worker(spec: dict) -> dict:
    """Restore one random image as ``spec`` says; return the best time and the peak memory added."""
    import torch

    import hogformer
    from hogformer.inference.restorer import Restorer

    hogformer.tune_cpu_allocator()  # as the hogformer command does
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    common = dict(device=spec["device"], precision=spec["precision"], tile=spec["tile"], tile_overlap=spec["overlap"])
    if spec["weights"]:
        restorer = Restorer(spec["weights"], **common)
    else:
        torch.manual_seed(0)
        restorer = Restorer(model=hogformer.HOGformer(hogformer.preset(spec["preset"])), **common)
    device = restorer.device
    cuda = device.type == "cuda"
    size = spec["size"]
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    # The baseline is taken before the warm-up: the allocator keeps what the warm-up freed (see
    # hogformer.tune_cpu_allocator, which the CLI applies), so a baseline after it would hide that much of the peak.
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base_kib = proc_status_kib("VmRSS")
        exact = base_kib is not None and reset_peak_rss()
        base = base_kib * 1024 if exact else _max_rss_bytes()
    restorer.restore_tensor(torch.rand(1, 3, 32, 32))  # warm-up: kernels, thread pool (its peak is far smaller)

    best = float("inf")
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        out = restorer.restore_tensor(x)
        if cuda:
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
        del out
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        hwm = proc_status_kib("VmHWM") if exact else None
        peak = (hwm * 1024 if hwm is not None else _max_rss_bytes()) - base
    return {"seconds": best, "peak_bytes": peak, "device": str(device)}


# ------------------------------------------------------------------------------------------------- parent


@dataclass
class Row:
    size: int
    mode: str
    tiles: str
    seconds: float | None = None
    peak_bytes: int | None = None
    estimate_bpp: int | None = None
    note: str = ""

    @property
    def megapixels(self) -> float:
        return self.size * self.size / 1e6

    def cells(self) -> list[str]:
        measured = self.seconds is not None and self.peak_bytes is not None
        return [
            f"{self.size}x{self.size}",
            self.mode,
            self.tiles,
            f"{self.seconds:.2f}" if measured else "-",
            f"{self.seconds / self.megapixels:.2f}" if measured else "-",
            f"{self.peak_bytes / MIB:,.0f}" if measured else "-",
            f"{self.peak_bytes / (self.size * self.size):,.0f}" if measured else "-",
            f"{self.estimate_bpp:,}" if self.estimate_bpp else "-",
            self.note,
        ]


HEADER = ["size", "mode", "tiles", "seconds", "s/MP", "peak MiB", "B/px measured", "B/px estimate", "note"]


def _machine(args: argparse.Namespace, device: object, config: object, params: int) -> list[str]:
    import torch

    import hogformer
    from hogformer.inference.memory import available_bytes

    threads = args.threads or torch.get_num_threads()
    lines = [
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, torch threads {threads}, "
        f"{platform.system()} {platform.release()}",
        f"- torch {torch.__version__}, Python {platform.python_version()}, hogformer {hogformer.__version__}",
    ]
    if getattr(device, "type", "") == "cuda":
        lines.append(f"- device: {device} ({torch.cuda.get_device_name(device)})")
    else:
        lines.append(f"- device: {device}")
    lines += [
        f"- memory available at start: {available_bytes(device) / (1 << 30):.1f} GiB",
        f"- network: {args.weights or 'preset ' + args.preset + ' (random weights)'}, dim {config.dim}, "
        f"{params:,} parameters, {args.precision}, tile overlap {args.tile_overlap}, best of {args.repeats}",
    ]
    return lines


def _parse_tile(value: str) -> int | None:
    if value in ("whole", "none", "0"):
        return None
    tile = int(value)
    if tile < 16 or tile % 16:
        raise argparse.ArgumentTypeError(f"tile must be 'whole' or a multiple of 16, got {value}")
    return tile


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="image sides in pixels")
    p.add_argument("--preset", default="official", choices=("official", "small", "tiny"), help="network width")
    p.add_argument("--weights", help="a checkpoint to benchmark instead of a preset")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16", "fp16"))
    p.add_argument("--tiles", type=_parse_tile, nargs="+", default=[None, 256, 512], help="'whole' and/or tile sides")
    p.add_argument("--tile-overlap", type=int, default=32)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per configuration")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per configuration (the best is kept)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    import hogformer
    from hogformer.inference.memory import available_bytes, bytes_per_pixel
    from hogformer.inference.restorer import PAD_MULTIPLE, pick_device
    from hogformer.inference.tiling import tile_starts

    device = pick_device(args.device)
    if args.weights:
        config = hogformer.read_checkpoint(args.weights).config
    else:
        config = hogformer.preset(args.preset)
    with torch.device("meta"):
        params = sum(t.numel() for t in hogformer.HOGformer(config).parameters())
    element = 4 if args.precision == "fp32" else 2
    bpp = bytes_per_pixel(config.dim, element)

    rows: list[Row] = []
    seconds_per_mp: dict[str, float] = {}  # measured, per mode, at the largest size so far
    for size in sorted(args.sizes):
        for tile in args.tiles:
            mode = "whole" if tile is None else f"tile {tile}"
            if tile is not None and tile >= size:
                rows.append(Row(size, mode, "1", note="one tile: the same run as whole"))
                continue
            overlap = 0 if tile is None else min(args.tile_overlap, tile // 2 - 1)
            if tile is None:
                side = -(-size // PAD_MULTIPLE) * PAD_MULTIPLE
                need, tiles, computed = bpp * side * side, "1", side * side
            else:
                n = len(tile_starts(size, tile, overlap))
                need, tiles, computed = bpp * tile * tile + 40 * size * size, f"{n}x{n}", n * n * tile * tile
            row = Row(size, mode, tiles, estimate_bpp=bpp)
            rows.append(row)
            free = available_bytes(device)
            if need > 0.9 * free:
                row.note = f"skipped: needs ~{need / (1 << 30):.1f} GiB, {free / (1 << 30):.1f} GiB available"
                print(f"{size} {mode}: {row.note}", file=sys.stderr)
                continue
            known = seconds_per_mp.get(mode) or seconds_per_mp.get("whole")
            guess = known * computed / 1e6 if known else None
            if guess is not None and guess > args.timeout:
                row.note = f"skipped: ~{guess:.0f} s expected, over the {args.timeout:.0f} s timeout"
                print(f"{size} {mode}: {row.note}", file=sys.stderr)
                continue
            spec = {
                "size": size,
                "tile": tile,
                "overlap": args.tile_overlap,
                "preset": args.preset,
                "weights": args.weights,
                "device": str(device),
                "precision": args.precision,
                "threads": args.threads,
                "repeats": args.repeats,
            }
            print(f"{size} {mode}: running ...", file=sys.stderr, flush=True)
            cmd = module_command(__spec__.name, "--worker", json.dumps(spec))
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                row.note = f"stopped: over the {args.timeout:.0f} s timeout"
                print(f"{size} {mode}: {row.note}", file=sys.stderr)
                continue
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                killed = " (killed: out of memory?)" if done.returncode < 0 else ""
                row.note = f"failed, exit {done.returncode}{killed}: {last[:120]}"
                print(f"{size} {mode}: {row.note}", file=sys.stderr)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row.seconds, row.peak_bytes = result["seconds"], result["peak_bytes"]
            seconds_per_mp[mode] = row.seconds / (computed / 1e6)
            print(f"{size} {mode}: {row.seconds:.2f} s, {row.peak_bytes / MIB:,.0f} MiB", file=sys.stderr)

    print("\n".join(_machine(args, device, config, params)))
    print()
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" if i in (1, 2, 8) else "---:" for i in range(len(HEADER))) + "|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    print()
    print(
        "s/MP: seconds per megapixel of the image. peak MiB: memory the restoration adds to a process holding the "
        "model and the input (CPU: peak resident set; GPU: max_memory_allocated). B/px estimate: "
        "hogformer.inference.memory.bytes_per_pixel, used by --tile auto and to skip configurations here."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
