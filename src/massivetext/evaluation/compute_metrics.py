"""``metrics_for(task, tokenizer)``: the usual ``compute_metrics`` for ``Trainer(compute_metrics=...)``.

It receives the Trainer's ``EvalPrediction(predictions, label_ids)``:

* classification: logits (n, classes) and label ids (n,) -> accuracy, macro (or binary) precision/recall/F1;
* ner: logits (n, tokens, tags) and label ids (n, tokens) with -100 on positions that carry no label (special
  tokens, later word pieces) -> seqeval's overall precision/recall/F1/accuracy; tag names from ``labels``;
* translation / summarization: generated token ids (``predict_with_generate``; padded with the pad id or -100), or
  logits (then the arg-max is taken) and label ids with -100 -> BLEU and chrF (sacrebleu) / ROUGE (rouge-score),
  and the mean generated length ``gen_len``.

Everything returned is a float, as the Trainer's metric logging expects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from massivetext.errors import ConfigError
from massivetext.evaluation.metrics import load_metric

TASKS = ("classification", "ner", "translation", "summarization")


def _unpack(p: Any) -> tuple[np.ndarray, np.ndarray]:
    preds = p.predictions if hasattr(p, "predictions") else p[0]
    labels = p.label_ids if hasattr(p, "label_ids") else p[1]
    if isinstance(preds, tuple):  # models that return (logits, extras...)
        preds = preds[0]
    return np.asarray(preds), np.asarray(labels)


def decode_ids(tokenizer: Any, ids: np.ndarray) -> list[str]:
    """Token ids (-100 or pad where nothing was generated) to stripped texts without special tokens."""
    pad = getattr(tokenizer, "pad_token_id", None)
    ids = np.where(ids < 0, pad if pad is not None else 0, ids)
    return [t.strip() for t in tokenizer.batch_decode(ids.tolist(), skip_special_tokens=True)]


def _tag_names(labels: Sequence[str] | Mapping[int, str] | None) -> Callable[[int], str]:
    if labels is None:
        raise ConfigError("metrics_for('ner') needs the tag names: labels=[...] or the model's config.id2label")
    table = dict(labels) if isinstance(labels, Mapping) else dict(enumerate(labels))
    table = {int(k): v for k, v in table.items()}
    return lambda i: table[int(i)]


def metrics_for(
    task: str,
    tokenizer: Any = None,
    *,
    labels: Sequence[str] | Mapping[int, str] | None = None,
    average: str | None = None,
    **metric_options: Any,
) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` function for ``task`` (see the module docstring). ``metric_options`` go to the
    underlying metric (e.g. ``tokenize="zh"`` for BLEU, ``use_stemmer=True`` for ROUGE, ``mode="strict"`` for NER)."""
    if task not in TASKS:
        raise ConfigError(f"metrics_for: unknown task {task!r}; use one of {', '.join(TASKS)}")
    if task in ("translation", "summarization") and tokenizer is None:
        raise ConfigError(f"metrics_for({task!r}) needs the tokenizer to decode generated ids")

    if task == "classification":

        def compute(p: Any) -> dict[str, float]:
            logits, y = _unpack(p)
            pred = logits.argmax(-1) if logits.ndim > 1 else logits
            avg = average or ("binary" if set(np.unique(np.concatenate([pred, y]))) <= {0, 1} else "macro")
            out = {"accuracy": load_metric("accuracy").compute(predictions=pred, references=y)["accuracy"]}
            for name in ("precision", "recall", "f1"):
                opts = {"average": avg, "zero_division": 0}
                out[name] = load_metric(name, **opts).compute(predictions=pred, references=y)[name]
            return {k: float(v) for k, v in out.items()}

        return compute

    if task == "ner":
        name_of = _tag_names(labels)
        seqeval = load_metric("seqeval", **{"zero_division": 0, **metric_options})

        def compute(p: Any) -> dict[str, float]:
            logits, y = _unpack(p)
            pred = logits.argmax(-1) if logits.ndim == 3 else logits
            refs, hyps = [], []
            for pr, lab in zip(pred, y):
                keep = lab != -100
                refs.append([name_of(i) for i in lab[keep]])
                hyps.append([name_of(i) for i in pr[: len(lab)][keep]])
            r = seqeval.compute(predictions=hyps, references=refs)
            return {k: float(r[f"overall_{k}"]) for k in ("precision", "recall", "f1", "accuracy")}

        return compute

    def compute(p: Any) -> dict[str, float]:
        preds, y = _unpack(p)
        if preds.ndim == 3:  # logits (no predict_with_generate): teacher-forced arg-max
            preds = preds.argmax(-1)
        hyps, refs = decode_ids(tokenizer, preds), decode_ids(tokenizer, y)
        pad = getattr(tokenizer, "pad_token_id", None)
        gen_len = float(np.mean([np.count_nonzero((row >= 0) & (row != pad)) for row in preds]))
        if task == "translation":
            out = {
                "bleu": load_metric("sacrebleu", **metric_options).compute(predictions=hyps, references=refs)["score"]
            }
            out["chrf"] = load_metric("chrf").compute(predictions=hyps, references=refs)["score"]
        else:
            out = load_metric("rouge", **metric_options).compute(predictions=hyps, references=refs)
        out["gen_len"] = gen_len
        return {k: float(v) for k, v in out.items()}

    return compute
