"""``zero-shot-classification``: an NLI model scores "premise entails 'This example is {label}.'" per label."""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import BadInputError, ConfigError
from massivetext.pipelines.base import Feature, Pipeline, check_text


class ZeroShotClassificationPipeline(Pipeline):
    task = "zero-shot-classification"
    heads = ("BertForSequenceClassification",)
    auto_class = "AutoModelForSequenceClassification"

    def entailment_id(self) -> int:
        for label, i in (self.model.config.get("label2id") or {}).items():
            if label.lower().startswith("entail"):
                return int(i)
        return -1

    def parse_call(self, inputs, args, kwargs):
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
            args = ()
        return super().parse_call(inputs, args, kwargs)

    def sanitize(
        self,
        candidate_labels: Any = None,
        hypothesis_template: str = "This example is {}.",
        multi_label: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        super().sanitize(**kwargs)
        if isinstance(candidate_labels, str):
            candidate_labels = [x.strip() for x in candidate_labels.split(",") if x.strip()]
        if not candidate_labels:
            raise ConfigError("zero-shot-classification needs candidate_labels (at least one)")
        labels = [check_text(x, "candidate label") for x in candidate_labels]
        if hypothesis_template.format(labels[0]) == hypothesis_template:
            raise ConfigError(f"hypothesis_template {hypothesis_template!r} has no {{}} where the label goes")
        if self.entailment_id() == -1:
            raise ConfigError("zero-shot-classification: the model's label2id has no 'entailment' label (not NLI)")
        return {"labels": labels, "template": hypothesis_template, "multi_label": bool(multi_label)}

    def validate(self, item: Any) -> Any:
        if isinstance(item, list):
            raise BadInputError("zero-shot-classification: nested lists are not inputs")
        return check_text(item, "zero-shot-classification input")

    def preprocess(self, items: list[str], params: dict[str, Any]) -> list[list[Feature]]:
        hyps = [params["template"].format(label) for label in params["labels"]]
        texts = [t for t in items for _ in hyps]
        pairs = hyps * len(items)
        enc = self.tokenizer(texts, pairs, truncation="only_first", max_length=self.max_len)
        types = self.use_token_types()
        feats = [Feature(e.ids, e.type_ids if types else None) for e in enc.encodings]
        n = len(hyps)
        return [feats[i * n : (i + 1) * n] for i in range(len(items))]

    def forward(self, batch, feats, params) -> list[Any]:
        return list(self.model(**batch).logits.float().cpu().numpy())

    def postprocess(self, text, feats, outputs, params) -> dict[str, Any]:
        labels = params["labels"]
        logits = np.stack(outputs)[None]  # (1, labels, classes)
        ent = self.entailment_id()
        if params["multi_label"] or len(labels) == 1:
            contra = -1 if ent == 0 else 0
            ec = logits[..., [contra, ent]]
            scores = (np.exp(ec) / np.exp(ec).sum(-1, keepdims=True))[..., 1]
        else:
            e = logits[..., ent]
            scores = np.exp(e) / np.exp(e).sum(-1, keepdims=True)
        top = list(reversed(scores[0].argsort()))
        return {"sequence": text, "labels": [labels[i] for i in top], "scores": scores[0, top].tolist()}
