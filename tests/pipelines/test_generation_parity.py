"""text-generation against transformers' pipeline (in-process) on a tiny GPT-2: greedy and beam, batched with left
padding and unbatched, return_full_text, num_return_sequences, stop strings, and chat messages in and out."""

from __future__ import annotations

import pytest
import transformers
from pipeline_helpers import assert_same

import massivetext as mt

PROMPTS = ["the river", "Alice visited the castle of", "a", "yesterday Bob crossed the bridge and then he"]


@pytest.fixture(scope="module")
def pipes(gpt2_dir):
    ref = transformers.pipeline("text-generation", model=gpt2_dir, tokenizer=gpt2_dir)
    return ref, mt.pipeline("text-generation", model=gpt2_dir, batch_size=4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_new_tokens": 8, "do_sample": False},
        {"max_new_tokens": 6, "do_sample": False, "return_full_text": False},
        {"max_new_tokens": 6, "num_beams": 3, "num_return_sequences": 2, "do_sample": False},
        {"max_new_tokens": 7, "do_sample": False, "repetition_penalty": 1.3},
        {"max_new_tokens": 10, "do_sample": False, "no_repeat_ngram_size": 2},
        # left pads are no tokens: n-grams and the penalty must skip them (one prompt at a time has none)
        {"max_new_tokens": 8, "do_sample": False, "no_repeat_ngram_size": 1},
        {"max_new_tokens": 8, "num_beams": 3, "do_sample": False, "no_repeat_ngram_size": 1},
        {
            "max_new_tokens": 10,
            "num_beams": 2,
            "num_return_sequences": 2,
            "do_sample": False,
            "no_repeat_ngram_size": 3,
        },
        {"max_new_tokens": 8, "num_beams": 3, "do_sample": False, "repetition_penalty": 1.5},
    ],
)
def test_generation_matches(pipes, kwargs):
    ref, ours = pipes
    want = [ref(p, **kwargs) for p in PROMPTS]  # transformers one at a time: no padding
    assert_same(ours(PROMPTS, **kwargs), want)  # ours batched, left-padded
    assert_same(ours(PROMPTS[1], **kwargs), want[1])


def test_stop_strings(pipes, gpt2_dir):
    ref, ours = pipes
    tok = transformers.AutoTokenizer.from_pretrained(gpt2_dir)
    ids = ours(PROMPTS[1], max_new_tokens=12, do_sample=False, return_tensors=True)[0]["generated_token_ids"]
    prompt_len = len(tok(PROMPTS[1])["input_ids"])
    stop = tok.decode(ids[prompt_len + 1 : prompt_len + 3])  # the 2nd and 3rd new tokens
    free = tok.decode(ids[prompt_len:])
    kw = {"max_new_tokens": 12, "do_sample": False}
    want = ref(PROMPTS[1], stop_strings=[stop], tokenizer=tok, **kw)
    got = ours(PROMPTS[1], stop=[stop], **kw)
    assert_same(got, want)
    assert len(got[0]["generated_text"]) < len(PROMPTS[1] + free)


def test_chat_messages_in_and_out(gpt2_dir):
    tok = mt.AutoTokenizer.from_pretrained(gpt2_dir)
    if not hasattr(tok, "apply_chat_template"):
        pytest.skip("chat templates arrive with the tokenizer work (h-models)")
    template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    tok.chat_template = template
    hf_tok = transformers.AutoTokenizer.from_pretrained(gpt2_dir)
    hf_tok.chat_template = template
    ref = transformers.pipeline("text-generation", model=gpt2_dir, tokenizer=hf_tok)
    ours = mt.pipeline("text-generation", model=gpt2_dir, tokenizer=tok)
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the river"}]
    out = ours(chat, max_new_tokens=5, do_sample=False)
    assert_same(out, ref(chat, max_new_tokens=5, do_sample=False))
    assert out[0]["generated_text"][:2] == chat and out[0]["generated_text"][2]["role"] == "assistant"


def test_handle_long_generation_hole(pipes, gpt2_dir):
    """4.57's "hole": a prompt longer than model_max_length (96) - max_new_tokens keeps its last tokens; batched with
    a short prompt against transformers one prompt at a time."""
    ref, ours = pipes
    long = " ".join(["Alice visited the castle of the old river and then"] * 12)  # > 96 tokens
    tok = transformers.AutoTokenizer.from_pretrained(gpt2_dir)
    assert len(tok(long)["input_ids"]) > 96
    prompts = [long, PROMPTS[1]]
    for kwargs in ({"max_new_tokens": 6}, {"max_new_tokens": 5, "return_full_text": False}):
        kw = {"do_sample": False, "handle_long_generation": "hole", **kwargs}
        want = [ref(p, **kw) for p in prompts]
        assert_same(ours(prompts, **kw), want)
    with pytest.raises(mt.MassiveTextError, match="prompt"):
        ours(long, max_new_tokens=6, do_sample=False)  # without the hole: too long for the positions
    with pytest.raises(mt.MassiveTextError, match="model_max_length"):
        ours(long, max_new_tokens=96, do_sample=False, handle_long_generation="hole")
    with pytest.raises(ValueError):
        ref(long, max_new_tokens=96, do_sample=False, handle_long_generation="hole")
    with pytest.raises(mt.MassiveTextError, match="handle_long_generation"):
        ours(long, max_new_tokens=6, handle_long_generation="cut")
