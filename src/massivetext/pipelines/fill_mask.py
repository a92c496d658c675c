"""``fill-mask``: the likeliest tokens for each mask token, as transformers v4 returns them (``top_k``, ``targets``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from massivetext.errors import BadInputError, ConfigError
from massivetext.pipelines.base import Feature, Pipeline


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    heads = ("BertForMaskedLM",)
    auto_class = "AutoModelForMaskedLM"

    def sanitize(self, top_k: int | None = None, targets: Any = None, **kwargs: Any) -> dict[str, Any]:
        super().sanitize(**kwargs)
        if self.tokenizer.mask_token_id is None:
            raise ConfigError("fill-mask: the tokenizer has no mask token")
        top_k = 5 if top_k is None else int(top_k)
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, not {top_k}")
        target_ids = None if targets is None else self.target_ids(targets)
        if target_ids is not None and len(target_ids) < top_k:
            top_k = len(target_ids)
        return {"top_k": top_k, "targets": target_ids}

    def target_ids(self, targets: Any) -> np.ndarray:
        targets = [targets] if isinstance(targets, str) else list(targets)
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            if not isinstance(target, str):
                raise BadInputError(f"fill-mask: targets must be strings, not {type(target).__name__}")
            id_ = vocab.get(target)
            if id_ is None:  # as transformers: the first token of the target stands for it
                first = self.tokenizer(target, add_special_tokens=False, truncation=True, max_length=1)["input_ids"]
                if not first:
                    warnings.warn(f"fill-mask: target {target!r} is not in the vocabulary; ignored", stacklevel=3)
                    continue
                id_ = first[0]
                warnings.warn(
                    f"fill-mask: target {target!r} is not in the vocabulary; using "
                    f"{self.tokenizer.convert_ids_to_tokens(id_)!r}",
                    stacklevel=3,
                )
            ids.append(id_)
        ids = list(set(ids))
        if not ids:
            raise ConfigError("fill-mask: none of the targets is usable")
        return np.array(ids)

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        out = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:  # transformers unwraps a one-item list
            return out[0]
        return out

    def preprocess(self, items: list[str], params: dict[str, Any]) -> list[list[Feature]]:
        mask_id = self.tokenizer.mask_token_id
        feats = []
        types = self.use_token_types()
        for text, enc in zip(items, self.encode_limited(items)):
            if mask_id not in enc.ids:
                raise BadInputError(f"fill-mask: no mask token ({self.tokenizer.mask_token}) in {text!r:.80}")
            feats.append([Feature(enc.ids, enc.type_ids if types else None)])
        return feats

    def forward(self, batch, feats, params) -> list[Any]:
        ids = batch["input_ids"]
        rows, cols = torch.nonzero(ids == self.tokenizer.mask_token_id, as_tuple=True)
        # only the masked positions go through the LM head (``heads``: BertForMaskedLM): its vocabulary projection
        # (V x hidden a token, 30k x 256 for a BERT 4x256) is most of an MLM's arithmetic, and no other position's
        # logits are read
        logits = self.model.head(self.model.encode(**batch, skip_padding=True)[rows, cols])
        probs = logits.float().softmax(-1)
        target_ids = params["targets"]
        if target_ids is not None:
            probs = probs[..., torch.from_numpy(target_ids).to(probs.device)]
        values, preds = probs.topk(params["top_k"])
        values, preds, rows = values.cpu(), preds.cpu(), rows.cpu()
        return [(values[rows == r].tolist(), preds[rows == r].tolist()) for r in range(len(feats))]

    def postprocess(self, text, feats, outputs, params) -> Any:
        values, preds = outputs[0]
        ids = np.array(feats[0].input_ids)
        mask_pos = np.nonzero(ids == self.tokenizer.mask_token_id)[0]
        single = len(mask_pos) == 1
        target_ids = params["targets"]
        pad = self.tokenizer.pad_token_id
        result = []
        for i, (vals, prs) in enumerate(zip(values, preds)):
            row = []
            for v, p in zip(vals, prs):
                if target_ids is not None:
                    p = int(target_ids[p])
                tokens = ids.copy()
                tokens[mask_pos[i]] = p
                tokens = tokens[tokens != pad]
                sequence = self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single)
                row.append({"score": v, "token": p, "token_str": self.tokenizer.decode([p]), "sequence": sequence})
            result.append(row)
        return result[0] if single else result
