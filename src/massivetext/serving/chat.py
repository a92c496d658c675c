"""Chat messages to prompt text through the tokenizer's chat template (``FastTokenizer.apply_chat_template``,
transformers' semantics); a tokenizer without one is the client's problem to hear about (400), not a crash."""

from __future__ import annotations

from typing import Any


class NoChatTemplate(Exception):
    pass


def render_chat(tokenizer: Any, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise NoChatTemplate(
            "this model's tokenizer has no chat template (tokenizer_config.json 'chat_template'): "
            "use /v1/completions, or add a template"
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
