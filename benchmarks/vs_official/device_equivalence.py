"""The network's numbers on another device (a GPU): the golden float64 checks and the precision of each mode.

    python -m benchmarks.vs_official.device_equivalence --device cuda [--golden ../shared/golden] [--size 256]

The test suite pins the mathematics on the CPU; this script repeats the pins where the tests do not run:
1. the official golden cases (``tiny_cases.safetensors``) in float64, plain and low-memory forward, and the
   float64 gradients: maximum absolute difference to the official outputs (the suite's bound is 1e-7);
2. the published configuration at ``--size`` (an astronaut crop, weights perturbed from their initialisation,
   as ``tests/models/test_float32_published.py`` builds them): mean absolute difference of every inference
   precision to the float64 output on the same device (the float32 bound is 1e-2). On CUDA
   "fp32" is true float32 (TF32 off, as the Restorer runs it) and "tf32" turns TensorFloat-32 on for
   convolutions and matrix products; "bf16" and "fp16" autocast the network.
Prints a markdown table and exits non-zero if a float64 check or the float32 bound fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch


def golden_rows(golden: Path, device: torch.device) -> list[tuple[str, float, float]]:
    from safetensors.torch import load_file

    from hogformer import load_model

    cases = load_file(str(golden / "tiny_cases.safetensors"))
    model = load_model(golden / "tiny_weights.safetensors", dtype=torch.float64).to(device)
    rows = []
    for strip in (None, 256):
        model.set_low_memory(strip)
        for i in range(4):
            with torch.no_grad():
                out = model(cases[f"input_{i}"].to(device))
            err = (out.cpu() - cases[f"output_{i}"]).abs().max().item()
            tag = " (low memory, 256-px strips)" if strip else ""
            if i == 3:  # 8-bit image: equal sort keys, ordered as the device's sort orders ties (no bound)
                rows.append((f"golden case 3 (ties) float64 forward{tag}", err, None))
            else:
                rows.append((f"golden case {i} float64 forward{tag}", err, 1e-7))
    model.set_low_memory(None)
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        model(cases["input_0"].to(device)).square().mean().backward()
    worst = 0.0
    for name, p in model.named_parameters():
        ref = cases[f"grad.{name}"]
        worst = max(worst, (p.grad.cpu() - ref).abs().max().item() / max(ref.abs().max().item(), 1e-30))
    rows.append(("golden float64 gradients (relative to each tensor's max)", worst, 1e-7))
    return rows


def precision_rows(device: torch.device, size: int) -> list[tuple[str, float, float | None]]:
    import skimage.data

    from hogformer.models import HOGformer, preset

    torch.manual_seed(0)
    model64 = HOGformer(preset("official")).double().eval()
    with torch.no_grad():
        for p in model64.parameters():
            p.add_(0.005 * torch.randn_like(p))
    if size > 512:
        raise SystemExit(f"--size {size}: the astronaut photo is 512x512")
    left = min(128, 512 - size)
    photo = skimage.data.astronaut()[:size, left : left + size].astype(np.float64) / 255.0
    x = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)
    model64 = model64.to(device)
    with torch.no_grad():
        ref = model64(x)
    model = HOGformer(preset("official")).eval().to(device)
    model.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    modes = ["fp32", "fp32 low memory"]
    if device.type == "cuda":
        modes += ["tf32", "bf16", "fp16"]
    elif device.type == "cpu":
        modes += ["bf16"]
    rows = [("network's own change, mean abs(out - in), float64", (ref - x).abs().mean().item(), None)]
    for mode in modes:
        saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        model.set_low_memory(64 * 256 if "low memory" in mode else None)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
        with torch.inference_mode(), ctx:
            out = model(x.float()).double()
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        bound = 1e-2 if mode.startswith("fp32") else None
        rows.append(
            (f"published config {size}x{size}, {mode}: mean abs(out - float64)", (out - ref).abs().mean().item(), bound)
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--golden", default=os.environ.get("HOGFORMER_GOLDEN", "../shared/golden"))
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows: list[tuple[str, float, float | None]] = []
    golden = Path(args.golden)
    if (golden / "tiny_cases.safetensors").is_file():
        rows += golden_rows(golden, device)
    else:
        print(f"# {golden}: no golden cases, float64 checks left out", file=sys.stderr)
    rows += precision_rows(device, args.size)
    print(f"- device: {name}, torch {torch.__version__}")
    print()
    print("| check | value | bound | |")
    print("|---|---:|---:|---|")
    failed = False
    for label, value, bound in rows:
        ok = "" if bound is None else ("ok" if value < bound else "FAIL")
        failed |= ok == "FAIL"
        print(f"| {label} | {value:.3g} | {'' if bound is None else f'{bound:g}'} | {ok} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
