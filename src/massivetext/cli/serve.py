"""``massivetext serve``: an OpenAI-compatible HTTP server for a model directory (see ``massivetext.serving``).

    massivetext serve --model DIR [--task TASK] [--host 127.0.0.1] [--port 8000] [--api-key KEY]
                      [--max-batch-size 32] [--max-queue 256] [--max-model-len N] [--stream-interval-ms 25]
                      [--dtype D] [--device D]
                      [--redact-pii]

The key may come from the MASSIVETEXT_API_KEY environment variable instead of the command line (where other
users of the machine can read it).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API")
    p.add_argument("--model", "-m", required=True, help="model directory (config.json, model.safetensors, tokenizer)")
    p.add_argument("--task", default=None, help="pipeline task for non-generative models (default: from the model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (or MASSIVETEXT_API_KEY)")
    p.add_argument("--max-batch-size", type=int, default=32, help="KV-cache slots: sequences decoded together")
    p.add_argument("--max-queue", type=int, default=256, help="requests held at once; more get 429")
    p.add_argument("--max-model-len", type=int, default=None, help="positions per request (default: the model's)")
    p.add_argument("--max-prefill-tokens", type=int, default=2048, help="prompt tokens prefilled per engine step")
    p.add_argument(
        "--stream-interval-ms",
        type=float,
        default=25.0,
        help="send a stream's tokens at most this often, several per chunk (first token and end at once; 0: each "
        "token as made)",
    )
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--redact-pii", action="store_true", help="redact PII (e-mails, phones, keys...) in generated text")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger request bodies get 413")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to finish requests after SIGTERM")
    p.add_argument("--served-model-name", default=None, help="the model id clients use (default: the dir name)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--no-engine-process",
        dest="engine_process",
        action="store_false",
        help="run the generation engine in a thread of the server process (default: a process of its own)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from massivetext.serving.server import serve, serve_kwargs

    serve(args.model, **serve_kwargs(args))
    return 0
