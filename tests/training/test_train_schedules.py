"""Learning-rate and progressive schedules against the published numbers (spec 6).

The expected values are written out here from the protocol's formulas, not taken from the code under test.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch

from hogformer.training import load_config
from hogformer.training.config_schema import ScheduleConfig
from hogformer.training.schedules import (
    ProgressiveSchedule,
    Schedule,
    ScheduleLR,
    cyclic_cosine_lr,
    warmup_cosine_lr,
)

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "published"


# Settings III/IV. LinearWarmupCosineAnnealingLR(warmup_epochs=15, max_epochs=180), closed form, base 2e-4:
#   k < 15: 2e-4 * k / 14;  k >= 15: 1e-4 * (1 + cos(pi * (k - 15) / 165)).
# The official trainer steps it with the index of the epoch just finished, so epoch e trains at k = e - 1
# (and epoch 0 at the initial value, 0).
def official_aio_lr(epoch: int) -> float:
    k = max(epoch - 1, 0)
    if k < 15:
        return 2e-4 * k / 14
    return 1e-4 * (1 + math.cos(math.pi * (k - 15) / 165))


# Values written out from the protocol.
AIO_POINTS = {
    0: 0.0,  # warmup_start_lr
    1: 0.0,  # still the closed-form value of epoch 0 (the one-epoch lag)
    2: 2e-4 / 14,
    8: 1e-4,  # half-way up: 2e-4 * 7 / 14
    15: 2e-4,  # k = 14: the end of the warm-up
    16: 2e-4,  # k = 15: the start of the cosine
    98: 1e-4 * (1 + math.cos(math.pi * 82 / 165)),  # k = 97, near the middle of the cosine
    149: 1e-4 * (1 + math.cos(math.pi * 133 / 165)),  # the last epoch trained (training stops after 150)
    181: 0.0,  # k = 180: the end of the cosine
}


@pytest.mark.parametrize("epoch", sorted(AIO_POINTS))
def test_settings_3_4_lr_at_chosen_epochs(epoch: int) -> None:
    config = load_config(REPO_CONFIGS / "setting3_three_task.yaml")
    schedule = Schedule.from_config(config.schedule, config.optim.lr)
    assert schedule.interval == "epoch"
    assert official_aio_lr(epoch) == pytest.approx(AIO_POINTS[epoch], rel=1e-12, abs=1e-18)
    assert schedule.lr(epoch) == pytest.approx(AIO_POINTS[epoch], rel=1e-12, abs=1e-18)


def test_settings_3_4_closed_form_without_lag() -> None:
    # The Bolts closed form itself: 0 at epoch 0, base at warmup - 1 and at warmup, 0 at max_epochs.
    assert warmup_cosine_lr(0, 2e-4) == 0.0
    assert warmup_cosine_lr(14, 2e-4) == pytest.approx(2e-4)
    assert warmup_cosine_lr(15, 2e-4) == pytest.approx(2e-4)
    assert warmup_cosine_lr(97, 2e-4) == pytest.approx(1e-4 * (1 + math.cos(math.pi * 82 / 165)))
    assert warmup_cosine_lr(180, 2e-4) == pytest.approx(0.0, abs=1e-20)
    assert warmup_cosine_lr(200, 2e-4) == 0.0  # held at eta_min past the end


def test_settings_3_4_scheduler_stepped_per_epoch() -> None:
    """Driving ScheduleLR as Lightning does with interval='epoch' gives the official value every epoch."""
    config = load_config(REPO_CONFIGS / "setting4_five_task.yaml")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=config.optim.lr)
    sched = ScheduleLR(opt, Schedule.from_config(config.schedule, config.optim.lr))
    for epoch in range(150):
        assert opt.param_groups[0]["lr"] == pytest.approx(official_aio_lr(epoch), rel=1e-12, abs=1e-18), epoch
        opt.step()
        sched.step()


# Setting I. CosineAnnealingRestartCyclicLR(periods=[92000, 208000], restart_weights=[1, 1],
# eta_mins=[3e-4, 1e-6]), base 3e-4: 3e-4 for t <= 92000, then 1e-6 + (3e-4 - 1e-6)/2 (1 + cos(pi (t - 92000)
# / 208000)).
def official_allweather_lr(step: int) -> float:
    if step <= 92000:
        return 3e-4
    return 1e-6 + 0.5 * (3e-4 - 1e-6) * (1 + math.cos(math.pi * (step - 92000) / 208000))


@pytest.mark.parametrize(
    ("step", "value"),
    [(0, 3e-4), (1, 3e-4), (50000, 3e-4), (92000, 3e-4), (196000, 1e-6 + 0.5 * 2.99e-4), (300000, 1e-6)],
)
def test_setting_1_lr_at_chosen_steps(step: int, value: float) -> None:
    config = load_config(REPO_CONFIGS / "setting1_allweather.yaml")
    schedule = Schedule.from_config(config.schedule, config.optim.lr)
    assert schedule.interval == "step"
    assert official_allweather_lr(step) == pytest.approx(value, rel=1e-12)
    assert schedule.lr(step) == pytest.approx(value, rel=1e-12)


def test_setting_1_lr_between_the_points() -> None:
    for step in (92001, 100000, 150000, 250000, 299999):
        got = cyclic_cosine_lr(step, 3e-4, (92000, 208000), (1.0, 1.0), (3e-4, 1e-6))
        assert got == pytest.approx(official_allweather_lr(step), rel=1e-12)
    assert cyclic_cosine_lr(400000, 3e-4, (92000, 208000), (1.0, 1.0), (3e-4, 1e-6)) == pytest.approx(1e-6)


def test_setting_1_scheduler_stepped_per_iteration() -> None:
    config = load_config(REPO_CONFIGS / "setting1_allweather.yaml")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=config.optim.lr)
    sched = ScheduleLR(opt, Schedule.from_config(config.schedule, config.optim.lr))
    sched.last_epoch = 91998  # jump close to the end of the constant stage
    opt.step()
    sched.step()
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([official_allweather_lr(t) for t in range(91999, 92003)], rel=1e-12)


# Progressive patches/batches: 128/160/256/320/400 with batch 8/5/2/1/1 over 92k/84k/56k/36k/32k iterations.
# Restormer's loop uses the first stage whose cumulative end is >= the 1-based iteration t + 1.
@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, (128, 8)),
        (91999, (128, 8)),
        (92000, (160, 5)),
        (175999, (160, 5)),
        (176000, (256, 2)),
        (231999, (256, 2)),
        (232000, (320, 1)),
        (267999, (320, 1)),
        (268000, (400, 1)),
        (299999, (400, 1)),
        (350000, (400, 1)),  # past the end: the last stage
    ],
)
def test_setting_1_progressive_stages(step: int, expected: tuple[int, int]) -> None:
    config = load_config(REPO_CONFIGS / "setting1_allweather.yaml")
    prog = config.data.progressive
    assert prog is not None
    assert sum(prog.iterations) == config.trainer.max_steps == 300000
    sched = ProgressiveSchedule(prog.patch_sizes, prog.batch_sizes, prog.iterations)
    assert sched.at(step) == expected


def test_scheduler_state_is_plain_data() -> None:
    """The scheduler's state loads with weights_only=True and resumes at the same value."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=2e-4)
    schedule = Schedule(ScheduleConfig("warmup_cosine", "epoch", warmup=15, total=180, offset=1), 2e-4)
    sched = ScheduleLR(opt, schedule)
    for _ in range(20):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched2 = ScheduleLR(opt2, schedule)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(official_aio_lr(21))
