"""Side by side with the official implementation: forward and training-step time and peak memory, alternating
fresh processes.

    python -m benchmarks.vs_official.vs_official --official PATH/settingIII&IV/net/model.py [--sizes 256 512]
        [--train 128x2] [--train-warmup 1] [--repeats 3] [--threads 2] [--class-name NAME] [--strip-pixels N]

``--official`` is the official code's model file (Fire-friend/HOGformer; it is not shipped here and cannot be
downloaded on the project's machines). Its network class is the one whose constructor takes ``dim``,
``num_blocks`` and ``heads`` (or ``--class-name``), built with the published configuration. Both networks get
the same random weights (the state-dict names are the same) and the same input. Every measurement runs in a fresh
process in the default environment: the official process never imports this package (whose import sets the
allocator), the project's does, as a user's would. The order of the two alternates between repeats so that a
drifting machine favours neither. Rows: forward at each size (``torch.no_grad`` for the official code as its test
scripts run it; ``torch.inference_mode`` for the project, plain and low-memory), and a training step (forward,
L1 loss, backward) at ``PATCHxBATCH``, timed after ``--train-warmup`` untimed steps (a training loop's steady
state; a process's first backward also builds every kernel and buffer once). Prints medians, the
official/project ratio and the machine.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import tempfile
import time

from benchmarks._machine import cpu_model, fresh_process, proc_status_kib, ratio_row

#: The published configuration (paper; ../shared/golden/README.md), as the official constructor names it.
PUBLISHED = {
    "inp_channels": 3,
    "out_channels": 3,
    "dim": 36,
    "num_blocks": [4, 4, 6, 8],
    "num_refinement_blocks": 4,
    "heads": [1, 2, 4, 8],
    "ffn_expansion_factor": 2.667,
    "bias": False,
    "LayerNorm_type": "WithBias",
}


class _SiblingFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in one folder first: the official file's own imports of its sibling files."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001  (importlib's protocol)
        if path is not None:  # a submodule: its package knows where it is
            return None
        return importlib.machinery.PathFinder.find_spec(name, [self.folder])


def official_module(path: str):
    """The official Python file ``path``, imported; the modules beside it are importable by their plain names
    (its sibling imports), ahead of installed ones."""
    spec = importlib.util.spec_from_file_location("official_model", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file")
    folder = os.path.dirname(os.path.abspath(path))
    if not any(isinstance(f, _SiblingFinder) and f.folder == folder for f in sys.meta_path):
        # before the path-based finder, after the built-in and frozen ones
        index = next((i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder), 0)
        sys.meta_path.insert(index, _SiblingFinder(folder))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_class(path: str, name: str | None):
    """The network class of the official model file (by ``name``, else the one taking dim/num_blocks/heads)."""
    import torch

    module = official_module(path)
    if name:
        return getattr(module, name)
    found = [
        c
        for c in vars(module).values()
        if isinstance(c, type)
        and issubclass(c, torch.nn.Module)
        and c.__module__ == module.__name__
        and {"dim", "num_blocks", "heads"} <= set(inspect.signature(c.__init__).parameters)
    ]
    if len(found) != 1:
        raise SystemExit(f"{path}: {len(found)} candidate network classes; name one with --class-name")
    return found[0]


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    from safetensors.torch import load_file

    if spec["impl"] == "official":
        model = official_class(spec["official"], spec["class_name"])(**spec["config"])
        grad_off = torch.no_grad
    else:
        from hogformer import tune_cpu_allocator
        from hogformer.models import HOGformer, HOGformerConfig

        tune_cpu_allocator()  # as the hogformer command does
        model = HOGformer(HOGformerConfig.from_dict(spec["config"]))
        if spec["mode"] == "lowmem":
            model.set_low_memory(spec.get("strip_pixels") or "auto")  # default: strips sized per image, as restore
        grad_off = torch.inference_mode
    model.load_state_dict(load_file(spec["weights"]))  # the same 579 names (golden official_full_state_dict.tsv)
    gen = torch.Generator().manual_seed(0)
    if spec["mode"] == "train":
        model.train()
        x = torch.rand(spec["batch"], 3, spec["size"], spec["size"], generator=gen)
        y = torch.rand(spec["batch"], 3, spec["size"], spec["size"], generator=gen)

        def run() -> None:
            (model(x) - y).abs().mean().backward()
            model.zero_grad(set_to_none=True)
    else:
        model.eval()
        x = torch.rand(1, 3, spec["size"], spec["size"], generator=gen)

        def run() -> None:
            with grad_off():
                model(x)

    # The baseline is taken before the warm-up: the project's process keeps freed memory (its allocator
    # setting), the official one returns it, so a baseline after the warm-up would differ between them.
    base = proc_status_kib("VmRSS") or 0
    with torch.no_grad():
        model.eval()
        model(torch.rand(1, 3, 64, 64, generator=gen))  # warm-up: kernels, allocator
    model.train(spec["mode"] == "train")
    for _ in range(spec.get("train_warmup", 0) if spec["mode"] == "train" else 0):
        run()  # a training loop's steady state: the backward's kernels and buffers made once
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": ((proc_status_kib("VmHWM") or 0) - base) / 1024}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", help="the official model file (settingIII&IV/net/model.py)")
    p.add_argument("--class-name", default=None)
    p.add_argument("--config", default=None, help="JSON file of constructor arguments (default: the published ones)")
    p.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="forward sizes (none: training only)")
    p.add_argument("--train", default="128x2", help="training step PATCHxBATCH ('none' to skip)")
    p.add_argument(
        "--train-warmup",
        type=int,
        default=1,
        help="untimed training steps before the timed one (default 1: the steady state of a training loop; "
        "0 times the first step, one-time costs included)",
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    p.add_argument(
        "--strip-pixels",
        type=int,
        default=None,
        help="strip size of the project's low-memory forward (default: sized per image, as restore runs it)",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if not args.official or not os.path.isfile(args.official):
        p.error(f"--official: no such file {args.official!r} (the official code's settingIII&IV/net/model.py)")

    import torch
    from safetensors.torch import save_file

    from hogformer.models import HOGformer, HOGformerConfig
    from hogformer.models.hogformer import auto_strip_pixels

    config = PUBLISHED
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    torch.manual_seed(0)
    net = HOGformer(HOGformerConfig.from_dict(config))
    with torch.no_grad():  # away from the initialisation, so every branch does real work
        for t in net.parameters():
            t.add_(0.005 * torch.randn_like(t))
    cases = [(s, 1, "forward") for s in args.sizes]
    if args.train != "none":
        patch, batch = (int(v) for v in args.train.lower().split("x"))
        cases.append((patch, batch, "train"))
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.safetensors")
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
        results: dict[tuple, list[dict]] = {}
        for r in range(args.repeats):
            for size, batch, mode in cases:
                runs = [("official", mode), ("project", mode)] + ([("project", "lowmem")] if mode == "forward" else [])
                for impl, m in runs if r % 2 == 0 else runs[::-1]:
                    spec = {
                        "impl": impl,
                        "mode": m,
                        "size": size,
                        "batch": batch,
                        "threads": args.threads,
                        "weights": weights,
                        "official": os.path.abspath(args.official),
                        "class_name": args.class_name,
                        "config": config,
                        "strip_pixels": args.strip_pixels,
                        "train_warmup": args.train_warmup,
                    }
                    got = fresh_process(__spec__.name, spec, args.timeout)
                    if isinstance(got, str):
                        print(f"# {impl} {m} {size}x{batch}: {got}", file=sys.stderr)
                        continue
                    results.setdefault((size, batch, mode, impl, m), []).append(got)
                    print(f"# repeat {r + 1}: {impl} {m} {size}x{batch} done", file=sys.stderr)

    print(f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {args.threads}, torch {torch.__version__}")
    which = "published configuration" if config is PUBLISHED else f"configuration {args.config}"
    print(
        f"- {which}, same random weights and input; median of {args.repeats} alternating processes; the forward "
        f"is each process's first call at that size, the training step follows {args.train_warmup} untimed step(s)"
    )
    print()
    print("| case | official s | project s | official / project | official peak MiB | project peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for size, batch, mode in cases:
        ref = results.get((size, batch, mode, "official", mode))
        for m in [mode] + (["lowmem"] if mode == "forward" else []):
            ours = results.get((size, batch, mode, "project", m))
            label = f"{size}x{size}" + (f" x{batch} train step" if mode == "train" else " forward")
            strips = f", {args.strip_pixels or auto_strip_pixels(size, size)}-pixel strips"
            label += f" (project low-memory{strips})" if m == "lowmem" else ""
            print(ratio_row(label, ref, ours))
    return 0


if __name__ == "__main__":
    sys.exit(main())
