"""mt.perplexity on token shards: the Trainer's eval loss, the same for a transformers model, and by hand.

(Moved out of the training tests: training never depends on the evaluation layer.)"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import massivetext as mt
from peers import require


@pytest.fixture(scope="module")
def gpt(shard_dir):
    torch.manual_seed(0)
    tok = mt.AutoTokenizer.from_pretrained(shard_dir)
    config = mt.AutoConfig.for_model("gpt2", vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=0, eos_token_id=0)  # fmt: skip
    return mt.AutoModelForCausalLM.from_config(config).eval()


def test_perplexity_equals_the_trainers_eval_loss(gpt, shard_dir, tmp_path):
    val = mt.TokenShards(shard_dir, block_size=32, split="val", shuffle=False)
    args = mt.TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=5, use_cpu=True,
                                disable_tqdm=True, report_to="none", bf16=False)  # fp32, as perplexity  # fmt: skip
    metrics = mt.Trainer(gpt, args).evaluate(val)
    ours = mt.perplexity(gpt, shard_dir, block_size=32, split="val", batch_size=3)
    assert ours["tokens"] == len(val) * 32
    assert ours["loss"] == pytest.approx(metrics["eval_loss"], rel=1e-5)
    assert ours["perplexity"] == pytest.approx(math.exp(ours["loss"]), rel=1e-9)
    # by hand: the mean next-token cross-entropy over every predicted token of every block
    total, count = 0.0, 0
    with torch.no_grad():
        for item in val:
            logits = gpt(item["input_ids"][None]).logits[0]
            targets = item["shift_labels"] if "shift_labels" in item else item["input_ids"][1:]
            logits = logits if "shift_labels" in item else logits[:-1]
            total += F.cross_entropy(logits.float(), targets, reduction="sum").item()
            count += len(targets)
    assert ours["tokens"] == count and ours["loss"] == pytest.approx(total / count, rel=1e-5)


def test_a_transformers_model_gets_the_same_perplexity(gpt, shard_dir, tmp_path):
    transformers = require("transformers")
    gpt.save_pretrained(tmp_path / "m")
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "m").eval()
    val = mt.TokenShards(shard_dir, block_size=32, split="val", shuffle=False)
    ours = mt.perplexity(gpt, val, batch_size=8)
    theirs = mt.perplexity(hf, val, batch_size=8)
    assert theirs["tokens"] == ours["tokens"] and theirs["loss"] == pytest.approx(ours["loss"], rel=1e-4)
