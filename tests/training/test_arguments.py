"""Bad configurations fail early with a ConfigError that says what to change."""

from __future__ import annotations

import pytest

from massivetext.errors import ConfigError
from massivetext.training.arguments import TrainingArguments
from peers import require


def test_transformers_names_are_accepted_and_defaults_match():
    transformers = require("transformers")
    ours = TrainingArguments(output_dir="x", evaluation_strategy="steps", eval_steps=5)
    ref = transformers.TrainingArguments(output_dir="x")
    assert ours.eval_strategy == "steps"
    for name in (
        "learning_rate",
        "adam_beta1",
        "adam_beta2",
        "adam_epsilon",
        "max_grad_norm",
        "weight_decay",
        "num_train_epochs",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "warmup_steps",
    ):
        assert getattr(ours, name) == getattr(ref, name), name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learnin_rate": 1e-3}, "did you mean 'learning_rate'"),
        ({"bf16": True, "fp16": True}, "choose one"),
        ({"load_best_model_at_end": True}, "needs evaluation"),
        ({"load_best_model_at_end": True, "eval_strategy": "steps", "save_strategy": "epoch"}, "save_strategy =="),
        ({"load_best_model_at_end": True, "eval_strategy": "steps", "eval_steps": 3, "save_steps": 5}, "multiple"),
        ({"warmup_steps": 10, "warmup_ratio": 0.1}, "give one"),
        ({"lr_scheduler_type": "cosine_restarts"}, "lr_scheduler_type"),
        ({"report_to": "wandb"}, "report_to"),
        ({"max_steps": -1, "num_train_epochs": 0}, "zero steps"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"label_smoothing_factor": 1.0}, "label_smoothing_factor"),
        ({"save_total_limit": 0}, "save_total_limit"),
        (
            {"lr_scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr": 1, "min_lr_rate": 0.1}},
            "exactly one",
        ),
        ({"eval_strategy": "sometimes"}, "eval_strategy"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainingArguments(output_dir="x", **kwargs)


def test_best_metric_direction_defaults():
    args = TrainingArguments(
        output_dir="x", load_best_model_at_end=True, eval_strategy="steps", eval_steps=5, save_steps=10
    )
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False
    args = TrainingArguments(output_dir="x", metric_for_best_model="accuracy")
    assert args.greater_is_better is True


def test_trainer_rejects_fp16_on_cpu_and_text_without_tokenizer(tmp_path):
    from training_helpers import tiny_gpt2

    from massivetext.training.trainer import Trainer

    with pytest.raises(ConfigError, match="fp16"):
        Trainer(tiny_gpt2(), TrainingArguments(output_dir=str(tmp_path), fp16=True, use_cpu=True))
    with pytest.raises(ConfigError, match="tokenizer"):
        Trainer(tiny_gpt2(), TrainingArguments(output_dir=str(tmp_path), use_cpu=True), train_dataset=["a b", "c"])
    with pytest.raises(ConfigError, match="train_dataset"):
        Trainer(tiny_gpt2(), TrainingArguments(output_dir=str(tmp_path))).train()
