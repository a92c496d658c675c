"""Streamers: the chunks equal transformers' streamers' over the same token ids, joined they equal the final
decode, and they work through model.generate (in a thread, async, and printing)."""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers import TextIteratorStreamer as HFTextIteratorStreamer

import massivetext as mt
from massivetext.models.gpt import GPTForCausalLM
from massivetext.models.streamers import AsyncTextIteratorStreamer, TextIteratorStreamer, TextStreamer

# words, punctuation runs, a line break, CJK, and emoji whose UTF-8 bytes end up in different tokens
TEXT = "Hello, world!! The café's menu:\n  - crêpes (3.50€)\t日本語のテキスト and 🙂🚀 end.\n\nLast line... ok"


@pytest.fixture(scope="module")
def tok():
    return mt.train_tokenizer([TEXT[:40], "hello world " * 5, "the menu is here"] * 10, vocab_size=300)


@pytest.fixture(scope="module")
def lm(tok, tmp_path_factory):
    torch.manual_seed(0)
    cfg = GPT2Config(n_embd=32, n_head=2, n_layer=1, vocab_size=len(tok), n_positions=64, eos_token_id=None)
    path = tmp_path_factory.mktemp("streamer_lm")
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return GPTForCausalLM.from_pretrained(path).eval()


def _feed(streamer, prompt: list[int], new: list[int]) -> list[str]:
    """What generate does: the prompt once, then one (1,) tensor per step, then end."""
    streamer.put(torch.tensor([prompt]))
    for token in new:
        streamer.put(torch.tensor([token]))
    streamer.end()
    return list(streamer)


@pytest.mark.parametrize("skip_prompt", [True, False])
@pytest.mark.parametrize("decode_kwargs", [{}, {"skip_special_tokens": True}])
def test_chunks_equal_transformers_streamer_over_the_same_ids(tok, skip_prompt, decode_kwargs):
    ids = tok.encode(TEXT)
    assert len(ids) > len(TEXT) // 3  # many tokens: emoji and CJK are split into byte pieces
    for cut in (0, 3, 11):
        prompt, new = ids[:cut] or [tok.eos_token_id], ids[cut:] + [tok.eos_token_id]
        ours = _feed(TextIteratorStreamer(tok, skip_prompt=skip_prompt, **decode_kwargs), prompt, new)
        theirs = _feed(HFTextIteratorStreamer(tok, skip_prompt=skip_prompt, **decode_kwargs), prompt, new)
        assert ours == theirs
        shown = tok.decode(new if skip_prompt else prompt + new, **decode_kwargs)
        assert "".join(ours) == shown
        assert any(c == "" for c in ours) and "\ufffd" not in "".join(ours)  # waits at unsafe points, never half a char


def test_batch_of_two_is_refused_like_transformers(tok):
    with pytest.raises(ValueError, match="batch size 1"):
        TextStreamer(tok).put(torch.tensor([[1, 2], [3, 4]]))


def test_generate_in_a_thread_streams_the_final_text(tok, lm):
    prompt = torch.tensor([tok.encode("hello world")])
    streamer = TextIteratorStreamer(tok, skip_prompt=True, timeout=60)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("out", lm.generate(prompt, max_new_tokens=30, streamer=streamer))
    )
    thread.start()
    chunks = list(streamer)
    thread.join()
    out = result["out"]
    assert "".join(chunks) == tok.decode(out[0, prompt.shape[1] :])
    assert len(chunks) == 31  # one piece per step, and the rest at the end
    again = _feed(HFTextIteratorStreamer(tok, skip_prompt=True), prompt[0].tolist(), out[0, prompt.shape[1] :].tolist())
    assert chunks == again


def test_text_streamer_prints_as_generate_goes(tok, lm, capsys):
    prompt = torch.tensor([tok.encode("the menu")])
    out = lm.generate(prompt, max_new_tokens=12, streamer=TextStreamer(tok, skip_prompt=True))
    assert capsys.readouterr().out == tok.decode(out[0, prompt.shape[1] :]) + "\n"


def test_a_failed_generation_reaches_the_iterator(tok, lm):
    streamer = TextIteratorStreamer(tok, timeout=60)
    thread = threading.Thread(
        target=lambda: pytest.raises(
            mt.ConfigError, lm.generate, torch.tensor([[1, 2]]), stop_strings=["x"], streamer=streamer
        )
    )
    thread.start()
    with pytest.raises(mt.ConfigError, match="stop_strings needs the tokenizer"):
        list(streamer)
    thread.join()


def test_timeout_when_nothing_comes(tok):
    with pytest.raises(queue.Empty):
        next(TextIteratorStreamer(tok, timeout=0.05))


def test_async_streamer(tok, lm):
    prompt = torch.tensor([tok.encode("hello")])

    async def main() -> tuple[str, torch.Tensor]:
        streamer = AsyncTextIteratorStreamer(tok, skip_prompt=True, timeout=60)
        task = asyncio.get_running_loop().run_in_executor(
            None, lambda: lm.generate(prompt, max_new_tokens=10, streamer=streamer)
        )
        text = "".join([piece async for piece in streamer])
        return text, await task

    text, out = asyncio.run(main())
    assert text == tok.decode(out[0, prompt.shape[1] :])


def test_beam_search_streams_its_best_beam_at_the_end(tok, lm):
    prompt = torch.tensor([tok.encode("hello world")])
    streamer = TextIteratorStreamer(tok, skip_prompt=True, timeout=60)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("out", lm.generate(prompt, max_new_tokens=8, num_beams=3, streamer=streamer))
    )
    thread.start()
    text = "".join(streamer)
    thread.join()
    assert text == tok.decode(result["out"][0, prompt.shape[1] :])
