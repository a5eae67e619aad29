"""Where one forward of the network spends its time: PyTorch's profiler, operators sorted by self time.

    python -m benchmarks.speed.profile_forward [--device cpu|cuda] [--size 1024] [--preset official]
        [--precision fp32|tf32|bf16|fp16] [--low-memory] [--rows 30]

Warms up twice at the size, then profiles one forward under ``torch.inference_mode`` and prints the profiler's
table (on CUDA sorted by the kernels' own time, else by CPU self time) and the wall time of the profiled pass.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--preset", default="official")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16", "fp16"))
    p.add_argument("--low-memory", action="store_true")
    p.add_argument("--rows", type=int, default=30)
    args = p.parse_args(argv)

    import hogformer

    hogformer.tune_cpu_allocator()  # as the CLI does
    from hogformer.models import HOGformer, preset

    device = torch.device(args.device)
    if device.type == "cuda":  # fp32 is true float32 (as the Restorer runs it); tf32 uses the tensor cores
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.manual_seed(0)
    model = HOGformer(preset(args.preset)).eval().to(device)
    if args.low_memory:
        model.set_low_memory()
    x = torch.rand(1, 3, args.size, args.size, device=device)
    dtype = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]

    def forward() -> None:
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
        with torch.inference_mode(), ctx:
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        forward()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        start = time.perf_counter()
        forward()
        wall = time.perf_counter() - start
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(
        f"# {args.preset} {args.size}x{args.size} {args.precision}{' low memory' if args.low_memory else ''} "
        f"on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}: {wall:.3f} s profiled"
    )
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
