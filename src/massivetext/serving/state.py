"""What one server holds: the model, tokenizer and engine (or a task pipeline), loaded in the background, and the
asyncio-facing calls the routes make into the engine's worker thread."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
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
        from massivetext.pipelines import canonical_task

        canonical_task(task)  # an unknown task fails here, with "did you mean", before a port is bound
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


class Dispatcher:
    """Hands engine events (made on the worker thread) to the requests' asyncio queues with one event-loop wake-up
    per burst, not one per request per token: at 32 streams that is 32x fewer cross-thread calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: deque = deque()
        self.lock = threading.Lock()
        self.scheduled = False

    def put(self, queue: asyncio.Queue, item: Any) -> None:
        with self.lock:
            self.pending.append((queue, item))
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self.lock:
            items, self.pending = self.pending, deque()
            self.scheduled = False
        for queue, item in items:
            queue.put_nowait(item)


class ServerState:
    def __init__(self, cfg, metrics, model: Any = None, tokenizer: Any = None):
        self.cfg, self.metrics = cfg, metrics
        self.model, self.tokenizer = model, tokenizer
        self.engine: Engine | None = None
        self.pipeline: Any = None
        self.embedding_pipeline: Any = None
        self._dispatcher: Dispatcher | None = None
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
        if self.task == "text-generation" and self.model is None and cfg.engine_process:
            from massivetext.serving.engine_process import EngineProcess
            from massivetext.tokenization.tokenizer import AutoTokenizer

            if self.tokenizer is None:
                self.tokenizer = AutoTokenizer.from_pretrained(cfg.model_dir)
            self.engine = EngineProcess(
                cfg.model_dir, cfg.engine, cfg.dtype, device, observer=self.metrics, on_exit=self._engine_exited
            )
            self.metrics.watch_engine(lambda: self.engine.queue_depth, lambda: self.engine.running)
        elif self.task == "text-generation":
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
                self.task,
                model=cfg.model_dir if self.model is None else self.model,
                tokenizer=self.tokenizer,
                device=device,
                dtype=dtype,
            )
            self.tokenizer = self.pipeline.tokenizer
            # task pipelines run on the engine's worker too, so requests batch together and never race the model
            self.engine = Engine(None, self.tokenizer, cfg.engine)

    def _engine_exited(self, why: str) -> None:
        self.error = why  # /health says 503 and every route answers 503 from now on

    def dispatcher(self, loop: asyncio.AbstractEventLoop) -> Dispatcher:
        d = self._dispatcher
        if d is None or d.loop is not loop:
            d = self._dispatcher = Dispatcher(loop)
        return d

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
        from massivetext.pipelines import canonical_task

        served = canonical_task(self.task)
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

    def _embedder(self) -> Any:
        """The feature-extraction pipeline (mean pooling) over the served model, made on first use (on the engine's
        worker; an engine in its own process makes its own: ``serving.jobs``)."""
        if self.embedding_pipeline is None:
            from massivetext.serving import jobs

            model = self.model if self.pipeline is None else self.pipeline.model
            self.embedding_pipeline = jobs.embedder(model, self.tokenizer)
        return self.embedding_pipeline

    async def embed(self, inputs: list[str | list[int]]) -> tuple[list[list[float]], int]:
        """Mean-pooled last hidden states (the feature-extraction pipeline, batched across requests) and the number
        of tokens the model read. Token-id inputs run through the engine's own pooling (same math)."""
        vectors: list[Any] = []
        tokens = 0
        for item in inputs:
            if isinstance(item, str):
                if not item:
                    raise APIError(400, "an input is empty", "input", "invalid_value")
                tokens += len(self.tokenizer.encode(item, add_special_tokens=True))
            else:
                tokens += len(item)
                if not item:
                    raise APIError(400, "an input encodes to no tokens", "input", "invalid_value")
                if self.task != "text-generation":
                    raise APIError(400, "token-id inputs are served for causal LMs only", "input", "invalid_value")
                if len(item) > self.engine.max_len or any(not 0 <= t < self.engine.vocab_size for t in item):
                    raise APIError(400, "token ids out of range or longer than the context", "input", "invalid_value")
        from massivetext.serving import jobs

        def texts(batch: list[str]) -> list[Any]:
            return jobs.embed_texts(self._embedder(), batch)

        for item in inputs:
            if isinstance(item, str):
                vectors.append(self._job("embed-text", texts, item))
            else:
                vectors.append(self._job("embed-ids", self.engine.embed, item))
        return list(await asyncio.gather(*vectors)), tokens

    async def prompt_logprobs(self, prompts: list[list[int]], top: int) -> list[list[Any]]:
        """Per prompt token: None for the first, else (its logprob, the ``top`` most likely (id, logprob))."""
        from massivetext.serving import jobs

        def run(items: list[list[int]]) -> list[list[Any]]:
            return jobs.prompt_logprobs(self.model, items, top)

        for ids in prompts:
            if len(ids) > self.engine.max_len:
                raise APIError(400, "the prompt is longer than the model's context", "prompt", "invalid_value")
        return list(await asyncio.gather(*(self._job(("prompt_logprobs", top), run, ids) for ids in prompts)))

    async def run_pipeline(self, task: str, inputs: Any, parameters: dict[str, Any]) -> Any:
        """What ``pipeline(inputs, **parameters)`` returns; requests with the same parameters share batches."""
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        if not items:
            raise APIError(400, "inputs must not be empty", "inputs", "invalid_value")
        key = json.dumps(parameters, sort_keys=True, default=str)
        pipe = self.pipeline
        params = dict(parameters)

        def as_single(batch: list[Any]) -> list[Any]:  # per item, what pipe(item) returns
            return [_plain(r) for r in pipe.iter_results(batch, **params)]

        def as_listed(batch: list[Any]) -> list[Any]:  # per item, its entry in what pipe([...]) returns
            out = pipe(batch, **params)
            if len(batch) == 1 and not isinstance(out, list):  # question answering: a lone answer for [x]
                out = [out]
            return [_plain(r) for r in out]

        if single:
            return await self._job((task, "single", key), as_single, inputs)
        results = await asyncio.gather(*(self._job((task, "list", key), as_listed, it) for it in items))
        if len(items) == 1 and task == "question-answering":  # transformers returns the lone answer
            return results[0]
        return list(results)


def _plain(obj: Any) -> Any:
    """Pipeline outputs as JSON values (numpy scalars and arrays become numbers and lists)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj
