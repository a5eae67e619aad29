"""Training datasets on miniature layouts: counts with repetition factors, pairing rules, augmentation,
determinism, the resumable sampler, and errors that name the missing path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hogformer.data.crops import crop_to_multiple
from hogformer.data.photos import sample_crops  # noqa: E402
from hogformer.training import load_config
from hogformer.training.config_schema import ConfigError, SourceConfig
from hogformer.training.datasets import (
    EpochSampler,
    EvalDataset,
    PatchDataset,
    ShardSampler,
    build_tasks,
    dihedral,
)
from hogformer.training.recipe import load_stage

skdata = pytest.importorskip("skimage.data")
photos = sample_crops
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PUBLISHED = CONFIGS / "published"


def save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture(scope="module")
def adair_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PromptIR/AdaIR training layout in miniature (Settings III/IV)."""
    root = tmp_path_factory.mktemp("adair")
    imgs = photos(12, seed=1)
    for i in range(3):
        save(root / "Train/Denoise" / f"{i:05d}.png", imgs[i])
    for i in (1, 2):
        save(root / "Train/Derain/gt" / f"norain-{i}.png", imgs[2 + i])
        save(
            root / "Train/Derain/rainy" / f"rain-{i}.png",
            np.clip(imgs[2 + i].astype(int) + 60, 0, 255).astype(np.uint8),
        )
    for ident, img in (("0001", imgs[5]), ("0002", imgs[6])):
        save(root / "Train/Dehaze/original" / f"{ident}.jpg", img)
    for name, img in (("0001_0.8_0.2", imgs[5]), ("0001_0.9_0.1", imgs[5]), ("0002_0.8_0.2", imgs[6])):
        save(root / "Train/Dehaze/synthetic/part1" / f"{name}.jpg", (img * 0.5 + 120).astype(np.uint8))
    save(root / "Train/Deblur/blur/GOPR0001.png", imgs[7])
    save(root / "Train/Deblur/sharp/GOPR0001.png", imgs[7])
    save(root / "Train/Enhance/low/1.png", (imgs[8] // 4).astype(np.uint8))
    save(root / "Train/Enhance/gt/1.png", imgs[8])
    for i in range(2):
        save(root / "test/denoise/bsd68" / f"{i}.png", imgs[9 + i])
    return root


def test_counts_with_the_adair_repetition_factors(adair_root: Path) -> None:
    config = load_config(PUBLISHED / "setting4_five_task.yaml", ["data.patch_size=32"], data_root=adair_root)
    tasks = build_tasks(config.data.train)
    counts = {t.name: len(t) for t in tasks}
    assert counts == {
        "denoise_15": 3 * 3,
        "denoise_25": 3 * 3,
        "denoise_50": 3 * 3,
        "derain": 2 * 120,
        "dehaze": 3,
        "deblur": 1 * 5,
        "enhance": 1 * 20,
    }
    ds = PatchDataset(tasks, 32, augment="dihedral7", crop_multiple=16)
    assert len(ds) == 27 + 240 + 3 + 5 + 20
    # the pairing rules of the layout
    derain = {lq.name: gt.name for lq, gt in next(t for t in tasks if t.name == "derain").items}
    assert derain == {"rain-1.png": "norain-1.png", "rain-2.png": "norain-2.png"}
    dehaze = sorted((lq.name, gt.name) for lq, gt in next(t for t in tasks if t.name == "dehaze").items)
    assert dehaze == [
        ("0001_0.8_0.2.jpg", "0001.jpg"),
        ("0001_0.9_0.1.jpg", "0001.jpg"),
        ("0002_0.8_0.2.jpg", "0002.jpg"),
    ]
    # every task gives patches of the right shape and range
    seen = set()
    for index in range(0, len(ds), 7):
        sample = ds[(0, index)]
        assert sample["lq"].shape == sample["gt"].shape == (3, 32, 32)
        assert 0.0 <= float(sample["lq"].min()) and float(sample["lq"].max()) <= 1.0
        seen.add(sample["task"])
    assert len(seen) >= 5


def test_noise_is_added_on_the_fly_as_adair_does(adair_root: Path) -> None:
    grey = np.full((48, 48, 3), 128, np.uint8)
    save(adair_root / "grey/g.png", grey)
    src = SourceConfig(kind="noise", dir=str(adair_root / "grey"), sigmas=(25.0,))
    ds = PatchDataset(build_tasks([src]), 48, augment="none")
    diffs = [(ds[(0, 0)]["lq"] - ds[(0, 0)]["gt"]).numpy()]
    diffs += [(ds[(e, 0)]["lq"] - ds[(e, 0)]["gt"]).numpy() for e in range(1, 4)]
    d = np.concatenate([x.ravel() for x in diffs]) * 255
    assert np.allclose(d, np.round(d), atol=1e-3)  # 8-bit, as the uint8 patch of the official code
    assert 24.0 < d.std() < 26.0
    assert -1.0 < d.mean() < 0.0  # truncation towards zero when casting to uint8


def _reference_adair_modes(img: np.ndarray) -> list[np.ndarray]:
    """AdaIR/PromptIR ``data_augmentation`` modes 0..7, written out as in the reference code."""
    return [
        img,
        np.flipud(img),
        np.rot90(img),
        np.flipud(np.rot90(img)),
        np.rot90(img, k=2),
        np.flipud(np.rot90(img, k=2)),
        np.rot90(img, k=3),
        np.flipud(np.rot90(img, k=3)),
    ]


def test_dihedral_modes_are_the_reference_ones() -> None:
    img = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    for mode, expected in enumerate(_reference_adair_modes(img)):
        assert np.array_equal(dihedral(img, mode), expected), mode
    # the eight are distinct: the whole dihedral group
    assert len({dihedral(img, m).tobytes() + bytes(dihedral(img, m).shape) for m in range(8)}) == 8


@pytest.mark.parametrize(("augment", "modes"), [("dihedral7", set(range(1, 8))), ("dihedral8", set(range(8)))])
def test_augmentation_is_one_of_the_flips_rotations(tmp_path: Path, augment: str, modes: set[int]) -> None:
    img = photos(1, size=48, seed=4)[0]
    save(tmp_path / "p/input/a.png", img)
    save(tmp_path / "p/gt/a.png", img)
    src = SourceConfig(kind="paired", dir=str(tmp_path / "p"))
    ds = PatchDataset(build_tasks([src]), 48, augment=augment, crop_multiple=16)  # the patch is the whole image
    refs = [np.ascontiguousarray(r) for r in _reference_adair_modes(img.astype(np.float32) / 255)]
    used = set()
    for epoch in range(60):
        sample = ds[(epoch, 0)]
        gt = sample["gt"].numpy().transpose(1, 2, 0)
        assert np.array_equal(sample["lq"].numpy(), sample["gt"].numpy())  # the same transform on both
        match = [m for m, r in enumerate(refs) if np.allclose(gt, r, atol=1e-6)]
        assert len(match) == 1
        used.add(match[0])
    assert used == modes  # dihedral7 never leaves the image as it is


def test_samples_depend_only_on_seed_epoch_and_index(adair_root: Path) -> None:
    config = load_config(PUBLISHED / "setting3_three_task.yaml", ["data.patch_size=32"], data_root=adair_root)
    tasks = build_tasks(config.data.train)
    a = PatchDataset(tasks, 32, seed=3, crop_multiple=16)
    b = PatchDataset(tasks, 32, seed=3, crop_multiple=16)
    for key in ((0, 0), (5, 12), (2, 100)):
        for part in ("lq", "gt"):
            assert np.array_equal(a[key][part].numpy(), b[key][part].numpy())
    assert not np.array_equal(a[(0, 0)]["lq"].numpy(), a[(1, 0)]["lq"].numpy())
    assert a[0]["task"] == a[(0, 0)]["task"]


def test_synthetic_source_degrades_clean_photos(tmp_path: Path) -> None:
    for i, img in enumerate(photos(3, seed=7)):
        save(tmp_path / "clean" / f"{i}.png", img)
    src = SourceConfig(
        kind="synthetic", dir=str(tmp_path / "clean"), degradations=("noise", "haze", "lowlight"), subset=(None, -1)
    )
    tasks = build_tasks([src])
    assert [t.name for t in tasks] == ["noise", "haze", "lowlight"] and all(len(t) == 2 for t in tasks)
    ds = PatchDataset(tasks, 32, augment="dihedral8")
    for i in range(len(ds)):
        s = ds[(0, i)]
        assert s["lq"].shape == (3, 32, 32) and float((s["lq"] - s["gt"]).abs().mean()) > 0.01
    val = EvalDataset(
        build_tasks(
            [
                SourceConfig(
                    kind="synthetic", dir=str(tmp_path / "clean"), degradations=("blur", "rain"), subset=(-1, None)
                )
            ]
        ),
        size=32,
    )
    assert len(val) == 2
    assert np.array_equal(val[1]["lq"].numpy(), val[1]["lq"].numpy())  # fixed every epoch


def test_eval_crops(tmp_path: Path) -> None:
    img = photos(1, size=56, seed=9)[0][:, :40]  # 56 x 40
    save(tmp_path / "v/input/a.png", img)
    save(tmp_path / "v/gt/a.png", img)
    tasks = build_tasks([SourceConfig(kind="paired", dir=str(tmp_path / "v"))], "data.val")
    whole = EvalDataset(tasks, size=None)[0]
    assert whole["gt"].shape == (3, 48, 32)  # centre-cropped to a multiple of 16
    expected = crop_to_multiple(img.astype(np.float32) / 255, 16).transpose(2, 0, 1)
    assert np.allclose(whole["gt"].numpy(), expected, atol=1e-6)
    assert EvalDataset(tasks, size=64)[0]["gt"].shape == (3, 64, 64)  # padded by reflection


def test_missing_folder_is_named(tmp_path: Path) -> None:
    config = load_config(PUBLISHED / "setting3_three_task.yaml", data_root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data\.train\.0\.dir: folder not found: .*Train/Denoise"):
        build_tasks(config.data.train)
    (tmp_path / "Train/Derain/rainy").mkdir(parents=True)
    src = SourceConfig(kind="paired", dir=str(tmp_path / "Train/Derain"), lq="rainy", gt="gt")
    with pytest.raises(FileNotFoundError, match=r"data\.train\.0\.gt: folder not found: .*Train/Derain/gt"):
        build_tasks([src])


def test_unpaired_file_is_named(tmp_path: Path) -> None:
    img = photos(1, seed=2)[0]
    save(tmp_path / "Derain/rainy/rain-1.png", img)
    save(tmp_path / "Derain/rainy/rain-2.png", img)
    save(tmp_path / "Derain/gt/norain-1.png", img)
    src = SourceConfig(kind="paired", dir=str(tmp_path / "Derain"), lq="rainy", gt="gt", replace=("rain-", "norain-"))
    with pytest.raises(FileNotFoundError) as err:
        build_tasks([src])
    message = str(err.value)
    assert str(tmp_path / "Derain/rainy/rain-2.png") in message
    assert str(tmp_path / "Derain/gt/norain-2.png") in message
    hazy = SourceConfig(kind="paired", dir=str(tmp_path / "Derain"), lq="rainy", gt="gt", match="prefix")
    with pytest.raises(FileNotFoundError, match=r"no ground truth for .*rain-1\.png: expected .*gt/rain-1\.\*"):
        build_tasks([hazy])


def test_names_file_selects_files_and_missing_entries_are_named(tmp_path: Path) -> None:
    for i, img in enumerate(photos(3, seed=5)):
        save(tmp_path / "Denoise" / f"{i}.png", img)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists/denoise.txt").write_text("0.png\n2.png\n")
    src = SourceConfig(
        kind="noise", dir=str(tmp_path / "Denoise"), sigmas=(15.0,), names=str(tmp_path / "lists/denoise.txt")
    )
    assert [p.name for _, p in build_tasks([src])[0].items] == ["0.png", "2.png"]
    (tmp_path / "lists/denoise.txt").write_text("0.png\n7.png\n")
    with pytest.raises(FileNotFoundError, match=r"7\.png \(listed in .*denoise\.txt\) not found"):
        build_tasks([src])


def test_sampler_splits_ranks_and_resumes_mid_epoch() -> None:
    n = 23
    ranks = [EpochSampler(n, seed=1, rank=r, world_size=2) for r in range(2)]
    keys = [list(s) for s in ranks]
    assert all(len(k) == len(s) == 11 for k, s in zip(keys, ranks))
    idx0, idx1 = ({i for _, i in k} for k in keys)
    assert not idx0 & idx1 and len(idx0 | idx1) == 22
    assert all(e == 0 for k in keys for e, _ in k)
    for s in ranks:
        s.set_epoch(1)
    assert [i for _, i in ranks[0]] != [i for _, i in keys[0]]  # reshuffled
    resumed = EpochSampler(n, seed=1, rank=0, world_size=2, epoch=1, skip=4)
    assert len(resumed) == 11  # the length is the whole epoch
    assert list(resumed) == list(ranks[0])[4:]
    resumed.set_epoch(1)
    assert len(list(resumed)) == 7  # same epoch: still resuming
    resumed.set_epoch(2)
    assert len(list(resumed)) == 11
    assert list(ShardSampler(5, 1, 2)) == [1, 3]


def test_degrade_context_gives_patches_photo_scale_haze(tmp_path: Path) -> None:
    """With a context window the haze depth map spans the window, not the patch: across a 16x16 patch of a
    flat grey photo the haze then varies much less than when the patch itself is degraded."""
    save(tmp_path / "clean" / "grey.png", np.full((256, 256, 3), 120, dtype=np.uint8))
    tasks = build_tasks([SourceConfig(kind="synthetic", dir=str(tmp_path / "clean"), degradations=("haze",))])
    plain = PatchDataset(tasks, 16, augment="none")
    wide = PatchDataset(tasks, 16, augment="none", degrade_context=256)

    def spread(ds: PatchDataset) -> float:
        values = []
        for epoch in range(24):
            lq = ds[(epoch, 0)]["lq"]
            assert lq.shape == (3, 16, 16)
            values.append(float(lq.amax() - lq.amin()))
        return float(np.mean(values))

    assert spread(wide) < 0.5 * spread(plain)
    a, b = wide[(3, 0)], wide[(3, 0)]
    assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])  # still a pure function of the key


def test_degrade_context_changes_synthetic_sources_only(adair_root: Path) -> None:
    config = load_config(PUBLISHED / "setting4_five_task.yaml", ["data.patch_size=32"], data_root=adair_root)
    tasks = build_tasks(config.data.train)  # paired and noise sources of the AdaIR layout
    plain = PatchDataset(tasks, 32, augment="dihedral7", crop_multiple=16)
    wide = PatchDataset(tasks, 32, augment="dihedral7", crop_multiple=16, degrade_context=96)
    for index in range(0, len(plain), 11):
        a, b = plain[(1, index)], wide[(1, index)]
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])


def test_degrade_context_below_the_patch_is_refused() -> None:
    with pytest.raises(ConfigError, match="degrade_context"):
        load_stage(CONFIGS / "shipped.yaml", "stage1", ["data.degrade_context=32"])
