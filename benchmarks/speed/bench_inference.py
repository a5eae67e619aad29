"""Forward time, training-step time and peak memory of the published network at 256..2048 px on a side.

    python -m benchmarks.speed.bench_inference [--sizes 256 512 1024 2048] [--device cpu|cuda] [--preset official]
        [--threads N] [--repeats 2] [--no-train] [--no-plain] [--low-memory [--strip-pixels N]]
        [--precision fp32|tf32|bf16|fp16] [--compile [MODE]]

Each measurement runs in a fresh process (the memory peak is per process; CPU: peak RSS increase over the
process's baseline, GPU: ``torch.cuda.max_memory_allocated``). FLOPs are counted with
``torch.utils.flop_counter`` (convolutions and matrix products; a training step counts 3x the forward), and the
achieved rate is compared with the machine's measured true-float32 matmul rate (tf32/bf16/fp16 rows can exceed
100% of it). On CUDA, fp32 is true float32 (TF32 off, as the Restorer runs it) and tf32 turns TF32 on.
Configurations estimated to exceed the free memory are skipped and say so. ``--compile`` runs the plain forward
through ``torch.compile`` (compiled at the measured size in an untimed first call, whose seconds the note gives).
Prints a markdown table and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks._machine import cpu_model, fresh_process, proc_status_kib


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    from torch.utils.flop_counter import FlopCounterMode

    import hogformer

    hogformer.tune_cpu_allocator()  # as the CLI does
    from hogformer.models import HOGformer, preset

    device = torch.device(spec["device"])
    if device.type == "cuda":  # fp32 is true float32 (as the Restorer runs it); tf32 uses the tensor cores
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = spec["precision"] == "tf32"
    torch.manual_seed(0)
    model = HOGformer(preset(spec["preset"])).to(device)
    size, mode = spec["size"], spec["mode"]
    x = torch.rand(1, 3, size, size, device=device)
    dtype = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[spec["precision"]]

    if mode == "lowmem":
        model.set_low_memory(spec.get("strip_pixels") or "auto")  # default: strips sized per image, as restore
    if spec.get("sort_one_head") or spec.get("no_split_products"):  # A/B of two speed-ups (same mathematics)
        from hogformer.models.attention import DHOGSA

        for m in model.modules():
            if isinstance(m, DHOGSA):
                # the official code's order-independent sort at the one-head levels
                m.sort_one_head = bool(spec.get("sort_one_head"))
                # long row products in one piece (the split only runs on CUDA)
                m.split_row_products = not spec.get("no_split_products")

    forward = model
    if spec.get("compile") and mode == "forward":
        forward = torch.compile(model, dynamic=False, mode=None if spec["compile"] == "default" else spec["compile"])

    def step() -> None:
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
        if mode in ("forward", "lowmem"):
            with torch.inference_mode(), ctx:
                forward(x)
        else:
            with ctx:
                out = model(x)
            (out - x).abs().mean().backward()
            model.zero_grad(set_to_none=True)

    model.train(mode == "train")
    with torch.inference_mode():  # warm-up at a small size: kernels, allocator
        model(torch.rand(1, 3, 64, 64, device=device))
    compile_seconds = None
    if forward is not model:  # compile at the measured size, untimed
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        compile_seconds = time.perf_counter() - t
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = proc_status_kib("VmRSS") or 0
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    model.set_low_memory(None)  # count the network's own FLOPs (the low-memory mode recomputes some of them)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, 64, 64, device=device))
    flops = counter.get_total_flops() * (size * size) / (64 * 64)  # every layer scales with the pixel count
    if mode == "train":
        # backward = 2x forward for convolutions and matrix products. (torch's counter is not used for it: in
        # torch 2.13 it counts a grouped/depthwise convolution's backward as if ungrouped, 22x the forward here.)
        flops *= 3
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else ((proc_status_kib("VmHWM") or 0) - base) / 1024
    )
    return {"seconds": min(times), "flops": flops, "peak_mib": peak, "compile_seconds": compile_seconds}


def matmul_rate(device: str, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    n = 8192 if device.startswith("cuda") else 2048  # large enough to reach the device's rate
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(3):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def estimate_gib(size: int, mode: str, preset: str) -> float:
    from hogformer.inference.memory import bytes_per_pixel
    from hogformer.models import preset as get

    per_px = bytes_per_pixel(get(preset).dim, low_memory=mode == "lowmem") * (3 if mode == "train" else 1)
    return per_px * size * size / 2**30


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default="official")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16", "fp16"))
    p.add_argument("--no-train", action="store_true", help="forward only")
    p.add_argument("--no-plain", action="store_true", help="skip the plain forward")
    p.add_argument("--low-memory", action="store_true", help="also the low-memory forward (HOGformer.set_low_memory)")
    p.add_argument(
        "--strip-pixels", type=int, default=None, help="strip size of the low-memory forward (default: sized per image)"
    )
    p.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    p.add_argument(
        "--sort-one-head", action="store_true", help="sort at the one-head levels too, as the official code does (A/B)"
    )
    p.add_argument(
        "--no-split-products",
        action="store_true",
        help="long attention row products in one piece instead of summed from chunks (CUDA; A/B)",
    )
    p.add_argument(
        "--compile",
        nargs="?",
        const="default",
        choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
        help="plain forward through torch.compile (mode; default: torch's default)",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    from hogformer.inference.memory import available_bytes
    from hogformer.models.hogformer import auto_strip_pixels

    rate = matmul_rate(args.device, args.threads)
    free_gib = available_bytes(torch.device(args.device)) / 2**30
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None
    print(
        f"- machine: {gpu or cpu_model()}, {os.cpu_count()} CPUs, torch threads {args.threads}, torch "
        f"{torch.__version__}; measured float32 matmul rate {rate / 1e9:.0f} GFLOP/s; {free_gib:.1f} GiB free"
    )
    print(
        f"- network: preset {args.preset}, {args.precision}, batch 1, best of {args.repeats}"
        + (", one-head levels sorted (--sort-one-head)" if args.sort_one_head else "")
        + (", row products unsplit (--no-split-products)" if args.no_split_products else "")
        + (f", plain forward torch.compile'd (mode {args.compile})" if args.compile else "")
    )
    print()
    print("| size | pass | seconds | s/MP | GFLOP | GFLOP/s | share of matmul rate | peak memory (MiB) | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    modes = (
        ([] if args.no_plain else ["forward"])
        + (["lowmem"] if args.low_memory else [])
        + ([] if args.no_train else ["train"])
    )
    for size in args.sizes:
        for mode in modes:
            need = estimate_gib(size, mode, args.preset)
            label = {"forward": "forward", "lowmem": "forward, low memory", "train": "train step (fwd+bwd)"}[mode]
            if mode == "lowmem":
                label += f" ({args.strip_pixels or auto_strip_pixels(size, size)}-pixel strips)"
            if need > 0.9 * free_gib:
                print(
                    f"| {size} | {label} | - | - | - | - | - | - | skipped: needs ~{need:.0f} GiB, "
                    f"{free_gib:.0f} GiB free |"
                )
                continue
            spec = {
                "size": size,
                "mode": mode,
                "device": args.device,
                "preset": args.preset,
                "threads": args.threads,
                "repeats": args.repeats,
                "precision": args.precision,
                "strip_pixels": args.strip_pixels,
                "sort_one_head": args.sort_one_head,
                "no_split_products": args.no_split_products,
                "compile": args.compile,
            }
            r = fresh_process(__spec__.name, spec, args.timeout, default_env=False)
            if isinstance(r, str):
                print(f"| {size} | {label} | - | - | - | - | - | - | {r[:80]} |")
                continue
            mp = size * size / 1e6
            achieved = r["flops"] / r["seconds"]
            note = "" if r.get("compile_seconds") is None else f"compiled in {r['compile_seconds']:.0f} s"
            print(
                f"| {size} | {label} | {r['seconds']:.2f} | {r['seconds'] / mp:.1f} | {r['flops'] / 1e9:.0f} | "
                f"{achieved / 1e9:.1f} | {achieved / rate:.0%} | {r['peak_mib']:,.0f} | {note} |"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
