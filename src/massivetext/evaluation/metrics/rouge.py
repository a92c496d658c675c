"""ROUGE computed by Google's ``rouge-score``, as ``evaluate``'s ``rouge`` calls it.

Each example is scored by ``RougeScorer.score`` (``score_multi``, the best reference by F-measure, when an example
has several). With ``use_aggregator=True`` (the default) each type is the mean F-measure over examples: the number
``evaluate`` reports as the ``mid`` of rouge-score's BootstrapAggregator, which is a noisy (unseeded) estimate of that
same mean; intervals come from ``compute(confidence=...)`` instead. ``use_aggregator=False`` returns per-example lists.

``rougeLsum`` treats newlines as sentence boundaries. Users usually forget to put them in (the Hugging Face examples
call nltk's punkt, which needs a download), so a text without any newline is split into sentences here
(``split_sentences=True``): after ``.``, ``!``, ``?`` or ``。！？`` followed by white space. rouge1/2/L ignore newlines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from massivetext.errors import ConfigError
from massivetext.evaluation.metrics.base import Metric, Scored, mean_from_sums, ref_lists, register

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def split_sentences(text: str) -> str:
    """One sentence a line (what rougeLsum expects); text that already has newlines is left as the user wrote it."""
    if "\n" in text:
        return text
    return "\n".join(_SENTENCE_END.split(text.strip()))


class _Tokenizer:
    """rouge-score wants an object with ``tokenize(text)``; users may pass a function."""

    def __init__(self, fn: Callable[[str], list[str]]):
        self.fn = fn

    def tokenize(self, text: str) -> list[str]:
        return self.fn(text)


@register("rouge")
class Rouge(Metric):
    name = "rouge"
    main_key = "rougeL"
    defaults = {
        "rouge_types": list(ROUGE_TYPES),
        "use_stemmer": False,
        "use_aggregator": True,
        "tokenizer": None,
        "split_sentences": True,
    }

    def _score(self, predictions: list[str], references: list[Any], cfg: dict[str, Any]) -> Scored:
        from rouge_score import rouge_scorer

        types = list(cfg["rouge_types"])
        bad = [t for t in types if not re.fullmatch(r"rouge([1-9]|L|Lsum)", t)]
        if bad:
            raise ConfigError(f"unknown rouge type(s) {bad}; use rouge1..rouge9, rougeL, rougeLsum")
        tok = cfg["tokenizer"]
        if tok is not None and not hasattr(tok, "tokenize"):
            tok = _Tokenizer(tok)
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=cfg["use_stemmer"], tokenizer=tok)
        split = cfg["split_sentences"] and "rougeLsum" in types
        prep = split_sentences if split else (lambda t: t)
        scores = np.empty((len(predictions), len(types) + 1))
        scores[:, -1] = 1.0
        for i, (pred, refs) in enumerate(zip(predictions, ref_lists(references))):
            p = prep(pred)
            s = scorer.score(prep(refs[0]), p) if len(refs) == 1 else scorer.score_multi([prep(r) for r in refs], p)
            scores[i, :-1] = [s[t].fmeasure for t in types]
        if not cfg["use_aggregator"]:
            return Scored({t: scores[:, j].tolist() for j, t in enumerate(types)})
        from_sums = mean_from_sums(types)
        result = {k: float(v[0]) for k, v in from_sums(scores.sum(0)).items()}
        return Scored(result, scores, from_sums)
