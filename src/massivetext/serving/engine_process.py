"""The engine in a process of its own: the HTTP side's Python never holds the GIL the decode loop needs.

In one process, the event loop's work for every streamed token (waking the stream, building its SSE chunk,
writing the socket) ran whenever the engine thread released the GIL for a kernel, and the engine then waited for
the GIL back between its small ops (profiled: at one client the served tokens/s stayed at 0.70-0.86 of bare
``generate``). Here the server process keeps the engine's API (``submit`` / ``cancel`` / ``submit_job`` /
``queue_depth`` / ``running`` / ``shutdown``) and a child process runs the ``Engine`` itself. Requests, cancels and
jobs go to the child over one pipe; the child sends the events made since its last message, merged per request,
with its queue depth, running count and metrics, back as one message at most every ``stream_interval_ms`` (a
request's first token and its end at once), which a reader thread of the server hands to the requests' sinks.

The server process checks requests (400s) and counts held requests (429s) itself, so its answers do not wait for
the child. Jobs travel by kind (``serving.jobs.JobRunner``). A child that dies fails every held request with an
error event and makes the server unhealthy.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from massivetext.serving.engine import (
    ChoiceDelta,
    Engine,
    EngineConfig,
    EngineOutput,
    EngineStopped,
    QueueFull,
    SamplingParams,
    check_request,
    merge_output,
)

log = logging.getLogger("massivetext.serving.engine")


class RemoteEngineError(RuntimeError):
    """An exception raised in the engine's process, carried across as its type name and message."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return self.message


class RemoteHandle:
    """The server side of one request in the engine's process: ``cancel()`` frees its slots there."""

    def __init__(self, engine: EngineProcess, request_id: str, prompt: list[int], params: SamplingParams, sink):
        self.engine, self.id, self.prompt, self.params, self.sink = engine, request_id, prompt, params, sink
        self.released = False

    def cancel(self) -> None:
        self.engine._cancel(self)


class EngineProcess:
    """``Engine``'s API over an engine running in a child process (spawned, so no lock or thread is inherited)."""

    def __init__(
        self,
        model_dir: str,
        config: EngineConfig,
        dtype: str | None = None,
        device: str | None = None,
        observer: Any = None,
        on_exit: Callable[[str], None] | None = None,
    ):
        self.cfg, self.observer, self._on_exit = config, observer, on_exit
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(
            target=_child_main,
            args=(child_conn, model_dir, config, dtype, device),
            name="massivetext-engine",
            daemon=True,
        )
        with _main_module_hidden():
            self._proc.start()
        child_conn.close()
        try:
            msg = self._conn.recv()
        except EOFError:
            msg = ("error", f"the engine process exited (code {self._proc.exitcode}) while loading")
        if msg[0] != "ready":
            self._proc.join(5)
            raise RuntimeError(msg[1])
        self.max_len, self.vocab_size = msg[1], msg[2]
        self.model = None  # the model lives in the engine's process
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._handles: dict[str, RemoteHandle] = {}
        self._jobs: dict[int, Future] = {}
        self._ids = itertools.count()
        self._job_ids = itertools.count()
        self.held = 0
        self._accepting = True
        self._queue_depth = 0
        self._running = 0
        self._stopping = False
        self._reader = threading.Thread(target=self._read, name="massivetext-engine-reader", daemon=True)
        self._reader.start()

    # ---------------------------------------------------------------- Engine's API
    @property
    def queue_depth(self) -> int:
        return self._queue_depth

    @property
    def running(self) -> int:
        return self._running

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def validate(self, prompt: list[int], params: SamplingParams) -> None:
        check_request(prompt, params, self.max_len, self.vocab_size, self.cfg.max_batch_size)

    def submit(
        self, prompt: list[int], params: SamplingParams, sink: Callable[[EngineOutput], Any], request_id: str = ""
    ) -> RemoteHandle:
        self.validate(prompt, params)
        handle = RemoteHandle(self, request_id or f"req-{next(self._ids)}", list(prompt), params, sink)
        with self._lock:
            if not self._accepting:
                raise EngineStopped("the server is shutting down")
            if self.held >= self.cfg.max_queue:
                raise QueueFull(f"the queue is full ({self.cfg.max_queue} requests)")
            self.held += 1
            self._handles[handle.id] = handle
        try:
            self._send(("submit", handle.id, handle.prompt, params))
        except (OSError, ValueError) as e:  # the engine's process is gone
            self._release(handle)
            raise EngineStopped("the engine process is not running") from e
        return handle

    def submit_job(self, kind: Any, fn: Callable[[list[Any]], list[Any]], item: Any) -> Future:
        """Run job ``kind`` (see ``JobRunner``) on ``item`` in the engine's process; ``fn`` is the same job as a
        local function (what a thread engine would run) and is not needed here."""
        fut: Future = Future()
        with self._lock:
            if not self._accepting:
                raise EngineStopped("the server is shutting down")
            jid = next(self._job_ids)
            self._jobs[jid] = fut
        try:
            self._send(("job", jid, kind, item))
        except (OSError, ValueError) as e:
            with self._lock:
                self._jobs.pop(jid, None)
            raise EngineStopped("the engine process is not running") from e
        return fut

    def embed(self, prompts: list[list[int]]) -> list[list[float]]:
        """Mean-pooled final hidden states of token-id prompts, computed in the engine's process."""
        futures = [self.submit_job("embed-ids", None, p) for p in prompts]
        return [f.result() for f in futures]

    def drain(self, timeout: float) -> bool:
        with self._lock:
            self._accepting = False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.held == 0 and not self._jobs:
                return True
            time.sleep(0.01)
        return self.held == 0 and not self._jobs

    def shutdown(self, timeout: float = 0.0) -> None:
        """Drain for ``timeout`` seconds; the child aborts what is left (its events arrive) and exits."""
        self.drain(timeout)
        self._stopping = True
        try:
            self._send(("stop",))
        except (OSError, ValueError):
            pass
        self._reader.join(timeout=30)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)

    # ---------------------------------------------------------------- plumbing
    def _send(self, msg: tuple) -> None:
        with self._send_lock:
            self._conn.send(msg)

    def _release(self, handle: RemoteHandle) -> bool:
        with self._lock:
            if handle.released:
                return False
            handle.released = True
            self.held -= 1
            self._handles.pop(handle.id, None)
            return True

    def _cancel(self, handle: RemoteHandle) -> None:
        if self._release(handle):  # counts as gone at once; the child frees its slots at its next step
            try:
                self._send(("cancel", handle.id))
            except (OSError, ValueError):
                pass

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "events":
                _, events, (self._queue_depth, self._running), steps, tokens = msg
                if self.observer is not None:
                    for n in steps:
                        self.observer.on_decode_step(n)
                    if tokens:
                        self.observer.on_tokens(tokens)
                for packed in events:
                    event = _unpack(packed)
                    handle = self._handles.get(event.request_id)
                    if handle is None:  # cancelled meanwhile
                        continue
                    if event.finished:
                        self._release(handle)
                    try:
                        handle.sink(event)
                    except Exception:
                        log.exception("request %s: sink failed", handle.id)
                        self._cancel(handle)
            elif msg[0] == "job":
                _, jid, ok, value = msg
                with self._lock:
                    fut = self._jobs.pop(jid, None)
                if fut is not None:
                    fut.set_result(value) if ok else fut.set_exception(value)
        self._child_gone()

    def _child_gone(self) -> None:
        """The pipe closed: after a stop, the normal end; otherwise the child died. Fail what is held."""
        self._proc.join(5)
        with self._lock:
            self._accepting = False
            handles, self._handles = list(self._handles.values()), {}
            jobs, self._jobs = list(self._jobs.values()), {}
            self.held -= len(handles)
        self._queue_depth = self._running = 0
        if self._stopping and not handles and not jobs:
            return
        why = f"the engine process exited (code {self._proc.exitcode})"
        log.error(why)
        error = RemoteEngineError("EngineExited", why)
        for h in handles:
            h.released = True
            try:
                h.sink(EngineOutput(h.id, [], finished=True, prompt_tokens=len(h.prompt), error=error))
            except Exception:
                log.exception("request %s: sink failed", h.id)
        for fut in jobs:
            fut.set_exception(error)
        if self._on_exit is not None and not self._stopping:
            self._on_exit(why)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a spawned child without it re-running the parent's ``__main__``: the child's target lives in this
    importable module, and a user's script that calls ``mt.serve(...)`` at top level (no ``if __name__ ==
    "__main__"`` guard) would otherwise start a second server inside the engine's process."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            main.__dict__.pop("__spec__", None)


def _pack(event: EngineOutput) -> tuple:
    """An event as plain tuples for the pipe: pickling the dataclasses took 18 of the child's ~560 us per decode
    step at one request (the 2x128 benchmark model, loaded machine); tuples of str/int/list take a few."""
    choices = [(c.index, c.text, c.token_ids, c.logprobs, c.finish_reason) for c in event.choices]
    return (event.request_id, choices, event.finished, event.prompt_tokens, event.completion_tokens, event.error)


def _unpack(packed: tuple) -> EngineOutput:
    rid, choices, finished, prompt_tokens, completion_tokens, error = packed
    deltas = [ChoiceDelta(*c) for c in choices]
    return EngineOutput(rid, deltas, finished, prompt_tokens, completion_tokens, error)


# -------------------------------------------------------------------- the child
class _ChildEngine(Engine):
    """The engine in the child: sinks collect events, which leave in one message per flush.

    Events are coalesced as vLLM's ``AsyncLLM`` does for a consumer that is behind: a request's events made while
    a flush is pending merge into one (``merge_output``), sent at most every ``stream_interval_ms``. Each message
    wakes the server process and then the client, and at one client the three processes share two cores: a
    message per decode step (~0.4 ms on the 2x128 benchmark model) cost the server and client together three
    quarters of the step's own CPU time. A request's first token and its end (and any error) leave at once, so
    time to first token and latency do not change; the engine idling, a prefill and a job flush too."""

    defer_delivery = False  # the sinks only collect: hand over at the end of each step, without delay

    def __init__(self, model: Any, tokenizer: Any, config: EngineConfig, send: Callable[[tuple], None]):
        self._send_msg = send
        self._pending: dict[str, EngineOutput] = {}  # request id -> its events since the last flush, merged
        self._urgent = False  # a first token, an end or an error is pending: flush at the end of this step
        self._flushed = 0.0  # time.monotonic() of the last flush
        self._steps: list[int] = []
        self._tokens = 0
        self._stats: tuple[int, int] | None = None
        super().__init__(model, tokenizer, config, observer=self)

    # observer hooks (counted here, observed by the server's metrics when the message arrives)
    def on_decode_step(self, batch: int) -> None:
        self._steps.append(batch)

    def on_tokens(self, n: int) -> None:
        self._tokens += n

    def collect(self, event: EngineOutput) -> None:
        if event.error is not None and not isinstance(event.error, RemoteEngineError):
            event.error = RemoteEngineError(type(event.error).__name__, str(event.error))
        held = self._pending.get(event.request_id)
        if held is not None:
            merge_output(held, event)
        else:
            self._pending[event.request_id] = event
            # the request's first tokens (every token it has is in this event): out now, for time to first token
            if event.completion_tokens == sum(len(c.token_ids) for c in event.choices):
                self._urgent = True
        if event.finished:
            self._urgent = True

    def _deliver(self, step_end: bool = False) -> None:
        super()._deliver()
        if (
            step_end
            and not self._urgent
            and self.running
            and (time.monotonic() - self._flushed) * 1000.0 < self.cfg.stream_interval_ms
        ):
            return  # the next step comes within the interval: its tokens join these
        stats = (len(self.waiting), self.running)
        if self._pending or self._steps or self._tokens or stats != self._stats:
            events = [_pack(e) for e in self._pending.values()]
            self._pending = {}
            steps, self._steps = self._steps, []
            tokens, self._tokens = self._tokens, 0
            self._stats = stats
            self._send_msg(("events", events, stats, steps, tokens))
        self._urgent = False
        self._flushed = time.monotonic()


def _child_main(conn, model_dir: str, config: EngineConfig, dtype: str | None, device: str | None) -> None:
    # the server process decides when this one stops (SIGTERM/SIGINT reach the whole process group)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(msg: tuple) -> None:
        with send_lock:
            conn.send(msg)

    try:
        import torch

        from massivetext.models.auto import AutoModelForCausalLM
        from massivetext.serving.jobs import JobRunner
        from massivetext.tokenization.tokenizer import AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, dtype) if dtype else None, device=device
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # the server process enforces the queue limit; here every request it forwards is taken
        engine = _ChildEngine(model, tokenizer, replace(config, max_queue=1 << 30), send)
        jobs = JobRunner(model, tokenizer, engine)
    except Exception as e:
        send(("error", f"{type(e).__name__}: {e}"))
        return
    send(("ready", engine.max_len, engine.vocab_size))
    handles: dict[str, Any] = {}

    def run_job(kind: Any, entries: list[tuple[int, Any]]) -> list[None]:
        try:
            results = jobs(kind, [item for _, item in entries])
        except Exception as e:
            if len(entries) > 1:
                raise  # the engine retries the items one by one
            for jid, _ in entries:
                send(("job", jid, False, RemoteEngineError(type(e).__name__, str(e))))
            return [None]
        for (jid, _), r in zip(entries, results):
            send(("job", jid, True, r))
        return [None] * len(entries)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the server process is gone
            break
        op = msg[0]
        if op == "submit":
            _, rid, prompt, params = msg

            def sink(event: EngineOutput, rid: str = rid) -> None:
                if event.finished:
                    handles.pop(rid, None)
                engine.collect(event)

            try:
                handles[rid] = h = engine.submit(prompt, params, sink, rid)
                if h.released:  # finished before it was filed here
                    handles.pop(rid, None)
            except Exception as e:  # checked by the server already; a race with shutdown ends here
                error = RemoteEngineError(type(e).__name__, str(e))
                stats = (len(engine.waiting), engine.running)
                send(("events", [_pack(EngineOutput(rid, [], True, len(prompt), error=error))], stats, [], 0))
        elif op == "cancel":
            h = handles.pop(msg[1], None)
            if h is not None:
                h.cancel()
        elif op == "job":
            _, jid, kind, item = msg
            engine.submit_job(("remote", kind), lambda entries, kind=kind: run_job(kind, entries), (jid, item))
        elif op == "stop":
            break
    engine.shutdown(0.0)
    conn.close()
