"""The real server, spoken to by the official openai client: outputs equal model.generate / transformers."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import numpy as np
import pytest
import torch
from _serving_tiny import reference

from peers import require

openai = require("openai")

PROMPTS = [
    "the quick brown fox",
    "hello world, my email",
    "a model that serves text",
    "continuous batching keeps every slot busy while requests come",
    "Ü",
    "the lazy dog. a",
]


def client(server, **kw):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60, **kw)


def test_models_lists_the_served_model(server, tiny_dir):
    models = client(server).models.list()
    assert [m.id for m in models.data] == [tiny_dir.name]


def test_completions_greedy_equal_generate(server, tiny_model, tiny_dir):
    c = client(server)
    for i, prompt in enumerate(PROMPTS):
        n_new = 5 + 7 * i
        ids, text = reference(tiny_model, prompt, n_new)
        r = c.completions.create(model=tiny_dir.name, prompt=prompt, max_tokens=n_new, temperature=0)
        assert r.choices[0].text == text
        assert r.usage.completion_tokens == len(ids)
        assert r.usage.prompt_tokens == len(tiny_model[1].encode(prompt))
        assert r.choices[0].finish_reason == ("stop" if len(ids) < n_new else "length")
        assert r.id.startswith("cmpl-") and r.object == "text_completion" and r.created > 0


def test_greedy_is_unchanged_by_concurrent_batch(server, tiny_model, tiny_dir):
    """Greedy requests sent together (sharing decode steps with sampled ones) give generate's tokens."""

    async def main():
        c = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=60)
        greedy = [c.completions.create(model=tiny_dir.name, prompt=p, max_tokens=40, temperature=0) for p in PROMPTS]
        noise = [
            c.completions.create(model=tiny_dir.name, prompt=p, max_tokens=60, temperature=1.0, seed=i)
            for i, p in enumerate(PROMPTS)
        ]
        out = await asyncio.gather(*greedy, *noise)
        await c.close()
        return out[: len(PROMPTS)]

    for prompt, r in zip(PROMPTS, asyncio.run(main())):
        assert r.choices[0].text == reference(tiny_model, prompt, 40)[1]


def test_sampling_with_seed_equals_generate_with_that_seed(server, tiny_model, tiny_dir):
    prompt = "the quick brown fox"
    c = client(server)
    r = c.completions.create(
        model=tiny_dir.name,
        prompt=prompt,
        max_tokens=30,
        temperature=0.7,
        top_p=0.9,
        seed=1234,
        extra_body={"top_k": 20},
    )
    _, text = reference(
        tiny_model,
        prompt,
        30,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        top_k=20,
        generator=torch.Generator().manual_seed(1234),
    )
    assert r.choices[0].text == text
    again = c.completions.create(
        model=tiny_dir.name,
        prompt=prompt,
        max_tokens=30,
        temperature=0.7,
        top_p=0.9,
        seed=1234,
        extra_body={"top_k": 20},
    )
    assert again.choices[0].text == text


def test_n_choices_and_prompt_list(server, tiny_dir, tiny_model):
    c = client(server)
    r = c.completions.create(model=tiny_dir.name, prompt=PROMPTS[:2], max_tokens=6, temperature=0.9, n=2, seed=3)
    assert [ch.index for ch in r.choices] == [0, 1, 2, 3]
    assert r.usage.completion_tokens <= 4 * 6
    assert r.usage.prompt_tokens == sum(len(tiny_model[1].encode(p)) for p in PROMPTS[:2])
    chat = c.chat.completions.create(
        model=tiny_dir.name, messages=[{"role": "user", "content": "hi"}], n=2, max_tokens=5, temperature=0
    )
    assert len(chat.choices) == 2 and chat.choices[0].message.content == chat.choices[1].message.content


def test_stop_strings(server, tiny_model, tiny_dir):
    prompt = PROMPTS[2]
    _, text = reference(tiny_model, prompt, 40)
    stop = text[10:13]
    expected = text[: text.index(stop)]
    r = client(server).completions.create(model=tiny_dir.name, prompt=prompt, max_tokens=40, temperature=0, stop=[stop])
    assert r.choices[0].text == expected
    assert r.choices[0].finish_reason == "stop"
    # streamed: the held-back start of a stop string never leaks
    s = client(server).completions.create(
        model=tiny_dir.name, prompt=prompt, max_tokens=40, temperature=0, stop=stop, stream=True
    )
    chunks = list(s)
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_uses_the_template_and_streams_usage(server, tiny_model, tiny_dir):
    model, tok = tiny_model
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the quick brown fox"}]
    # the template in tokenizer_config.json, rendered by hand: what the server must feed the model
    prompt = "<|system|>be brief<|endoftext|><|user|>the quick brown fox<|endoftext|><|assistant|>"
    ids = tok.encode(prompt)
    out = model.generate(torch.tensor([ids]), max_new_tokens=12)[0, len(ids) :].tolist()
    if 0 in out:
        out = out[: out.index(0) + 1]
    text = tok.decode(out, skip_special_tokens=True)
    c = client(server)
    r = c.chat.completions.create(model=tiny_dir.name, messages=messages, max_completion_tokens=12, temperature=0)
    assert r.choices[0].message.content == text and r.choices[0].message.role == "assistant"
    assert r.usage.prompt_tokens == len(ids) and r.usage.completion_tokens == len(out)
    stream = c.chat.completions.create(
        model=tiny_dir.name,
        messages=messages,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.usage is None for ch in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(out)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == text
    assert len({ch.id for ch in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_raw_sse_framing(server, tiny_dir):
    body = {"model": tiny_dir.name, "prompt": "hello", "max_tokens": 5, "stream": True, "temperature": 0}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for e in events[:-2]:
        assert e.startswith("data: ")
        json.loads(e[len("data: ") :])


def test_logprobs_and_echo(server, tiny_model, tiny_dir):
    model, tok = tiny_model
    prompt = "the quick brown"
    r = client(server).completions.create(
        model=tiny_dir.name, prompt=prompt, max_tokens=4, temperature=0, logprobs=3, echo=True
    )
    ch = r.choices[0]
    assert ch.text.startswith(prompt)
    ids = tok.encode(prompt)
    full = ids + reference(tiny_model, prompt, 4)[0]
    with torch.no_grad():
        lp = model(torch.tensor([full])).logits[0].float().log_softmax(-1)
    expected = [None] + [lp[i - 1, full[i]].item() for i in range(1, len(full))]
    got = ch.logprobs.token_logprobs
    assert got[0] is None and len(got) == len(full)
    assert np.allclose(got[1:], expected[1:], atol=1e-4)
    # top alternatives keyed by token text (OpenAI's format; two byte pieces can share a text, so <= 3 keys)
    assert all(1 <= len(t) <= 3 for t in ch.logprobs.top_logprobs[1:])
    for t, v in zip(ch.logprobs.top_logprobs[len(ids) :], got[len(ids) :]):
        assert max(t.values()) == pytest.approx(v, abs=1e-5)  # greedy picked the most likely token


def test_embeddings_equal_transformers_mean_pooling(server, tiny_dir, tiny_model):
    import transformers

    hf = transformers.GPT2Model.from_pretrained(tiny_dir).eval()
    tok = tiny_model[1]
    texts = ["the quick brown fox", "a"]
    r = client(server).embeddings.create(model=tiny_dir.name, input=texts)  # the SDK asks for base64
    raw = httpx.post(
        server.url + "/v1/embeddings", json={"model": tiny_dir.name, "input": texts, "encoding_format": "float"}
    ).json()
    for i, text in enumerate(texts):
        with torch.no_grad():
            ref = hf(torch.tensor([tok.encode(text)])).last_hidden_state[0].mean(0).numpy()
        assert np.allclose(r.data[i].embedding, ref, atol=1e-4)
        assert np.allclose(raw["data"][i]["embedding"], ref, atol=1e-4)
    assert r.usage.prompt_tokens == sum(len(tok.encode(t)) for t in texts)
    vec = base64.b64decode(
        httpx.post(server.url + "/v1/embeddings", json={"input": "a", "encoding_format": "base64"}).json()["data"][0][
            "embedding"
        ]
    )
    assert len(vec) == 4 * len(raw["data"][0]["embedding"])


def test_sixteen_concurrent_streams(server, tiny_model, tiny_dir):
    """All complete; every stream well-formed; each stream's tokens (one logprob entry each) equal its usage."""
    prompts = [PROMPTS[i % len(PROMPTS)] + " " * (i // len(PROMPTS)) for i in range(16)]

    async def one(c, prompt):
        stream = await c.completions.create(
            model=tiny_dir.name,
            prompt=prompt,
            max_tokens=24,
            temperature=0,
            stream=True,
            logprobs=0,
            stream_options={"include_usage": True},
        )
        text, tokens, usage, reasons = "", 0, None, []
        async for ch in stream:
            if ch.usage is not None:
                usage = ch.usage
            for choice in ch.choices:
                text += choice.text
                tokens += len(choice.logprobs.tokens) if choice.logprobs else 0
                if choice.finish_reason:
                    reasons.append(choice.finish_reason)
        return text, tokens, usage, reasons

    async def main():
        c = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)
        out = await asyncio.wait_for(asyncio.gather(*(one(c, p) for p in prompts)), 120)
        await c.close()
        return out

    results = asyncio.run(main())
    for prompt, (text, tokens, usage, reasons) in zip(prompts, results):
        ids, ref_text = reference(tiny_model, prompt, 24)
        assert text == ref_text
        assert len(reasons) == 1
        assert tokens == usage.completion_tokens == len(ids)


def test_metrics_parse(server):
    from prometheus_client.parser import text_string_to_metric_families

    client(server).completions.create(model=None or "tiny-gpt2", prompt="hi", max_tokens=2)
    text = httpx.get(server.url + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "massivetext_requests",
        "massivetext_prompt_tokens",
        "massivetext_generation_tokens",
        "massivetext_queue_depth",
        "massivetext_running_sequences",
        "massivetext_decode_batch_size",
        "massivetext_time_to_first_token_seconds",
        "massivetext_request_latency_seconds",
    ):
        assert name in families, name
    ok = [
        s
        for s in families["massivetext_requests"].samples
        if s.labels.get("route") == "/v1/completions" and s.labels.get("status") == "200" and s.name.endswith("_total")
    ]
    assert ok and ok[0].value >= 1
    gen = [s for s in families["massivetext_generation_tokens"].samples if s.name.endswith("_total")]
    assert gen[0].value >= 2
