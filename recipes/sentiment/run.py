"""The sentiment recipe, end to end: pretrain a small BERT (masked LM), fine-tune it on ``movie-sentiment``, and
measure it beside the classic baselines on the same test split.

    python recipes/sentiment/run.py                 # the full recipe (WORK = runs/sentiment)
    python recipes/sentiment/run.py --ci --work /tmp/s   # reduced budget on a planted-easy subset (a learning test)

Steps (each timed): data → tokenizer (WordPiece, trained on the pretraining text) → ``massivetext train
pretrain-mlm.yaml`` → ``massivetext train finetune.yaml`` → predictions on the test split → baselines: TF-IDF +
logistic regression (scikit-learn; text normalised and stop words removed with ``massivetext.tokenization.
preprocess``, negations kept), a BiLSTM with random embeddings, the same BiLSTM initialised from word2vec vectors
trained on the pretraining text → accuracy and F1 (positive class) with 95% bootstrap intervals (1,000 resamples of
the test set) → ``WORK/results.json`` and a Markdown table on stdout.

The pretraining text is English that is available offline: stdlib docstrings and pydoc topics, Debian package
descriptions (``ddtp-summaries``, all splits: they are not sentiment data) and the *training* snippets of
``movie-sentiment``; its validation and test snippets are never seen before evaluation. The MLM stream repeats
the training snippets (``--task-repeat``, default 8 copies): about half of what the encoder reads is then the task's
own unlabelled text, task-adaptive pretraining (Gururangan et al. 2020, "Don't Stop Pretraining") at no extra cost
in steps; one copy of each left 98% of the stream to technical text. Tokenizer and word2vec see each text once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NEGATIONS = {"no", "not", "nor", "but", "against", "too", "very", "only", "few", "more", "most"}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def bootstrap(y: np.ndarray, pred: np.ndarray, n: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """Accuracy and positive-class F1, each as [score, 95% low, 95% high]: MassiveText's metrics (percentile
    bootstrap over ``n`` resamples of the test set)."""
    import massivetext as mt

    out = {}
    for name in ("accuracy", "f1"):
        r = mt.load_metric(name).compute(predictions=pred.tolist(), references=y.tolist(), confidence=0.95,
                                         resamples=n, seed=seed)  # fmt: skip
        out[name] = [
            round(float(r[name]), 4),
            round(float(r[f"{name}_ci_low"]), 4),
            round(float(r[f"{name}_ci_high"]), 4),
        ]
    return out


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def prepare_data(work: Path, ci: bool, task_repeat: int = 1) -> dict:
    import massivetext as mt

    ds = mt.load_dataset("movie-sentiment")
    splits = {s: ds[s] for s in ("train", "validation", "test")}
    if ci:  # planted-easy: clearly polar snippets only (|mean rating| >= 2), a few hundred of them
        splits = {s: d.filter(lambda r: abs(r["score"]) >= 2.0) for s, d in splits.items()}
        # the source file lists positive snippets before negative ones: shuffle before taking a prefix
        splits["train"] = splits["train"].shuffle(seed=0).select(range(min(800, splits["train"].num_rows)))
    for s, d in splits.items():
        values = set(d.unique("label"))
        if not values <= {0, 1}:
            raise mt.BadInputError(f"movie-sentiment {s}: unexpected label values {sorted(values - {0, 1})}")
        if s == "train" and values != {0, 1}:
            raise mt.BadInputError(f"movie-sentiment train: only label(s) {sorted(values)}; a classifier needs both")
        write_jsonl(work / "data" / f"{s}.jsonl", ({"text": t, "label": y} for t, y in zip(d["text"], d["label"])))
    texts = list(splits["train"]["text"])
    prose = [d["text"] for d in mt.load_dataset("stdlib", split="train") if d["source"].startswith("prose")]
    summaries = mt.load_dataset("ddtp-summaries")
    ddtp = [t for s in summaries for t in summaries[s]["document"]]
    pretrain = prose + ddtp + texts
    if ci:
        pretrain = texts + prose[:2000]
    random.Random(0).shuffle(pretrain)
    n_val = max(50, len(pretrain) // 100)
    held_out = set(pretrain[:n_val])
    # task-adaptive pretraining: extra copies of the training snippets (never of MLM-validation text)
    mlm_train = pretrain[n_val:] + [t for t in texts if t not in held_out] * (task_repeat - 1)
    if task_repeat > 1:
        random.Random(1).shuffle(mlm_train)
    write_jsonl(work / "data" / "pretrain-val.jsonl", ({"text": t} for t in pretrain[:n_val]))
    write_jsonl(work / "data" / "pretrain.jsonl", ({"text": t} for t in mlm_train))
    sizes = {s: d.num_rows for s, d in splits.items()}
    sizes["pretrain_texts"] = len(pretrain)
    sizes["pretrain_words"] = sum(len(t.split()) for t in pretrain)
    sizes["mlm_rows"] = len(mlm_train)
    sizes["mlm_task_share"] = round(1 - (len(pretrain) - len(texts)) / len(mlm_train), 3)
    return {"sizes": sizes, "pretrain": pretrain, "splits": splits}


def train_yaml(name: str, sets: list[str]) -> None:
    from massivetext.cli.main import main

    args = ["train", str(HERE / name)]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    if code != 0:
        raise SystemExit(f"massivetext train {name} failed with exit code {code}")


def transformer_predictions(model_dir: Path, texts: list[str]) -> np.ndarray:
    import torch

    import massivetext as mt

    tok = mt.AutoTokenizer.from_pretrained(str(model_dir))
    model = mt.AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(texts), 128):
            enc = tok(texts[i : i + 128], padding=True, truncation=True, max_length=64, return_tensors="pt")
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
            preds.append(logits.argmax(-1).numpy())
    return np.concatenate(preds)


def tfidf_lr(train, val, test, stop_words: bool) -> tuple[np.ndarray, dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from massivetext.tokenization.preprocess import ENGLISH_STOP_WORDS, normalize, remove_stop_words

    # NLTK's list drops "not", "no", "n't" forms and "but": the words that flip a review's polarity; keep those
    stop = {w for w in ENGLISH_STOP_WORDS if w not in NEGATIONS and "n't" not in w}

    def clean(texts) -> list[str]:
        texts = [t.lower() for t in normalize(list(texts), "NFKC")]
        return [remove_stop_words(t, stop) for t in texts] if stop_words else texts

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w[\w']*\b")
    x_train = vec.fit_transform(clean(train["text"]))
    x_val, x_test = vec.transform(clean(val["text"])), vec.transform(clean(test["text"]))
    best = None
    for c in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0):  # C chosen on the validation split
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, train["label"])
        acc = float((clf.predict(x_val) == np.asarray(val["label"])).mean())
        if best is None or acc > best[0]:
            best = (acc, c, clf)
    return best[2].predict(x_test), {"C": best[1], "val_accuracy": round(best[0], 4)}


def lstm(train, val, test, vectors, ci: bool) -> tuple[np.ndarray, dict]:
    import torch

    from massivetext.embeddings.classifier import LSTMClassifier, LSTMClassifierConfig, build_vocab

    torch.manual_seed(0)
    config = LSTMClassifierConfig(epochs=3 if ci else 6, embedding_dim=vectors.vector_size if vectors else 100)
    model = LSTMClassifier(build_vocab(train["text"]), config)
    info: dict = {}
    if vectors is not None:
        cov = model.init_from_vectors(vectors)
        info["coverage"] = round(cov.ratio, 4)
    info.update(model.fit(list(train["text"]), list(train["label"]), list(val["text"]), list(val["label"])))
    return model.predict(list(test["text"])), info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="runs/sentiment", help="working directory (data, tokenizer, models, results)")
    p.add_argument("--ci", action="store_true", help="reduced budget on a planted-easy subset")
    p.add_argument("--skip-transformer", action="store_true", help="baselines only")
    p.add_argument(
        "--task-repeat",
        type=int,
        default=None,
        help="copies of the training snippets in the MLM stream (default 8; --ci 1)",
    )
    p.add_argument("--skip-baselines", action="store_true", help="the transformer only (e.g. in a second process)")
    p.add_argument("--set-mlm", action="append", default=[], metavar="KEY=VALUE", help="override pretrain-mlm.yaml")
    p.add_argument("--set-ft", action="append", default=[], metavar="KEY=VALUE", help="override finetune.yaml")
    args = p.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = Path(args.work)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare_data(work, args.ci, args.task_repeat or (1 if args.ci else 8))
    splits = data["splits"]
    train, val, test = splits["train"], splits["validation"], splits["test"]
    y_test = np.asarray(test["label"])
    times["data"] = time.perf_counter() - t0
    _log(f"data: {data['sizes']}")
    results: dict = {"sizes": data["sizes"], "models": {}, "ci": args.ci, "seconds": times}

    def record(name: str, pred: np.ndarray, info: dict | None = None, started: float | None = None) -> None:
        # the share of "positive" predictions beside the test split's share: a model stuck on one class shows here
        share = {"predicted_positive": round(float(np.mean(pred == 1)), 4)}
        results["models"][name] = {**bootstrap(y_test, pred), **share, **(info or {})}
        if len(set(pred.tolist())) < 2 and name != "majority class":
            _log(f"WARNING: {name} predicts one class for every test snippet")
        if started is not None:
            times[name] = round(time.perf_counter() - started, 1)
        times["total"] = round(time.perf_counter() - t0, 1)
        (work / "results.json").write_text(json.dumps(results, indent=1))  # after each model: partial runs keep
        _log(f"{name}: {results['models'][name]}")

    results["test_positive_share"] = round(float(y_test.mean()), 4)
    majority = int(np.bincount(np.asarray(train["label"])).argmax())
    record("majority class", np.full_like(y_test, majority))
    if not args.skip_baselines:
        baselines(train, val, test, data["pretrain"], work, args.ci, record, results, times)
    if not args.skip_transformer:
        sets = (args.set_mlm, args.set_ft)
        transformer(work, args.ci, data["pretrain"], list(test["text"]), record, times, sets)
    print(table(results))
    return 0


def baselines(train, val, test, pretrain, work: Path, ci: bool, record, results: dict, times: dict) -> None:
    import massivetext as mt

    for stop in (True, False):
        t = time.perf_counter()
        pred, info = tfidf_lr(train, val, test, stop_words=stop)
        record("TF-IDF + LR" + (" (stop words removed)" if stop else " (all words)"), pred, info, t)

    t = time.perf_counter()
    record("BiLSTM, random embeddings", *lstm(train, val, test, None, ci), t)

    t = time.perf_counter()
    # word2vec on the same pretraining text (about 3.9 M words)
    vectors = mt.train_word_vectors(pretrain, method="word2vec", dim=100, epochs=2 if ci else 5,
                                    output=work / "word2vec.txt")  # fmt: skip
    times["word2vec"] = round(time.perf_counter() - t, 1)
    results["word_vectors"] = {"vocab": len(vectors), **mt.evaluate_word_vectors(vectors)}
    t = time.perf_counter()
    record("BiLSTM, word2vec-initialised", *lstm(train, val, test, vectors, ci), t)


def transformer(
    work: Path, ci: bool, pretrain: list[str], test_texts: list[str], record, times: dict, sets: tuple = ((), ())
) -> None:
    import massivetext as mt

    t = time.perf_counter()
    tok = mt.train_tokenizer(pretrain, kind="wordpiece", vocab_size=2000 if ci else 8000)
    tok.save_pretrained(str(work / "tokenizer"))
    times["tokenizer"] = round(time.perf_counter() - t, 1)
    w = str(work)
    mlm_sets = [
        f"tokenizer={w}/tokenizer",
        f"args.output_dir={w}/mlm",
        f"data.files.train={w}/data/pretrain.jsonl",
        f"data.files.eval={w}/data/pretrain-val.jsonl",
    ]
    ft_sets = [
        f"model={w}/mlm",
        f"args.output_dir={w}/classifier",
        f"data.files.train={w}/data/train.jsonl",
        f"data.files.eval={w}/data/validation.jsonl",
    ]
    if ci:
        mlm_sets += ["model.hidden_size=64", "model.num_hidden_layers=2", "model.num_attention_heads=2",
                     "model.intermediate_size=128", "args.max_steps=10", "args.logging_steps=5"]  # fmt: skip
        # a from-scratch encoder needs ~100 steps at lr 1e-3 before it leaves the constant prediction: 6 epochs
        ft_sets += ["args.num_train_epochs=6", "args.logging_steps=50", "args.learning_rate=1.0e-3",
                    "args.per_device_train_batch_size=16"]  # fmt: skip
    mlm_sets += list(sets[0])
    ft_sets += list(sets[1])
    t = time.perf_counter()
    train_yaml("pretrain-mlm.yaml", mlm_sets)
    times["pretrain_mlm"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    train_yaml("finetune.yaml", ft_sets)
    times["finetune"] = round(time.perf_counter() - t, 1)
    record("BERT (MLM-pretrained, fine-tuned)", transformer_predictions(work / "classifier", test_texts))


def table(results: dict) -> str:
    rows = ["| model | test accuracy (95% CI) | test F1 (95% CI) |", "|---|---|---|"]
    for name, m in results["models"].items():
        a, f = m["accuracy"], m["f1"]
        rows.append(f"| {name} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] | {f[0]:.3f} [{f[1]:.3f}, {f[2]:.3f}] |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
