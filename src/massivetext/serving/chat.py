"""Chat messages to prompt text through the tokenizer's chat template.

Uses the tokenizer's own ``apply_chat_template`` when it has one; otherwise renders ``chat_template`` from
``tokenizer_config.json`` with transformers' semantics (sandboxed Jinja2, ``messages``, ``add_generation_prompt``,
the special tokens, ``raise_exception``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any


class NoChatTemplate(Exception):
    pass


def find_chat_template(tokenizer: Any) -> str | None:
    template = getattr(tokenizer, "chat_template", None)
    if template:
        return template if isinstance(template, str) else None
    name = getattr(tokenizer, "name_or_path", None)
    if name:
        path = Path(name)
        cfg = path / "tokenizer_config.json" if path.is_dir() else path.parent / "tokenizer_config.json"
        if cfg.is_file():
            value = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(value, list):  # named templates: transformers picks "default"
                value = next((t["template"] for t in value if t.get("name") == "default"), None)
            return value
    return None


@lru_cache(maxsize=8)
def _compile(template: str):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_chat(tokenizer: Any, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    template = find_chat_template(tokenizer)
    apply = getattr(tokenizer, "apply_chat_template", None)
    if apply is not None and template:
        return apply(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    if not template:
        raise NoChatTemplate(
            "this model's tokenizer has no chat template (tokenizer_config.json 'chat_template'): "
            "use /v1/completions, or add a template"
        )
    special = getattr(tokenizer, "special_tokens_map", {}) or {}
    names = {k: (v if isinstance(v, str) else None) for k, v in special.items()}
    return _compile(template).render(messages=messages, add_generation_prompt=add_generation_prompt, **names)
