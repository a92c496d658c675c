"""`massivetext serve` runs the generation engine in a child process (``--no-engine-process``: a thread); both give
generate's tokens; a child that dies fails what it held, makes the server unhealthy, and nothing hangs."""

from __future__ import annotations

import os
import signal
import time

import httpx
import psutil
from _serving_tiny import Server, reference

BODY = {"prompt": "the quick brown fox", "max_tokens": 12, "temperature": 0}


def _engine_children(server: Server) -> list[psutil.Process]:
    """The server's spawned engine process (not multiprocessing's resource tracker)."""
    children = psutil.Process(server.proc.pid).children(recursive=True)
    return [c for c in children if any("spawn_main" in part for part in c.cmdline())]


def test_engine_in_its_own_process_and_in_a_thread(tiny_dir, tiny_model, tmp_path):
    ids, text = reference(tiny_model, BODY["prompt"], BODY["max_tokens"])
    for flag in ([], ["--no-engine-process"]):
        server = Server(tiny_dir, *flag, log=tmp_path / f"server{len(flag)}.log")
        try:
            children = _engine_children(server)
            assert len(children) == (0 if flag else 1), flag
            r = httpx.post(server.url + "/v1/completions", json=BODY, timeout=30).json()
            assert r["choices"][0]["text"] == text and r["usage"]["completion_tokens"] == len(ids)
            # the metrics the engine reports cross over too
            metrics = httpx.get(server.url + "/metrics").text
            assert f"massivetext_generation_tokens_total {float(len(ids))}" in metrics
        finally:
            server.stop()
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive  # the engine process ends with the server
        assert "Traceback" not in server.logs()


def test_an_engine_process_that_dies_fails_its_requests_and_the_health_check(tiny_dir, tmp_path):
    server = Server(tiny_dir, log=tmp_path / "server.log")
    try:
        (child,) = _engine_children(server)
        body = {"prompt": "the", "max_tokens": 400, "ignore_eos": True, "stream": True, "temperature": 0}
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as r:
            lines = r.iter_lines()
            for line in lines:  # the stream is under way
                if line.startswith("data: {"):
                    break
            os.kill(child.pid, signal.SIGKILL)
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]" and any('"error"' in line and "EngineExited" in line for line in rest)
        deadline = time.monotonic() + 10
        while httpx.get(server.url + "/health").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "engine process exited" in httpx.get(server.url + "/health").json()["error"]
        r = httpx.post(server.url + "/v1/completions", json=BODY, timeout=10)
        assert r.status_code == 503 and "engine process exited" in r.json()["error"]["message"]
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_mt_serve_from_a_script_without_a_main_guard(tiny_dir, tiny_model, tmp_path):
    """The spawned engine process must not re-run the user's script (which would start a second server)."""
    import subprocess
    import sys

    from _serving_tiny import SRC, free_port

    port = free_port()
    script = tmp_path / "serve_it.py"
    script.write_text(f"import massivetext as mt\nmt.serve({str(tiny_dir)!r}, port={port}, log_level='warning')\n")
    log = tmp_path / "script.log"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        ids, text = reference(tiny_model, BODY["prompt"], BODY["max_tokens"])
        assert httpx.post(url + "/v1/completions", json=BODY, timeout=30).json()["choices"][0]["text"] == text
        children = psutil.Process(proc.pid).children(recursive=True)
        assert sum(any("spawn_main" in part for part in c.cmdline()) for c in children) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert "Traceback" not in log.read_text() and "address already in use" not in log.read_text()
