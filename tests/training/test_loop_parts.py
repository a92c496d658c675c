"""The Trainer loop's parts: logging_strategy honoured, loss interface asked of the model, compatibility-only args."""

from __future__ import annotations

import inspect
import json
import warnings

import datasets
import pytest
from training_helpers import counting_sequences, tiny_gpt2

from massivetext.training import arguments as arguments_module
from massivetext.training.arguments import COMPATIBILITY_ONLY, TrainingArguments
from massivetext.training.data import forward_signature
from massivetext.training.trainer import Trainer


def _rows(tmp_path, **kw):
    """6 steps = 3 epochs of 2 steps (8 rows, batch 4); the metrics file's training rows (with a loss)."""
    train = datasets.Dataset.from_dict({"input_ids": counting_sequences(8, 12)})
    args = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=3, per_device_train_batch_size=4, save_strategy="no",
        disable_tqdm=True, use_cpu=True, **kw,
    )  # fmt: skip
    out = Trainer(tiny_gpt2(), args, train_dataset=train).train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r], out


@pytest.mark.parametrize(
    "kw, steps",
    [
        ({"logging_strategy": "steps", "logging_steps": 4}, [4, 6]),
        ({"logging_strategy": "epoch"}, [2, 4, 6]),  # transformers: one row at each epoch's end
        ({"logging_strategy": "no"}, []),
        ({"logging_strategy": "no", "logging_first_step": True}, [1]),
    ],
)
def test_logging_strategy_is_honoured(tmp_path, kw, steps):
    rows, out = _rows(tmp_path, **kw)
    assert [r["step"] for r in rows] == steps
    assert out.global_step == 6 and out.training_loss > 0  # the run's mean loss does not depend on logging


def test_train_loss_does_not_depend_on_the_logging_strategy(tmp_path):
    _, by_step = _rows(tmp_path / "a", logging_strategy="steps", logging_steps=1)
    _, silent = _rows(tmp_path / "b", logging_strategy="no")
    assert silent.training_loss == pytest.approx(by_step.training_loss, rel=1e-6)


def test_loss_interface_is_asked_of_the_model():
    """transformers GPT-2 passes num_items_in_batch to its loss; T5 and BERT average their own CrossEntropyLoss."""
    import transformers

    import massivetext as mt

    gpt = tiny_gpt2()
    t5 = transformers.T5ForConditionalGeneration(
        transformers.T5Config(vocab_size=21, d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2)
    )
    bert = transformers.BertForMaskedLM(
        transformers.BertConfig(vocab_size=21, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)
    )  # fmt: skip
    ours = mt.AutoModelForCausalLM.from_config(mt.AutoConfig.for_model("gpt2", vocab_size=21, n_layer=1, n_head=2,
                                                                       n_embd=16, n_positions=16))  # fmt: skip
    assert forward_signature(gpt).honours_num_items
    assert not forward_signature(t5).honours_num_items
    assert not forward_signature(bert).honours_num_items
    assert forward_signature(ours).honours_num_items
    gpt.accepts_loss_kwargs = False  # a model that says otherwise is believed
    assert not forward_signature(gpt).honours_num_items
    assert "getsource" not in inspect.getsource(forward_signature)


def test_training_arguments_init_is_its_own_and_compat_args_warn_once(monkeypatch):
    assert TrainingArguments.__init__.__qualname__ == "TrainingArguments.__init__"
    monkeypatch.setattr(arguments_module, "_warned", set())
    assert set(COMPATIBILITY_ONLY) == {"do_train", "do_eval", "do_predict", "overwrite_output_dir", "run_name",
                                       "save_safetensors"}  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TrainingArguments(output_dir="x")  # defaults: silent
        TrainingArguments(output_dir="x", do_train=True, run_name="exp")
        TrainingArguments(output_dir="x", do_train=True, run_name="exp")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert any("do_train=True has no effect" in m for m in messages)
    assert any("run_name='exp' has no effect" in m for m in messages)


def test_training_arguments_coerce_by_field_type():
    from massivetext.errors import ConfigError

    args = TrainingArguments(output_dir="x", max_steps="10", learning_rate="1e-3", bf16="true", logging_steps=5)
    assert (args.max_steps, args.learning_rate, args.bf16, args.logging_steps) == (10, 1e-3, True, 5)
    with pytest.raises(ConfigError, match="max_steps must be an integer, got 'ten'"):
        TrainingArguments(output_dir="x", max_steps="ten")
    with pytest.raises(ConfigError, match="learning_rate must be a number"):
        TrainingArguments(output_dir="x", learning_rate=[1])
    with pytest.raises(ConfigError, match="only output_dir may be positional"):
        TrainingArguments("x", "y")


def test_model_init_is_seeded_and_two_runs_are_bit_identical(tmp_path):
    """As transformers: Trainer seeds before model_init builds the model, so the global RNG's state beforehand
    does not matter; dropout on, so training draws from the RNG too."""
    import torch

    train = datasets.Dataset.from_dict({"input_ids": counting_sequences(16, 12)})

    def run(out, seed=3):
        torch.rand(int(out.name[-1]) + 5)  # disturb the global RNG differently before each run
        args = TrainingArguments(output_dir=str(out), max_steps=4, per_device_train_batch_size=4, logging_steps=1,
                                 save_strategy="no", disable_tqdm=True, use_cpu=True, seed=seed)  # fmt: skip
        trainer = Trainer(model_init=lambda: tiny_gpt2(dropout=0.1, seed=None), args=args, train_dataset=train)
        first_weight = next(trainer.model.parameters()).detach().clone()
        trainer.train()
        return first_weight, [r["loss"] for r in trainer.state.log_history if "loss" in r]

    w1, l1 = run(tmp_path / "run1")
    w2, l2 = run(tmp_path / "run2")
    assert torch.equal(w1, w2) and l1 == l2 and len(l1) == 4
    _, l3 = run(tmp_path / "run3", seed=4)
    assert l3 != l1
