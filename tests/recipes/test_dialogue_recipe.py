"""The dialogue SFT recipe: its YAML rejects a wrong field in one line; the labels it trains on are the assistant's
tokens and nothing else; and on a reduced budget (a planted-easy dialogue task) the fine-tuned model's loss on the
assistant tokens falls far below the model's before SFT, and it answers through the text-generation pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "dialogue"


@pytest.fixture(scope="module")
def recipe():
    sys.path.insert(0, str(RECIPE))
    try:
        import run

        yield run
    finally:
        sys.path.remove(str(RECIPE))
        sys.modules.pop("run", None)


@pytest.mark.parametrize(
    ("override", "message"),
    [("args.lerning_rate=1", "did you mean 'learning_rate'"), ("datta.files=x", "unknown section(s) ['datta']")],
)
def test_dialogue_yaml_with_a_wrong_field_is_one_line_exit_2(override, message):
    out = subprocess.run([sys.executable, "-m", "massivetext.cli.main", "train", str(RECIPE / "sft.yaml"), "--set",
                          override], capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr


def test_labels_are_the_assistant_turns_only(recipe, tmp_path):
    convs = recipe.planted_conversations(40, seed=3)
    convs.append([{"role": "system", "content": "be brief."}, *convs[0], {"role": "user", "content": "bye"}])
    tok = recipe.with_template(recipe.tiny_base(tmp_path, convs), tmp_path / "base")
    rows = recipe.encode(tok, convs, max_length=256)  # no cut here (the last one is ~70 tokens)
    assert len(rows) == len(convs)
    eos = tok.eos_token
    for conv, row in zip(convs, rows):
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels) == len(row["attention_mask"])
        # the supervised tokens, span by span, are exactly each assistant reply and its end-of-turn token
        spans, current = [], []
        for t, y in zip(ids, labels):
            if y != -100:
                assert y == t
                current.append(t)
            elif current:
                spans.append(current)
                current = []
        if current:
            spans.append(current)
        replies = [m["content"] for m in conv if m["role"] == "assistant"]
        assert [tok.decode(s) for s in spans] == [f" {r}{eos}" for r in replies]
        # and everything else (system, user turns, the "Assistant:" prompt) is in the input but not supervised
        unsupervised = tok.decode([t for t, y in zip(ids, labels) if y == -100])
        assert all(m["content"] in unsupervised for m in conv if m["role"] != "assistant")
    # a conversation cut before any assistant token has nothing to learn: dropped
    assert recipe.encode(tok, [convs[-1]], max_length=8) == []


@pytest.mark.slow
def test_dialogue_recipe_learns_a_planted_task_and_chats_through_the_pipeline(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(RECIPE / "run.py"), "--ci", "--work", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["sizes"]["test"]["scored"] == 100
    for split in ("validation", "test"):
        loss = results["loss_per_assistant_token"][split]
        before, after, unigram = loss["before SFT"], loss["after SFT"], loss["unigram of training replies"]
        # a random 300-token model starts near ln(300) = 5.7 nats; the planted replies are nearly determined by the
        # question (only the animal varies): SFT must get far below both the start and the unigram of the replies
        assert before["loss"] > 4.0 and after["loss"] < 0.5 and after["loss"] < unigram["loss"] - 1.0, loss
        assert after["ci"][1] < before["ci"][0] and after["ci"][1] < unigram["ci"][0]
        assert after["p_vs_before SFT"] < 0.01
    # chatting through mt.pipeline("text-generation") with messages gives the planted answer
    assert results["first_reply"]["exact_match"]["after SFT"] >= 0.9, results["examples"]
    assert results["first_reply"]["exact_match"]["before SFT"] == 0.0
    rouge = results["first_reply"]["rougeL"]
    assert rouge["after SFT"]["ci"][0] > rouge["before SFT"]["ci"][1]
