"""The batched jobs a text-generation server runs on its engine's worker besides generation (embeddings, prompt
logprobs), as plain functions of the model, so the engine's own process can run them by name."""

from __future__ import annotations

from typing import Any


def embedder(model: Any, tokenizer: Any) -> Any:
    """The feature-extraction pipeline (mean pooling) over ``model``."""
    from massivetext.pipelines import pipeline

    return pipeline("embeddings", model=model, tokenizer=tokenizer)


def embed_texts(pipe: Any, texts: list[str]) -> list[list[float]]:
    return [_floats(v) for v in pipe.iter_results(texts, pooling="mean")]


def prompt_logprobs(model: Any, prompts: list[list[int]], top: int) -> list[list[Any]]:
    """Per prompt token: None for the first, else (its logprob, the ``top`` most likely (id, logprob))."""
    import torch

    out = []
    with torch.inference_mode():
        for ids in prompts:
            x = torch.tensor([ids], device=model.transformer.wte.weight.device)
            lp = model(x).logits[0, :-1].float().log_softmax(-1)
            chosen = lp.gather(1, x[0, 1:, None]).squeeze(1).tolist()
            tv, ti = lp.topk(max(top, 1), -1)
            rows: list[Any] = [None]
            for j, c in enumerate(chosen):
                rows.append((c, list(zip(ti[j, :top].tolist(), tv[j, :top].tolist()))))
            out.append(rows)
    return out


class JobRunner:
    """Runs the jobs above by kind for one model (what the engine's process does with a job it is sent):
    ``"embed-text"``, ``"embed-ids"`` and ``("prompt_logprobs", top)``."""

    def __init__(self, model: Any, tokenizer: Any, engine: Any):
        self.model, self.tokenizer, self.engine = model, tokenizer, engine
        self._embedder: Any = None

    def __call__(self, kind: Any, items: list[Any]) -> list[Any]:
        if kind == "embed-text":
            if self._embedder is None:
                self._embedder = embedder(self.model, self.tokenizer)
            return embed_texts(self._embedder, items)
        if kind == "embed-ids":
            return self.engine.embed(items)
        if isinstance(kind, tuple) and kind[0] == "prompt_logprobs":
            return prompt_logprobs(self.model, items, kind[1])
        raise ValueError(f"unknown job kind {kind!r}")


def _floats(v: Any) -> list[float]:
    return v.tolist() if hasattr(v, "tolist") else [float(x) for x in v]
