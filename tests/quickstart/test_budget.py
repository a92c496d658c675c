"""The quickstart's wall-clock budget, driven by a fake clock: a machine that slows down after calibration still ends
training on time, with its learning rate decayed, on a schedule that ``massivetext train`` reproduces step for step."""

import pytest
import torch

import massivetext as mt
from massivetext.quickstart.budget import TimeBudget, WallClockSchedule
from massivetext.training.schedule import get_scheduler
from peers import require


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _tiny_trainer(callbacks, max_steps=10_000):
    torch.manual_seed(0)
    config = mt.AutoConfig.for_model("gpt2", vocab_size=64, n_positions=16, n_layer=1, n_head=2, n_embd=16,
                                     bos_token_id=0, eos_token_id=0)  # fmt: skip
    model = mt.AutoModelForCausalLM.from_config(config)
    data = [{"input_ids": torch.randint(0, 64, (16,)), "labels": torch.randint(0, 64, (16,))} for _ in range(64)]
    args = mt.TrainingArguments(output_dir="unused", max_steps=max_steps, per_device_train_batch_size=4,
                                learning_rate=1e-3, lr_scheduler_type="constant_with_warmup", warmup_steps=5,
                                logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True)  # fmt: skip
    return model, mt.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)


def _replayed_rates(schedule: WallClockSchedule, n: int) -> list[float]:
    """The rates the Trainer's own scheduler gives for what train.yaml records (lr 1e-3), step by step."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    replay = get_scheduler("warmup_stable_decay", opt, schedule.warmup, n, schedule.scheduler_kwargs())
    rates = []
    for _ in range(n):
        rates.append(replay.get_last_lr()[0])
        opt.step()
        replay.step()
    return rates


def _run_timed(monkeypatch, step_cost, *, start: float = 0.0, warmup: int = 5, **timer_kwargs):
    """Train the tiny model under a ``TimeBudget`` on a fake clock; the n-th training step (from 1) costs
    ``step_cost(timer, n)`` fake seconds. Returns the timer, its schedule, the trainer and the clock."""
    clock = FakeClock()
    clock.t = start
    schedule = WallClockSchedule(warmup=warmup)
    timer = TimeBudget(None, schedule, clock=clock, report_every_s=1e9, **timer_kwargs)
    model, trainer = _tiny_trainer([timer])
    timer.trainer = trainer
    forward, steps = type(model).forward, [0]

    def timed_forward(self, *a, **k):
        steps[0] += 1
        clock.t += step_cost(timer, steps[0])
        return forward(self, *a, **k)

    monkeypatch.setattr(type(model), "forward", timed_forward)
    trainer.train()
    return timer, schedule, trainer, clock


@pytest.mark.parametrize("slow_after", [None, 30])
def test_training_ends_by_the_deadline_with_the_rate_decayed(tmp_path, monkeypatch, slow_after):
    """Calibrated at 1 s/step; with slow_after the machine turns 3x slower at step 30 (before the decay)."""
    monkeypatch.chdir(tmp_path)
    timer, schedule, trainer, clock = _run_timed(
        monkeypatch, lambda timer, n: 3.0 if slow_after is not None and n > slow_after else 1.0,
        finish_at=200.0, after_s=10.0, step_s=1.0, decay_fraction=0.2,
    )  # fmt: skip
    slowdown = 3.0 if slow_after else 1.0
    deadline = 200.0 - 10.0 * slowdown  # the later stages cost more on a slower machine too
    assert timer.stopped_by == "schedule"
    assert deadline - 2 * slowdown <= clock.t <= deadline  # on time, and no more than two steps early
    n = trainer.state.global_step
    assert n == schedule.warmup + schedule.stable + schedule.decay
    # the decay started when a fifth of the training time was left
    planned = timer.decay_planned_at
    assert abs((deadline - planned) - 0.2 * deadline) <= 3 * slowdown
    lrs = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    assert max(lrs) == pytest.approx(1e-3) and lrs[-1] < 0.35e-3  # 1-sqrt decay: last step's rate is low
    # what train.yaml records reproduces the rates step for step in the Trainer's own scheduler
    assert lrs == pytest.approx(_replayed_rates(schedule, n), rel=1e-9, abs=1e-12)


def test_an_evaluation_just_before_the_decay_plan_does_not_shorten_the_decay(tmp_path, monkeypatch):
    """A 20 s pause between two 1 s steps (the in-training evaluation) right before the decay is planned: the plan
    must read the machine's speed, not the pause (a mean over the window planned a decay a fifth too short)."""
    monkeypatch.chdir(tmp_path)

    def pause_at_140(timer, n):  # the decay is planned ~38 s before 190 s: this pause lands in the window it reads
        return 21.0 if n == 140 else 1.0

    timer, schedule, trainer, clock = _run_timed(
        monkeypatch, pause_at_140, finish_at=200.0, after_s=10.0, step_s=1.0, decay_fraction=0.2
    )
    assert timer.decay_planned_at is not None and timer.decay_planned_at >= 160.0  # planned at the step after the pause
    assert timer.stopped_by == "schedule" and 188.0 <= clock.t <= 190.0  # on time, not early


def test_a_machine_that_speeds_up_during_the_decay_still_ends_at_the_deadline(tmp_path, monkeypatch):
    """3 s/step when the decay starts, 0.5 s/step after (a concurrent job ended): the decay's progress follows the
    clock, so training still ends at the deadline (a decay fixed in steps ended at ~136 s of 190), and the rates
    replay step for step from what train.yaml records."""
    monkeypatch.chdir(tmp_path)
    timer, schedule, trainer, clock = _run_timed(
        monkeypatch, lambda timer, n: 3.0 if timer.decay_planned_at is None else 0.5,
        finish_at=200.0, after_s=10.0, step_s=3.0, decay_fraction=0.2,
    )  # fmt: skip
    deadline = 200.0 - 10.0 * timer.slowdown()
    assert timer.stopped_by == "schedule" and deadline - 1.0 <= clock.t <= deadline
    n = trainer.state.global_step
    assert n == schedule.warmup + schedule.stable + schedule.decay and schedule.decay > 40  # the fast steps were used
    assert schedule.progress == sorted(schedule.progress) and 0.97 < schedule.progress[-1] <= 1.0
    lrs = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    assert lrs == pytest.approx(_replayed_rates(schedule, n), rel=1e-9, abs=1e-12)
    assert lrs[-1] < 0.2e-3  # decayed to the end


def test_a_slowdown_during_the_decay_hits_the_hard_deadline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    timer, _, _, clock = _run_timed(  # 10x slower once the decay is planned
        monkeypatch, lambda timer, n: 1.0 if timer.decay_planned_at is None else 10.0,
        warmup=2, finish_at=100.0, after_s=0.0, step_s=1.0,
    )  # fmt: skip
    # the 10 s steps leave no room for another before the deadline (or one overruns it, if the median lags): the
    # run ends within one slow step of 100 s either way, never several past it
    assert timer.stopped_by in ("schedule", "deadline") and 90.0 <= clock.t <= 110.0


def test_wsd_schedule_matches_transformers():
    transformers = require("transformers")
    for decay_type in ("linear", "cosine", "1-sqrt"):
        kw = {"num_stable_steps": 30, "num_decay_steps": 20, "min_lr_ratio": 0.1, "decay_type": decay_type}
        ours_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        ours = get_scheduler("warmup_stable_decay", ours_opt, 10, 60, kw)
        theirs = transformers.get_scheduler("warmup_stable_decay", theirs_opt, num_warmup_steps=10,
                                            num_training_steps=60, scheduler_specific_kwargs=kw)  # fmt: skip
        for _ in range(65):
            assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], abs=1e-12), decay_type
            ours_opt.step(), theirs_opt.step()
            ours.step(), theirs.step()


def test_a_budget_spent_before_training_still_trains_the_minimum(tmp_path, monkeypatch):
    """The earlier stages overran (the clock is past the finish): train min_train_s from the start, decay included."""
    monkeypatch.chdir(tmp_path)
    timer, schedule, _, clock = _run_timed(
        monkeypatch, lambda timer, n: 1.0, start=500.0, warmup=2, finish_at=100.0, after_s=5.0, step_s=1.0,
        min_train_s=30.0,
    )  # fmt: skip
    assert timer.stopped_by == "schedule" and 528.0 <= clock.t <= 530.0
    assert 20 <= schedule.warmup + schedule.stable <= 26 and schedule.decay >= 4
