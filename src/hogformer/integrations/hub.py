"""Writing Hugging Face Hub folders: weights, config and a model card, ready to upload as they are.

A Hub folder holds ``model.safetensors`` (weights, with the network config in its metadata), ``config.json``
(the same config, for readers without safetensors) and ``README.md`` (a model card with YAML front matter).
:func:`write_hub_folder` writes one; loading one, or an ``hf://`` location, is :mod:`hogformer.locations`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..checkpoints import read_checkpoint, save_model
from ..locations import _FILES, CARD_NAME, CONFIG_NAME, WEIGHTS_NAME

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------- writing

_CITATION = """@inproceedings{wu2026gradient,
  title     = {Gradient as Conditions: Rethinking {HOG} for All-in-one Image Restoration},
  author    = {Wu, Jiawei and Yang, Zhifei and Wang, Zhe and Jin, Zhi},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  volume    = {40},
  number    = {13},
  pages     = {10682--10690},
  year      = {2026},
  eprint    = {2504.09377},
  archivePrefix = {arXiv}
}"""

#: The quality table of the shipped default weights (docs/model-card.md, "Results"; PSNR in dB on the five
#: held-out sporco photos) and the command that makes it.
_DEFAULT_QUALITY = """| degradation | input | this model | best classical method |
|---|---:|---:|---:|
| noise, sigma 25 | 20.36 | 28.50 | 32.13 (BM3D, true sigma) |
| haze | 9.67 | 16.99 | 22.47 (dark channel prior) |
| low light | 8.36 | **18.75** | 18.20 (gamma) |
| blur | 26.24 | 26.19 | 29.00 (Wiener, estimated kernel) |
| rain | 22.92 | 26.88 | 27.40 (min(input, median 5x5)) |"""

_PROTOCOL = (
    "Each of the five held-out photos of `sporco` (kodim23, monarch, barbara, sail, tulips; never used in "
    "training) is degraded once per degradation (`hogformer.data.degradations`, seed 0) and quantised to 8 bits. "
    "PSNR on RGB in [0, 1], no border crop, averaged over the five photos."
)


def _front_matter(license_id: str, tags: list[str]) -> str:
    lines = ["---", f"license: {license_id}", "library_name: hogformer", "pipeline_tag: image-to-image", "tags:"]
    lines += [f"- {t}" for t in tags]
    return "\n".join(lines + ["---", ""])


def model_card(
    *,
    name: str,
    config: dict,
    num_parameters: int,
    description: str,
    training_data: str,
    quality_table: str | None,
    quality_command: str,
    license_id: str = "mit",
    repo_hint: str = "OWNER/NAME",
) -> str:
    """The Hub model card (``README.md``) text: YAML front matter, then what it restores, training data and
    protocol, quality table with its command, limits, citation."""
    tags = ["image-restoration", "all-in-one", "denoising", "deraining", "dehazing", "low-light", "hogformer"]
    arch = (
        f"HOGformer, dim {config['dim']}, blocks {'/'.join(map(str, config['num_blocks']))}, "
        f"{config['num_refinement_blocks']} refinement block(s), heads {'/'.join(map(str, config['heads']))}, "
        f"FFN expansion {config['ffn_expansion_factor']}; {num_parameters:,} parameters"
    )
    quality = (
        f"{quality_table}\n\nProtocol: {_PROTOCOL}\n\nThe command that makes it (from a checkout of hogformer):\n\n"
        f"```bash\npip install 'hogformer[quality]'\n{quality_command}\n```"
        if quality_table
        else "Not measured for these weights. The command that measures them on the package's held-out photos "
        f"(protocol: {_PROTOCOL}):\n\n```bash\npip install 'hogformer[quality]'\n{quality_command}\n```"
    )
    return f"""{_front_matter(license_id, tags)}
# {name}

HOGformer all-in-one image restoration weights (paper: *Gradient as Conditions: Rethinking HOG for All-in-one
Image Restoration*, AAAI 2026, [arXiv 2504.09377](https://arxiv.org/abs/2504.09377)), in the format of the
[`hogformer`](https://pypi.org/project/hogformer/) package.

## What it restores

{description or "All-in-one restoration: one network for several degradations."}

Input and output: RGB in [0, 1], any height and width (the restorer pads to a multiple of 16 and crops back).
Architecture: {arch}.

```bash
pip install 'hogformer[hub]'
hogformer restore photo.png -o restored.png --weights hf://{repo_hint}
```

```python
import hogformer
model = hogformer.load_model("hf://{repo_hint}")        # or a local copy of this folder
restorer = hogformer.Restorer("hf://{repo_hint}")
```

## Training data and protocol

{training_data or "Not recorded in the weights file."}

## Quality

{quality}

## Limits

* In float32 the network's outputs are not bit-reproducible across machines, thread counts or runtimes: it
  sorts pixels by computed keys, and near-equal keys can sort differently (differences of the order of 1e-3 on
  average; float64 is reproducible).
* Trained on synthetic degradations only; real-world degradations outside those listed above may be left
  alone or made worse.
* Files: `model.safetensors` (weights; the network config in its metadata), `config.json` (the same config).

## Citation

```bibtex
{_CITATION}
```
"""


def write_hub_folder(
    weights: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    license_id: str = "mit",
    repo_hint: str = "OWNER/NAME",
    overwrite: bool = False,
) -> Path:
    """Write a folder to upload to the Hub as it is: ``model.safetensors``, ``config.json``, ``README.md``.

    ``weights``: anything ``--weights`` accepts (``None``: the shipped default weights). Each file is written
    atomically. Raises FileExistsError if the folder holds any of those files and not ``overwrite``."""
    from ..files import atomic_write_bytes
    from ..pretrained import resolve_weights

    path, shipped = resolve_weights(weights)
    ckpt = read_checkpoint(path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    existing = [n for n in _FILES if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out}: already holds {', '.join(existing)} (use --overwrite)")
    meta = {k: v for k, v in ckpt.metadata.items() if k not in ("format", "hogformer_config")}
    meta.setdefault("source_format", ckpt.format)
    out.mkdir(parents=True, exist_ok=True)
    save_model((ckpt.config, ckpt.state_dict), out / WEIGHTS_NAME, metadata=meta)
    config = ckpt.config.to_dict()
    atomic_write_bytes(out / CONFIG_NAME, (json.dumps(config, indent=1, sort_keys=True) + "\n").encode())

    index_entry: dict = {}
    if shipped is not None:
        from ..pretrained import WEIGHTS_DIR

        entries = json.loads((WEIGHTS_DIR / "index.json").read_text())
        index_entry = next((e for e in entries if e["name"] == shipped.name), {})
    description = index_entry.get("description") or meta.get("description", "")
    training_data = index_entry.get("training_data") or meta.get("training_data", "")
    is_default = shipped is not None and shipped.name == "default"
    source = "default" if is_default else (shipped.name if shipped else str(path))
    card = model_card(
        name=f"HOGformer ({shipped.name} weights)" if shipped else f"HOGformer ({path.stem})",
        config=config,
        num_parameters=ckpt.num_parameters,
        description=description,
        training_data=training_data,
        quality_table=_DEFAULT_QUALITY if is_default else None,
        quality_command=f"python -m benchmarks.quality.compare_weights {source} --threads 2",
        license_id=license_id,
        repo_hint=repo_hint,
    )
    atomic_write_bytes(out / CARD_NAME, card.encode())
    log.info("wrote %s (%s, %s, %s)", out, WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)
    return out
