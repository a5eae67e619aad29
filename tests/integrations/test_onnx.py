"""ONNX export: the graph's mathematics in float64 (onnx.reference), onnxruntime in float32 (statistically: the
network's sorts make float32 outputs chaotic), dynamic sizes, the graph standing alone, the CLI and the helper."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="pip install 'hogformer[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="pip install 'hogformer[onnx]'")

import hogformer  # noqa: E402
from hogformer.inference.tiling import pad_to_multiple, run_padded  # noqa: E402
from hogformer.integrations.onnx import (  # noqa: E402
    INPUT_NAME,
    OnnxRestorer,
    PaddedHOGformer,
    _mirror_index,
    export_onnx,
    export_onnx_bytes,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny64(golden_dir):
    return hogformer.load_model(golden_dir / "tiny_weights.safetensors", dtype=torch.float64)


@pytest.fixture(scope="module")
def tiny32(golden_dir):
    return hogformer.load_model(golden_dir / "tiny_weights.safetensors")


@pytest.fixture(scope="module")
def graph32(tiny32, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_onnx(tiny32, path)


def _session(path_or_bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes),
        options,
        providers=["CPUExecutionProvider"],
    )


def _reference_evaluator(data: bytes):
    import onnx
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class GatherElements(OpRun):  # onnx's own uses np.choose, limited to 64 choices
        def _run(self, data, indices, axis=None):
            axis = axis or 0
            return (np.take_along_axis(data, np.where(indices < 0, indices + data.shape[axis], indices), axis=axis),)

    return ReferenceEvaluator(onnx.load_from_string(data), new_ops=[GatherElements])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 15, 16, 17, 31, 33])
def test_mirror_padding_equals_the_restorers(n):
    x = torch.arange(16 * n, dtype=torch.float64).reshape(1, 1, 16, n)
    size = -(-n // 16) * 16
    want = pad_to_multiple(x, 16, mode="reflect")[0]
    assert torch.equal(x.index_select(3, _mirror_index(n, size)), want)


def test_padded_wrapper_equals_run_padded(tiny64):
    x = torch.rand(1, 3, 21, 35, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(PaddedHOGformer(tiny64)(x), run_padded(tiny64, x, 16, mode="reflect"))


@pytest.mark.slow
def test_float64_graph_matches_pytorch(tiny64):
    """The exported mathematics, without float32 chaos: the float64 graph in onnx's reference runtime equals
    the PyTorch network padded as the Restorer pads, at sizes the example size was not."""
    evaluator = _reference_evaluator(export_onnx_bytes(tiny64, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    for shape in [(1, 3, 33, 47), (2, 3, 16, 24), (1, 3, 41, 75)]:
        x = torch.rand(shape, dtype=torch.float64, generator=g)
        with torch.no_grad():
            want = run_padded(tiny64, x, 16, mode="reflect").numpy()
        (got,) = evaluator.run(None, {INPUT_NAME: x.numpy()})
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-7, shape


def test_onnxruntime_float32_within_float32_noise(graph32, tiny32, tiny64, golden_cases, monkeypatch):
    """onnxruntime float32 on a natural-image crop at two sizes (not multiples of 16), against the float64
    network: its error is of the order of PyTorch float32's own (the network's sorts make float32 chaotic).

    Exactly equal sort keys (flat areas of an 8-bit photo) are ordered by index in ONNX's TopK, as a stable sort
    orders them; PyTorch's CPU sort is unstable and orders them otherwise, which alone moves this tiny network's
    output by ~2e-2 in float64. The reference is therefore the float64 network with a stable sort."""
    session = _session(graph32)
    photo = golden_cases["input_3"]  # (1, 3, 96, 96) 8-bit astronaut crop
    sort = torch.sort
    monkeypatch.setattr(torch, "sort", lambda *a, **k: sort(*a, **{**k, "stable": True}))
    for h, w in [(96, 96), (57, 83)]:
        x64 = photo[:, :, :h, :w].contiguous()
        x = x64.float()
        with torch.no_grad():
            torch32 = run_padded(tiny32, x, 16, mode="reflect").numpy()
            truth = run_padded(tiny64, x64, 16, mode="reflect").numpy()
        (onnx32,) = session.run(None, {INPUT_NAME: x.numpy()})
        assert onnx32.shape == (1, 3, h, w) and np.isfinite(onnx32).all()
        own = np.abs(torch32 - truth).mean()
        assert own < 1e-2  # the reference itself is sound
        assert np.abs(onnx32 - truth).mean() < 2 * own + 1e-3, (h, w)
        assert _psnr(onnx32, torch32) > 30


def test_any_batch_height_and_width(graph32, tiny32):
    session = _session(graph32)
    g = torch.Generator().manual_seed(2)
    for shape in [(1, 3, 1, 1), (2, 3, 9, 1), (1, 3, 16, 16), (3, 3, 20, 13)]:
        x = torch.rand(shape, generator=g)
        (y,) = session.run(None, {INPUT_NAME: x.numpy()})
        assert y.shape == shape and y.dtype == np.float32 and np.isfinite(y).all()
        with torch.no_grad():
            want = run_padded(tiny32, x, 16, mode="reflect").numpy()
        assert np.abs(y - want).mean() < 1e-2  # ties in mirrored pixels may sort either way


def test_graph_runs_without_hogformer_or_torch(graph32, tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None; sys.modules['hogformer'] = None\n"
        "import numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(graph32)!r}, providers=['CPUExecutionProvider'])\n"
        "y = s.run(None, {s.get_inputs()[0].name: np.full((1, 3, 23, 31), 0.5, np.float32)})[0]\n"
        "assert y.shape == (1, 3, 23, 31), y.shape\n"
        "print('ok', s.get_inputs()[0].shape, s.get_outputs()[0].shape)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "ok ['batch', 3, 'height', 'width'] ['batch', 3, 'height', 'width']" in out.stdout


def test_onnx_restorer_arrays(graph32):
    restorer = OnnxRestorer(graph32, threads=1)
    img8 = (np.random.default_rng(0).random((19, 27, 3)) * 255).astype(np.uint8)
    out8 = restorer(img8)
    assert out8.dtype == np.uint8 and out8.shape == img8.shape
    img16 = img8.astype(np.uint16) * 257
    out16 = restorer(img16)
    assert out16.dtype == np.uint16 and out16.shape == img16.shape
    outf = restorer(img8.astype(np.float32) / 255)
    assert outf.dtype == np.float32 and 0 <= outf.min() and outf.max() <= 1
    assert np.abs(outf * 255 - out8).max() <= 0.5 + 1e-3
    with pytest.raises(ValueError, match="HxWx3"):
        restorer(img8[..., 0])


def test_onnx_restorer_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxRestorer(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="junk.onnx"):
        OnnxRestorer(junk)


def test_bad_opset_and_dtype(tiny32):
    with pytest.raises(ValueError, match="opset"):
        export_onnx_bytes(tiny32, opset=13)
    with pytest.raises(ValueError, match="dtype"):
        export_onnx_bytes(tiny32, dtype=torch.float16)


def test_export_cli(golden_dir, tmp_path, capsys):
    from hogformer.cli import main

    out = tmp_path / "sub" / "tiny.onnx"
    assert main(["export", "onnx", str(out), "--weights", str(golden_dir / "tiny_weights.safetensors")]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "opset 18" in printed
    assert not [p for p in out.parent.iterdir() if p.name != "tiny.onnx"]  # no temporary left behind
    session = _session(out)
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    assert main(["export", "onnx", str(tmp_path / "x.onnx"), "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pth" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()
