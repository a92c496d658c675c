"""Serving: an OpenAI-compatible HTTP API (``create_app``) over a continuous-batching engine (``Engine``)."""

from __future__ import annotations

from typing import Any

__all__ = ["Engine", "EngineConfig", "SamplingParams", "create_app", "serve"]


def __getattr__(name: str) -> Any:  # fastapi and uvicorn load only when serving is used
    if name == "create_app":
        from massivetext.serving.app import create_app

        return create_app
    if name == "serve":
        from massivetext.serving.server import serve

        return serve
    if name in ("Engine", "EngineConfig", "SamplingParams"):
        from massivetext.serving import engine

        return getattr(engine, name)
    raise AttributeError(name)
