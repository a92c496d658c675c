"""``token-classification`` / ``ner``: entities with character offsets, transformers v4's aggregation strategies.

Offsets come from the fast tokenizer's offset mapping. With ``stride``, a text longer than the model takes is read
in overlapping windows and overlapping entities are merged, so no part of a long document is ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import ConfigError
from massivetext.pipelines.base import Feature, Pipeline, id2label, softmax

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    heads = ("BertForTokenClassification",)
    auto_class = "AutoModelForTokenClassification"

    def sanitize(
        self,
        aggregation_strategy: Any = None,
        ignore_labels: list[str] | None = None,
        stride: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        super().sanitize(**kwargs)
        strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy) or "none").lower()
        if strategy not in STRATEGIES:
            raise ConfigError(f"aggregation_strategy must be one of {STRATEGIES}, not {aggregation_strategy!r}")
        if stride is not None:
            if self.max_len is not None and stride >= self.max_len:
                raise ConfigError(f"stride ({stride}) must be less than the model's length ({self.max_len})")
            if strategy == "none":
                raise ConfigError("stride reads a long text in windows; pick an aggregation_strategy other than none")
        return {
            "strategy": strategy,
            "ignore": ["O"] if ignore_labels is None else list(ignore_labels),
            "stride": stride,
        }

    def preprocess(self, items: list[str], params: dict[str, Any]) -> list[list[Feature]]:
        stride = params["stride"]
        types = self.use_token_types()
        if stride is None:
            encs = [[e] for e in self.encode_limited(items)]
        else:
            enc = self.tokenizer(
                items, truncation=True, max_length=self.max_len, stride=stride, return_overflowing_tokens=True
            )
            encs = [[] for _ in items]
            for e, i in zip(enc.encodings, enc["overflow_to_sample_mapping"]):
                encs[i].append(e)
        return [[Feature(e.ids, e.type_ids if types else None, {"enc": e}) for e in row] for row in encs]

    def forward(self, batch, feats, params) -> list[Any]:
        # only each row's own tokens are read below: the model may skip the padding
        logits = self.model(**batch, skip_padding=True).logits.float().cpu().numpy()
        return [logits[r, : len(f.input_ids)] for r, f in enumerate(feats)]

    def postprocess(self, text: str, feats, outputs, params) -> list[dict[str, Any]]:
        entities: list[dict[str, Any]] = []
        for feat, logits in zip(feats, outputs):
            pre = self.gather(text, feat.extra["enc"], softmax(logits), params["strategy"])
            grouped = self.aggregate(pre, params["strategy"])
            ignore = params["ignore"]
            entities += [e for e in grouped if e.get("entity") not in ignore and e.get("entity_group") not in ignore]
        if len(feats) > 1:
            entities = merge_overlapping(entities)
        return entities

    # ---- transformers v4's algorithm (pipelines/token_classification.py), on Rust encodings -------------------
    def gather(self, text: str, enc: Any, scores: np.ndarray, strategy: str) -> list[dict[str, Any]]:
        special = enc.special_tokens_mask
        tokens = enc.tokens
        subword_prefix = getattr(self.tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None)
        unk = self.tokenizer.unk_token_id
        pre = []
        for idx, (start, end) in enumerate(enc.offsets):
            if special[idx]:
                continue
            word = tokens[idx]
            ref = text[start:end]
            if subword_prefix:
                is_subword = len(word) != len(ref)
            else:  # byte-level BPE and the like: a token not after a space continues a word
                is_subword = start > 0 and " " not in text[start - 1 : start + 1]
            if enc.ids[idx] == unk:
                word, is_subword = ref, False
            pre.append(
                {
                    "word": word,
                    "scores": scores[idx],
                    "start": start,
                    "end": end,
                    "index": idx,
                    "is_subword": is_subword,
                }
            )
        return pre

    def aggregate(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        labels = id2label(self.model.config)
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                k = int(p["scores"].argmax())
                entities.append(
                    {
                        "entity": labels[k],
                        "score": float(p["scores"][k]),
                        "index": p["index"],
                        "word": p["word"],
                        "start": p["start"],
                        "end": p["end"],
                    }
                )
        else:
            entities = self.aggregate_words(pre, strategy, labels)
        return entities if strategy == "none" else self.group_entities(entities)

    def aggregate_word(self, group: list[dict[str, Any]], strategy: str, labels: dict[int, str]) -> dict[str, Any]:
        word = self.tokenizer.convert_tokens_to_string([e["word"] for e in group])
        if strategy == "first":
            scores = group[0]["scores"]
        elif strategy == "max":
            scores = max(group, key=lambda e: e["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([e["scores"] for e in group]), axis=0)
        k = int(scores.argmax())
        return {
            "entity": labels[k],
            "score": float(scores[k]),
            "word": word,
            "start": group[0]["start"],
            "end": group[-1]["end"],
        }

    def aggregate_words(self, pre, strategy, labels) -> list[dict[str, Any]]:
        words, group = [], None
        for e in pre:
            if group is None:
                group = [e]
            elif e["is_subword"]:
                group.append(e)
            else:
                words.append(self.aggregate_word(group, strategy, labels))
                group = [e]
        if group is not None:
            words.append(self.aggregate_word(group, strategy, labels))
        return words

    def group_sub_entities(self, group: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "entity_group": group[0]["entity"].split("-", 1)[-1],
            "score": _nanmean([e["score"] for e in group]),
            "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in group]),
            "start": group[0]["start"],
            "end": group[-1]["end"],
        }

    def group_entities(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups, current = [], []
        for e in entities:
            if not current:
                current.append(e)
                continue
            bi, tag = get_tag(e["entity"])
            _, last_tag = get_tag(current[-1]["entity"])
            if tag == last_tag and bi != "B":
                current.append(e)
            else:
                groups.append(self.group_sub_entities(current))
                current = [e]
        if current:
            groups.append(self.group_sub_entities(current))
        return groups


def _nanmean(values: list[float]) -> float:
    """np.nanmean of a few Python floats (4.57's group score), without numpy's ~50 us per call on short lists."""
    kept = [v for v in values if v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def get_tag(name: str) -> tuple[str, str]:
    if name.startswith("B-"):
        return "B", name[2:]
    if name.startswith("I-"):
        return "I", name[2:]
    return "I", name


def merge_overlapping(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities found twice in overlapping windows: keep the longer one (or, equally long, the surer one)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda x: x["start"])
    out, prev = [], entities[0]
    for e in entities:
        if prev["start"] <= e["start"] < prev["end"]:
            cur_len, prev_len = e["end"] - e["start"], prev["end"] - prev["start"]
            if cur_len > prev_len or cur_len == prev_len and e["score"] > prev["score"]:
                prev = e
        else:
            out.append(prev)
            prev = e
    out.append(prev)
    return out
