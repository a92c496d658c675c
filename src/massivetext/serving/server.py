"""``mt.serve(model_dir, ...)``: check the model directory, then run the app under uvicorn until SIGINT/SIGTERM.

On SIGTERM uvicorn stops accepting connections and lets in-flight responses (streams included) finish for up to
``drain_timeout`` seconds; what is still running then is cancelled, and the process exits.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from massivetext.errors import ConfigError
from massivetext.serving.engine import EngineConfig


def serve(
    model_dir: str | Path,
    *,
    task: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_batch_size: int = 32,
    max_queue: int = 256,
    max_model_len: int | None = None,
    max_prefill_tokens: int = 2048,
    stream_interval_ms: float = 25.0,
    dtype: str | None = None,
    device: str | None = None,
    redact_pii: bool = False,
    max_body_bytes: int = 1 << 20,
    drain_timeout: float = 30.0,
    served_model_name: str | None = None,
    log_level: str = "info",
    engine_process: bool = True,
) -> None:
    """Serve ``model_dir`` over HTTP (OpenAI-compatible; see ``massivetext.serving.app``). Blocks until stopped.
    ``api_key`` defaults to the ``MASSIVETEXT_API_KEY`` environment variable. ``engine_process``: a text-generation
    model's engine runs in a child process (``serving.engine_process``), else in a thread of this one."""
    import uvicorn

    from massivetext.serving.app import ServerConfig, create_app
    from massivetext.serving.state import check_model_dir, task_of

    check_model_dir(model_dir)  # before binding: a wrong path is one line, not a server that never gets ready
    from massivetext.models.config import read_config_dict

    task_of(read_config_dict(Path(model_dir)), task)
    if max_batch_size < 1 or max_queue < 1:
        raise ConfigError("--max-batch-size and --max-queue must be at least 1")
    if not stream_interval_ms >= 0:
        raise ConfigError("--stream-interval-ms must be 0 or more")
    if dtype not in (None, "float32", "bfloat16", "float16"):
        raise ConfigError(f"--dtype {dtype!r}: use float32, bfloat16 or float16")
    key = api_key if api_key is not None else os.environ.get("MASSIVETEXT_API_KEY") or None
    cfg = ServerConfig(
        model_dir=str(model_dir),
        task=task,
        api_key=key,
        served_model_name=served_model_name,
        engine=EngineConfig(max_batch_size, max_queue, max_model_len, max_prefill_tokens, stream_interval_ms),
        max_body_bytes=max_body_bytes,
        redact_pii=redact_pii,
        dtype=dtype,
        device=device,
        drain_timeout=drain_timeout,
        engine_process=engine_process,
    )
    app = create_app(config=cfg)
    _configure_logging(log_level)
    # The engine thread needs the GIL back after every kernel; while the event loop runs Python it waits up to
    # the switch interval (5 ms by default, longer than a whole decode step of a small model). 0.5 ms cut the
    # 1-client overhead against bare generate measurably (benchmarks/serve_vs_hf.py). This process is ours.
    sys.setswitchinterval(0.0005)
    if host not in ("127.0.0.1", "localhost", "::1") and key is None:
        logging.getLogger("massivetext.serving").warning("listening on %s without an API key", host)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # ours is structured (massivetext.serving.access)
        timeout_graceful_shutdown=int(drain_timeout) or 1,
        lifespan="on",
    )


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("massivetext.serving.access")
    access.handlers[:] = [handler]
    access.setLevel(level.upper())
    access.propagate = False
    main = logging.getLogger("massivetext.serving")
    if not main.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        main.addHandler(h)
    main.setLevel(level.upper())


def serve_kwargs(args: Any) -> dict[str, Any]:
    """The CLI's parsed arguments as ``serve``'s keyword arguments (the CLI is the function's schema)."""
    return dict(
        task=args.task,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        max_batch_size=args.max_batch_size,
        max_queue=args.max_queue,
        max_model_len=args.max_model_len,
        max_prefill_tokens=args.max_prefill_tokens,
        stream_interval_ms=args.stream_interval_ms,
        dtype=args.dtype,
        device=args.device,
        redact_pii=args.redact_pii,
        max_body_bytes=args.max_body_bytes,
        drain_timeout=args.drain_timeout,
        served_model_name=args.served_model_name,
        log_level=args.log_level,
        engine_process=args.engine_process,
    )
