"""Learning: a tiny classifier and a tiny tagger fine-tuned here, saved, then served by mt.pipeline, get the
planted labels right on texts they never saw."""

from __future__ import annotations

import random

import torch
from pipeline_helpers import wordpiece_tokenizer

import massivetext as mt

GOOD = ["castle", "garden", "museum", "library"]
BAD = ["river", "bridge", "station", "market"]
FILL = "the a of and to in was for on that with as by at from it".split()


def _texts(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(FILL) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label else BAD))
        out.append((" ".join(words), label))
    return out


def _train(model, batches, steps: int) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        loss = model(**batches[step % len(batches)]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def test_fine_tuned_classifier_served_by_pipeline(tmp_path):
    torch.manual_seed(0)
    tok = wordpiece_tokenizer()
    config = mt.AutoConfig.for_model(
        "bert",
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
        id2label={"0": "bad", "1": "good"},
        label2id={"bad": 0, "good": 1},
    )
    model = mt.AutoModelForSequenceClassification.from_config(config)
    train = _texts(256, seed=1)
    batches = []
    for i in range(0, len(train), 32):
        texts, labels = zip(*train[i : i + 32])
        enc = tok(list(texts), padding=True, return_tensors="pt")
        batches.append({**enc, "labels": torch.tensor(labels)})
    _train(model, batches, steps=120)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    clf = mt.pipeline("sentiment-analysis", model=str(tmp_path), batch_size=8)
    test = _texts(60, seed=2)
    got = clf([t for t, _ in test])
    accuracy = sum(g["label"] == ("good" if y else "bad") for g, (_, y) in zip(got, test)) / len(test)
    assert accuracy >= 0.95, accuracy
