"""``text-classification`` / ``sentiment-analysis``: labels and scores from a sequence classifier.

Outputs follow transformers v4: one text gives ``[{"label", "score"}]``; with ``top_k`` (an int, or None for all
labels) each input gives a list sorted by score; ``{"text", "text_pair"}`` classifies a pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import BadInputError, ConfigError
from massivetext.pipelines.base import Feature, Pipeline, check_text, id2label, sigmoid, softmax

_FUNCTIONS = ("softmax", "sigmoid", "none")


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    heads = ("BertForSequenceClassification",)
    auto_class = "AutoModelForSequenceClassification"

    def sanitize(self, top_k: Any = "", function_to_apply: str | None = None, **kwargs: Any) -> dict[str, Any]:
        super().sanitize(**kwargs)
        params: dict[str, Any] = {"legacy": True, "top_k": 1}
        if top_k is None or isinstance(top_k, int):  # an explicit top_k switches to the list form
            if isinstance(top_k, int) and top_k < 1:
                raise ConfigError(f"top_k must be >= 1 or None, not {top_k}")
            params.update(top_k=top_k, legacy=False)
        elif top_k != "":
            raise ConfigError(f"top_k must be an int or None, not {top_k!r}")
        if function_to_apply is not None:
            function_to_apply = str(getattr(function_to_apply, "value", function_to_apply)).lower()
            if function_to_apply not in _FUNCTIONS:
                raise ConfigError(f"function_to_apply must be one of {_FUNCTIONS}, not {function_to_apply!r}")
        params["function"] = function_to_apply or self.default_function()
        return params

    def default_function(self) -> str:
        c = self.model.config
        kind = c.get("problem_type")
        n = len(id2label(c))
        if kind == "regression":
            return "none"
        if kind == "multi_label_classification" or n == 1:
            return "sigmoid"
        return "softmax"

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, (str, dict))

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        legacy = "top_k" not in kwargs
        result = super().__call__(inputs, *args, **kwargs)
        return [result] if isinstance(inputs, str) and legacy else result

    def as_single(self, item: Any, result: Any, params: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        return [result] if "top_k" not in kwargs and isinstance(item, str) else result

    def validate(self, item: Any) -> Any:
        if isinstance(item, dict):
            if "text" not in item:
                raise BadInputError(f"{self.task_name}: a dict input needs a 'text' key (and maybe 'text_pair')")
            extra = set(item) - {"text", "text_pair"}
            if extra:
                raise BadInputError(f"{self.task_name}: unknown keys {sorted(extra)} (use 'text' and 'text_pair')")
            pair = item.get("text_pair")
            return (check_text(item["text"], "text"), None if pair is None else check_text(pair, "text_pair"))
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            return (check_text(item[0], "text"), check_text(item[1], "text_pair"))
        return (check_text(item, f"{self.task_name} input"), None)

    def preprocess(self, items: list[Any], params: dict[str, Any]) -> list[list[Feature]]:
        out: list[list[Feature] | None] = [None] * len(items)
        # singles and pairs are tokenized as two batches (the Rust call takes one form at a time)
        for want_pair in (False, True):
            idx = [i for i, (_, p) in enumerate(items) if (p is not None) == want_pair]
            if not idx:
                continue
            texts = [items[i][0] for i in idx]
            pairs = [items[i][1] for i in idx] if want_pair else None
            types = self.use_token_types()
            for i, enc in zip(idx, self.encode_limited(texts, pairs)):
                out[i] = [Feature(enc.ids, enc.type_ids if types else None)]
        return out  # type: ignore[return-value]

    def forward(self, batch, feats, params) -> list[Any]:
        logits = self.model(**batch).logits.float().cpu().numpy()
        return list(logits)

    def postprocess(self, item, feats, outputs, params) -> Any:
        logits = outputs[0]
        fn = params["function"]
        scores = softmax(logits) if fn == "softmax" else sigmoid(logits) if fn == "sigmoid" else logits
        labels = id2label(self.model.config)
        if params["legacy"]:
            return {"label": labels[int(scores.argmax())], "score": scores.max().item()}
        ranked = [{"label": labels[i], "score": s.item()} for i, s in enumerate(np.asarray(scores))]
        ranked.sort(key=lambda x: x["score"], reverse=True)
        return ranked if params["top_k"] is None else ranked[: params["top_k"]]
