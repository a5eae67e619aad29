"""Serve the HOGformer web app (Gradio): drop images, restore, compare before and after, download, inspect.

Binds 127.0.0.1 unless --host says otherwise, and makes no public share link unless --share. Needs
``pip install 'hogformer[app]'``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..inference.cli import add_execution_arguments
from .core import DEFAULT_MAX_PIXELS, Options, RestorerPool, parse_tile

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--weights", help="checkpoint file or shipped weights name (default: the shipped default)")
    add_execution_arguments(p)
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,})",
    )
    p.add_argument("--max-file-size", default="200mb", help="largest upload (default 200mb)")
    p.add_argument("--no-preload", action="store_true", help="load the weights at the first request, not at start")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local tool
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise SystemExit("hogformer app needs Gradio: pip install 'hogformer[app]'") from None
    from .core import AppError
    from .page import allowed_paths, build_app, remove_work_dir

    try:
        tile = parse_tile(args.tile)
    except AppError as e:
        raise ValueError(str(e)) from None
    options = Options(args.weights, args.device, args.precision, tile, args.low_memory)
    pool = RestorerPool()
    if not args.no_preload:  # bad weights or device: say so now, not in the first request
        pool.get(options)
    demo = build_app(
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        tile=tile,
        low_memory=args.low_memory,
        max_pixels=args.max_pixels,
        pool=pool,
    )
    demo.queue(default_concurrency_limit=1)
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port or None,
            share=bool(args.share),
            inbrowser=False,
            show_error=False,
            allowed_paths=allowed_paths(demo),
            max_file_size=args.max_file_size,
            footer_links=["api"],
        )
    finally:
        remove_work_dir(demo)
    return 0


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - `python -m hogformer.app.cli`
    parser = argparse.ArgumentParser(prog="hogformer app", description=__doc__)
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
