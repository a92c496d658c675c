"""MassiveText's server against ``transformers serve --continuous-batching`` on the same checkpoint, on CPU.

One script drives both, one after the other, with the same client load: N concurrent streaming clients (1, 8, 32
by default), each sending ``--requests`` completions of a ~128-token prompt for 128 new tokens, greedy. Reported
per server and load (both servers up at once, their rounds alternating, the best of ``--rounds`` kept, so a
machine shared with other work loads both alike): aggregate generated tokens/s, p50/p99 time to first token and request latency, errors, the
server's peak RSS; then the ratios, and at 1 client MassiveText's tokens/s against its own bare ``generate``.

    python benchmarks/serve_vs_hf.py [--clients 1 8 32] [--requests 1] [--new-tokens 128] [--threads 1]

The checkpoint is quickstart-sized (GPT-2 layout, 4 layers x 256, context 256, vocab 8192, random weights), saved
with transformers so both servers read the very same files. Both servers get the same torch thread count
(MassiveText's engine runs in a child process of the HTTP server; peak RSS counts every process of a server). Both
servers get one full-length warm-up request; at 1 client the bare ``generate`` baseline runs once per round, as the
servers do, and both the best-round and the median ratios are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more out up into do any your what "
    "time could people about then can than only other new some very just over after also made first well"
).split()


def make_checkpoint(path: Path, vocab: int, ctx: int, n_layer: int = 4, n_embd: int = 256) -> Path:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    import random

    rnd = random.Random(0)
    corpus = [" ".join(rnd.choice(WORDS) + rnd.choice(["", "s", "ed", "ing"]) for _ in range(60)) for _ in range(3000)]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    # fill the vocabulary to the model's size, so every id a random model emits decodes to text (an id the
    # tokenizer does not know decodes to nothing, and a stream of nothing has no first token to time)
    tok.add_tokens([f"<w{i}>" for i in range(vocab - tok.get_vocab_size())])
    assert tok.get_vocab_size() == vocab
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "eos_token": "<|endoftext|>",
                "bos_token": "<|endoftext|>",
                "model_max_length": ctx,
            }
        )
    )
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_embd=n_embd, n_head=4, n_layer=n_layer, n_positions=ctx, vocab_size=vocab, bos_token_id=0, eos_token_id=0
    )
    transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(path)
    return path


def make_prompts(model_dir: Path, n: int, length: int) -> list[str]:
    """Texts of exactly ``length`` tokens (checked by re-encoding)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    import random

    rnd = random.Random(1)
    out = []
    while len(out) < n:
        text = " ".join(rnd.choice(WORDS) for _ in range(length * 2))
        ids = tok.encode(text).ids[:length]
        t = tok.decode(ids)
        if len(tok.encode(t).ids) == length:
            out.append(t)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, cmd: list[str], url: str, env: dict[str, str], log: Path, ready_timeout: float = 300):
        self.url, self.log = url, log
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"not ready in {ready_timeout}s: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        self.peak_rss = 0
        self._watch = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        p = psutil.Process(self.proc.pid)
        while self._watch:
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                self.peak_rss = max(self.peak_rss, rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._watch = False
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def one_request(client: httpx.AsyncClient, url: str, model: str, prompt: str, new_tokens: int) -> dict:
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": new_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    ttft, chunks, usage = None, 0, None
    async with client.stream("POST", url + "/v1/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {"error": f"{r.status_code} {r.text[:200]}"}
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage = data["usage"]
            for ch in data.get("choices") or []:
                if ch.get("text"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - start
    end = time.perf_counter() - start
    tokens = usage["completion_tokens"] if usage else chunks
    return {"ttft": ttft if ttft is not None else end, "latency": end, "tokens": tokens}


async def load(url: str, model: str, prompts: list[str], clients: int, requests: int, new_tokens: int) -> dict:
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as c:

        async def worker(i: int) -> list[dict]:
            out = []
            for j in range(requests):
                try:
                    out.append(await one_request(c, url, model, prompts[(i * requests + j) % len(prompts)], new_tokens))
                except Exception as e:  # counted, never fatal: a benchmark reports errors
                    out.append({"error": repr(e)})
            return out

        t0 = time.perf_counter()
        results = [r for rs in await asyncio.gather(*(worker(i) for i in range(clients))) for r in rs]
        wall = time.perf_counter() - t0
    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]

    def pct(xs: list[float], q: float) -> float:
        if not xs:
            return float("nan")
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]

    ttft = [r["ttft"] for r in ok]
    lat = [r["latency"] for r in ok]
    return {
        "tokens_per_s": sum(r["tokens"] for r in ok) / wall,
        "tokens": sum(r["tokens"] for r in ok),
        "ttft_p50": pct(ttft, 0.5),
        "ttft_p99": pct(ttft, 0.99),
        "lat_p50": pct(lat, 0.5),
        "lat_p99": pct(lat, 0.99),
        "errors": len(errors),
        "error_sample": errors[:2],
        "wall": wall,
    }


_BARE: dict[str, object] = {}


def bare_generate(model_dir: Path, prompt: str, new_tokens: int, threads: int, tries: int = 1) -> float:
    """MassiveText's own ``generate`` on one prompt, no server: tokens/s (best of ``tries``; one per round, like the
    servers' one request per round, so both sides get as many tries)."""
    import torch

    import massivetext as mt

    torch.set_num_threads(threads)
    if not _BARE:
        _BARE["model"] = mt.AutoModelForCausalLM.from_pretrained(model_dir)
        _BARE["tok"] = mt.AutoTokenizer.from_pretrained(model_dir)
    model, tok = _BARE["model"], _BARE["tok"]
    ids = torch.tensor([tok.encode(prompt)])
    model.generate(ids, max_new_tokens=8)
    best = 0.0
    for _ in range(tries):
        t = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new_tokens, eos_token_id=None)
        best = max(best, (out.shape[1] - ids.shape[1]) / (time.perf_counter() - t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--requests", type=int, default=1, help="requests per client per load level")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each server")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per load level; the best is reported")
    ap.add_argument("--only", choices=["massivetext", "transformers"], default=None)
    # 4x256 is the quickstart's size when issue 14 was written; the quickstart now trains 2x128 (issue 18)
    ap.add_argument("--model-shape", default="4x256", help="LAYERSxWIDTH of the served GPT-2 (4 heads)")
    ap.add_argument(
        "--stream-interval-ms",
        type=float,
        default=None,
        help="MassiveText's --stream-interval-ms (default: the server's; 0 sends one chunk per token)",
    )
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="serve-bench-"))
    model_dir = work / f"gpt-{args.model_shape.lower()}-v2"
    if not (model_dir / "config.json").is_file():
        n_layer, n_embd = (int(v) for v in args.model_shape.lower().split("x"))
        make_checkpoint(model_dir, vocab=8192, ctx=256, n_layer=n_layer, n_embd=n_embd)
    prompts = make_prompts(model_dir, 64, args.prompt_tokens)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    most = max(args.clients)
    servers = {
        "massivetext": lambda port: [
            sys.executable,
            "-m",
            "massivetext.cli.main",
            "serve",
            "--model",
            str(model_dir),
            "--port",
            str(port),
            "--max-batch-size",
            str(max(most, 1)),
            "--max-queue",
            str(max(most * args.requests, 64)),
            "--log-level",
            "warning",
            *([] if args.stream_interval_ms is None else ["--stream-interval-ms", str(args.stream_interval_ms)]),
        ],
        "transformers": lambda port: [
            "transformers",
            "serve",
            "--continuous-batching",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            str(model_dir),
        ],
    }
    names = {"massivetext": model_dir.name, "transformers": str(model_dir)}
    chosen = [n for n in servers if not args.only or n == args.only]
    results: dict[str, dict[int, dict]] = {n: {} for n in chosen}
    per_round: dict[tuple[str, int], list[float]] = {}
    rss: dict[str, int] = {}
    running: dict[str, ServerProcess] = {}
    try:
        for name in chosen:  # both up at once, so their rounds can alternate under the same machine load
            port = free_port()
            print(f"starting {name} ...", flush=True)
            running[name] = ServerProcess(servers[name](port), f"http://127.0.0.1:{port}", env, work / f"{name}.log")
            # warm-up: one full-length request
            asyncio.run(load(running[name].url, names[name], prompts, 1, 1, args.new_tokens))
        bares: list[float] = []
        for n in args.clients:
            for round_ in range(args.rounds):
                if n == 1:  # the bare generate baseline, in the same alternation (the servers idle meanwhile)
                    bares.append(bare_generate(model_dir, prompts[0], args.new_tokens, args.threads))
                for name in chosen:
                    r = asyncio.run(load(running[name].url, names[name], prompts, n, args.requests, args.new_tokens))
                    print(
                        f"{name:13s} clients={n:3d} round={round_} tok/s={r['tokens_per_s']:8.1f} "
                        f"ttft p50={r['ttft_p50']:.3f}s p99={r['ttft_p99']:.3f}s latency p50={r['lat_p50']:.3f}s "
                        f"p99={r['lat_p99']:.3f}s errors={r['errors']} tokens={r['tokens']} {r['error_sample'] or ''}",
                        flush=True,
                    )
                    per_round.setdefault((name, n), []).append(r["tokens_per_s"])
                    best = results[name].get(n)
                    errors = r["errors"] + (best["errors"] if best else 0)
                    if best is None or r["tokens_per_s"] > best["tokens_per_s"]:
                        results[name][n] = r
                    results[name][n]["errors"] = errors  # errors count over every round
        for name, server in running.items():
            rss[name] = server.peak_rss
    finally:
        for server in running.values():
            server.stop()
    if not bares:
        bares = [bare_generate(model_dir, prompts[0], args.new_tokens, args.threads, tries=args.rounds)]
    bare = max(bares)
    rounds_text = " / ".join(f"{b:.1f}" for b in bares)
    print(f"\nbare massivetext generate (1 prompt, {args.threads} thread): {bare:.1f} tok/s (rounds {rounds_text})")
    for name, v in rss.items():
        print(f"peak RSS {name}: {v / 2**20:.0f} MiB")
    if len(results) == 2:
        print(f"\nratio massivetext / transformers serve (best of {args.rounds} alternating rounds each):")
        for n in args.clients:
            a, b = results["massivetext"][n], results["transformers"][n]
            print(
                f"  clients={n:3d} tokens/s x{a['tokens_per_s'] / b['tokens_per_s']:.2f}   "
                f"p50 TTFT {a['ttft_p50']:.3f}s vs {b['ttft_p50']:.3f}s   "
                f"p50 latency {a['lat_p50']:.3f}s vs {b['lat_p50']:.3f}s   errors {a['errors']} vs {b['errors']}"
            )
    if "massivetext" in results and 1 in results["massivetext"]:
        one = results["massivetext"][1]["tokens_per_s"]
        print(f"massivetext at 1 client / bare generate: {one / bare:.2f} ({one:.1f} vs {bare:.1f} tok/s, best rounds)")
        served = per_round.get(("massivetext", 1), [])
        if len(served) > 1 and len(bares) > 1:
            m_served, m_bare = statistics.median(served), statistics.median(bares)
            print(f"  medians: {m_served / m_bare:.2f} ({m_served:.1f} vs {m_bare:.1f} tok/s)")
    for (name, n), tps in sorted(per_round.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  {name:13s} clients={n:3d} tok/s per round: " + " / ".join(f"{x:.1f}" for x in tps))
    (work / "results.json").write_text(
        json.dumps({"results": results, "rss": rss, "bare": bare, "bare_rounds": bares}, indent=1)
    )
    print(f"(details in {work})")


if __name__ == "__main__":
    main()
