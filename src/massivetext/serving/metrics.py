"""Prometheus metrics of one server (its own registry, so several apps in one process never collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ServerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "massivetext_requests", "HTTP requests by route and status code", ["route", "status"], registry=r
        )
        self.prompt_tokens = Counter("massivetext_prompt_tokens", "prompt tokens processed", registry=r)
        self.generation_tokens = Counter("massivetext_generation_tokens", "tokens generated", registry=r)
        self.queue_depth = Gauge("massivetext_queue_depth", "requests waiting for a KV-cache slot", registry=r)
        self.running = Gauge("massivetext_running_sequences", "sequences in the running batch", registry=r)
        self.batch_size = Histogram(
            "massivetext_decode_batch_size",
            "sequences per decode step",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.ttft = Histogram(
            "massivetext_time_to_first_token_seconds", "request arrival to first token", buckets=_SECONDS, registry=r
        )
        self.latency = Histogram(
            "massivetext_request_latency_seconds",
            "request arrival to last byte",
            ["route"],
            buckets=_SECONDS,
            registry=r,
        )

    def watch_engine(self, queue_depth: Callable[[], float], running: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.running.set_function(running)

    # the engine's observer hook
    def on_decode_step(self, batch: int) -> None:
        self.batch_size.observe(batch)

    def on_tokens(self, n: int) -> None:
        self.generation_tokens.inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
