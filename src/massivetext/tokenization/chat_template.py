"""Chat templates: Jinja2 templates that turn a list of ``{"role", "content"}`` messages into one prompt string.

The rendering follows transformers (``apply_chat_template``) so that a template from the Hub renders the same here:
a sandboxed, immutable Jinja2 environment with ``trim_blocks``/``lstrip_blocks`` and loop controls, a ``tojson``
filter that does not escape HTML, the globals ``raise_exception``, ``strftime_now`` and ``namespace``, the special
tokens (``bos_token``, ``eos_token``, ...) in the context, ``add_generation_prompt``, ``continue_final_message`` and
the ``{% generation %}`` block that marks assistant text for ``return_assistant_tokens_mask``.

``DEFAULT_CHAT_TEMPLATE`` is the template for models trained here (``train_tokenizer(..., chat_template=True)``):
ChatML, as used by Qwen and others::

    <|im_start|>system
    You are helpful.<|im_end|>
    <|im_start|>user
    Hi!<|im_end|>
    <|im_start|>assistant
    (the model writes here, and ends its turn with <|im_end|>)

A message's ``content`` may be a string or a list of OpenAI-style parts (``{"type": "text", "text": ...}``; other
part types are skipped). ``<|im_start|>`` and ``<|im_end|>`` are special tokens of such a tokenizer; generation for
chat should stop at ``<|im_end|>`` as well as at the end-of-text token.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from massivetext.errors import ConfigError

CHATML_START, CHATML_END = "<|im_start|>", "<|im_end|>"
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


class ChatTemplateError(ConfigError):
    """A chat template that cannot be used: none set, not valid Jinja, or it raised for these messages."""


def select_template(
    own: str | dict[str, str] | None, chat_template: str | None, tools: list[Any] | None, name_or_path: str = ""
) -> str:
    """The template to render: the one passed (a template or the name of one of ours), else ours (transformers'
    ``get_chat_template``: with several named templates, ``tool_use`` when tools are given, else ``default``)."""
    if isinstance(own, dict):
        if chat_template is not None and chat_template in own:
            return own[chat_template]
        if chat_template is None:
            if tools is not None and "tool_use" in own:
                return own["tool_use"]
            if "default" in own:
                return own["default"]
            raise ChatTemplateError(
                f"this tokenizer has several chat templates and none is named 'default'; pass chat_template= one of "
                f"{sorted(own)}"
            )
    if chat_template is not None:
        return chat_template
    if own is None:
        where = f" ({name_or_path})" if name_or_path else ""
        raise ChatTemplateError(
            f"this tokenizer{where} has no chat template: set tokenizer.chat_template (for models trained with "
            "MassiveText, massivetext.tokenization.chat_template.DEFAULT_CHAT_TEMPLATE is ChatML) or pass "
            "chat_template= to apply_chat_template"
        )
    return own


def render(
    conversations: list[list[dict[str, Any]]],
    template: str,
    *,
    tools: list[Any] | None = None,
    documents: list[Any] | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    track_generation: bool = False,
    **context: Any,
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Render each conversation; with ``track_generation``, also the character spans of its ``{% generation %}``
    blocks."""
    if continue_final_message and add_generation_prompt:
        raise ConfigError("continue_final_message and add_generation_prompt cannot be used together")
    if tools is not None and any(not isinstance(tool, Mapping) for tool in tools):
        raise ConfigError("tools must be given as JSON schemas (dicts)")
    if documents is not None and any(not isinstance(doc, Mapping) for doc in documents):
        raise ConfigError("documents must be dicts, e.g. with 'title' and 'text' keys")
    compiled = _compile(template)
    rendered, spans = [], []
    for chat in conversations:
        chat = [dict(message) for message in chat]  # a copy: the continue tag must not reach the caller's messages
        final = None
        if continue_final_message:
            final = chat[-1].get("content") if chat else None
            if not isinstance(final, str):
                raise ConfigError("continue_final_message needs a final message whose content is a string")
            chat[-1]["content"] = final + _CONTINUE_TAG
        variables = dict(
            messages=chat, tools=tools, documents=documents, add_generation_prompt=add_generation_prompt, **context
        )
        try:
            if track_generation:
                blocks: list[str] = []
                generation: list[tuple[int, int]] = []
                with compiled.environment.activate_tracker(blocks, generation):
                    for block in compiled.generate(**variables):
                        blocks.append(block)
                text = "".join(blocks)
                spans.append(generation)
            else:
                text = compiled.render(**variables)
        except Exception as e:
            raise ChatTemplateError(f"the chat template failed on these messages: {e}") from e
        if final is not None:
            text = _cut_at_continue_tag(text, final)
        rendered.append(text)
    return rendered, spans


def _cut_at_continue_tag(text: str, final: str) -> str:
    tag = _CONTINUE_TAG.strip()
    if final.strip() not in text or tag not in text:
        raise ChatTemplateError(
            "continue_final_message is set but the final message does not appear in the rendered chat "
            "(the template changes or drops it)"
        )
    at = text.rindex(tag)
    # a template that keeps spacing keeps the tag's trailing space; one that trims it may have trimmed ours too
    return text[:at] if text[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG else text[:at].rstrip()


@functools.lru_cache(maxsize=32)
def _compile(template: str) -> Any:
    """Compile once per template string (the environment is immutable, so sharing it between threads is safe)."""
    import jinja2
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTracker(Extension):
        """``{% generation %}...{% endgeneration %}``: records where assistant text lands in the output."""

        tags = {"generation"}

        def __init__(self, environment: Any):
            super().__init__(environment)
            environment.extend(activate_tracker=self.activate_tracker)
            self._tracking: ContextVar[Any] = ContextVar("generation_tracker", default=None)

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_generation", []), [], [], body).set_lineno(lineno)

        def _generation(self, caller: Any) -> str:
            text = caller()
            tracking = self._tracking.get()
            if tracking is not None:
                blocks, spans = tracking
                start = len("".join(blocks))
                spans.append((start, start + len(text)))
            return text

        @contextmanager
        def activate_tracker(self, blocks: list[str], spans: list[tuple[int, int]]):
            token = self._tracking.set((blocks, spans))
            try:
                yield
            finally:
                self._tracking.reset(token)

    class Namespace(jinja2.utils.Namespace):
        """``namespace()`` without underscore attributes, so a template cannot reach Python internals."""

        def __init__(*args: Any, **kwargs: Any):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                Namespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            Namespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"a chat template cannot set the attribute {name!r}")

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False):
        # Jinja's own tojson escapes HTML characters, which would change prompts
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, "jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["namespace"] = Namespace
    try:
        return env.from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise ChatTemplateError(f"the chat template is not valid Jinja (line {e.lineno}): {e.message}") from e


def normalize_messages(conversation: Any) -> list[dict[str, Any]]:
    """Messages as plain dicts, keys whose value is None dropped (OpenAI clients send ``content=None``)."""
    messages = getattr(conversation, "messages", conversation)
    out = []
    for i, message in enumerate(messages):
        if hasattr(message, "model_dump"):  # pydantic models (OpenAI client objects, request schemas)
            message = message.model_dump()
        if not isinstance(message, Mapping):
            raise ConfigError(
                f"chat message {i} must be a dict with 'role' and 'content', not {type(message).__name__}"
            )
        out.append({key: value for key, value in message.items() if value is not None})
    return out


def config_value(template: str | dict[str, str] | None) -> Any:
    """How ``tokenizer_config.json`` stores templates: a string, or a list of ``{"name", "template"}``."""
    if isinstance(template, dict):
        return [{"name": name, "template": text} for name, text in template.items()]
    return template


def from_config_value(value: Any) -> str | dict[str, str] | None:
    if isinstance(value, list):
        return {item["name"]: item["template"] for item in value}
    return value
