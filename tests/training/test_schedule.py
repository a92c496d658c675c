"""Learning-rate schedules agree with transformers.get_scheduler step by step."""

from __future__ import annotations

import pytest
import torch

from massivetext.training.schedule import get_scheduler
from peers import require


def _lrs(make, steps):
    out = []
    sched = make()
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("linear", {}),
        ("cosine", {}),
        ("constant", {}),
        ("constant_with_warmup", {}),
        ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
        ("cosine_with_min_lr", {"min_lr": 1e-4}),
    ],
)
def test_schedule_matches_transformers(name, kwargs):
    transformers = require("transformers")

    def opt():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    ours = _lrs(lambda: get_scheduler(name, opt(), 5, 30, kwargs), 32)
    ref = _lrs(
        lambda: transformers.get_scheduler(
            name, opt(), num_warmup_steps=5, num_training_steps=30, scheduler_specific_kwargs=kwargs or None
        ),
        32,
    )
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)
