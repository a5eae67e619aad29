"""Recipes of stages (configs/shipped.yaml): each stage is a complete training config, chosen with --stage."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from hogformer.training import ConfigError, load_config
from hogformer.training.recipe import load_stage, stage_names, stage_raw
from hogformer.training.train import add_arguments, config_from_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPE = CONFIGS / "shipped.yaml"
STAGES = ["stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "gpu-next"]


def test_the_shipped_recipe_lists_its_stages_in_order() -> None:
    assert stage_names(yaml.safe_load(RECIPE.read_text())) == STAGES


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_loads_and_holds_no_absolute_path(stage: str) -> None:
    raw = stage_raw(yaml.safe_load(RECIPE.read_text()), stage)
    assert not Path(raw["data"]["root"]).is_absolute()
    for src in raw["data"]["train"] + raw["data"]["val"]:
        assert not Path(src["dir"]).is_absolute()
    config = load_stage(RECIPE, stage)
    assert config.name == f"shipped-{stage}"
    assert Path(config.data.root).is_absolute()
    assert all(Path(s.dir).is_absolute() for s in config.data.train + config.data.val)


def test_stages_merge_mappings_and_replace_lists() -> None:
    one, two, nxt = (load_stage(RECIPE, s) for s in ("stage1", "stage2", "gpu-next"))
    assert set(one.objective.parts) == {"l1", "pearson", "hog"}  # the base's l1 and the stage's two
    assert set(two.objective.parts) == {"l1"}
    assert (one.optim.lr, two.optim.lr, one.optim.weight_decay, two.optim.weight_decay) == (5e-4, 3e-4, 0.01, 0.01)
    assert [s.repeat for s in one.data.train] == [3, 2, 1] and [s.repeat for s in two.data.train] == [6, 3, 2, 1]
    assert two.init is not None and two.init.endswith("runs/shipped-stage1/final.safetensors")
    assert nxt.init == "default" and nxt.model.num_blocks == (1, 3, 4, 4) and nxt.model.dim == one.model.dim


def test_overrides_apply_to_the_stage() -> None:
    config = load_stage(RECIPE, "stage3", ["optim.lr=1e-3", "data.train.0.repeat=2"])
    assert config.optim.lr == 1e-3 and config.data.train[0].repeat == 2 and config.data.patch_size == 128


def test_a_recipe_needs_a_stage_and_a_config_refuses_one() -> None:
    with pytest.raises(ConfigError, match="--stage NAME") as err:
        load_stage(RECIPE)
    assert "stage1" in str(err.value) and "gpu-next" in str(err.value)
    with pytest.raises(ConfigError, match="no stage 'nope'; stages: stage1"):
        load_stage(RECIPE, "nope")
    with pytest.raises(ConfigError, match="not a recipe"):
        load_stage(CONFIGS / "tiny.yaml", "stage1")
    assert load_stage(CONFIGS / "tiny.yaml") == load_config(CONFIGS / "tiny.yaml")


def test_unknown_recipe_keys_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "base": {}, "stages": [{"name": "a"}], "extra": 1}))
    with pytest.raises(ConfigError, match="extra: unknown key"):
        load_stage(path, "a")


def test_train_command_takes_a_stage() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["-c", str(RECIPE), "--stage", "stage4", "--max-steps", "7", "seed=9"])
    config = config_from_args(args)
    assert (config.name, config.trainer.max_steps, config.seed) == ("shipped-stage4", 7, 9)
