"""The serving engine: one model worker thread, a bounded request queue, continuous batching over preallocated
KV-cache slots. It knows nothing of HTTP: callers ``submit`` token ids with ``SamplingParams`` and a ``sink``
that receives ``EngineOutput`` events from the worker thread.

Each loop of the worker:
  1. frees the slots of cancelled requests (a client that went away stops costing compute at the next token);
  2. runs pending jobs (embeddings, task pipelines), all queued items of one kind in one batched call;
  3. admits waiting requests into free slots, up to a prefill token budget, and prefills them in one batch —
     their first token is sampled from the prefill, so it arrives before the running requests finish;
  4. runs one decode step for every running sequence, each at its own position and with its own sampling
     parameters and stop rules, and sends each request its deltas. Finished sequences leave at once and their
     slots take new requests at the next loop. A lone greedy request runs several steps per loop instead
     (``_decode_lone``, up to ``stream_interval_ms``), as vLLM's multi-step scheduling does.

Events reach their sinks one step late, right before the next step's LM head (or a prefill): the consumer (the
server's event loop) then runs while this thread computes without the GIL (see ``_deliver``). ``mt.serve`` runs
the engine in a process of its own instead (``serving.engine_process``), where events leave at the end of each step.

Greedy decoding picks the same tokens as ``model.generate`` whatever else is in the batch (the rows never mix).
Sampling with a ``seed`` draws from a per-request ``torch.Generator`` exactly as ``model.generate(...,
generator=torch.Generator().manual_seed(seed))`` does for that prompt alone: same warpers (temperature, top-k
defaulting like ``generate``, top-p) and one ``multinomial`` call per step over the request's ``n`` rows; with
``n > 1`` the draws stay identical to ``generate(num_return_sequences=n)`` until the first of the ``n`` finishes
(``generate`` keeps drawing for finished rows, the engine frees them).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from massivetext.errors import MassiveTextError
from massivetext.models.generation import _warp
from massivetext.serving.batched_gpt import BatchedGPT
from massivetext.serving.detokenize import IncrementalDetokenizer, concatenative_decoder

log = logging.getLogger("massivetext.serving.engine")


class RequestRejected(MassiveTextError, ValueError):
    """A request the engine cannot take as given (too long, bad parameters): the client must change it."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class QueueFull(MassiveTextError):
    """The engine holds ``max_queue`` requests already: try again later."""


class EngineStopped(MassiveTextError):
    """The engine is draining or stopped and takes no new work."""


@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int | None = None  # None: the model's generation default, as ``generate`` (50 unless configured)
    seed: int | None = None
    n: int = 1
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    logprobs: int | None = None  # None: none; k >= 0: the chosen token's logprob and the k most likely
    # OpenAI's penalties on tokens already generated: logit -= count * frequency + (count > 0) * presence
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class TokenLogprob:
    token_id: int
    logprob: float
    top: list[tuple[int, float]]


@dataclass
class ChoiceDelta:
    index: int
    text: str
    token_ids: list[int]
    logprobs: list[TokenLogprob] | None = None
    finish_reason: str | None = None  # "stop" | "length" | "abort"


@dataclass
class EngineOutput:
    request_id: str
    choices: list[ChoiceDelta]
    finished: bool = False  # the last event of the request
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: BaseException | None = None


def merge_output(into: EngineOutput, later: EngineOutput) -> None:
    """Fold ``later`` (the next event of the same request) into ``into``: per choice, text and token ids and
    logprobs concatenated, the latest finish reason; the request's latest counts, end and error. Sending the
    merged event says exactly what the two said one after the other."""
    for c in later.choices:
        for d in into.choices:
            if d.index == c.index:
                d.text += c.text
                d.token_ids += c.token_ids
                if c.logprobs is not None:
                    d.logprobs = c.logprobs if d.logprobs is None else d.logprobs + c.logprobs
                d.finish_reason = c.finish_reason or d.finish_reason
                break
        else:
            into.choices.append(c)
    into.finished = later.finished
    into.completion_tokens = later.completion_tokens
    into.error = later.error or into.error


class RequestHandle:
    """The caller's side of one request: ``cancel()`` frees its slots at the next token boundary."""

    def __init__(self, engine: Engine, request_id: str, prompt: list[int], params: SamplingParams, sink):
        self.engine, self.id, self.prompt, self.params, self.sink = engine, request_id, prompt, params, sink
        self.cancelled = False
        self.arrival = time.monotonic()
        self.generator: torch.Generator | None = None
        self.completion_tokens = 0
        self.live = 0  # sequences still running
        self.released = False
        # greedy with no penalties and no logprobs: its rows need only the batch's argmax (``_choose``'s fast path)
        self.plain = (
            params.greedy and not (params.presence_penalty or params.frequency_penalty) and (params.logprobs is None)
        )

    def cancel(self) -> None:
        self.cancelled = True
        self.engine._reap = True  # (after ``cancelled``: the worker clears the flag, then scans)
        self.engine._wake()


class _Seq:
    __slots__ = ("handle", "index", "slot", "detok", "generated", "token_ids")

    def __init__(self, handle: RequestHandle, index: int, slot: int, detok: IncrementalDetokenizer):
        self.handle, self.index, self.slot, self.detok = handle, index, slot, detok
        self.generated = 0
        self.token_ids: list[int] = []


def check_request(
    prompt: list[int], params: SamplingParams, max_len: int, vocab_size: int, max_batch_size: int
) -> None:
    """Raise RequestRejected for a request no engine of this model and size can take as given."""
    if not prompt:
        raise RequestRejected("the prompt encodes to no tokens", "prompt")
    if any(not 0 <= t < vocab_size for t in prompt):
        raise RequestRejected(f"token ids must be in [0, {vocab_size})", "prompt")
    if params.n < 1 or params.n > max_batch_size:
        raise RequestRejected(f"n must be between 1 and {max_batch_size}", "n")
    if params.max_tokens < 1:
        raise RequestRejected("max_tokens must be at least 1", "max_tokens")
    if len(prompt) >= max_len:
        raise RequestRejected(
            f"this model's maximum context length is {max_len} tokens; the prompt has {len(prompt)}",
            "prompt",
        )
    if len(prompt) + params.max_tokens > max_len:
        raise RequestRejected(
            f"this model's maximum context length is {max_len} tokens; the prompt has {len(prompt)} and "
            f"max_tokens asks for {params.max_tokens} more",
            "max_tokens",
        )
    if not params.greedy:
        if not 0.0 < params.temperature <= 100.0:
            raise RequestRejected("temperature must be in [0, 100]", "temperature")
        if not 0.0 < params.top_p <= 1.0:
            raise RequestRejected("top_p must be in (0, 1]", "top_p")


@dataclass
class EngineConfig:
    max_batch_size: int = 32  # KV-cache slots: sequences decoded together
    max_queue: int = 256  # requests held at once (running + waiting); more get QueueFull
    max_model_len: int | None = None  # positions per slot (default: the model's context)
    max_prefill_tokens: int = 2048  # prompt tokens prefilled per loop, so running requests keep decoding
    # the engine process (``serving.engine_process``) sends a running request's tokens at most every this many
    # milliseconds, several steps' tokens as one event (its first token and its end leave at once), and a lone
    # greedy request runs up to this long per scheduler pass (``_decode_lone``); 0: one step and event at a time.
    # 25 ms is 40 updates a second, finer than a reader sees; each message wakes the HTTP process and the client,
    # and at one client of the 2x128 benchmark model (2 cores) 5 / 10 / 25 / 50 ms gave 0.85 / 0.90 / 0.93 / 0.98
    # of bare ``generate``'s tokens/s (loaded machine, one interleaved run)
    stream_interval_ms: float = 25.0


class Engine:
    # hand events over right before the next step's LM head (see ``_deliver``); an engine whose sinks cost nothing
    # (the engine's own process) hands them over at the end of each step instead
    defer_delivery = True

    def __init__(self, model: Any, tokenizer: Any, config: EngineConfig | None = None, observer: Any = None):
        """``model=None`` gives a worker for jobs only (a server of a task pipeline)."""
        self.cfg = cfg = config or EngineConfig()
        self.model, self.tokenizer, self.observer = model, tokenizer, observer
        self.slots: list[_Seq | None] = []
        self._running = 0  # slots in use
        self._hi = 0  # one past the highest slot in use: the decode batch is slots 0.._hi-1
        self._reap = False  # a request was cancelled: the next loop frees its slots
        if model is not None:
            n_pos = model.config.n_positions
            self.max_len = min(cfg.max_model_len or n_pos, n_pos)
            self.runner = BatchedGPT(model, cfg.max_batch_size, self.max_len)
            self.vocab_size = model.config.vocab_size
            eos = model._gen_default("eos_token_id", None)
            self.eos_ids = set() if eos is None else ({eos} if isinstance(eos, int) else set(eos))
            self.default_top_k = model._gen_default("top_k", None, 50)
            dev = self.runner.device
            self.slots = [None] * cfg.max_batch_size
            self.tokens = torch.zeros(cfg.max_batch_size, dtype=torch.long, device=dev)
            # each slot's position, kept in Python: the decode step's lengths and mask need no tensor reads
            self.positions = [0] * cfg.max_batch_size
            self.detok_backend = concatenative_decoder(tokenizer)
        self.waiting: deque[RequestHandle] = deque()
        self.jobs: dict[Any, list[tuple[Any, Future, Callable]]] = {}
        self.held = 0  # requests admitted and not finished (waiting + running)
        self._outbox: list[tuple[RequestHandle, EngineOutput]] = []  # events not yet handed to their sinks
        self._ids = itertools.count()
        self._cv = threading.Condition()
        self._accepting = True
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="massivetext-engine", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- caller side (any thread)
    @property
    def queue_depth(self) -> int:
        return len(self.waiting)

    @property
    def running(self) -> int:
        return self._running  # kept by ``_prefill`` / ``_free``: the loop reads it several times a step

    def validate(self, prompt: list[int], params: SamplingParams) -> None:
        check_request(prompt, params, self.max_len, self.vocab_size, self.cfg.max_batch_size)

    def submit(
        self, prompt: list[int], params: SamplingParams, sink: Callable[[EngineOutput], Any], request_id: str = ""
    ) -> RequestHandle:
        """Queue a request; ``sink`` gets its events from the worker thread. Raises RequestRejected, QueueFull or
        EngineStopped instead of queueing."""
        if self.model is None:
            raise RequestRejected("this server does not generate text", "model")
        self.validate(prompt, params)
        handle = RequestHandle(self, request_id or f"req-{next(self._ids)}", list(prompt), params, sink)
        if not params.greedy:
            if params.seed is not None:
                handle.generator = torch.Generator(device=self.runner.device).manual_seed(params.seed)
        with self._cv:
            if not self._accepting:
                raise EngineStopped("the server is shutting down")
            if self.held >= self.cfg.max_queue:
                raise QueueFull(f"the queue is full ({self.cfg.max_queue} requests)")
            self.held += 1
            self.waiting.append(handle)
            self._cv.notify()
        return handle

    def submit_job(self, kind: Any, fn: Callable[[list[Any]], list[Any]], item: Any) -> Future:
        """Run ``fn`` on the worker thread over every queued item of ``kind`` at once; the future gets this item's
        result. Jobs share the model with generation without racing it."""
        fut: Future = Future()
        with self._cv:
            if not self._accepting:
                raise EngineStopped("the server is shutting down")
            self.jobs.setdefault(kind, []).append((item, fut, fn))
            self._cv.notify()
        return fut

    def embed(self, prompts: list[list[int]]) -> list[list[float]]:
        return self.runner.embed(prompts).tolist()

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def drain(self, timeout: float) -> bool:
        """Stop taking requests and wait up to ``timeout`` seconds for held ones; True if all finished."""
        with self._cv:
            self._accepting = False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.held == 0 and not any(self.jobs.values()):
                return True
            time.sleep(0.01)
        return False

    def shutdown(self, timeout: float = 0.0) -> None:
        """Drain for ``timeout`` seconds, abort what is left, stop the worker."""
        self.drain(timeout)
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=10)

    # ---------------------------------------------------------------- worker thread
    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._cv:
                while not (self._stop or self.waiting or self.jobs or self.running):
                    self._cv.wait()
                if self._stop:
                    break
                jobs = self.jobs
                if jobs:
                    self.jobs = {}
            try:
                if self._reap:
                    self._reap_cancelled()
                if jobs:
                    self._run_jobs(jobs)
                # as ``generate`` does, no autograd bookkeeping at all (grad mode off still dispatched every op
                # through autograd: inference mode made a 1-row step of the 2x128 benchmark model ~8% faster)
                with torch.inference_mode():
                    if self.waiting:
                        self._admit()
                        if not self.defer_delivery:  # first tokens leave now, not after the next decode step
                            self._deliver(step_end=True)
                    if self.running:
                        self._decode()
            except Exception as e:  # a fault in the engine itself: fail what runs, keep serving
                log.exception("engine step failed")
                self._fail_running(e)
            if not self.running or not self.defer_delivery:  # no next step to hand the events over in: now
                self._deliver(step_end=True)
        self._abort_all()
        self._deliver()

    def _free(self, seq: _Seq, release: bool = True) -> None:
        self.slots[seq.slot] = None
        self._running -= 1
        while self._hi and self.slots[self._hi - 1] is None:
            self._hi -= 1
        self.tokens[seq.slot] = 0
        self.positions[seq.slot] = 0
        seq.handle.live -= 1
        if seq.handle.live == 0 and release:
            self._release(seq.handle)

    def _release(self, handle: RequestHandle) -> None:
        """The request leaves the engine's count (once), making room in the queue."""
        if not handle.released:
            handle.released = True
            with self._cv:
                self.held -= 1

    def _send(self, handle: RequestHandle, event: EngineOutput) -> None:
        self._outbox.append((handle, event))

    def _deliver(self, step_end: bool = False) -> None:
        """Hand the events made so far to their sinks. The model calls do this right before their longest kernel
        (the LM head of the next decode step, or a prefill), so the consumer (the event loop, on another core)
        runs while this thread computes without the GIL, instead of taking the GIL while this thread waits for it
        between small ops: a step's tokens leave one step later, and every step gets shorter. ``step_end``: the
        call at the end of a loop, where an engine that coalesces events may hold them (``serving.engine_process``).
        """
        outbox, self._outbox = self._outbox, []
        for handle, event in outbox:
            try:
                handle.sink(event)
            except Exception:  # a broken consumer must not stop the engine
                log.exception("request %s: sink failed", handle.id)
                handle.cancelled = True
                self._reap = True

    def _reap_cancelled(self) -> None:
        self._reap = False
        for seq in self.slots:
            if seq is not None and seq.handle.cancelled:
                self._free(seq)
        with self._cv:
            gone = [h for h in self.waiting if h.cancelled]
            for h in gone:
                self.waiting.remove(h)
        for h in gone:
            self._release(h)

    def _run_jobs(self, jobs: dict[Any, list[tuple[Any, Future, Callable]]]) -> None:
        if jobs:
            self._deliver()
        for entries in jobs.values():
            items = [e[0] for e in entries]
            try:
                results = entries[0][2](items)
            except Exception as e:
                # one bad item must not fail the others: retry one by one
                if len(entries) == 1:
                    entries[0][1].set_exception(e)
                    continue
                for item, fut, fn in entries:
                    try:
                        fut.set_result(fn([item])[0])
                    except Exception as e1:
                        fut.set_exception(e1)
                continue
            for (_, fut, _), r in zip(entries, results):
                fut.set_result(r)

    def _admit(self) -> None:
        if not self.waiting:  # (read without the lock: a request queued meanwhile is admitted next loop)
            return
        free = [i for i, s in enumerate(self.slots) if s is None]
        batch: list[tuple[RequestHandle, list[int]]] = []
        budget = self.cfg.max_prefill_tokens
        with self._cv:
            while self.waiting and len(self.waiting[0].prompt) * self.waiting[0].params.n <= max(budget, 0):
                h = self.waiting[0]
                if h.params.n > len(free) or (batch and len(h.prompt) * h.params.n > budget):
                    break
                self.waiting.popleft()
                budget -= len(h.prompt) * h.params.n
                batch.append((h, [free.pop(0) for _ in range(h.params.n)]))
            if not batch and self.waiting and len(free) >= self.waiting[0].params.n:
                h = self.waiting.popleft()  # a prompt over the budget alone still runs, alone
                batch.append((h, [free.pop(0) for _ in range(h.params.n)]))
        if not batch:
            return
        try:
            self._prefill(batch)
        except Exception as e:
            if len(batch) == 1:
                self._fail(batch[0][0], e)
                return
            for h, _ in batch:  # undo, then find the request that fails: the others go on
                for seq in self.slots:
                    if seq is not None and seq.handle is h:
                        self._free(seq, release=False)
            for one in batch:
                try:
                    self._prefill([one])
                except Exception as e1:
                    self._fail(one[0], e1)

    def _fail(self, handle: RequestHandle, error: BaseException) -> None:
        log.error("request %s failed: %r", handle.id, error, exc_info=error)
        for seq in self.slots:
            if seq is not None and seq.handle is handle:
                self._free(seq)
        self._release(handle)
        self._send(handle, EngineOutput(handle.id, [], finished=True, prompt_tokens=len(handle.prompt), error=error))

    def _prefill(self, batch: list[tuple[RequestHandle, list[int]]]) -> None:
        prompts, slots, rows = [], [], []
        for h, hs in batch:
            for i, slot in enumerate(hs):
                prompts.append(h.prompt)
                slots.append(slot)
                rows.append((h, i, slot))
        self._deliver()
        logits = self.runner.prefill(prompts, slots)
        seqs = []
        for h, i, slot in rows:
            seq = _Seq(h, i, slot, IncrementalDetokenizer(self.tokenizer, h.params.stop, backend=self.detok_backend))
            self.slots[slot] = seq
            self._running += 1
            self._hi = max(self._hi, slot + 1)
            self.positions[slot] = len(h.prompt) - 1  # _emit steps it to where the first new token goes
            h.live += 1
            seqs.append(seq)
        self._emit(seqs, logits)

    def _decode(self) -> None:
        hi = self._hi
        if hi == 1 and self.slots[0].handle.plain and self.cfg.stream_interval_ms > 0:
            self._decode_lone(self.slots[0])
            return
        pos = self.positions[:hi]
        kv_len = max(pos) + 1
        before_head = self._deliver if self.defer_delivery else None
        # (the runner's step without a context of its own: the loop runs it in inference mode)
        logits = self.runner.step(self.tokens[:hi], pos, kv_len, min(pos) < kv_len - 1, before_head)
        seqs = [s for s in self.slots[:hi] if s is not None]
        if len(seqs) != hi:
            logits = logits[torch.tensor([s.slot for s in seqs], device=logits.device)]
        if self.observer is not None:
            self.observer.on_decode_step(len(seqs))
        self._emit(seqs, logits)

    def _choose(
        self, seqs: list[_Seq], logits: torch.Tensor
    ) -> tuple[torch.Tensor, list[int], list[TokenLogprob | None]]:
        """Next token of each sequence: one argmax for all greedy rows, one draw per sampling request."""
        if all(s.handle.plain for s in seqs):  # the usual greedy batch: one argmax, nothing else per step
            nxt = logits.argmax(-1)  # (float32 or not: the cast below is monotonic, the argmax the same)
            return nxt, nxt.tolist(), [None] * len(seqs)
        scores = logits.float()
        penalized = [
            r for r, s in enumerate(seqs) if s.handle.params.presence_penalty or s.handle.params.frequency_penalty
        ]
        if penalized:
            scores = scores.clone()
            for r in penalized:  # only requests that ask for it pay for it
                s, p = seqs[r], seqs[r].handle.params
                if s.token_ids:
                    counts = torch.bincount(
                        torch.tensor(s.token_ids, device=scores.device), minlength=scores.shape[-1]
                    )[: scores.shape[-1]].to(scores.dtype)
                    scores[r] -= counts * p.frequency_penalty + (counts > 0).to(scores.dtype) * p.presence_penalty
        nxt = scores.argmax(-1)
        groups: dict[int, list[int]] = {}
        for r, s in enumerate(seqs):
            if not s.handle.params.greedy:
                groups.setdefault(id(s.handle), []).append(r)
        for rows in groups.values():
            p = seqs[rows[0]].handle.params
            top_k = self.default_top_k if p.top_k is None else p.top_k
            idx = torch.tensor(rows, device=scores.device)
            probs = _warp(scores[idx], p.temperature, top_k, p.top_p).softmax(-1)
            nxt[idx] = torch.multinomial(probs, 1, generator=seqs[rows[0]].handle.generator).squeeze(1)
        chosen = nxt.tolist()
        lps: list[TokenLogprob | None] = [None] * len(seqs)
        want = [r for r, s in enumerate(seqs) if s.handle.params.logprobs is not None]
        if want:
            idx = torch.tensor(want, device=scores.device)
            lp = torch.log_softmax(scores[idx], -1)
            k = max(seqs[r].handle.params.logprobs for r in want)
            top_v, top_i = lp.topk(max(k, 1), -1)
            picked = lp.gather(1, nxt[idx][:, None]).squeeze(1).tolist()
            top_v, top_i = top_v.tolist(), top_i.tolist()
            for j, r in enumerate(want):
                kk = seqs[r].handle.params.logprobs
                lps[r] = TokenLogprob(chosen[r], picked[j], list(zip(top_i[j][:kk], top_v[j][:kk])))
        return nxt, chosen, lps

    def _emit(self, seqs: list[_Seq], logits: torch.Tensor) -> None:
        nxt, chosen, lps = self._choose(seqs, logits)
        if self.observer is not None:
            self.observer.on_tokens(len(seqs))
        n = len(seqs)
        if all(s.slot == i for i, s in enumerate(seqs)):  # slots 0..n-1 in order (the usual case)
            self.tokens[:n] = nxt
        else:
            self.tokens[torch.tensor([s.slot for s in seqs], device=self.tokens.device)] = nxt
        by_request: dict[int, tuple[RequestHandle, list[ChoiceDelta]]] = {}
        done: list[_Seq] = []
        for s, tok, lp in zip(seqs, chosen, lps):
            h = s.handle
            text, reason = self._advance(s, tok)
            delta = ChoiceDelta(s.index, text, [tok], None if lp is None else [lp], reason)
            by_request.setdefault(id(h), (h, []))[1].append(delta)
            if reason is not None:
                done.append(s)
        for s in done:
            self._free(s)
        for h, deltas in by_request.values():
            finished = h.live == 0
            self._send(
                h,
                EngineOutput(
                    h.id,
                    deltas,
                    finished=finished,
                    prompt_tokens=len(h.prompt),
                    completion_tokens=h.completion_tokens,
                ),
            )

    def _advance(self, s: _Seq, tok: int) -> tuple[str, str | None]:
        """Sequence ``s`` takes token ``tok``: its text delta, and why it ends here ("stop", "length") or None."""
        h, p = s.handle, s.handle.params
        self.positions[s.slot] += 1
        s.generated += 1
        h.completion_tokens += 1
        s.token_ids.append(tok)
        if not p.ignore_eos and (tok in self.eos_ids or tok in p.stop_token_ids):
            return s.detok.flush(), "stop"
        text, hit = s.detok.add(tok)
        if hit:
            return text, "stop"
        if s.generated >= p.max_tokens or len(h.prompt) + s.generated >= self.max_len:
            return text + s.detok.flush(), "length"
        return text, None

    def _decode_lone(self, s: _Seq) -> None:
        """Several decode steps for a lone greedy request (slot 0, nothing else running), as vLLM's multi-step
        scheduling does: the steps run back to back like ``generate``'s loop (the argmax feeds the next step as a
        tensor; the only per-step Python is the end checks), then its tokens go through the detokenizer and stop
        rules one by one and leave as one event. The run ends after ``stream_interval_ms`` (the events would wait
        that long anyway), at the request's length limit or EOS, or as soon as anything else wants the engine (a
        request waiting, a cancel, a job, a stop). A stop string found afterwards cuts it where step-by-step
        decoding would have stopped: the tokens past it are dropped, and the text, ids and usage are the same.

        At one client every step of the general path cost ~50 us of Python (the 2x128 benchmark model's step is
        ~0.35 ms), and the step after it ran slower for the caches that Python had evicted."""
        h, p = s.handle, s.handle.params
        pos = self.positions[0]
        left = min(p.max_tokens - s.generated, self.max_len - len(h.prompt) - s.generated)
        stops = set() if p.ignore_eos else self.eos_ids | set(p.stop_token_ids)
        deadline = time.monotonic() + self.cfg.stream_interval_ms / 1000.0
        before_head = self._deliver if self.defer_delivery else None
        step = self.runner.step
        tok = self.tokens[:1]
        chosen: list[int] = []
        while True:
            tok = step(tok, (pos,), pos + 1, False, before_head).argmax(-1)
            before_head = None
            t = tok.item()
            chosen.append(t)
            pos += 1
            if (
                len(chosen) >= left
                or t in stops
                or self.waiting
                or self._reap
                or self.jobs
                or self._stop
                or time.monotonic() >= deadline
            ):
                break
        self.tokens[0] = t
        if self.observer is not None:
            for _ in chosen:
                self.observer.on_decode_step(1)
            self.observer.on_tokens(len(chosen))
        text, ids, reason = "", [], None
        for t in chosen:
            delta, reason = self._advance(s, t)
            text += delta
            ids.append(t)
            if reason is not None:  # a stop string inside the run: what followed it was never made
                self._free(s)
                break
        self._send(
            h,
            EngineOutput(
                h.id,
                [ChoiceDelta(s.index, text, ids, None, reason)],
                finished=h.live == 0,
                prompt_tokens=len(h.prompt),
                completion_tokens=h.completion_tokens,
            ),
        )

    def _fail_running(self, error: BaseException) -> None:
        handles = {id(s.handle): s.handle for s in self.slots if s is not None}
        for h in handles.values():
            self._fail(h, error)

    def _abort_all(self) -> None:
        """Shutdown past the drain deadline: every held request ends with finish_reason "abort"."""
        handles = {id(s.handle): s.handle for s in self.slots if s is not None}
        with self._cv:
            waiting, self.waiting = list(self.waiting), deque()
        for h in [*handles.values(), *waiting]:
            for seq in self.slots:
                if seq is not None and seq.handle is h:
                    self._free(seq)
            self._release(h)
            deltas = [ChoiceDelta(i, "", [], None, "abort") for i in range(h.params.n)]
            self._send(h, EngineOutput(h.id, deltas, True, len(h.prompt), h.completion_tokens))
        for entries in self.jobs.values():
            for _, fut, _ in entries:
                fut.set_exception(EngineStopped("the server shut down"))
