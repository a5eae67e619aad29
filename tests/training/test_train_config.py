"""Training configs: the shipped protocol files, overrides, unknown keys, path resolution, the saved copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hogformer import preset
from hogformer.training import ConfigError, load_config, parse_config, write_config
from hogformer.training.config_parse import apply_overrides

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PUBLISHED = CONFIGS / "published"
RECIPE = CONFIGS / "shipped.yaml"  # a recipe of stages: tests/training/test_recipe.py
SHIPPED = sorted(p for p in CONFIGS.rglob("*.yaml") if p != RECIPE)


def test_every_protocol_has_a_config() -> None:
    names = {p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml")}
    assert {
        "published/setting1_allweather",
        "published/setting2_diffuir5",
        "published/setting3_three_task",
        "published/setting4_five_task",
        "tiny",
        "shipped",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_configs_load_and_hold_no_absolute_path(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    root = raw["data"]["root"]
    assert not Path(root).is_absolute()
    for src in raw["data"].get("train", []) + raw["data"].get("val", []):
        assert not Path(src["dir"]).is_absolute()
        assert not Path(src.get("names") or ".").is_absolute()
        for sub in ("lq", "gt"):
            assert not Path(src.get(sub, ".")).is_absolute()
    config = load_config(path)
    assert config.name == path.stem
    assert Path(config.data.root).is_absolute()
    assert all(Path(s.dir).is_absolute() for s in config.data.train + config.data.val)


def test_published_settings_match_the_spec() -> None:
    s3 = load_config(PUBLISHED / "setting3_three_task.yaml")
    s4 = load_config(PUBLISHED / "setting4_five_task.yaml")
    s1 = load_config(PUBLISHED / "setting1_allweather.yaml")
    for cfg in (s1, s3, s4):
        assert cfg.model == preset("official")
        assert set(cfg.objective.parts) == {"l1", "pearson", "hog"}
        assert all(part["weight"] == 1.0 for part in cfg.objective.parts.values())
    for cfg in (s3, s4):
        assert (cfg.data.patch_size, cfg.data.batch_size, cfg.data.crop_multiple) == (128, 5, 16)
        assert cfg.data.augment == "dihedral7"
        assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.betas) == (
            "adamw",
            2e-4,
            0.01,
            (0.9, 0.999),
        )
        assert (cfg.schedule.warmup, cfg.schedule.total, cfg.trainer.max_epochs) == (15, 180, 150)
        assert cfg.objective.off_last_epochs == {"hog": 5}
        assert cfg.objective.parts["hog"]["block"] == 2 and cfg.objective.parts["hog"]["distance"] == "l1"
        assert cfg.trainer.grad_clip is None
    noise = s3.data.train[0]
    assert (noise.kind, noise.sigmas, noise.repeat) == ("noise", (15.0, 25.0, 50.0), 3)
    assert s3.data.train[1].repeat == 120
    assert [s.repeat for s in s4.data.train] == [3, 120, 1, 5, 20]
    assert (s1.optim.lr, s1.optim.weight_decay, s1.trainer.grad_clip, s1.trainer.max_steps) == (
        3e-4,
        1e-4,
        0.01,
        300000,
    )
    assert s1.objective.parts["hog"]["block"] == 1 and s1.objective.parts["hog"]["distance"] == "l2"
    assert s1.data.augment == "dihedral8"


def test_overrides_parse_values_with_yaml(tmp_path: Path) -> None:
    config = load_config(
        CONFIGS / "tiny.yaml",
        [
            "optim.lr=1e-4",
            "data.train.0.repeat=7",
            "trainer.grad_clip=0.5",
            "trainer.devices=auto",
            "optim.betas=[0.8, 0.9]",
            "data.val_size=null",
            "objective.off_last_epochs.hog=0",
        ],
        data_root=tmp_path,
    )
    assert config.optim.lr == 1e-4  # YAML 1.1 reads "1e-4" as a string; the schema makes it a number
    assert config.data.train[0].repeat == 7
    assert config.trainer.grad_clip == 0.5
    assert config.trainer.devices == "auto"
    assert config.optim.betas == (0.8, 0.9)
    assert config.data.val_size is None
    assert config.objective.off_last_epochs == {"hog": 0}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("trainer.max_epoch=3", "trainer.max_epoch"),
        ("nonsense=1", "nonsense"),
        ("data.train.0.sigma=3", "data.train.0.sigma"),
        ("data.train.1.sigmas=[3]", "data.train.1.sigmas"),  # an option of another kind
        ("model.width=3", "model.width"),
        ("schedule.periods=[3]", "schedule.periods"),  # not an option of warmup_cosine
        ("data.progressive.patch=3", "data.progressive.patch"),
    ],
)
def test_unknown_keys_are_errors_naming_the_key(tmp_path: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}:"):
        load_config(CONFIGS / "tiny.yaml", [override], data_root=tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=fast", "optim.lr: expected a number"),
        ("data.patch_size=30", "data.patch_size: must be a positive multiple of 8"),
        ("data.train.5.repeat=2", "data.train.5: index out of range"),
        ("data.augment=flip", "data.augment: must be one of"),
        ("objective.off_last_epochs.ssim=2", "objective.off_last_epochs.ssim: no loss part"),
        ("objective.parts.hog.distance=l3", "objective.parts:"),
        ("trainer.max_epochs=null", "trainer: set max_epochs or max_steps"),
        ("noequals", "an override must look like"),
    ],
)
def test_bad_values_are_errors_naming_the_key(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "tiny.yaml", [override], data_root=tmp_path)


def test_progressive_sizes_must_match_the_loaded_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="progressive"):
        load_config(PUBLISHED / "setting1_allweather.yaml", ["data.patch_size=128"], data_root=tmp_path)


def test_data_paths_resolve_against_data_root_or_config_root(tmp_path: Path, monkeypatch) -> None:
    by_flag = load_config(CONFIGS / "tiny.yaml", data_root=tmp_path / "mini")
    assert by_flag.data.root == str((tmp_path / "mini").resolve())
    assert by_flag.data.train[0].dir == str((tmp_path / "mini" / "clean").resolve())
    monkeypatch.chdir(tmp_path)
    by_config = load_config(CONFIGS / "tiny.yaml")  # data.root: data/tiny, relative to the working directory
    assert by_config.data.train[1].dir == str((tmp_path / "data" / "tiny" / "pairs").resolve())
    absolute = load_config(CONFIGS / "tiny.yaml", [f"data.train.0.dir={tmp_path / 'elsewhere'}"])
    assert absolute.data.train[0].dir == str(tmp_path / "elsewhere")


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(PUBLISHED / "setting4_five_task.yaml", ["optim.lr=1e-4"], data_root=tmp_path)
    path = write_config(config, tmp_path / "run" / "config.yaml")
    assert path.read_text().startswith("name: setting4_five_task")
    assert not list(path.parent.glob(".*tmp*"))
    again = load_config(path)
    assert again == config


def test_model_preset_with_field_override() -> None:
    raw = yaml.safe_load((CONFIGS / "tiny.yaml").read_text())
    raw["model"] = {"preset": "small", "dim": 24}
    config = parse_config(raw)
    assert config.model.dim == 24 and config.model.num_blocks == preset("small").num_blocks


def test_apply_overrides_creates_missing_sections() -> None:
    raw: dict = {"data": {"train": [{"kind": "noise"}]}}
    apply_overrides(raw, ["trainer.max_epochs=2", "data.train.0.sigmas=[15]"])
    assert raw["trainer"] == {"max_epochs": 2}
    assert raw["data"]["train"][0]["sigmas"] == [15]
