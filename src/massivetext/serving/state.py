"""What one server holds: the model, tokenizer and engine (or a task pipeline), loaded in the background, and the
asyncio-facing calls the routes make into the engine's worker thread."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from massivetext.errors import ConfigError, MissingFileError
from massivetext.serving.engine import Engine, EngineStopped
from massivetext.serving.openai_errors import APIError

log = logging.getLogger("massivetext.serving")

# a model's architecture suffix -> the pipeline task it serves
_HEAD_TASKS = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForMaskedLM": "fill-mask",
    "ForConditionalGeneration": "text2text-generation",
    "MTModel": "translation",
}
_TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def check_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """Fail fast (before a port is bound) on a directory that does not exist or holds no model."""
    path = Path(model_dir)
    if not path.is_dir():
        raise MissingFileError(f"{model_dir}: no such model directory")
    cfg = path / "config.json"
    if not cfg.is_file():
        raise MissingFileError(f"{model_dir}: not a model directory (no config.json)")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{cfg}: not valid JSON ({e})") from e
    if not any(
        (path / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    ):
        raise MissingFileError(f"{model_dir}: no weights (model.safetensors)")
    if not any(
        (path / f).is_file() for f in ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "source.spm")
    ):
        raise MissingFileError(f"{model_dir}: no tokenizer files (tokenizer.json)")
    return data


def task_of(config: dict[str, Any], task: str | None) -> str:
    """The task a checkpoint serves: ``text-generation`` for causal LMs, else what its head does."""
    if task:
        return _TASK_ALIASES.get(task, task)
    for arch in config.get("architectures") or []:
        if arch.endswith(("LMHeadModel", "ForCausalLM")):
            return "text-generation"
        for suffix, t in _HEAD_TASKS.items():
            if arch.endswith(suffix):
                return t
    if config.get("model_type") in ("gpt2", "gpt", "lstm"):
        return "text-generation"
    raise ConfigError("cannot tell which task this model serves: pass --task")


class ServerState:
    def __init__(self, cfg, metrics, model: Any = None, tokenizer: Any = None):
        self.cfg, self.metrics = cfg, metrics
        self.model, self.tokenizer = model, tokenizer
        self.engine: Engine | None = None
        self.pipeline: Any = None
        self.task: str | None = None
        self.ready = threading.Event()
        self.error: str | None = None
        self.created = int(time.time())
        name = cfg.served_model_name or (Path(cfg.model_dir).name if cfg.model_dir else "model")
        self.name = name
        self.redactor = None
        if cfg.redact_pii:
            from massivetext.curate.pii import PIIRedactor

            self.redactor = PIIRedactor()

    # ---------------------------------------------------------------- loading (a background thread)
    def load(self) -> None:
        try:
            self._load()
            self.ready.set()
            log.info("model %s ready (task %s)", self.name, self.task)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            log.exception("loading the model failed")

    def _load(self) -> None:
        import torch

        cfg = self.cfg
        dtype = getattr(torch, cfg.dtype) if cfg.dtype else None
        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = check_model_dir(cfg.model_dir) if cfg.model_dir and self.model is None else {}
        if self.model is not None:
            archs = [type(self.model).__name__]
            config = {"architectures": archs}
        self.task = task_of(config, cfg.task)
        if self.task == "text-generation":
            if self.model is None:
                from massivetext.models.auto import AutoModelForCausalLM

                self.model = AutoModelForCausalLM.from_pretrained(cfg.model_dir, dtype=dtype, device=device)
            if self.tokenizer is None:
                from massivetext.tokenization.tokenizer import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(cfg.model_dir)
            self.engine = Engine(self.model, self.tokenizer, cfg.engine, observer=self.metrics)
            self.metrics.watch_engine(lambda: self.engine.queue_depth, lambda: self.engine.running)
        else:
            from massivetext.pipelines import pipeline

            self.pipeline = pipeline(
                self.task, model=self.model or cfg.model_dir, tokenizer=self.tokenizer, device=device, dtype=dtype
            )
            self.tokenizer = self.pipeline.tokenizer
            # task pipelines run on the engine's worker too, so requests batch together and never race the model
            self.engine = Engine(None, self.tokenizer, cfg.engine)

    def shutdown(self, timeout: float) -> None:
        if self.engine is not None:
            self.engine.shutdown(timeout)

    # ---------------------------------------------------------------- checks the routes make
    def require_ready(self, model: str | None = None) -> None:
        if self.error is not None:
            raise APIError(503, f"the model failed to load: {self.error}", None, "model_load_failed")
        if not self.ready.is_set():
            raise APIError(503, "the model is still loading", None, "model_loading", {"Retry-After": "1"})
        if model is not None and model != self.name:
            raise APIError(
                404, f"the model '{model}' does not exist; this server serves '{self.name}'", "model", "model_not_found"
            )

    def require_generation(self, model: str | None) -> None:
        self.require_ready(model)
        if self.task != "text-generation":
            raise APIError(
                400,
                f"this server serves a {self.task} model, which does not generate text here",
                "model",
                "unsupported_model",
            )

    def require_task(self, task: str, route: str) -> None:
        self.require_ready()
        served = self.task
        ok = served == task or (
            task in ("translation", "summarization")
            and served in ("text2text-generation", "translation", "summarization")
        )
        if not ok:
            raise APIError(
                400, f"/v1/{route} needs a {task} model; this server serves {served}", None, "unsupported_model"
            )

    # ---------------------------------------------------------------- text
    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # ---------------------------------------------------------------- jobs on the worker
    async def _job(self, kind: Any, fn, item: Any) -> Any:
        try:
            fut = self.engine.submit_job(kind, fn, item)
        except EngineStopped as e:
            raise APIError(503, str(e), None, "shutting_down") from e
        try:
            return await asyncio.wrap_future(fut)
        except APIError:
            raise
        except Exception as e:
            from massivetext.errors import MassiveTextError

            if isinstance(e, MassiveTextError | ValueError):
                raise APIError(400, str(e), None, "invalid_value") from e
            raise APIError(500, f"{type(e).__name__}: {e}", None, "internal_error") from e

    async def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        if self.task != "text-generation":
            raise APIError(400, "embeddings are served for causal LMs here", "model", "unsupported_model")
        limit = self.engine.max_len
        for ids in inputs:
            if not ids:
                raise APIError(400, "an input encodes to no tokens", "input", "invalid_value")
            if len(ids) > limit:
                raise APIError(
                    400, f"an input has {len(ids)} tokens; the model takes at most {limit}", "input", "invalid_value"
                )
            if any(not 0 <= t < self.engine.vocab_size for t in ids):
                raise APIError(400, f"token ids must be in [0, {self.engine.vocab_size})", "input", "invalid_value")
        results = await asyncio.gather(*(self._job("embed", self.engine.embed, ids) for ids in inputs))
        return list(results)

    async def prompt_logprobs(self, prompts: list[list[int]], top: int) -> list[list[Any]]:
        """Per prompt token: None for the first, else (its logprob, the ``top`` most likely (id, logprob))."""
        import torch

        model = self.model

        def run(items: list[list[int]]) -> list[list[Any]]:
            out = []
            with torch.inference_mode():
                for ids in items:
                    x = torch.tensor([ids], device=model.transformer.wte.weight.device)
                    lp = model(x).logits[0, :-1].float().log_softmax(-1)
                    chosen = lp.gather(1, x[0, 1:, None]).squeeze(1).tolist()
                    tv, ti = lp.topk(max(top, 1), -1)
                    rows: list[Any] = [None]
                    for j, c in enumerate(chosen):
                        rows.append((c, list(zip(ti[j, :top].tolist(), tv[j, :top].tolist()))))
                    out.append(rows)
            return out

        for ids in prompts:
            if len(ids) > self.engine.max_len:
                raise APIError(400, "the prompt is longer than the model's context", "prompt", "invalid_value")
        return list(await asyncio.gather(*(self._job(("prompt_logprobs", top), run, ids) for ids in prompts)))

    async def run_pipeline(self, task: str, inputs: Any, parameters: dict[str, Any]) -> Any:
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        if not items:
            raise APIError(400, "inputs must not be empty", "inputs", "invalid_value")
        for it in items:
            ok = isinstance(it, str) if task != "question-answering" else isinstance(it, dict)
            if not ok or (isinstance(it, str) and not it.strip()):
                want = "a {'question', 'context'} object" if task == "question-answering" else "a non-empty string"
                raise APIError(400, f"each input must be {want}", "inputs", "invalid_value")
        kind = (task, json.dumps(parameters, sort_keys=True, default=str))
        pipe = self.pipeline
        params = dict(parameters)

        def call(batch: list[Any]) -> list[Any]:
            out = pipe(batch, **params)
            return out if isinstance(out, list) and len(out) == len(batch) else [out]

        results = await asyncio.gather(*(self._job(kind, call, it) for it in items))
        return results[0] if single else list(results)
