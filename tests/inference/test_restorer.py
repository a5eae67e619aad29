"""Tests for hogformer.inference.restorer: every input kind comes back as it went in, any size works, tiling
agrees with whole-image restoration, and device/precision/tile misuse is refused with a clear message.

Two tiny networks (``preset("tiny")``, CPU): a seeded random one, and the same with its ``output`` convolution
zeroed. HOGformer adds its input to that convolution's output, so the latter is exactly the identity: whatever
it returns that differs from the input is the restorer's doing (padding, tiling, conversions, quantisation).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hogformer
import hogformer.inference.restorer as restorer_module
from hogformer.inference.restorer import PAD_MULTIPLE, Restorer, check_precision, pick_device

ODD_SIZES = [(1, 1), (3, 5), (17, 33), (40, 72)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(seed: int = 0, identity: bool = False) -> hogformer.HOGformer:
    torch.manual_seed(seed)
    model = hogformer.HOGformer(hogformer.preset("tiny"))
    if identity:
        with torch.no_grad():
            model.output.weight.zero_()
            if model.output.bias is not None:
                model.output.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def ident() -> Restorer:
    """Whole-image restorer whose network is exactly the identity."""
    return Restorer(model=_tiny(identity=True), device="cpu")


@pytest.fixture(scope="module")
def rand() -> Restorer:
    """Whole-image restorer with a random (untrained) tiny network."""
    return Restorer(model=_tiny(seed=0), device="cpu")


def _array(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype in (np.uint8, np.uint16):
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)
    return rng.random(shape).astype(dtype)


# ----------------------------------------------------------------------------------------------- numpy

ARRAY_SHAPES = [(17, 33), (17, 33, 1), (17, 33, 2), (17, 33, 3), (17, 33, 4)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", ARRAY_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_array_identity_network_returns_the_input(ident: Restorer, shape: tuple[int, ...], dtype: type) -> None:
    arr = _array(shape, dtype)
    out = ident(arr)
    assert isinstance(out, np.ndarray)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    if dtype == np.float32:  # grey is the mean of three equal float32 channels: exact to one rounding
        np.testing.assert_allclose(out, arr, rtol=0, atol=1e-7)
    else:
        np.testing.assert_array_equal(out, arr)  # exact after quantisation


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("shape", ARRAY_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_array_random_network_keeps_layout_and_alpha(rand: Restorer, shape: tuple[int, ...], dtype: type) -> None:
    arr = _array(shape, dtype, seed=1)
    out = rand(arr)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= top
    colour = out[..., :3] if arr.ndim == 3 and arr.shape[2] >= 3 else out
    assert not np.array_equal(colour, arr[..., :3] if arr.ndim == 3 and arr.shape[2] >= 3 else arr)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        if dtype == np.float64:  # computed in float32: alpha survives to float32 precision
            np.testing.assert_allclose(out[..., -1], arr[..., -1], rtol=0, atol=1e-7)
        else:
            np.testing.assert_array_equal(out[..., -1], arr[..., -1])


def test_float64_identity_is_exact_to_float32_precision(ident: Restorer) -> None:
    arr = _array((9, 14, 3), np.float64)
    out = ident(arr)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, arr, rtol=0, atol=1e-7)


def test_bad_arrays_are_refused(ident: Restorer) -> None:
    with pytest.raises(TypeError, match="dtype"):
        ident(np.zeros((8, 8, 3), dtype=np.int32))
    with pytest.raises(ValueError, match="shape"):
        ident(np.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        ident(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="PIL image, numpy array or torch tensor"):
        ident([[0.5]])


# ------------------------------------------------------------------------------------------------- PIL


def _pil(mode: str, size: tuple[int, int] = (33, 17), seed: int = 0) -> Image.Image:
    """A PIL image of ``mode``, ``size = (W, H)``, with random pixels."""
    w, h = size
    if mode == "I;16":
        return Image.fromarray(_array((h, w), np.uint16, seed))
    if mode == "P":
        return Image.fromarray(_array((h, w, 3), np.uint8, seed)).quantize(16)
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    arr = _array((h, w, bands), np.uint8, seed)
    return Image.fromarray(arr[..., 0] if bands == 1 else arr, mode=mode)


# P images come back as RGB: a restoration's colours do not fit the input's palette.
PIL_MODES = [("L", "L"), ("LA", "LA"), ("RGB", "RGB"), ("RGBA", "RGBA"), ("I;16", "I;16"), ("P", "RGB")]


@pytest.mark.parametrize(("mode", "mode_back"), PIL_MODES)
def test_pil_identity_network_returns_the_input(ident: Restorer, mode: str, mode_back: str) -> None:
    image = _pil(mode)
    out = ident(image)
    assert isinstance(out, Image.Image)
    assert out.mode == mode_back and out.size == image.size
    expected = image.convert(mode_back) if mode_back != mode else image
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


@pytest.mark.parametrize(("mode", "mode_back"), PIL_MODES)
def test_pil_random_network_keeps_mode_size_and_alpha(rand: Restorer, mode: str, mode_back: str) -> None:
    image = _pil(mode, seed=2)
    out = rand(image)
    assert out.mode == mode_back and out.size == image.size
    assert not np.array_equal(np.asarray(out), np.asarray(image.convert(mode_back)))
    if "A" in mode:
        np.testing.assert_array_equal(np.asarray(out.getchannel("A")), np.asarray(image.getchannel("A")))


def test_pil_palette_with_transparency_comes_back_rgba_with_its_alpha(ident: Restorer) -> None:
    image = _pil("P")
    image.info["transparency"] = 0
    out = ident(image)
    expected = image.convert("RGBA")
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_pil_icc_profile_is_carried(rand: Restorer) -> None:
    image = _pil("RGB")
    image.info["icc_profile"] = b"not really a profile, but bytes to carry"
    assert rand(image).info["icc_profile"] == image.info["icc_profile"]


# --------------------------------------------------------------------------------------------- tensors


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 17, 33), (2, 3, 17, 33)])
def test_tensor_kind_shape_dtype(ident: Restorer, rand: Restorer, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    same = ident(x)
    assert same.shape == x.shape and same.dtype == dtype and same.device == x.device
    torch.testing.assert_close(same, x, rtol=0, atol=0 if dtype == torch.float32 else 1e-7)
    out = rand(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)


def test_batch_items_are_restored_independently(rand: Restorer) -> None:
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(3))
    both = rand(x)
    torch.testing.assert_close(both[1], rand(x[1]), rtol=0, atol=1e-5)


def test_tensor_output_is_an_ordinary_tensor(rand: Restorer) -> None:
    out = rand(torch.rand(3, 16, 16))
    assert not out.is_inference()
    out += 1  # callers may modify it


def test_bad_tensors_are_refused(ident: Restorer) -> None:
    with pytest.raises(ValueError, match="channels"):
        ident.restore_tensor(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ident.restore_tensor(torch.rand(3, 16, 16))


# ------------------------------------------------------------------------------------- sizes, padding


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_sizes_identity_is_exact(ident: Restorer, size: tuple[int, int]) -> None:
    arr = _array((*size, 3), np.uint8, seed=4)
    np.testing.assert_array_equal(ident(arr), arr)


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_sizes_random_network(rand: Restorer, size: tuple[int, int]) -> None:
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(5))
    out = rand.restore_tensor(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_network_sees_the_input_padded_to_a_multiple_of_16(ident: Restorer, size: tuple[int, int]) -> None:
    seen: list[tuple[int, ...]] = []
    handle = ident.model.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape)))
    try:
        ident.restore_tensor(torch.rand(1, 3, *size))
    finally:
        handle.remove()
    expected = tuple(-(-n // PAD_MULTIPLE) * PAD_MULTIPLE for n in size)
    assert seen == [(1, 3, *expected)]


# ------------------------------------------------------------------------------------------------ tiling


@pytest.mark.parametrize(("tile", "overlap", "batch"), [(16, 4, 1), (32, 8, 1), (32, 16, 3)])
def test_tiled_equals_whole_for_the_identity_network(tile: int, overlap: int, batch: int) -> None:
    model = _tiny(identity=True)
    x = torch.rand(1, 3, 40, 72, generator=torch.Generator().manual_seed(6))
    whole = Restorer(model=model, device="cpu").restore_tensor(x)
    calls: list[tuple[int, int]] = []
    tiled = Restorer(model=model, device="cpu", tile=tile, tile_overlap=overlap, tile_batch=batch).restore_tensor(
        x, progress=lambda done, total: calls.append((done, total))
    )
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)  # only the blend's rounding differs
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1]  # it did tile


def test_tiled_identity_gives_the_same_uint8_image() -> None:
    arr = _array((40, 72, 3), np.uint8, seed=7)
    out = Restorer(model=_tiny(identity=True), device="cpu", tile=32, tile_overlap=8)(arr)
    np.testing.assert_array_equal(out, arr)


def test_tiled_random_network_is_close_to_whole() -> None:
    """Tolerance for a real (here random) network, 64x64 in 32-pixel tiles overlapping by 16: the mean absolute
    difference to the whole-image result is under 0.01 and under a quarter of the network's own mean change.

    The tiles differ from the whole image because DHOGSA's attention and the HOG statistics span whatever the
    network is given, so tiling is an approximation for any network that is not local.
    """
    model = _tiny(seed=0)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(8))
    whole = Restorer(model=model, device="cpu").restore_tensor(x)
    tiled = Restorer(model=model, device="cpu", tile=32, tile_overlap=16).restore_tensor(x)
    assert torch.isfinite(tiled).all() and tiled.min() >= 0 and tiled.max() <= 1
    diff = (tiled - whole).abs()
    assert diff.max() > 0  # not the identity: tiling does change a non-local network's output
    change = (whole - x).abs().mean()
    assert diff.mean() < 0.01 and diff.mean() < 0.25 * change


def test_image_no_larger_than_the_tile_is_restored_whole(rand: Restorer) -> None:
    x = torch.rand(1, 3, 30, 32, generator=torch.Generator().manual_seed(9))
    tiled = Restorer(model=rand.model, device="cpu", tile=32).restore_tensor(x)
    torch.testing.assert_close(tiled, rand.restore_tensor(x), rtol=0, atol=0)


# ------------------------------------------------------------------------------ weights, device, precision


def test_weights_file_gives_the_same_network(tmp_path: Path, rand: Restorer) -> None:
    path = hogformer.save_model(_tiny(seed=0), tmp_path / "tiny.safetensors")
    loaded = Restorer(path, device="cpu")
    assert loaded.weights_path == path and loaded.weights_info is None
    expected = rand.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.model.state_dict().items())
    x = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(10))
    # Same weights; tensors at other addresses may take other SIMD paths, hence one float32 rounding.
    torch.testing.assert_close(loaded.restore_tensor(x), rand.restore_tensor(x), rtol=0, atol=1e-6)


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(ValueError, match="fp16 is not supported on CPU"):
        Restorer(model=_tiny(), device="cpu", precision="fp16")


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        Restorer(model=_tiny(), device="cpu", precision="fp8")


def test_fp64_runs_the_network_in_float64_and_agrees_with_the_low_memory_forward() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 40, 72)
    plain = Restorer(model=_tiny(), device="cpu", precision="fp64", low_memory=False)
    low = Restorer(model=_tiny(), device="cpu", precision="fp64", low_memory=8 * 80)
    assert next(plain.model.parameters()).dtype == torch.float64
    a, b = plain.restore_tensor(x), low.restore_tensor(x)
    assert a.dtype == torch.float64 and (a - x).abs().mean().item() > 1e-2
    assert (a - b).abs().max().item() < 1e-10


def test_check_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restorer_module, "cpu_has_native_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert check_precision(cpu, "fp32") == torch.float32
    assert check_precision(cpu, "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="fp16"):
        check_precision(cpu, "fp16")
    with pytest.raises(ValueError, match="choose one of fp32, tf32, fp16, bf16"):
        check_precision(cpu, "half")
    with pytest.raises(ValueError, match="tf32 is a CUDA mode"):
        check_precision(cpu, "tf32")


def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    with_flag, without = tmp_path / "with", tmp_path / "without"
    with_flag.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert restorer_module.cpu_has_native_bf16(str(with_flag)) is True
    assert restorer_module.cpu_has_native_bf16(str(without)) is False
    assert restorer_module.cpu_has_native_bf16(str(tmp_path / "missing")) is None
    monkeypatch.setattr(restorer_module, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="emulated and several times slower"):
        check_precision(torch.device("cpu"), "bf16")


def _tf32_state() -> tuple[object, object]:
    matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        return matmul.fp32_precision, conv.fp32_precision
    return torch.backends.cudnn.allow_tf32, matmul.allow_tf32


def test_cuda_tf32_sets_both_settings_and_restores_them() -> None:
    """fp32 on CUDA runs with TF32 off (PyTorch's default TF32 convolutions exceed the float32 bound), tf32 on;
    the process-wide settings come back as they were, also after an error, and the legacy flags stay readable
    (mixing PyTorch's two TF32 APIs makes them raise)."""
    from hogformer.inference.restorer import cuda_tf32

    new_api = hasattr(torch.backends.cuda.matmul, "fp32_precision")
    on, off = (("tf32", "tf32"), ("ieee", "ieee")) if new_api else ((True, True), (False, False))
    start = _tf32_state()
    for allow, expected in ((True, on), (False, off)):
        with cuda_tf32(allow):
            assert _tf32_state() == expected
        assert _tf32_state() == start
    with pytest.raises(RuntimeError, match="boom"), cuda_tf32(True):
        raise RuntimeError("boom")
    assert _tf32_state() == start
    assert isinstance(torch.backends.cudnn.allow_tf32, bool) and isinstance(torch.backends.cuda.matmul.allow_tf32, bool)


def test_precision_context_asks_for_tf32_only_with_tf32(monkeypatch: pytest.MonkeyPatch) -> None:
    import hogformer.inference.restorer as restorer_module

    asked: list[bool] = []

    @contextlib.contextmanager
    def record(allow: bool):
        asked.append(allow)
        yield

    monkeypatch.setattr(restorer_module, "cuda_tf32", record)
    r = Restorer(model=_tiny(), device="cpu")
    with r._precision():  # CPU: the CUDA settings are left alone
        pass
    assert asked == []
    r.device = torch.device("cuda")  # only the device type is looked at
    for precision in ("fp32", "tf32", "fp32"):
        r.precision = precision
        with r._precision():
            pass
    assert asked == [False, True, False]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="no CUDA device is available"):
        Restorer(model=_tiny(), device="cuda")
    with pytest.raises(ValueError, match="no CUDA device"):
        pick_device("cuda:0")


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    dev = torch.device("cpu")
    assert pick_device(dev) is dev
    assert pick_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.parametrize("tile", [8, 24, 100, "40"])
def test_tile_not_a_multiple_of_16_is_refused(tile: int | str) -> None:
    with pytest.raises(ValueError, match="tile must be a multiple of 16"):
        Restorer(model=_tiny(), device="cpu", tile=tile)


def test_tile_settings_accepted_and_negative_overlap_refused() -> None:
    model = _tiny()
    assert Restorer(model=model, device="cpu", tile="64").tile == 64
    assert Restorer(model=model, device="cpu", tile="auto").tile == "auto"
    with pytest.raises(ValueError, match="tile_overlap"):
        Restorer(model=model, device="cpu", tile=32, tile_overlap=-1)


def test_auto_tile_restores(rand: Restorer) -> None:
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(11))
    auto = Restorer(model=rand.model, device="cpu", tile="auto").restore_tensor(x)
    torch.testing.assert_close(auto, rand.restore_tensor(x), rtol=0, atol=0)  # the tile is far larger


def test_low_memory_restorer_matches_the_whole_image_forward(strip_calls: list[int]) -> None:
    model = _tiny(seed=3)
    x = torch.rand(1, 3, 40, 72)
    plain = Restorer(model=model, device="cpu").restore_tensor(x)
    assert strip_calls == []
    low = Restorer(model=model, device="cpu", low_memory=16 * 80)  # 16-row strips of the padded 48x80 input
    out = low.restore_tensor(x)
    assert strip_calls and set(strip_calls) == {16 * 80}
    assert model.strip_pixels is None  # the caller's model is left as it was
    assert (plain - x).abs().mean().item() > 1e-2  # the random network changes the image
    assert (out - plain).abs().mean().item() < 1e-4  # float32 rounding only (the sorts make it chaotic)
    with pytest.raises(ValueError, match="low_memory"):
        Restorer(model=model, device="cpu", low_memory=0)
    with pytest.raises(ValueError, match="HOGformer"):
        Restorer(model=torch.nn.Identity(), device="cpu", low_memory=True)


def test_auto_tile_is_larger_in_low_memory_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    import hogformer.inference.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 << 30)
    model = _tiny()
    x = torch.zeros(1, 3, 16, 16)
    plain = Restorer(model=model, device="cpu", tile="auto", low_memory=False)._tile_for(x)
    low = Restorer(model=model, device="cpu", tile="auto", low_memory=True)._tile_for(x)
    assert isinstance(plain, int) and isinstance(low, int) and low > 1.5 * plain
    # "auto" falls back to the low-memory forward where the plain one would not fit, so its tiles can be as large
    assert Restorer(model=model, device="cpu", tile="auto")._tile_for(x) == low


def test_low_memory_auto_on_cpu_from_512x512(strip_calls: list[int]) -> None:
    from hogformer.inference.restorer import AUTO_LOW_MEMORY_PIXELS

    model = _tiny(seed=4)
    auto = Restorer(model=model, device="cpu")  # the default
    assert auto.strip_pixels == "auto" and AUTO_LOW_MEMORY_PIXELS == 512 * 512
    assert auto.strip_pixels_for(torch.zeros(1, 3, 496, 512)) is None
    # strips of an eighth of the image, at least 32K and at most 256K pixels
    assert auto.strip_pixels_for(torch.zeros(1, 3, 512, 512)) == 32768
    assert auto.strip_pixels_for(torch.zeros(1, 3, 1024, 1024)) == 131072
    assert auto.strip_pixels_for(torch.zeros(1, 3, 4096, 3072)) == 262144
    auto.restore_tensor(torch.rand(1, 3, 64, 64))
    assert strip_calls == []
    x = torch.rand(1, 3, 512, 528, generator=torch.Generator().manual_seed(5))
    out = auto.restore_tensor(x)
    assert strip_calls and set(strip_calls) == {512 * 528 // 8} and model.strip_pixels is None
    strip_calls.clear()
    Restorer(model=model, device="cpu", low_memory=True).restore_tensor(torch.rand(1, 3, 64, 64))
    assert strip_calls and set(strip_calls) == {32768}  # asked for: low memory at any size, strips sized to the image
    strip_calls.clear()
    plain = Restorer(model=model, device="cpu", low_memory=False).restore_tensor(x)
    assert strip_calls == []
    # the same mathematics: float32 through the sorts is chaotic at this size, so the project's float32 bound
    assert (out - plain).abs().mean().item() < 1e-2 < (plain - x).abs().mean().item()
    # a network without a low-memory mode is simply run as it is
    assert Restorer(model=torch.nn.Identity(), device="cpu").strip_pixels is None


def test_low_memory_auto_on_a_gpu_only_when_the_plain_forward_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import hogformer.inference.restorer as restorer_module
    from hogformer.inference.memory import bytes_per_pixel

    auto = Restorer(model=_tiny(), device="cpu")
    auto.device = torch.device("meta")  # stands for a GPU: only the device type is looked at
    x = torch.zeros(2, 3, 512, 512)
    need = 2 * 512 * 512 * bytes_per_pixel(auto.model.config.dim)
    monkeypatch.setattr(restorer_module, "available_bytes", lambda device: 2 * need)
    assert auto.strip_pixels_for(x) is None  # fits: the plain forward is the faster one on a GPU
    monkeypatch.setattr(restorer_module, "available_bytes", lambda device: need)
    assert auto.strip_pixels_for(x) == 512 * 512 // 8


def test_low_memory_auto_falls_back_when_the_plain_forward_runs_out_of_memory(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hogformer.models.hogformer import FROM_MODEL

    model = _tiny(seed=6)
    forward = type(model).forward
    modes: list[int | None] = []

    def tight_memory(self, x, strip_pixels=FROM_MODEL):  # the plain forward does not fit; the low-memory one does
        mode = self.strip_pixels if strip_pixels is FROM_MODEL else strip_pixels
        modes.append(mode)
        if mode is None:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(self, x, strip_pixels)

    monkeypatch.setattr(type(model), "forward", tight_memory)
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(7))
    auto = Restorer(model=model, device="cpu")
    assert auto.strip_pixels == "auto" and auto.strip_pixels_for(x) is None  # the estimate says plain fits
    with caplog.at_level("WARNING", logger="hogformer.inference.restorer"):
        out = auto.restore_tensor(x)
    assert modes == [None, 32768] and torch.isfinite(out).all()  # the smallest sized strip
    assert "retrying with the low-memory forward" in caplog.text
    assert model.strip_pixels is None  # left as it was
    modes.clear()
    with pytest.raises(torch.OutOfMemoryError):  # asked for the plain forward: no silent switch
        Restorer(model=model, device="cpu", low_memory=False).restore_tensor(x)
    assert modes == [None]


@pytest.mark.parametrize("low_memory", [False, 16 * 48], ids=["plain", "low-memory"])
def test_progress_inside_one_image_advances_block_by_block(low_memory) -> None:
    model = _tiny()
    calls: list[tuple[int, int]] = []
    Restorer(model=model, device="cpu", low_memory=low_memory).restore_tensor(
        torch.rand(1, 3, 40, 48), progress=lambda done, total: calls.append((done, total))
    )
    blocks = sum(1 for m in model.modules() if type(m).__name__ == "HOGformerBlock")
    assert blocks > 1 and calls == [(k, blocks) for k in range(1, blocks + 1)]
    assert model.block_callback is None  # the restorer leaves the model as it found it
