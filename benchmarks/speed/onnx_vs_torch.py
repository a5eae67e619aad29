"""ONNX (onnxruntime) against PyTorch: output differences on natural photos and speed, on this CPU.

    python -m benchmarks.speed.onnx_vs_torch [--weights W] [--sizes 256x256 299x449] [--threads 2] [--repeat 5]
        [--onnx FILE]

Exports W (default: the shipped default weights) with ``hogformer export onnx``'s code (or uses --onnx FILE), then
for each size restores centre crops of scikit-image's photos (astronaut, coffee, chelsea) with the PyTorch network
(padded to a multiple of 16 as the Restorer pads, plain forward, float32) and with onnxruntime, and prints per
size: max and mean absolute difference and PSNR between the two outputs, PyTorch float32's own difference from
the float64 network (the float32 noise floor of a network that sorts by computed keys), and the fastest of
--repeat forwards each (the two engines interleaved). Needs ``pip install 'hogformer[onnx]' scikit-image``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea")


def _crop(a: np.ndarray, h: int, w: int) -> np.ndarray:
    if a.shape[0] < h or a.shape[1] < w:
        raise ValueError(f"photo of {a.shape[:2]} is smaller than {h}x{w}")
    top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return a[top : top + h, left : left + w]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _best_times(fns, repeat: int) -> list[float]:
    """Fastest of ``repeat`` timed calls of each function, the functions interleaved so that load from other
    processes on a shared machine hits both alike (the minimum is the least disturbed run)."""
    for fn in fns:
        fn()  # warm-up
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--sizes", nargs="+", default=["256x256", "299x449"], help="HxW crops")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per engine (the fastest is reported)")
    p.add_argument("--onnx", default=None, help="an exported graph to use instead of exporting")
    args = p.parse_args(argv)

    import onnxruntime as ort
    import skimage.data
    import torch

    import hogformer
    from hogformer.inference.tiling import run_padded
    from hogformer.integrations.onnx import INPUT_NAME, export_onnx
    from hogformer.pretrained import resolve_weights

    torch.set_num_threads(args.threads)
    path, _ = resolve_weights(args.weights)
    model = hogformer.load_model(path)
    model64 = hogformer.load_model(path, dtype=torch.float64)
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(args.onnx) if args.onnx else Path(tmp) / "model.onnx"
        if not args.onnx:
            start = time.perf_counter()
            export_onnx(model, graph)
            print(f"export: {time.perf_counter() - start:.1f} s, {graph.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

        print(f"weights: {path.name} ({model.config.dim} dim, {sum(p.numel() for p in model.parameters()):,} params)")
        print(
            f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; torch "
            f"{torch.__version__}, onnxruntime {ort.__version__}; photos: skimage {', '.join(PHOTOS)} (centre crops)"
        )
        print(
            "float32 NCHW in [0, 1]; PyTorch = plain forward padded to 16 (reflect); "
            f"times: fastest of {args.repeat} forwards, the two engines interleaved"
        )
        print()
        print(
            "| size | max abs diff | mean abs diff | PSNR onnx vs torch (dB) | torch fp32 vs fp64 mean "
            "| torch s | onnxruntime s | speed-up |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in args.sizes:
            h, w = (int(v) for v in size.lower().split("x"))
            diffs, means, psnrs, floors = [], [], [], []
            for name in PHOTOS:
                img = _crop(getattr(skimage.data, name)(), h, w).astype(np.float32) / 255.0
                x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
                with torch.no_grad():
                    ref = run_padded(model, x, 16, mode="reflect").numpy()
                    ref64 = run_padded(model64, x.double(), 16, mode="reflect").numpy()
                (out,) = session.run(None, {INPUT_NAME: x.numpy()})
                d = np.abs(out - ref)
                diffs.append(float(d.max()))
                means.append(float(d.mean()))
                psnrs.append(_psnr(out, ref))
                floors.append(float(np.abs(ref - ref64).mean()))
            x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
            feed = {INPUT_NAME: x.numpy()}
            with torch.no_grad():
                t_torch, t_ort = _best_times(
                    [lambda x=x: run_padded(model, x, 16, mode="reflect"), lambda feed=feed: session.run(None, feed)],
                    args.repeat,
                )
            print(
                f"| {h}x{w} | {max(diffs):.2e} | {statistics.mean(means):.2e} | {min(psnrs):.1f} (min of "
                f"{len(PHOTOS)}) | {statistics.mean(floors):.2e} | {t_torch:.2f} | {t_ort:.2f} "
                f"| {t_torch / t_ort:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
