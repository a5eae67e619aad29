"""Export weights for other runtimes and hubs.

  hogformer export onnx OUT.onnx [--weights W] [--opset N]   an ONNX graph onnxruntime runs at any image size
  hogformer export hub DIR [--weights W]                      a folder to upload to the Hugging Face Hub as it is

--weights takes anything restore takes (a checkpoint file, a Hub folder, hf://OWNER/NAME[@REVISION], or the
name of shipped weights); without it, the shipped default weights.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    o = sub.add_parser("onnx", help="an ONNX graph (float32 NCHW RGB in [0, 1], any batch, height and width)")
    o.add_argument("output", help="the .onnx file to write")
    o.add_argument("-w", "--weights", help="weights to export (default: the shipped default weights)")
    o.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 16; default 18)")
    o.add_argument("--key", help="entry of a dict container to read (e.g. params_ema)")
    o.add_argument("--threads", type=int, default=None, help="torch threads while tracing")
    h = sub.add_parser("hub", help="model.safetensors + config.json + README.md model card, ready to upload")
    h.add_argument("output", help="the folder to write")
    h.add_argument("-w", "--weights", help="weights to export (default: the shipped default weights)")
    h.add_argument("--repo", default="OWNER/NAME", help="the Hub repository named in the card's examples")
    h.add_argument("--license", default="mit", help="licence identifier for the card's front matter (default mit)")
    h.add_argument("--overwrite", action="store_true", help="replace the files of an existing export")


def _run_onnx(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoints import load_model
    from ..pretrained import resolve_weights

    try:
        from .onnx import export_onnx
    except ImportError as e:  # pragma: no cover - onnx itself is imported by torch.onnx.export
        raise SystemExit(f"hogformer export onnx: needs onnx ({e}); pip install 'hogformer[onnx]'") from None
    try:
        import onnx  # noqa: F401  torch.onnx.export needs it
    except ImportError:
        raise SystemExit("hogformer export onnx: needs the onnx package; pip install 'hogformer[onnx]'") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    path, _ = resolve_weights(args.weights)
    model = load_model(path, key=args.key)
    start = time.perf_counter()
    out = export_onnx(model, args.output, opset=args.opset)
    size = out.stat().st_size / 1e6
    print(f"{path} -> {out}: opset {args.opset}, {size:.1f} MB, {time.perf_counter() - start:.0f} s")
    print("input 'image', output 'restored': float32 NCHW RGB in [0, 1], any batch, height and width")
    return 0


def _run_hub(args: argparse.Namespace) -> int:
    from .hub import write_hub_folder

    try:
        out = write_hub_folder(
            args.weights, args.output, license_id=args.license, repo_hint=args.repo, overwrite=args.overwrite
        )
    except FileExistsError as e:
        raise SystemExit(f"hogformer export hub: error: {e}") from None
    print(f"{out}: model.safetensors, config.json, README.md")
    print(f"upload: huggingface-cli upload {args.repo} {out} .   then load with --weights hf://{args.repo}")
    return 0


def run(args: argparse.Namespace) -> int:
    return _run_onnx(args) if args.target == "onnx" else _run_hub(args)
