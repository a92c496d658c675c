"""SIGTERM: the server stops taking connections, lets in-flight streams finish, then exits cleanly."""

from __future__ import annotations

import json
import signal
import threading

import httpx
import pytest
from _serving_tiny import Server


def test_sigterm_drains_in_flight_streams(tiny_dir, tmp_path):
    server = Server(tiny_dir, "--drain-timeout", "60", log=tmp_path / "server.log")
    try:
        body = {"prompt": "the", "max_tokens": 300, "ignore_eos": True, "stream": True, "temperature": 0}
        texts, reasons, done = [], [], False
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=60) as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                chunk = json.loads(line[6:])
                if not texts:  # the stream has begun: ask the server to stop
                    server.proc.send_signal(signal.SIGTERM)
                    threading.Event().wait(0.3)
                    with pytest.raises(httpx.HTTPError):  # no new connections while draining
                        httpx.get(server.url + "/health", timeout=2)
                texts.append(chunk["choices"][0]["text"])
                reasons.append(chunk["choices"][0]["finish_reason"])
        assert done and reasons[-1] == "length"
        # uvicorn re-raises the signal once it has shut down gracefully, so the exit status says SIGTERM
        assert server.proc.wait(60) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.logs()
    finally:
        server.stop()
