"""apply_chat_template against transformers 5 on the same tokenizer files, templates and messages."""

from collections.abc import Mapping

import pytest
import torch
from transformers import PreTrainedTokenizerFast

import massivetext as mt
from massivetext.tokenization.chat_template import DEFAULT_CHAT_TEMPLATE
from tokenization_helpers import corpus

CHAT = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Hello world, what is 2 + 2?"},
    {"role": "assistant", "content": "It is 4."},
    {
        "role": "user",
        "content": [{"type": "text", "text": "And "}, {"type": "image"}, {"type": "text", "text": "3+3?"}],
    },
]
SHORT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "The answer is"}]
# a Hub-style template: bos/eos from the context, raise_exception, namespace, loop controls, tojson, generation blocks
RICH = """{{ bos_token }}{% set ns = namespace(system='') %}
{% for m in messages %}{% if m['role'] == 'system' %}{% set ns.system = m['content'] %}{% continue %}{% endif %}
{% if m['role'] not in ['user', 'assistant'] %}{{ raise_exception('roles must be user or assistant, not ' + m['role']) }}{% endif %}
{% if m['role'] == 'user' %}[INST] {% if loop.index0 == 1 and ns.system %}<<SYS>>{{ ns.system }}<</SYS>> {% endif %}{{ m['content'] }} [/INST]
{% else %}{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}
{% endif %}{% endfor %}{% if tools %}TOOLS: {{ tools | tojson }}{% endif %}{% if add_generation_prompt %}ANSWER:{% endif %}"""


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    tok = mt.train_tokenizer(corpus(200), vocab_size=500, chat_template=True)
    path = tmp_path_factory.mktemp("chat")
    tok.save_pretrained(path)
    return path


def _same(ours, theirs):
    if isinstance(theirs, Mapping):
        assert set(ours) == set(theirs)
        for key in theirs:
            _same(ours[key], theirs[key])
    elif isinstance(theirs, torch.Tensor):
        assert torch.equal(ours, theirs)
    else:
        assert ours == theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokenize": False},
        {"tokenize": False, "add_generation_prompt": True},
        {"add_generation_prompt": True},
        {"return_dict": False},
        {"add_generation_prompt": True, "return_tensors": "pt"},
    ],
)
def test_default_template_matches_transformers(chat_dir, kwargs):
    ours, theirs = mt.AutoTokenizer.from_pretrained(chat_dir), PreTrainedTokenizerFast.from_pretrained(str(chat_dir))
    assert theirs.chat_template == ours.chat_template == DEFAULT_CHAT_TEMPLATE  # read from tokenizer_config.json
    for messages in (CHAT, CHAT[:2], [CHAT, CHAT[:2]]):  # one conversation and a batch
        if isinstance(messages[0], list) and kwargs.get("return_tensors"):
            kwargs = {**kwargs, "padding": True}
        _same(ours.apply_chat_template(messages, **kwargs), theirs.apply_chat_template(messages, **kwargs))
    text = ours.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nHello world, what is 2 + 2?" \
        "<|im_end|>\n<|im_start|>assistant\n"  # fmt: skip
    ids = ours.apply_chat_template(CHAT[:1], return_dict=False)
    assert ids[0] == ours.convert_tokens_to_ids("<|im_start|>") and ids[-2] == ours.convert_tokens_to_ids("<|im_end|>")


def test_continue_final_message_matches_transformers(chat_dir):
    ours, theirs = mt.AutoTokenizer.from_pretrained(chat_dir), PreTrainedTokenizerFast.from_pretrained(str(chat_dir))
    kwargs = {"tokenize": False, "continue_final_message": True}
    text = ours.apply_chat_template(SHORT, **kwargs)
    assert text == theirs.apply_chat_template(SHORT, **kwargs) and text.endswith("assistant\nThe answer is")
    assert SHORT[-1]["content"] == "The answer is"  # the caller's messages are untouched
    with pytest.raises(mt.ConfigError):
        ours.apply_chat_template(SHORT, continue_final_message=True, add_generation_prompt=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokenize": False},
        {"tokenize": False, "add_generation_prompt": True, "tools": [{"name": "add", "parameters": {"a": "<int>"}}]},
        {"return_assistant_tokens_mask": True},
        {"return_assistant_tokens_mask": True, "truncation": True, "max_length": 20},
    ],
)
def test_hub_style_template_matches_transformers(chat_dir, kwargs):
    ours, theirs = mt.AutoTokenizer.from_pretrained(chat_dir), PreTrainedTokenizerFast.from_pretrained(str(chat_dir))
    ours.chat_template = theirs.chat_template = RICH
    for messages in (CHAT[:3], [CHAT[:3], CHAT[1:3]]):
        got, want = ours.apply_chat_template(messages, **kwargs), theirs.apply_chat_template(messages, **kwargs)
        _same(got, want)
    if kwargs.get("return_assistant_tokens_mask") and "truncation" not in kwargs:
        assert 0 < sum(got["assistant_masks"][0]) < len(got["assistant_masks"][0])


def test_raise_exception_in_template_is_a_massivetext_error(chat_dir):
    ours, theirs = mt.AutoTokenizer.from_pretrained(chat_dir), PreTrainedTokenizerFast.from_pretrained(str(chat_dir))
    ours.chat_template = theirs.chat_template = RICH
    bad = [{"role": "tool", "content": "x"}]
    with pytest.raises(Exception, match="roles must be user or assistant, not tool"):
        theirs.apply_chat_template(bad)
    with pytest.raises(mt.MassiveTextError, match="roles must be user or assistant, not tool"):
        ours.apply_chat_template(bad)
    ours.chat_template = "{% for m in messages %}{{ m.content }"
    with pytest.raises(mt.MassiveTextError, match="not valid Jinja"):
        ours.apply_chat_template(CHAT)
    ours.chat_template = "{{ ''.__class__.__mro__ }}"  # the sandbox refuses Python internals
    with pytest.raises(mt.MassiveTextError, match="chat template"):
        ours.apply_chat_template(CHAT)


def test_no_template_is_a_clear_error(bpe):
    tok, path = bpe
    tok = mt.AutoTokenizer.from_pretrained(path)
    assert tok.chat_template is None
    with pytest.raises(mt.MassiveTextError, match="has no chat template"):
        tok.apply_chat_template(CHAT)
    # a template passed in the call is enough
    assert tok.apply_chat_template(CHAT[1:2], chat_template=DEFAULT_CHAT_TEMPLATE, tokenize=False).startswith(
        "<|im_start|>user\n"
    )


def test_templates_written_by_transformers_load_here(chat_dir, tmp_path):
    theirs = PreTrainedTokenizerFast.from_pretrained(str(chat_dir))
    theirs.chat_template = RICH
    theirs.save_pretrained(tmp_path)  # transformers 5 writes chat_template.jinja
    ours = mt.AutoTokenizer.from_pretrained(tmp_path)
    assert ours.chat_template == RICH
    assert ours.apply_chat_template(CHAT[:3], tokenize=False) == theirs.apply_chat_template(CHAT[:3], tokenize=False)


def test_named_templates_round_trip_and_pick_like_transformers(chat_dir, tmp_path):
    ours = mt.AutoTokenizer.from_pretrained(chat_dir)
    ours.chat_template = {"default": DEFAULT_CHAT_TEMPLATE, "tool_use": RICH}
    ours.save_pretrained(tmp_path)
    theirs = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    back = mt.AutoTokenizer.from_pretrained(tmp_path)
    assert back.chat_template == ours.chat_template
    tools = [{"name": "add"}]
    for kwargs in ({}, {"tools": tools}, {"chat_template": "tool_use"}):
        assert back.apply_chat_template(CHAT[:3], tokenize=False, **kwargs) == theirs.apply_chat_template(
            CHAT[:3], tokenize=False, **kwargs
        )
