"""A tiny GPT-2 checkpoint and byte-level BPE tokenizer, made here (no hub), for the serving tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_TEXT = [
    "the quick brown fox jumps over the lazy dog. ",
    "a model that serves text must be fast and correct. ",
    "hello world, my email is someone@example.com and my phone is +44 20 7946 0958. ",
    "continuous batching keeps every slot busy while requests come and go. ",
    "Ünïcödé text and emoji 🙂 must stream without broken characters. ",
]


def make_tiny_gpt2(
    path: Path, chat_template: bool = True, n_positions: int = 128, seed: int = 0, n_embd: int = 64, n_layer: int = 2
) -> Path:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_TEXT * 20, trainer)
    tok.save(str(path / "tokenizer.json"))
    cfg = {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "model_max_length": n_positions}
    if chat_template:
        cfg["chat_template"] = CHAT_TEMPLATE
    (path / "tokenizer_config.json").write_text(json.dumps(cfg))
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        n_embd=n_embd,
        n_head=4,
        n_layer=n_layer,
        vocab_size=tok.get_vocab_size(),
        n_positions=n_positions,
        bos_token_id=0,
        eos_token_id=0,
        initializer_range=0.3,  # spread-out logits: greedy picks are far from ties
    )
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(path)
    return path


def reference(tiny_model, prompt: str, max_tokens: int, **kwargs) -> tuple[list[int], str]:
    """New token ids and text of ``model.generate`` for one prompt alone (what the server must reproduce)."""
    import torch

    model, tok = tiny_model
    ids = tok.encode(prompt)
    out = model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, **kwargs)[0, len(ids) :].tolist()
    eos = model.config.eos_token_id
    if eos in out:  # generate pads after EOS; the EOS itself is a generated token
        out = out[: out.index(eos) + 1]
    return out, tok.decode(out, skip_special_tokens=True)


SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``massivetext serve`` in a subprocess; ``url`` once /health says ready."""

    def __init__(self, model_dir: Path, *args: str, env: dict | None = None, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
        self.log = log
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "massivetext.cli.main", "serve", "--model", str(model_dir)]
        cmd += ["--port", str(self.port), "--log-level", "warning", *args]
        self.proc = subprocess.Popen(cmd, env=e, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.logs()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in 90 s: {self.logs()}")

    def logs(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
