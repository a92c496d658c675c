"""``feature-extraction`` / ``embeddings``: hidden states of any encoder or decoder, pooled or per token.

Without ``pooling`` the output is transformers v4's: per input, the last hidden state as nested lists
``[1][tokens][hidden]``. ``pooling="mean"`` (masked mean), ``"cls"`` (first token) or ``"last"`` (last real token)
gives one vector per input; ``normalize=True`` scales it to unit length; ``return_tensors=True`` gives numpy arrays.
``mt.pipeline("embeddings")`` defaults to mean pooling.
"""

from __future__ import annotations

from typing import Any

import torch

from massivetext.errors import ConfigError
from massivetext.pipelines.base import Feature, Pipeline

POOLINGS = ("mean", "cls", "last")


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    auto_class = "AutoModel"

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any):
        super().__init__(model, tokenizer, **kwargs)
        if not any(hasattr(self.model, name) for name in ("encode", "trunk")):
            raise ConfigError(f"feature-extraction: {type(self.model).__name__} exposes no hidden states")
        self.default_pooling = "mean" if self.task_name == "embeddings" else None

    def sanitize(
        self,
        pooling: str | None = "",
        normalize: bool = False,
        return_tensors: bool = False,
        truncation: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        super().sanitize(**kwargs)
        pooling = self.default_pooling if pooling == "" else pooling
        if pooling is not None and pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS} or None, not {pooling!r}")
        if normalize and pooling is None:
            raise ConfigError("normalize=True needs a pooling (mean, cls or last)")
        return {"pooling": pooling, "normalize": bool(normalize), "tensors": bool(return_tensors)}

    def pad_side(self) -> str:
        return "right"

    def preprocess(self, items: list[str], params: dict[str, Any]) -> list[list[Feature]]:
        types = self.use_token_types()
        return [[Feature(e.ids, e.type_ids if types else None)] for e in self.encode_limited(items)]

    def hidden(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.model
        if hasattr(m, "trunk"):  # decoder-only: positions count real tokens (right padding keeps them 0..n-1)
            from massivetext.models.gpt import padding_causal_mask

            mask = batch["attention_mask"]
            attn = None if bool(mask.all()) else padding_causal_mask(mask, mask.shape[1], 0)
            return m.trunk(batch["input_ids"], None, attn)
        if getattr(m, "is_encoder_decoder", False):
            return m.encode(batch["input_ids"], batch["attention_mask"])
        return m.encode(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def forward(self, batch, feats, params) -> list[Any]:
        h = self.hidden(batch).float()
        mask = batch["attention_mask"]
        pooling = params["pooling"]
        if pooling is None:
            return [h[r, : len(f.input_ids)].cpu() for r, f in enumerate(feats)]
        if pooling == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1)
        elif pooling == "cls":
            v = h[:, 0]
        else:
            last = mask.sum(1) - 1
            v = h[torch.arange(h.shape[0], device=h.device), last]
        if params["normalize"]:
            v = torch.nn.functional.normalize(v, dim=-1)
        return list(v.cpu())

    def postprocess(self, text, feats, outputs, params) -> Any:
        v = outputs[0]
        if params["pooling"] is None:
            v = v.unsqueeze(0)  # transformers' [1][tokens][hidden]
        return v.numpy() if params["tensors"] else v.tolist()
