"""Training speed per CPU hour, side by side: the same optimizer step in fp32, channels-last, bf16 autocast and
``torch.compile``, at equal patch and batch.

    python -m benchmarks.speed.train_speed [--preset small] [--patch 64] [--batch 8] [--steps 6] [--repeats 2]
        [--variants fp32 channels_last bf16 compile] [--quality-steps 30] [--threads 2]

One step is what ``hogformer train`` runs per batch without data loading: forward, L1 loss, backward, AdamW.
Each variant runs in a fresh process, the variants alternating over the repeats; a row gives the median
seconds per step after one warm-up step (for ``compile`` the first call, which compiles, is reported apart),
optimizer steps per hour and the speed relative to fp32.

``--quality-steps K`` also trains each variant K steps from the same initial weights on the same batches
(clean crops of scikit-image's photos with Gaussian noise, sigma 25) and reports the PSNR of its output on
fixed validation crops, so a variant that is faster but learns less shows it. The variants:

* ``fp32``: the network as ``hogformer train`` builds it (its feed-forward runs channels-last on the CPU);
* ``channels_last``: the whole network and its input in channels-last layout;
* ``bf16``: the forward under bfloat16 autocast (the loss in float32), as ``--precision bf16-mixed``;
* ``compile``: the step through ``torch.compile`` (inductor).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from benchmarks._machine import cpu_model, fresh_process

VARIANTS = ("fp32", "channels_last", "bf16", "compile")


def _photo_crops(count: int, size: int, seed: int) -> Any:
    """``count`` random ``size`` crops of scikit-image's colour photos, ``(N, 3, size, size)`` in [0, 1]."""
    import numpy as np
    import skimage.data
    import torch

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        img = photos[i % len(photos)]
        y = int(rng.integers(0, img.shape[0] - size + 1))
        x = int(rng.integers(0, img.shape[1] - size + 1))
        crops.append(img[y : y + size, x : x + size].transpose(2, 0, 1))
    return torch.from_numpy(np.stack(crops).astype(np.float32) / 255.0)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Time (and optionally train) one variant; runs in its own process."""
    import torch

    from hogformer import tune_cpu_allocator
    from hogformer.models import HOGformer, preset

    tune_cpu_allocator()
    torch.set_num_threads(spec["threads"])
    variant, patch, batch = spec["variant"], spec["patch"], spec["batch"]
    torch.manual_seed(0)
    net = HOGformer(preset(spec["preset"]))
    layout = torch.channels_last if variant == "channels_last" else torch.contiguous_format
    net = net.to(memory_format=layout)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-4)
    dtype = torch.bfloat16 if variant == "bf16" else None

    def step(lq: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            pred = net(lq.contiguous(memory_format=layout))
        loss = (pred.float() - gt).abs().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    run = torch.compile(step) if variant == "compile" else step
    out: dict[str, Any] = {}
    generator = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    run(torch.rand(batch, 3, patch, patch, generator=generator), torch.rand(batch, 3, patch, patch))
    out["first_s"] = time.perf_counter() - start
    times = []
    for _ in range(spec["steps"]):
        lq, gt = torch.rand(batch, 3, patch, patch, generator=generator), torch.rand(batch, 3, patch, patch)
        start = time.perf_counter()
        run(lq, gt)
        times.append(time.perf_counter() - start)
    out["step_s"] = statistics.median(times)

    if spec["quality_steps"]:
        torch.manual_seed(0)
        fresh = HOGformer(preset(spec["preset"])).to(memory_format=layout)
        net.load_state_dict(fresh.state_dict())
        optimizer = torch.optim.AdamW(net.parameters(), lr=2e-4)
        noise = torch.Generator().manual_seed(2)
        for k in range(spec["quality_steps"]):
            gt = _photo_crops(batch, patch, seed=100 + k)
            run(gt + torch.randn(gt.shape, generator=noise) * (25 / 255), gt)
        val = _photo_crops(8, 96, seed=7)
        noisy = val + torch.randn(val.shape, generator=torch.Generator().manual_seed(3)) * (25 / 255)
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            pred = net(noisy.contiguous(memory_format=layout)).float().clamp(0, 1)
        mse = (pred - val).square().mean(dim=(1, 2, 3))
        out["psnr"] = float((10 * torch.log10(1 / mse)).mean())
        out["psnr_input"] = float((10 * torch.log10(1 / (noisy.clamp(0, 1) - val).square().mean(dim=(1, 2, 3)))).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="small", help="network preset (default small, the shipped model's)")
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=6, help="timed steps per process after one warm-up")
    p.add_argument("--repeats", type=int, default=2, help="fresh processes per variant, alternating")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["fp32", "channels_last", "bf16"])
    p.add_argument("--quality-steps", type=int, default=0, help="also train this many steps and report PSNR")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per process")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        import json

        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    print(
        f"- CPU: {cpu_model()}, torch {torch.__version__} (capability {torch.backends.cpu.get_cpu_capability()}), "
        f"{args.threads} threads"
    )
    print(
        f"- preset {args.preset}, {args.patch}x{args.patch} x {args.batch}, median of {args.steps} steps after one "
        f"warm-up, {args.repeats} fresh processes per variant (alternating)"
        + (f"; PSNR after {args.quality_steps} training steps (noise sigma 25)" if args.quality_steps else "")
    )
    print()
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants}
    failures: dict[str, str] = {}
    for r in range(args.repeats):
        order = args.variants if r % 2 == 0 else list(reversed(args.variants))
        for variant in order:
            spec = {
                "variant": variant,
                "preset": args.preset,
                "patch": args.patch,
                "batch": args.batch,
                "steps": args.steps,
                "threads": args.threads,
                "quality_steps": args.quality_steps if r == 0 else 0,
            }
            got = fresh_process(__spec__.name, spec, timeout=args.timeout)
            if isinstance(got, str):
                failures[variant] = got
            else:
                results[variant].append(got)
            print(f"# repeat {r + 1}: {variant} done", file=sys.stderr, flush=True)
    base = statistics.median(x["step_s"] for x in results["fp32"]) if results.get("fp32") else None
    print(
        "| variant | s/step | steps per hour | vs fp32 | first step (s) |"
        + (" PSNR after training (input) |" if args.quality_steps else "")
    )
    print("|---|---:|---:|---:|---:|" + ("---:|" if args.quality_steps else ""))
    for variant in args.variants:
        runs = results[variant]
        if not runs:
            print(f"| {variant} | failed: {failures.get(variant, '?')} | | | |" + (" |" if args.quality_steps else ""))
            continue
        s = statistics.median(x["step_s"] for x in runs)
        first = statistics.median(x["first_s"] for x in runs)
        ratio = f"{base / s:.2f}x" if base else "-"
        row = f"| {variant} | {s:.3f} | {3600 / s:,.0f} | {ratio} | {first:.1f} |"
        if args.quality_steps:
            q = next((x for x in runs if "psnr" in x), None)
            row += f" {q['psnr']:.2f} dB ({q['psnr_input']:.2f} dB) |" if q else " - |"
        print(row)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
