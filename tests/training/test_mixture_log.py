"""The Trainer on a weighted TokenShards logs the realised mixture (share and passes per source) in metrics.jsonl,
keeps the mixture's state in the checkpoint, and a resumed run logs exactly the rows of a straight one."""

from __future__ import annotations

import json
import random

import pytest
from training_helpers import tiny_gpt2

import massivetext as mt
from massivetext.errors import ConfigError
from massivetext.training.arguments import TrainingArguments
from massivetext.training.callbacks import TrainerCallback
from massivetext.training.trainer import Trainer

WEIGHTS = {"web": 0.7, "books": 0.3}
BLOCK, BATCH = 8, 16


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two sources; each source's documents use their own marker words, so a window's tokens say its source."""
    d = tmp_path_factory.mktemp("mixlog")
    rng = random.Random(1)
    items = []
    for name, n, words in (("web", 40, 30), ("books", 1, 10)):  # books is small: it is repeated
        (d / name).mkdir()
        with open(d / name / "a.jsonl", "w") as f:
            for i in range(n):
                f.write(
                    json.dumps(
                        {"id": f"{name}-{i}", "text": " ".join(f"{name}{rng.randrange(3)}" for _ in range(words))}
                    )
                    + "\n"
                )
        items.append(f"{name}={d / name / '*.jsonl'}")
    tok = mt.train_tokenizer([f"{n}{k} " * 5 for n in WEIGHTS for k in range(3)], vocab_size=120)
    out = d / "shards"
    mt.encode_corpus(tok, items, str(out), val_fraction=0.0, progress=False)
    web_ids = {tok.convert_tokens_to_ids(t) for t in tok.tokenize("web0 web1 web2")}
    books_ids = {tok.convert_tokens_to_ids(t) for t in tok.tokenize("books0 books1 books2")}
    return out, len(tok), web_ids - books_ids


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _train(out_dir, shards, stop_at=None, resume=None, weights=WEIGHTS):
    directory, vocab, _ = shards
    ds = mt.TokenShards(directory, block_size=BLOCK, weights=weights, seed=3)
    args = TrainingArguments(
        output_dir=str(out_dir), max_steps=12, per_device_train_batch_size=BATCH, logging_steps=3, save_steps=6,
        learning_rate=1e-3, disable_tqdm=True, use_cpu=True, seed=7, report_to=[],
    )  # fmt: skip
    trainer = Trainer(tiny_gpt2(vocab_size=vocab), args, train_dataset=ds,
                      callbacks=[StopAt(stop_at)] if stop_at else None)  # fmt: skip
    trainer.train(resume_from_checkpoint=resume)
    return trainer, ds


def _rows(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_log_rows_carry_realised_mixture_and_resume_is_exact(tmp_path, shards):
    directory, _, web_ids = shards
    _, ds = _train(tmp_path / "a", shards)
    rows = [r for r in _rows(tmp_path / "a") if "loss" in r]
    assert [r["step"] for r in rows] == [3, 6, 9, 12]
    sizes = {s.name: s.n_windows for s in ds.mixture.sources}
    for r in rows:
        n = r["step"] * BATCH  # items served so far (one epoch holds more)
        assert n < len(ds)
        # the reference: which source each served window really came from, read off its tokens
        web = sum(bool(set(ds[(0, i)]["input_ids"].tolist()) & web_ids) for i in range(n))
        assert r["mixture_share/web"] == pytest.approx(web / n)
        assert r["mixture_share/books"] == pytest.approx((n - web) / n)
        # shuffled inside a block of 4096 items: a short prefix is a sample, within 3 sigma of the weight
        assert abs(r["mixture_share/web"] - WEIGHTS["web"]) <= 3 * (0.7 * 0.3 / n) ** 0.5
        assert r["source_epochs/books"] == pytest.approx((n - web) / sizes["books"])
        assert r["source_epochs/web"] == pytest.approx(web / sizes["web"])
    assert rows[-1]["source_epochs/books"] > 1  # the small source has been repeated

    # the checkpoint carries the mixture's state; a resumed run logs the very same rows
    state = json.loads((tmp_path / "a" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["data_state"]["weights"] == pytest.approx(WEIGHTS)
    assert state["data_state"]["index"] == 6 * BATCH
    books6 = sum(not set(ds[(0, i)]["input_ids"].tolist()) & web_ids for i in range(6 * BATCH))
    assert state["data_state"]["source_epochs"]["books"] == pytest.approx(books6 / sizes["books"])
    _train(tmp_path / "b", shards, stop_at=6)
    resumed, _ = _train(tmp_path / "b", shards, resume=True)
    keys = ("step", "loss", "mixture_share/web", "mixture_share/books", "source_epochs/web", "source_epochs/books")
    strip = [[{k: r[k] for k in keys} for r in _rows(d) if "loss" in r] for d in (tmp_path / "a", tmp_path / "b")]
    assert strip[0] == strip[1]


def test_resume_refuses_other_weights(tmp_path, shards):
    _train(tmp_path, shards, stop_at=6)
    with pytest.raises(ConfigError, match="weights"):
        _train(tmp_path, shards, resume=True, weights={"web": 0.5, "books": 0.5})
