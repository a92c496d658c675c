"""``perplexity`` as a metric object: a model (and its tokenizer for texts) scores ``predictions`` (texts, token id
lists) or ``data=`` (a token-shard directory) with the sliding window of ``massivetext.evaluation.perplexity``.

``load_metric("perplexity", model=model, tokenizer=tok, max_length=256, stride=128)``; ``model`` may be a checkpoint
directory or hub name. The corpus perplexity pools every predicted token; its bootstrap resamples the sequences, or, for a single
token stream, its windows (each predicts tokens no other window predicts).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.evaluation.metrics.base import Metric, Scored, register


@register("perplexity")
class Perplexity(Metric):
    name = "perplexity"
    main_key = "perplexity"
    text_inputs = False
    defaults = {
        "model": None,
        "tokenizer": None,
        "max_length": None,
        "stride": None,
        "batch_size": 16,
        "dtype": None,
        "add_start_token": False,
        "device": None,
        "split": "val",
    }

    def compute(self, *, predictions: Any = None, references: Any = None, data: Any = None, **kw: Any) -> dict:
        if data is not None:
            from massivetext.evaluation.perplexity import token_stream

            split = kw.get("split", self.config["split"])
            predictions = [token_stream(data, split)] if not isinstance(data, list) else data
        if references is None and predictions is not None:
            references = [None] * len(predictions)
        return super().compute(predictions=predictions, references=references, **kw)

    def _score(self, predictions: list[Any], references: list[Any], cfg: dict[str, Any]) -> Scored:
        from massivetext.evaluation.perplexity import sliding_window_perplexity

        model, tok = cfg["model"], cfg["tokenizer"]
        if model is None:
            raise ConfigError("perplexity needs a model: load_metric('perplexity', model=..., tokenizer=...)")
        if isinstance(model, str):
            from massivetext.models.auto import AutoModelForCausalLM

            if tok is None:
                from massivetext.tokenization.tokenizer import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(model)
            model = AutoModelForCausalLM.from_pretrained(model)
        for i, p in enumerate(predictions):
            if isinstance(p, float) and math.isnan(p):
                raise MassiveTextError(f"prediction {i} is NaN")
        if any(isinstance(p, str) for p in predictions) and not all(isinstance(p, str) for p in predictions):
            raise MassiveTextError("predictions mix texts and token ids")
        out = sliding_window_perplexity(
            model,
            list(predictions),
            tokenizer=tok,
            max_length=cfg["max_length"],
            stride=cfg["stride"],
            batch_size=cfg["batch_size"],
            add_start_token=cfg["add_start_token"],
            device=cfg["device"],
            dtype=cfg["dtype"],
        )
        # one long stream: its windows are the resampling units (each predicts tokens no other window does)
        stats = out["window_stats"] if len(predictions) == 1 else np.column_stack([out["nll"], out["counts"]])

        def from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
            s = np.atleast_2d(sums)
            with np.errstate(over="ignore"):
                return {"perplexity": np.exp(s[:, 0] / np.maximum(s[:, 1], 1))}

        result = {k: out[k] for k in ("perplexity", "loss", "tokens", "perplexities", "mean_perplexity")}
        return Scored(result, stats, from_sums)
