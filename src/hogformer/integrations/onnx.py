"""Export HOGformer to ONNX, and restore with onnxruntime (``pip install 'hogformer[onnx]'``).

The exported graph takes and returns float32 NCHW RGB in [0, 1] of any batch, height and width: it pads the
input to a multiple of 16 (mirror padding at the bottom and right, as :class:`hogformer.Restorer` does) and crops
the output back, so onnxruntime alone runs it, without hogformer or PyTorch installed.

Two details of the network need care in ONNX:

* ``atan2`` has no ONNX operator: it is composed from ``Atan``, ``Div`` and ``Where`` with C's conventions for
  zeros (:func:`_atan2`; the same angle, in float32 the last bit can differ, which moves a pixel across a HOG
  bin edge now and then).
* Image sizes inside the network are computed with negative floor divisions (``-(-h // 8)``, a ceiling). The
  TorchScript exporter writes integer floor division as ONNX ``Div``, which truncates, so the graph would hold
  wrong padded sizes for most images: :func:`export_onnx` registers a floor division that rounds
  towards minus infinity for the duration of the export.

The network sorts pixels by computed keys; in float32, near-equal keys can sort differently in onnxruntime and
PyTorch, which moves outputs by float32 noise, as different thread counts already do in PyTorch (see
``docs/integrations.md`` for the measured differences).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models import HOGformer

log = logging.getLogger(__name__)

#: The graph pads height and width to a multiple of this, as :data:`hogformer.inference.restorer.PAD_MULTIPLE`.
PAD_MULTIPLE = 16
#: The oldest opset the export supports (``ScatterElements`` with ``reduction="add"`` needs 16).
MIN_OPSET = 16
DEFAULT_OPSET = 18
#: Size of the example image the graph is traced with: 41x75 pads to 48x80, whose levels at 1/4 and 1/8 need the
#: network's own patch padding and whose 1/8 level needs the sequence padding of the 8-head attention, so that
#: every data-dependent branch of the network is traced on the side that also handles sizes needing no padding
#: (the padding amounts then stay computed, and are 0 where nothing is needed).
_EXAMPLE_SIZE = (41, 75)
INPUT_NAME = "image"
OUTPUT_NAME = "restored"


def _mirror_index(n: Any, size: Any) -> torch.Tensor:
    """Indices ``0 .. size-1`` into a dimension of length ``n`` that mirror it periodically without repeating the
    edge (``0 1 2 1 0 1 2 ...``); a dimension of length 1 repeats its pixel. The same extension as
    :func:`hogformer.inference.tiling.pad_to_multiple` in ``reflect`` mode, at any padding amount."""
    i = torch.arange(size)
    period = torch.clamp(torch.as_tensor(2 * (n - 1)), min=1)
    j = torch.remainder(i, period)
    return torch.where(j >= n, period - j, j)


class PaddedHOGformer(nn.Module):
    """A HOGformer that accepts any height and width: mirror-pad to a multiple of 16, run, crop back."""

    def __init__(self, net: HOGformer) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        hp = (h + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
        wp = (w + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
        padded = image.index_select(2, _mirror_index(h, hp)).index_select(3, _mirror_index(w, wp))
        return self.net(padded)[:, :, :h, :w]


def _floor_divide(g: Any, a: Any, b: Any) -> Any:
    """ONNX floor division (rounding towards minus infinity) for the TorchScript exporter."""
    from torch.onnx import symbolic_helper as sh

    if sh._is_fp(a) or sh._is_fp(b):
        return g.op("Floor", g.op("Div", a, b))
    b = g.op("CastLike", b, a)
    q = g.op("Div", a, b)  # truncates
    r = g.op("Sub", a, g.op("Mul", q, b))
    zero = g.op("CastLike", g.op("Constant", value_t=torch.tensor(0)), a)
    one = g.op("CastLike", g.op("Constant", value_t=torch.tensor(1)), a)
    signs_differ = g.op("Xor", g.op("Less", r, zero), g.op("Less", b, zero))
    adjust = g.op("And", g.op("Not", g.op("Equal", r, zero)), signs_differ)
    return g.op("Sub", q, g.op("Where", adjust, one, zero))


def _atan2(g: Any, y: Any, x: Any) -> Any:
    """``atan2`` as C and PyTorch define it, signed zeros included (``atan2(0, 0) = 0``, ``atan2(0, -1) = pi``).

    The exporter's own composition gives NaN for ``(0, 0)`` and ``-pi`` for ``(+0, x < 0)``: the Sobel gradients
    of a flat area are exactly zero, so the HOG bins and sort keys there would differ from PyTorch's."""

    def const(v: float) -> Any:
        return g.op("CastLike", g.op("Constant", value_t=torch.tensor(v, dtype=torch.float64)), y)

    zero, one, pi = const(0.0), const(1.0), const(math.pi)

    def sign_bit(v: Any) -> Any:  # v < 0, or v is -0 (1 / -0 = -inf)
        return g.op("Or", g.op("Less", v, zero), g.op("Less", g.op("Div", one, v), zero))

    x_neg, y_neg = sign_bit(x), sign_bit(y)
    base = g.op("Atan", g.op("Div", y, x))  # +-pi/2 where x is 0 and y is not
    pi_signed = g.op("Where", y_neg, g.op("Neg", pi), pi)
    result = g.op("Where", x_neg, g.op("Add", base, pi_signed), base)
    both_zero = g.op("And", g.op("Equal", x, zero), g.op("Equal", y, zero))
    return g.op("Where", both_zero, g.op("Where", x_neg, pi_signed, y), result)


_SYMBOLICS = {"aten::floor_divide": _floor_divide, "aten::floordiv": _floor_divide, "aten::atan2": _atan2}


@contextlib.contextmanager
def _floor_semantics(opset: int) -> Iterator[None]:
    from torch.onnx import register_custom_op_symbolic, unregister_custom_op_symbolic

    for name, fn in _SYMBOLICS.items():
        register_custom_op_symbolic(name, fn, opset)
    try:
        yield
    finally:
        for name in _SYMBOLICS:
            unregister_custom_op_symbolic(name, opset)


def export_onnx_bytes(model: HOGformer, opset: int = DEFAULT_OPSET, dtype: torch.dtype = torch.float32) -> bytes:
    """The ONNX graph of ``model`` (any batch, height and width; see the module docstring) as bytes.

    ``dtype`` float32 is the graph to deploy; float64 is for checking the graph's mathematics against PyTorch
    (onnxruntime has no float64 convolution; ``onnx.reference`` runs it)."""
    if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an int >= {MIN_OPSET} (ScatterElements with reduction='add'), got {opset!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    net = HOGformer(model.config)
    net.load_state_dict(model.state_dict())
    net.requires_grad_(False)
    wrapper = PaddedHOGformer(net.to(dtype).eval())
    example = torch.rand(
        1, model.config.inp_channels, *_EXAMPLE_SIZE, generator=torch.Generator().manual_seed(0), dtype=dtype
    )
    dims = {0: "batch", 2: "height", 3: "width"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        torch.no_grad(),
        _floor_semantics(opset),
        warnings.catch_warnings(),
    ):
        # The tracer warns about every size it turns into a Python value; the example size is chosen so that
        # each of them is traced on its general side (see _EXAMPLE_SIZE), and the export tests check other sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (example,),
            os.path.join(tmp, "model.onnx"),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims},
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
        return Path(tmp, "model.onnx").read_bytes()


def export_onnx(
    model: HOGformer, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET, dtype: torch.dtype = torch.float32
) -> Path:
    """Write ``model`` as an ONNX graph to ``path`` (atomically); see :func:`export_onnx_bytes`."""
    from ..files import atomic_write_bytes

    data = export_onnx_bytes(model, opset, dtype)
    atomic_write_bytes(path, data)
    log.info("wrote %s (%.1f MB, opset %d)", path, len(data) / 1e6, opset)
    return Path(path)


class OnnxRestorer:
    """Restore images with an exported graph on onnxruntime (no PyTorch needed to run it).

    ``restorer(array)`` takes an ``HxWx3`` array (uint8, uint16 or float in [0, 1]) and returns the same dtype
    and shape; :meth:`run` takes and returns float32 ``BxCxHxW`` arrays in [0, 1]. ``threads`` sets
    onnxruntime's intra-op threads (``None``: its default, all cores).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, threads: int | None = None, providers: list[str] | None = None
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("onnxruntime is needed: pip install 'hogformer[onnx]'") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise ValueError(f"{self.path}: not an ONNX graph onnxruntime can load ({e})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected one input, the graph has {len(inputs)}")
        self.input_name = inputs[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``BxCxHxW`` in [0, 1] -> the restored batch (not clipped)."""
        if batch.ndim != 4:
            raise ValueError(f"expected a BxCxHxW array, got shape {batch.shape}")
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB array, got shape {image.shape}")
        if image.dtype == np.uint8 or image.dtype == np.uint16:
            scale = float(np.iinfo(image.dtype).max)
            x = image.astype(np.float32) / scale
        elif np.issubdtype(image.dtype, np.floating):
            x, scale = image.astype(np.float32), 0.0
        else:
            raise ValueError(f"unsupported dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")
        y = self.run(x.transpose(2, 0, 1)[None])[0].transpose(1, 2, 0).clip(0.0, 1.0)
        if scale:
            return np.round(y * scale).astype(image.dtype)
        return y.astype(image.dtype)
