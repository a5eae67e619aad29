"""Every checkpoint container loads to the same network; bad files get one clear error each."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hogformer import CheckpointError, load_model, read_checkpoint, save_model
from hogformer.checkpoints import infer_config
from hogformer.models import HOGformer, HOGformerConfig, preset


@pytest.fixture(scope="module")
def reference(golden_dir):
    return load_file(str(golden_dir / "tiny_weights.safetensors"))


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("tiny_weights.safetensors", "safetensors"),
        ("tiny_official_basicsr.pth", "basicsr (params)"),
        ("tiny_official_lightning.ckpt", "lightning"),
    ],
)
def test_official_containers_load_the_same_weights(golden_dir, reference, name, fmt):
    ckpt = read_checkpoint(golden_dir / name)
    assert ckpt.format == fmt
    assert ckpt.config_source == "shapes"
    assert set(ckpt.state_dict) == set(reference)
    for k, v in reference.items():
        assert torch.equal(ckpt.state_dict[k], v), k


def test_lightning_loss_buffers_are_ignored_not_loaded(golden_dir):
    ckpt = read_checkpoint(golden_dir / "tiny_official_lightning.ckpt")
    assert sorted(ckpt.dropped_keys) == [
        "cri_HOGloss.hog_layer.angles",
        "cri_HOGloss.hog_layer.dx_filter",
        "cri_HOGloss.hog_layer.dy_filter",
    ]


def test_containers_give_the_same_outputs(golden_dir, golden_cases):
    x = golden_cases["input_2"]
    outs = []
    for name in ("tiny_weights.safetensors", "tiny_official_basicsr.pth", "tiny_official_lightning.ckpt"):
        model = load_model(golden_dir / name, dtype=torch.float64)
        assert not model.training
        with torch.no_grad():
            outs.append(model(x))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert (outs[0] - golden_cases["output_2"]).abs().max() < 1e-7


def test_convert_round_trips_bit_for_bit(golden_dir, tmp_path):
    from hogformer.cli import main

    src = golden_dir / "tiny_official_lightning.ckpt"
    out = tmp_path / "tiny.safetensors"
    assert main(["convert", str(src), str(out)]) == 0
    a, b = read_checkpoint(src), read_checkpoint(out)
    assert b.format == "hogformer safetensors" and b.config_source == "metadata"
    assert a.config == b.config
    assert set(a.state_dict) == set(b.state_dict)
    for k in a.state_dict:
        assert a.state_dict[k].dtype == b.state_dict[k].dtype
        assert torch.equal(a.state_dict[k], b.state_dict[k]), k


def test_info_reports_format_config_and_count(golden_dir, capsys):
    from hogformer.cli import main

    assert main(["info", str(golden_dir / "tiny_official_basicsr.pth")]) == 0
    out = capsys.readouterr().out
    assert "basicsr (params)" in out and "636754" in out and '"dim": 12' in out


def _state(config: HOGformerConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return HOGformer(config).state_dict()


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_bare_state_dict_with_wrapper_prefixes(tmp_path, prefix):
    config = preset("tiny")
    sd = _state(config)
    path = tmp_path / "bare.pth"
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    ckpt = read_checkpoint(path)
    assert ckpt.config == config
    assert all(torch.equal(ckpt.state_dict[k], v) for k, v in sd.items())


def test_basicsr_params_ema_only_and_explicit_key(tmp_path):
    config = preset("tiny")
    a, b = _state(config, 0), _state(config, 1)
    path = tmp_path / "net_g.pth"
    torch.save({"params_ema": a}, path)
    assert torch.equal(read_checkpoint(path).state_dict["output.weight"], a["output.weight"])
    torch.save({"params": a, "params_ema": b}, path)
    assert torch.equal(read_checkpoint(path).state_dict["output.weight"], a["output.weight"])
    assert torch.equal(read_checkpoint(path, key="params_ema").state_dict["output.weight"], b["output.weight"])


@pytest.mark.parametrize(
    "config",
    [
        preset("official"),
        preset("small"),
        HOGformerConfig(dim=24, num_blocks=(2, 1, 3, 1), num_refinement_blocks=0, heads=(2, 4, 4, 8), bias=True),
        HOGformerConfig(dim=12, num_blocks=(1, 1, 1, 1), num_refinement_blocks=2, ffn_expansion_factor=2.0),
    ],
)
def test_config_is_derived_from_shapes(config):
    with torch.device("meta"):
        sd = HOGformer(config).state_dict()
    assert infer_config(sd) == config


def test_safetensors_carry_their_config_and_metadata(tmp_path):
    config = HOGformerConfig(dim=12, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, layernorm_type="BiasFree")
    model = HOGformer(config)
    path = save_model(model, tmp_path / "m.safetensors", metadata={"trained_on": "nothing"})
    ckpt = read_checkpoint(path)
    assert ckpt.config == config  # the norm type is not visible in the shapes: it comes from the metadata
    assert ckpt.metadata["trained_on"] == "nothing"
    assert not list(tmp_path.glob(".*tmp*"))


# ------------------------------------------------------------------------------------------- bad files


def _assert_error(path: Path, *fragments: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_error_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    _assert_error(path, "not a checkpoint")


def test_error_empty_and_missing_and_directory(tmp_path):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    _assert_error(empty, "empty file")
    _assert_error(tmp_path / "nope.pth", "no such file")
    _assert_error(tmp_path, "directory")


def test_error_truncated_torch_file(golden_dir, tmp_path):
    data = (golden_dir / "tiny_official_lightning.ckpt").read_bytes()
    path = tmp_path / "cut.ckpt"
    path.write_bytes(data[: len(data) // 2])
    _assert_error(path, "corrupt or truncated")


def test_error_corrupt_torch_member(golden_dir, tmp_path):
    src = golden_dir / "tiny_official_basicsr.pth"
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    data[start : start + 64] = bytes(64)  # zero some tensor bytes: the CRC no longer matches
    path = tmp_path / "flipped.pth"
    path.write_bytes(bytes(data))
    _assert_error(path, "corrupt")


def test_error_truncated_safetensors(golden_dir, tmp_path):
    data = (golden_dir / "tiny_weights.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) - 1000])
    _assert_error(path, "corrupt or truncated safetensors")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_error_pickle_that_would_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"params": {"patch_embed.proj.weight": torch.zeros(1)}, "payload": _Evil()}, path)
    _assert_error(path, "could run code")
    assert not (tmp_path / "pwned-by-checkpoint").exists()
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(pickle.dumps(_Evil(), protocol=2))
    _assert_error(legacy, "could run code")
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_error_other_architecture_names_keys(tmp_path):
    # A Restormer-like state dict: same patch embedding, other block names.
    sd = {
        "patch_embed.proj.weight": torch.zeros(48, 3, 3, 3),
        "encoder_level1.0.attn.temperature": torch.ones(1, 1, 1),
        "encoder_level1.0.norm1.body.weight": torch.ones(48),
        "output.weight": torch.zeros(3, 96, 3, 3),
    }
    path = tmp_path / "restormer.pth"
    torch.save(sd, path)
    _assert_error(
        path, "not a HOGformer checkpoint", "missing keys", "unexpected keys", "encoder_level1.0.attn.temperature"
    )


def test_error_shape_mismatch_with_stored_config(tmp_path):
    config = preset("tiny")
    sd = _state(config)
    sd["output.weight"] = torch.zeros(3, 24, 5, 5)
    path = tmp_path / "bad.safetensors"
    save_file(
        {k: v.contiguous() for k, v in sd.items()},
        str(path),
        metadata={"format": "hogformer", "hogformer_config": config.to_json()},
    )
    _assert_error(path, "output.weight")


def test_error_missing_tensor_names_it(tmp_path):
    config = preset("tiny")
    sd = _state(config)
    del sd["decoder_level2.0.ffn.project_out.weight"]
    path = tmp_path / "partial.pth"
    torch.save(sd, path)
    _assert_error(path, "missing keys: decoder_level2.0.ffn.project_out.weight")
