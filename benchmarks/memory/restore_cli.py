"""``hogformer restore`` as a user runs it: wall time and peak memory of the whole command on one image per size.

    python -m benchmarks.memory.restore_cli [--sizes 1024x1024 2048x2048 4000x3000] [-- RESTORE OPTIONS]

Each size is a PNG made here (scikit-image's ``chelsea`` photo resized with bicubic filtering, plus Gaussian
noise of sigma 10 so that it is not smooth; seeded, so every run restores the same file). Each command runs in
a fresh process with the CLI defaults unless options follow ``--`` (for example ``-- --no-low-memory``). The
time is the command's wall time (start-up, reading, the network, writing); the peak is its maximum resident set
(``ru_maxrss`` of the child, as ``/usr/bin/time -f %M`` reports it).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._machine import cpu_model


def make_image(path: Path, width: int, height: int) -> None:
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = Image.fromarray(skimage.data.chelsea()).resize((width, height), Image.BICUBIC)
    pixels = np.asarray(photo).astype(np.float32) + rng.normal(0, 10, (height, width, 3))
    Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8)).save(path)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=_size, default=[(1024, 1024), (2048, 2048), (4000, 3000)])
    args = p.parse_args(argv)
    hogformer = shutil.which("hogformer") or "hogformer"
    command = " ".join(["hogformer restore IMAGE -o OUT --no-progress", *extra])
    print(f"- CPU: {cpu_model()}, {os.cpu_count()} CPUs; `{command}`")
    print()
    print("| image | megapixels | wall time (s) | s/MP | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in args.sizes:
            image = Path(tmp) / f"photo-{width}x{height}.png"
            make_image(image, width, height)
            cmd = [hogformer, "restore", str(image), "-o", str(Path(tmp) / "out"), "--no-progress", *extra]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            mp = width * height / 1e6
            if done.returncode != 0:
                failed = True
                print(f"| {width}x{height} | {mp:.1f} | failed: {done.stderr.strip().splitlines()[-1:]} | | |")
                continue
            # ru_maxrss of the children is the largest child so far: exact while sizes grow.
            note = "" if peak > before else " (at most)"
            print(f"| {width}x{height} | {mp:.1f} | {wall:.1f} | {wall / mp:.1f} | {peak / 2**20:.2f} GiB{note} |")
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
