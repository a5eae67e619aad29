"""Package trained weights into the hogformer wheel: ``src/hogformer/weights/<file>`` + ``index.json``.

    python tools/ship_weights.py runs/shipped-stage5/final.safetensors --name default \\
        --file hogformer-small-synthetic.safetensors --description "..." [--half]

Writes the weights (float16 with ``--half``, halving the package size) with their config and a description of
the training data in the metadata, and records name, file, sha256 and description in ``index.json``.
"""

from __future__ import annotations

import argparse
import json
import sys

from hogformer.checkpoints import read_checkpoint, save_model
from hogformer.pretrained import WEIGHTS_DIR, sha256_of


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="trained checkpoint (e.g. runs/<name>/best.safetensors)")
    p.add_argument("--name", default="default")
    p.add_argument("--file", required=True, help="file name inside src/hogformer/weights/")
    p.add_argument("--description", required=True)
    p.add_argument("--training-data", default="", help="what the model was trained on (stored in the metadata)")
    p.add_argument("--half", action="store_true", help="store float16 weights")
    args = p.parse_args(argv)

    ckpt = read_checkpoint(args.source)
    sd = {k: (v.half() if args.half and v.is_floating_point() else v) for k, v in ckpt.state_dict.items()}
    meta = dict(ckpt.metadata)
    meta.pop("format", None)
    meta.pop("hogformer_config", None)
    meta.update({"name": args.name, "description": args.description, "training_data": args.training_data})
    dest = save_model((ckpt.config, sd), WEIGHTS_DIR / args.file, metadata=meta)
    index_path = WEIGHTS_DIR / "index.json"
    entries = json.loads(index_path.read_text()) if index_path.exists() else []
    entries = [e for e in entries if e["name"] != args.name]
    entries.append(
        {
            "name": args.name,
            "file": args.file,
            "sha256": sha256_of(dest),
            "description": args.description,
            "training_data": args.training_data,
            "parameters": ckpt.num_parameters,
            "dtype": "float16" if args.half else "float32",
        }
    )
    index_path.write_text(json.dumps(sorted(entries, key=lambda e: e["name"]), indent=1) + "\n")
    print(f"{dest} ({dest.stat().st_size / 1e6:.1f} MB), sha256 recorded in {index_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
