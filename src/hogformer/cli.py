"""The ``hogformer`` command: restore | evaluate | train | demo | convert | info.

Each sub-command's work lives in its layer (inference, evaluation, training, checkpoints); this module only
parses arguments, sets up logging and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from . import __version__

log = logging.getLogger("hogformer")


def _cmd_convert(args: argparse.Namespace) -> int:
    from .checkpoints import read_checkpoint, save_model

    ckpt = read_checkpoint(args.input, key=args.key)
    if not str(args.output).endswith(".safetensors"):
        raise ValueError(f"{args.output}: the output of convert must end in .safetensors")
    meta = {"converted_from": ckpt.path.name if ckpt.path else "", "source_format": ckpt.format}
    meta.update({k: v for k, v in ckpt.metadata.items() if k not in ("format", "hogformer_config")})
    save_model((ckpt.config, ckpt.state_dict), args.output, metadata=meta)
    print(f"{args.input} ({ckpt.format}) -> {args.output}: {ckpt.num_parameters:,} parameters")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .checkpoints import describe, read_checkpoint

    print(json.dumps(describe(read_checkpoint(args.file, key=args.key)), indent=1))
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert any supported checkpoint to .safetensors with its config")
    p.add_argument("input", help="official .pth/.ckpt, a state dict, or a safetensors file")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--key", help="entry of a dict container to read (e.g. params_ema)")
    p.set_defaults(func=_cmd_convert)


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show a checkpoint's format, configuration and parameter count")
    p.add_argument("file")
    p.add_argument("--key", help="entry of a dict container to read (e.g. params_ema)")
    p.set_defaults(func=_cmd_info)


def _add_lazy(sub: argparse._SubParsersAction, name: str, module: str, help_text: str, load: bool) -> None:
    """A sub-command whose arguments and work live in ``module`` (``add_arguments`` and ``run``).

    The module is imported only when ``load`` (the command was chosen), so ``hogformer restore`` never pays
    for importing the training stack.
    """
    import importlib

    if not load:
        sub.add_parser(name, help=help_text)
        return
    try:
        mod = importlib.import_module(module)
    except ImportError as e:  # an optional dependency is missing: say so when the command is used
        p = sub.add_parser(name, help=help_text + " (unavailable: " + str(e) + ")")
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def unavailable(_args: argparse.Namespace, err: ImportError = e) -> int:
            raise SystemExit(f"hogformer {name}: unavailable ({err}); try pip install 'hogformer[train]'")

        p.set_defaults(func=unavailable)
        return
    p = sub.add_parser(name, help=help_text, description=mod.__doc__)
    mod.add_arguments(p)
    p.set_defaults(func=mod.run)


_LAZY = (
    ("restore", "hogformer.inference.cli", "restore images, folders or globs"),
    ("demo", "hogformer.inference.demo", "degrade a bundled photo, restore it, print PSNR/SSIM"),
    ("evaluate", "hogformer.evaluation.cli", "PSNR/SSIM tables on the paper's benchmarks"),
    ("train", "hogformer.training.train", "train under a published protocol or your own"),
    ("export", "hogformer.integrations.export", "export weights as an ONNX graph or a Hugging Face Hub folder"),
    ("app", "hogformer.app.cli", "serve the web app: drop images, restore, compare, download"),
    ("inspect", "hogformer.diagnosis.inspect", "HOG profile, gradient energy map and degradation estimate"),
    ("photos", "hogformer.data.photo_sources", "rebuild the training/validation/held-out photos and manifest"),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported (all of them when None)."""
    parser = argparse.ArgumentParser(prog="hogformer", description="HOGformer all-in-one image restoration")
    parser.add_argument("--version", action="version", version=f"hogformer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in _LAZY:
        _add_lazy(sub, name, module, help_text, load=command is None or command == name)
    _add_convert(sub)
    _add_info(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    from .checkpoints import CheckpointError
    from .inference.memory import tune_cpu_allocator

    # Keep glibc from unmapping and re-faulting every large temporary (much faster CPU inference;
    # HOGFORMER_NO_MALLOPT=1 or the user's own MALLOC_* settings turn this off).
    tune_cpu_allocator()
    try:
        return int(args.func(args) or 0)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"hogformer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hogformer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
