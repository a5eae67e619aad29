"""Training step time and peak memory of HOGformer at the published patch sizes and batches.

One step = forward, the training objective (L1 + Pearson + HOG), backward, gradient clipping where the
protocol clips, and the AdamW update: the work of one optimizer step of ``hogformer train`` without data
loading. Rows:

* ``official 128x5``: the published network, Settings III/IV (128x128 crops, batch 5 per GPU);
* ``official 128x8``: Setting I, first progressive stage (128x128, batch 8 per GPU, clipping at 0.01);
* ``small 64x8``: stage ``stage1`` of configs/shipped.yaml (the shipped small model's recipe).

Each row runs in its own process, so its peak memory is its own: on CUDA ``torch.cuda.max_memory_allocated``
(tensors only), on CPU the process's peak resident set (``VmHWM`` from ``/proc/self/status``, Python and torch
included). On CPU a row is first sized by a 32x32 single-image step and skipped, not run, when its extrapolated
peak exceeds 85% of the memory available (training the published network takes about 4 GiB per 128x128 image
on CPU); on CUDA a row that runs out of memory is reported as such.

Usage::

    python -m benchmarks.speed.bench_train                       # best device, published sizes, 10 timed steps
    python -m benchmarks.speed.bench_train --device cpu --steps 3
    python -m benchmarks.speed.bench_train --sizes 128x5,256x2 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._machine import cpu_model, module_command, proc_status_kib, reset_peak_rss

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


# ------------------------------------------------------------------------------------------------ machine
def _meminfo(key: str) -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


def machine(device: str, threads: int) -> list[str]:
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    lines = [
        f"CPU: {cpu_model()} ({cpus} CPUs available to this process, torch threads: {threads})",
        f"torch {torch.__version__}, Python {platform.python_version()}",
    ]
    total = _meminfo("MemTotal")
    if total:
        lines.append(f"memory: {total / 2**30:.1f} GiB, available {(_meminfo('MemAvailable') or 0) / 2**30:.1f} GiB")
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        lines.append(f"GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda}")
    return lines


# ------------------------------------------------------------------------------------------------ one row
def _peak_rss() -> float:
    hwm = proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def run_row(spec: dict[str, Any]) -> dict[str, Any]:
    """Time ``spec["steps"]`` training steps after ``spec["warmup"]`` (runs in a child process)."""
    import torch

    from hogformer import tune_cpu_allocator
    from hogformer.losses import Objective
    from hogformer.models import HOGformer
    from hogformer.training.recipe import load_stage

    tune_cpu_allocator()  # as the hogformer command does
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    config = load_stage(CONFIGS / spec["config"], spec.get("stage"), data_root=REPO)
    torch.manual_seed(0)
    net = HOGformer(config.model).to(device).set_checkpointing(spec.get("checkpointing", False))
    objective = Objective(config.objective.parts).to(device)
    opt = config.optim
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay
    )
    clip = config.trainer.grad_clip
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[spec["precision"]]
    scaler = torch.amp.GradScaler(device.type) if dtype is torch.float16 else None

    def step(patch: int, batch: int) -> None:
        lq = torch.rand(batch, 3, patch, patch, device=device)
        gt = torch.rand(batch, 3, patch, patch, device=device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            pred = net(lq)
        loss, _ = objective(pred.float(), gt)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    patch, batch = spec["patch"], spec["batch"]
    out: dict[str, Any] = {}
    if device.type == "cpu" and spec["guard"]:
        step(32, 1)  # allocates gradients and optimizer state

        def extra(b: int) -> float:
            before = (proc_status_kib("VmRSS") or 0) * 1024.0
            reset_peak_rss()
            step(32, b)
            return max(_peak_rss() - before, 0.0)

        one, two = extra(1), extra(2)
        per_image = max(two - one, 0.0)  # one more 32x32 image
        need = (proc_status_kib("VmRSS") or 0) * 1024.0 + one + per_image * ((patch * patch * batch) / (32 * 32) - 1)
        available = (_meminfo("MemAvailable") or float("inf")) + (proc_status_kib("VmRSS") or 0) * 1024.0
        out["estimate"] = need
        if need > 0.85 * available:
            out["skipped"] = f"needs ~{need / 2**30:.0f} GiB, {available / 2**30:.0f} GiB available"
            return out
    times = []
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        else:
            reset_peak_rss()
        for i in range(spec["warmup"] + spec["steps"]):
            sync()
            t0 = time.perf_counter()
            step(patch, batch)
            sync()
            if i >= spec["warmup"]:
                times.append(time.perf_counter() - t0)
    except torch.cuda.OutOfMemoryError:
        out["skipped"] = "out of GPU memory"
        return out
    out["median_s"] = statistics.median(times)
    out["min_s"] = min(times)
    out["peak"] = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _peak_rss()
    return out


# ------------------------------------------------------------------------------------------------ driver
def _rows(sizes: list[tuple[int, int]], small: bool) -> list[dict[str, Any]]:
    rows = []
    for patch, batch in sizes:
        if (patch, batch) == (128, 8):
            rows.append(
                {
                    "label": "official",
                    "config": "published/setting1_allweather.yaml",
                    "patch": 128,
                    "batch": 8,
                    "protocol": "Setting I, stage 1 (clip 0.01)",
                }
            )
        else:
            note = "Settings III/IV" if (patch, batch) == (128, 5) else "Settings III/IV objective"
            rows.append(
                {
                    "label": "official",
                    "config": "published/setting3_three_task.yaml",
                    "patch": patch,
                    "batch": batch,
                    "protocol": note,
                }
            )
    if small:
        rows.append(
            {
                "label": "small",
                "config": "shipped.yaml",
                "stage": "stage1",
                "patch": 64,
                "batch": 8,
                "protocol": "configs/shipped.yaml stage1",
            }
        )
    return rows


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            patch, batch = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes are PATCHxBATCH separated by commas, got {item!r}") from None
        if patch % 8 or patch < 8 or batch < 1:
            raise argparse.ArgumentTypeError(f"patch must be a multiple of 8 and batch >= 1, got {item!r}")
        out.append((patch, batch))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument(
        "--sizes",
        type=_parse_sizes,
        default=[(128, 5), (128, 8)],
        help="official-network rows as PATCHxBATCH,... (default 128x5,128x8)",
    )
    parser.add_argument("--no-small", action="store_true", help="leave out the small-model row")
    parser.add_argument("--precision", choices=("32", "bf16", "16"), default="32", help="autocast dtype")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-guard", action="store_true", help="on CPU, run rows even if they may not fit")
    parser.add_argument(
        "--checkpointing", action="store_true", help="activation checkpointing (HOGformer.set_checkpointing)"
    )
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print JSON
    args = parser.parse_args(argv)

    import torch

    if args.row:
        print(json.dumps(run_row(json.loads(args.row))))
        return 0
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = args.threads or torch.get_num_threads()
    print("\n".join(f"- {line}" for line in machine(device, threads)))
    print(
        f"- step = forward + L1/Pearson/HOG loss + backward + AdamW; median of {args.steps} after "
        f"{args.warmup} warm-up; precision {args.precision}; random inputs, no data loading"
        + ("; activation checkpointing" if args.checkpointing else "")
    )
    print()
    print("| network | params | patch x batch | protocol | step time (s) | images/s | peak memory |")
    print("|---|---:|---:|---|---:|---:|---:|")
    from hogformer.training.recipe import load_stage

    failed = False
    for row in _rows(args.sizes, not args.no_small):
        spec = {
            **row,
            "device": device,
            "steps": args.steps,
            "warmup": args.warmup,
            "threads": threads,
            "precision": args.precision,
            "guard": not args.no_guard,
            "checkpointing": args.checkpointing,
        }
        model = load_stage(CONFIGS / row["config"], row.get("stage"), data_root=REPO).model
        from hogformer.models import HOGformer

        with torch.device("meta"):
            params = sum(p.numel() for p in HOGformer(model).parameters())
        proc = subprocess.run(module_command(__spec__.name, "--row", json.dumps(spec)), capture_output=True, text=True)
        size = f"{row['patch']}x{row['patch']} x {row['batch']}"
        head = f"| {row['label']} (dim {model.dim}) | {params / 1e6:.2f}M | {size} | {row['protocol']} |"
        if proc.returncode != 0:
            failed = True
            reason = "killed (out of memory?)" if proc.returncode < 0 else proc.stderr.strip().splitlines()[-1:]
            print(f"{head} failed: {reason} | | |")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if "skipped" in result:
            print(f"{head} skipped: {result['skipped']} | | |")
            continue
        kind = "allocated" if device.startswith("cuda") else "RSS"
        print(
            f"{head} {result['median_s']:.3f} | {row['batch'] / result['median_s']:.2f} | "
            f"{result['peak'] / 2**30:.2f} GiB {kind} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
