"""The Trainer with MassiveText models on MassiveText token shards: exact resume, HF-loadable checkpoints.
(Perplexity of these checkpoints is tested with the evaluation: tests/evaluation/test_perplexity.py.)"""

from __future__ import annotations

import pytest
import torch

import massivetext as mt
from massivetext.training.callbacks import TrainerCallback
from peers import require


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _gpt(vocab_size, seed=0):
    torch.manual_seed(seed)
    config = mt.AutoConfig.for_model("gpt2", vocab_size=vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=0, eos_token_id=0)  # fmt: skip
    return mt.AutoModelForCausalLM.from_config(config)


def _run(shard_dir, out, stop_at=None, resume=None, seed=0):
    tok = mt.AutoTokenizer.from_pretrained(shard_dir)
    train = mt.TokenShards(shard_dir, block_size=32, split="train", seed=1)
    args = mt.TrainingArguments(
        output_dir=str(out), max_steps=10, per_device_train_batch_size=4, gradient_accumulation_steps=2,
        learning_rate=3e-3, warmup_steps=2, weight_decay=0.1, logging_steps=1, save_steps=5, disable_tqdm=True,
        use_cpu=True, label_smoothing_factor=0.05,
    )  # fmt: skip
    trainer = mt.Trainer(_gpt(len(tok), seed), args, train_dataset=train, tokenizer=tok,
                         callbacks=[StopAt(stop_at)] if stop_at else None)  # fmt: skip
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def test_exact_resume_with_massivetext_gpt_and_token_shards(shard_dir, tmp_path):
    straight = _run(shard_dir, tmp_path / "a")
    _run(shard_dir, tmp_path / "b", stop_at=5)
    resumed = _run(shard_dir, tmp_path / "b", resume=True, seed=9)
    a = [(r["loss"], r["grad_norm"]) for r in straight.state.log_history if "loss" in r]
    b = [(r["loss"], r["grad_norm"]) for r in resumed.state.log_history if "loss" in r]
    assert len(a) == 10 and a == b
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_loads_in_transformers(shard_dir, tmp_path):
    transformers = require("transformers")
    trainer = _run(shard_dir, tmp_path)
    ckpt = tmp_path / "checkpoint-10"
    assert (ckpt / "tokenizer.json").exists()
    val = mt.TokenShards(shard_dir, block_size=32, split="val", shuffle=False)
    metrics = trainer.evaluate(val)
    hf = transformers.GPT2LMHeadModel.from_pretrained(ckpt)
    reloaded = mt.AutoModelForCausalLM.from_pretrained(ckpt)
    ids = val[0]["input_ids"][None]
    trainer.model.eval()
    torch.testing.assert_close(reloaded(ids).logits, trainer.model(ids).logits)
    torch.testing.assert_close(hf(ids).logits, trainer.model(ids).logits, rtol=1e-4, atol=1e-4)
    # 10 steps already take the loss well below the untrained ln(vocab) = 5.68 (measured 4.79)
    assert metrics["eval_loss"] < torch.log(torch.tensor(float(hf.config.vocab_size))).item() - 0.5


def test_gradient_checkpointing_on_massivetext_gpt(shard_dir, tmp_path):
    runs = []
    for gc in (False, True):
        train = mt.TokenShards(shard_dir, block_size=32, split="train", seed=1)
        args = mt.TrainingArguments(output_dir=str(tmp_path / str(gc)), max_steps=2, per_device_train_batch_size=4,
                                    logging_steps=1, save_strategy="no", disable_tqdm=True, use_cpu=True,
                                    gradient_checkpointing=gc)  # fmt: skip
        model = _gpt(300)
        trainer = mt.Trainer(model, args, train_dataset=train)
        trainer.train()
        assert model.gradient_checkpointing is gc
        runs.append([r["loss"] for r in trainer.state.log_history if "loss" in r])
    assert runs[1] == pytest.approx(runs[0], rel=1e-5)
