"""The Gradio page of ``hogformer app``: drop images, restore, compare, download, inspect.

Layout only: the work is :func:`hogformer.app.core.restore_file`. Every failure reaches the page as a one-line
message in the status box (or a Gradio error message for API calls), never a traceback. Besides the page's own
events, one named API endpoint, ``/restore``, takes one image file and returns the restored file, for
``gradio_client`` scripts.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..inference.restorer import PRECISIONS
from .core import (
    ASSETS,
    DEFAULT_MAX_PIXELS,
    AppError,
    Options,
    RestoredFile,
    RestorerPool,
    parse_tile,
    restore_file,
    sample_images,
    user_message,
)

log = logging.getLogger(__name__)

__all__ = ["build_app", "PREVIEW_SIDE"]

#: The comparison slider shows the result at most this many pixels a side (the download is full size).
PREVIEW_SIDE = 2048
LOW_MEMORY: dict[str, bool | str] = {"auto": "auto", "on": True, "off": False}
TITLE = "HOGformer: all-in-one image restoration"
INTRO = (
    "Drop or pick one or more images (noise, blur, haze, low light, rain), press **Restore**, compare before "
    "and after with the slider (scroll to zoom, drag to pan, full-screen button), and download the results at "
    "full resolution in each input's format and bit depth. Beside each result, `hogformer inspect`'s view of the "
    "input: its HOG orientation histogram against clean photos, where the gradient energy sits, and what it "
    "seems to suffer from."
)


def _preview(rgb: np.ndarray) -> np.ndarray:
    """uint8 copy for the slider, block-subsampled to at most :data:`PREVIEW_SIDE` a side."""
    step = int(np.ceil(max(rgb.shape[:2]) / PREVIEW_SIDE))
    return (np.clip(rgb[::step, ::step], 0, 1) * 255 + 0.5).astype(np.uint8)


def _devices() -> list[str]:
    import torch

    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def _weight_names(default: str | None) -> list[str]:
    from ..pretrained import shipped

    names = [n for n, w in shipped().items() if not w.test_only]
    if default and default not in names:
        names.insert(0, default)
    return names


def _label(estimate: dict[str, float]) -> dict[str, float]:
    from ..diagnosis.inspect import LABELS

    return {LABELS.get(k, k): v for k, v in estimate.items()}


def build_app(
    *,
    weights: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    tile: int | str | None = None,
    low_memory: bool | str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    pool: RestorerPool | None = None,
    work_dir: str | Path | None = None,
) -> Any:
    """The page as a ``gradio.Blocks``; the keyword arguments are the options it starts with (and those the
    ``/restore`` endpoint uses). ``pool`` builds the restorers (tests pass one with a fake factory)."""
    import gradio as gr

    pool = pool or RestorerPool()
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="hogformer-app-"))
    work.mkdir(parents=True, exist_ok=True)
    defaults = Options(weights, device, precision, tile, low_memory)
    weight_names = _weight_names(weights)
    low_memory_names = {v: k for k, v in LOW_MEMORY.items()}

    def out_dir() -> Path:
        return Path(tempfile.mkdtemp(dir=work))

    def options_from(
        weights_name: str, weights_file: str | None, dev: str, prec: str, tile_text: str, low: str
    ) -> Options:
        chosen = weights_file or (None if weights_name in ("default", "", None) else weights_name)
        return Options(chosen, dev or "auto", prec or "fp32", parse_tile(tile_text), LOW_MEMORY.get(low, "auto"))

    def show(result: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        if not result:
            return None, None, None
        return (result["before"], result["after"]), result["plot"], _label(result["estimate"]) or None

    def restore(
        files: list[str] | None,
        weights_name: str,
        weights_file: str | None,
        dev: str,
        prec: str,
        tile_text: str,
        low: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way of asking for a progress bar)
    ) -> tuple[Any, ...]:
        files = [f for f in (files or []) if f]
        empty: tuple[Any, ...] = (gr.update(choices=[], value=None), None, [], None, None, [])
        if not files:
            return ("Drop or pick an image first.", *empty)
        messages: list[str] = []
        try:
            options = options_from(weights_name, weights_file, dev, prec, tile_text, low)
            progress(0.0, desc="loading the weights")
            restorer = pool.get(options)
        except Exception as e:  # bad weights, device, precision or tile: one message, nothing restored
            log.warning("options refused: %s", e, exc_info=log.isEnabledFor(logging.DEBUG))
            return (f"**Error:** {user_message('options', e)}", *empty)
        results: list[dict[str, Any]] = []
        n = len(files)
        for i, path in enumerate(files):
            name = Path(path).name

            def tick(done: int, total: int, i: int = i, name: str = name) -> None:
                progress((i * total + done, n * total), desc=f"restoring {name}", unit="tiles")

            progress((i, n), desc=f"restoring {name}")
            try:
                r: RestoredFile = restore_file(
                    path, restorer, source_name=name, out_dir=out_dir(), max_pixels=max_pixels, progress=tick
                )
            except Exception as e:  # one bad file does not stop the others
                log.warning("%s: %s", name, e, exc_info=not isinstance(e, (AppError, ValueError)))
                messages.append(user_message(name, e))
                continue
            results.append(
                {
                    "name": name,
                    "output": str(r.output),
                    "before": _preview(r.before),
                    "after": _preview(r.after),
                    "plot": str(r.plot) if r.plot else None,
                    "estimate": r.estimate,
                    "size": f"{r.before.shape[1]}x{r.before.shape[0]}",
                }
            )
        done = f"Restored {len(results)} of {n} image(s)." if results else "Nothing was restored."
        status = done + "".join(f"\n\n**Error:** {m}" for m in messages)
        if not results:
            return (status, *empty)
        labels = [f"{k + 1}. {r['name']} ({r['size']})" for k, r in enumerate(results)]
        slider, plot, estimate = show(results[0])
        downloads = [r["output"] for r in results]
        return (status, gr.update(choices=labels, value=labels[0]), slider, downloads, plot, estimate, results)

    def pick(label: str | None, results: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
        for k, r in enumerate(results or []):
            if label and label.startswith(f"{k + 1}. "):
                return show(r)
        return show(None)

    def api_restore(image: str | None) -> str:
        """Restore one image file with the server's options; returns the restored file (same format and depth)."""
        if not image:
            raise gr.Error("no image file given")
        name = Path(image).name
        try:
            r = restore_file(
                image,
                pool.get(defaults),
                source_name=name,
                out_dir=out_dir(),
                max_pixels=max_pixels,
                with_inspection=False,
            )
        except Exception as e:
            log.warning("/restore %s: %s", name, e, exc_info=not isinstance(e, (AppError, ValueError)))
            raise gr.Error(user_message(name, e), print_exception=False) from None
        return str(r.output)

    samples = sample_images()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(
                    label="Images", file_count="multiple", file_types=["image"], type="filepath", elem_id="inputs"
                )
                if samples:
                    gr.Examples([[[str(p)]] for p in samples], inputs=[files], label="Sample images")
                with gr.Accordion("Options", open=False):
                    w_name = gr.Dropdown(
                        weight_names or ["default"], value=weights or "default", label="Weights (shipped)"
                    )
                    w_file = gr.File(
                        label="or your own weights (.safetensors, .pth, .ckpt)",
                        file_types=[".safetensors", ".pth", ".ckpt", ".pt"],
                        type="filepath",
                    )
                    dev = gr.Dropdown(_devices(), value=device, label="Device", allow_custom_value=True)
                    prec = gr.Radio(list(PRECISIONS), value=precision, label="Precision")
                    tile_box = gr.Textbox(
                        "" if tile is None else str(tile),
                        label="Tile (empty: whole image; 'auto' or a multiple of 16)",
                        elem_id="tile",
                    )
                    low = gr.Radio(list(LOW_MEMORY), value=low_memory_names.get(low_memory, "auto"), label="Low memory")
                button = gr.Button("Restore", variant="primary", elem_id="restore-button")
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=2):
                choice = gr.Dropdown([], label="Result", elem_id="result-choice", interactive=True)
                slider = gr.ImageSlider(
                    label="Before / after (scroll to zoom)",
                    format="png",
                    buttons=["fullscreen"],
                    elem_id="compare",
                    interactive=False,
                )
                with gr.Row():
                    downloads = gr.File(
                        label="Restored images (full resolution, the input's format and bit depth)",
                        file_count="multiple",
                        interactive=False,
                        elem_id="downloads",
                        scale=2,
                    )
                    estimate = gr.Label(
                        label="The input seems to suffer from", num_top_classes=3, scale=1, elem_id="estimate"
                    )
                plot = gr.Image(
                    label="inspect: the input's HOG orientation histogram against clean photos, its gradient energy",
                    type="filepath",
                    interactive=False,
                    elem_id="inspect-plot",
                )
        results = gr.State([])
        button.click(
            restore,
            [files, w_name, w_file, dev, prec, tile_box, low],
            [status, choice, slider, downloads, plot, estimate, results],
            api_name="restore_page",  # the page's own event; "/restore" is the API endpoint below
            api_visibility="private",
            show_progress_on=[slider],  # one progress bar, over the comparison
        )
        choice.input(pick, [choice, results], [slider, plot, estimate], api_visibility="private")
        with gr.Row(visible=False):
            api_in = gr.File(label="image", type="filepath")
            api_out = gr.File(label="restored image")
            api_button = gr.Button("restore (API)")
        api_button.click(api_restore, [api_in], [api_out], api_name="restore")
    demo.hogformer_work_dir = work
    return demo


def remove_work_dir(demo: Any) -> None:
    """Delete the folder of results the app wrote (called when the server stops)."""
    work = getattr(demo, "hogformer_work_dir", None)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def allowed_paths(demo: Any) -> list[str]:
    """The folders the server may send files from: its results and the sample images."""
    return [str(getattr(demo, "hogformer_work_dir", "")), str(ASSETS)]
