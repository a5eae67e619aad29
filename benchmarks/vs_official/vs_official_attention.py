"""Side by side with the official DHOGSA attention module alone: every attention call of one forward of the
published network, official module against the project's, alternating fresh processes.

    python -m benchmarks.vs_official.vs_official_attention --official FILE [--class-name DHOGSA] [--sizes 256 512]
        [--repeats 3] [--threads 2]

``FILE`` is a Python file defining the official attention class (the official ``settingIII&IV/net/model.py``, or
any copy of its ``DHOGSA``; neither ships here). Its constructor must take ``(dim, num_heads, bias)`` and its
state-dict names must be the published ones, which the project's module shares. Where the whole official code is
not at hand (``vs_official`` needs it), this measures the part the official profile puts at ~55% of a forward.

For each image size, the calls are the network's own: a forward hook on the project's network records every
attention call's (channels, heads, height, width) (40 calls, from 36 channels at full resolution to 288 at 1/8),
and each process times that sequence once, with one module per distinct (channels, heads) and the same random
weights on both sides. Before timing, the two modules are compared in float64 on every distinct configuration
(the maximum absolute difference is printed: the same mathematics gives ~1e-16; above 1e-7 the script stops).
Each timed process runs in the default environment: the official one never imports this package (whose import
sets the allocator), the project's does, as a user's would; the order alternates between repeats. Official calls
run under ``torch.no_grad`` (as its test scripts run), the project's under ``torch.inference_mode``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from benchmarks._machine import cpu_model, fresh_process, proc_status_kib, ratio_row
from benchmarks.vs_official.vs_official import official_module

PUBLISHED_DIM = 36


def load_official(path: str, name: str):
    """The attention class ``name`` of the official file ``path``."""
    try:
        return getattr(official_module(path), name)
    except AttributeError:
        raise SystemExit(f"{path}: no class {name!r}; name the attention class with --class-name") from None


def attention_calls() -> list[list[int]]:
    """``[channels, heads, height, width]`` of every attention call of one forward of the published network at
    32 x 32, in order (recorded with forward hooks on the project's network); :func:`scaled` gives other sizes."""
    import torch

    from hogformer.models import HOGformer, preset
    from hogformer.models.attention import DHOGSA

    net = HOGformer(preset("official")).eval()
    calls: list[list[int]] = []
    for m in net.modules():
        if isinstance(m, DHOGSA):
            m.register_forward_hook(
                lambda mod, inp, out: calls.append([*inp[0].shape[1:2], mod.num_heads, *inp[0].shape[2:]])
            )
    with torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    return calls


def scaled(calls: list[list[int]], size: int) -> list[list[int]]:
    """The 32 x 32 calls of :func:`attention_calls` at ``size`` x ``size``."""
    return [[c, h, y * size // 32, x * size // 32] for c, h, y, x in calls]


def make_modules(impl: str, configs: list[tuple[int, int]], official: str, class_name: str):
    if impl == "official":
        cls = load_official(official, class_name)
    else:
        from hogformer import tune_cpu_allocator
        from hogformer.models.attention import DHOGSA as cls

        tune_cpu_allocator()  # as the hogformer command does
    return {(c, h): cls(c, h, False) for c, h in configs}


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    from safetensors.torch import load_file

    configs = sorted({(c, h) for c, h, _, _ in spec["calls"]})
    modules = make_modules(spec["impl"], configs, spec["official"], spec["class_name"])
    weights = load_file(spec["weights"])
    for (c, h), m in modules.items():
        m.load_state_dict({k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(f"{c}x{h}/")})
        m.eval()
    grad_off = torch.no_grad if spec["impl"] == "official" else torch.inference_mode
    gen = torch.Generator().manual_seed(0)
    inputs = {tuple(s): torch.randn(1, s[0], s[2], s[3], generator=gen) for s in spec["calls"]}
    base = proc_status_kib("VmRSS") or 0
    with grad_off():
        for (c, _), m in modules.items():  # warm-up: kernels, allocator
            m(torch.randn(1, c, 16, 16, generator=gen))
        start = time.perf_counter()
        for s in spec["calls"]:
            modules[(s[0], s[1])](inputs[tuple(s)])
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": ((proc_status_kib("VmHWM") or 0) - base) / 1024}


def float64_check(configs: list[tuple[int, int]], official: str, class_name: str, state: dict) -> float:
    """Largest absolute difference between the two modules' float64 outputs over the distinct configurations."""
    import torch

    worst = 0.0
    pairs = zip(
        make_modules("official", configs, official, class_name).items(),
        make_modules("project", configs, official, class_name).values(),
    )
    for ((c, h), theirs), ours in pairs:
        sd = {k.split("/", 1)[1]: v for k, v in state.items() if k.startswith(f"{c}x{h}/")}
        theirs.load_state_dict(sd)
        ours.load_state_dict(sd)
        x = torch.randn(1, c, 40, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(c + h))
        with torch.no_grad():
            worst = max(worst, (theirs.double()(x) - ours.double()(x)).abs().max().item())
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", help="a file defining the official attention class")
    p.add_argument("--class-name", default="DHOGSA")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if not args.official or not os.path.isfile(args.official):
        p.error(f"--official: no such file {args.official!r}")

    import torch
    from safetensors.torch import save_file

    at_32 = attention_calls()
    calls = {size: scaled(at_32, size) for size in args.sizes}
    configs = sorted({(c, h) for seq in calls.values() for c, h, _, _ in seq})
    torch.manual_seed(0)
    state = {}
    for (c, h), m in make_modules("project", configs, args.official, args.class_name).items():
        with torch.no_grad():  # away from the initialisation, so every branch does real work
            for t in m.parameters():
                t.add_(0.05 * torch.randn_like(t))
        state.update({f"{c}x{h}/{k}": v.contiguous() for k, v in m.state_dict().items()})
    diff = float64_check(configs, args.official, args.class_name, state)
    if not diff <= 1e-7:  # the golden tolerance; a NaN fails too
        print(
            f"{args.official}: {args.class_name}'s float64 outputs differ from the project's by {diff:.3g} "
            "(more than 1e-7): not the same computation, so no timing",
            file=sys.stderr,
        )
        return 1

    results: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.safetensors")
        save_file(state, weights)
        for r in range(args.repeats):
            for size in args.sizes:
                order = ["official", "project"] if r % 2 == 0 else ["project", "official"]
                for impl in order:
                    spec = {
                        "impl": impl,
                        "calls": calls[size],
                        "threads": args.threads,
                        "weights": weights,
                        "official": os.path.abspath(args.official),
                        "class_name": args.class_name,
                    }
                    got = fresh_process(__spec__.name, spec, args.timeout)
                    if isinstance(got, str):
                        print(f"# {impl} {size}: {got}", file=sys.stderr)
                        continue
                    results.setdefault((size, impl), []).append(got)
                    print(f"# repeat {r + 1}: {impl} {size} done", file=sys.stderr)

    print(f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {args.threads}, torch {torch.__version__}")
    print(
        f"- official attention class {args.class_name} from {os.path.basename(args.official)}; float64 outputs "
        f"differ from the project's by at most {diff:.1e} over the {len(configs)} configurations"
    )
    print(
        f"- all {len(next(iter(calls.values())))} attention calls of one forward of the published network, same "
        f"random weights and inputs; median of {args.repeats} alternating processes"
    )
    print()
    print("| size | official s | project s | official / project | official peak MiB | project peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        print(ratio_row(str(size), results.get((size, "official")), results.get((size, "project"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
