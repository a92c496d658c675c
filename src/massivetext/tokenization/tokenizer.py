"""``AutoTokenizer`` and ``FastTokenizer``: a ``tokenizers.Tokenizer`` with the Hugging Face calling conventions.

``FastTokenizer`` behaves like ``transformers.PreTrainedTokenizerFast`` for the calls people make (``tok(texts,
padding=..., truncation=..., max_length=..., return_tensors="pt")``, ``decode``, ``pad``, special tokens, left or
right padding, text pairs) and reads and writes the same files (``tokenizer.json``, ``tokenizer_config.json``,
``special_tokens_map.json``), so a directory written by either library loads in the other with identical ids.

Thread-safe: a call never changes the shared backend. A call that pads or truncates encodes with a private copy of the
backend configured once for that setting and never changed afterwards, so a server can call one tokenizer from many
threads with different settings.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import AddedToken, Tokenizer

from massivetext.errors import ConfigError
from massivetext.tokenization import chat_template as chat
from massivetext.tokenization.batch_encoding import BatchEncoding, to_tensor
from massivetext.tokenization.encode_options import (
    VERY_LARGE_INTEGER,
    EncodeOptions,
    Plan,
    padded_length,
    padding_strategy,
    resolve,
)

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# the keys pad() fills (with the pad id, 0, the pad type id and 1) and that must make rectangular tensors
_PADDED_KEYS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")
_MAX_CONFIGURED_COPIES = 8  # backends kept per tokenizer, one per padding and truncation setting in use
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

# When a bare tokenizer.json comes without a config, these well-known tokens name their roles.
KNOWN_ROLES: dict[str, tuple[str, ...]] = {
    "<|endoftext|>": ("bos_token", "eos_token", "unk_token"),
    "[CLS]": ("cls_token",),
    "[SEP]": ("sep_token",),
    "[PAD]": ("pad_token",),
    "[UNK]": ("unk_token",),
    "[MASK]": ("mask_token",),
    "<s>": ("bos_token",),
    "</s>": ("eos_token",),
    "<pad>": ("pad_token",),
    "<unk>": ("unk_token",),
    "<mask>": ("mask_token",),
}


def _token_content(value: Any) -> str | None:
    """A special token as written by transformers 4 (dict with "content") or 5 (plain string)."""
    if isinstance(value, dict):
        return value.get("content")
    if isinstance(value, AddedToken):
        return value.content
    return value


def _as_id_list(ids: Any) -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    return [int(i) for i in ids]


class FastTokenizer:
    """A tokenizer over the Rust ``tokenizers`` library, used the way ``transformers`` tokenizers are used."""

    model_input_names: list[str] = ["input_ids", "attention_mask"]
    is_fast = True

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        model_input_names: Sequence[str] | None = None,
        clean_up_tokenization_spaces: bool = False,
        additional_special_tokens: Sequence[str] = (),
        name_or_path: str = "",
        chat_template: str | dict[str, str] | None = None,
        **special_tokens: str | None,
    ):
        unknown = set(special_tokens) - set(SPECIAL_TOKEN_KEYS)
        if unknown:
            raise ConfigError(f"unknown tokenizer options: {sorted(unknown)}")
        self._tokenizer = tokenizer
        self._copies_lock = threading.Lock()
        self._configured_copies: dict[tuple[Any, ...], Tokenizer] = {}
        self.model_max_length = int(model_max_length) if model_max_length else VERY_LARGE_INTEGER
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        if model_input_names is not None:
            self.model_input_names = list(model_input_names)
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.additional_special_tokens = list(additional_special_tokens)
        self.name_or_path = name_or_path
        self.chat_template = chat_template  # a Jinja template, or {name: template}; see tokenization/chat_template.py
        for key in SPECIAL_TOKEN_KEYS:
            setattr(self, key, _token_content(special_tokens.get(key)))
        # make sure every declared special token is one the backend knows and never splits
        declared = [t for t in self.all_special_tokens if t is not None]
        missing = [t for t in declared if tokenizer.token_to_id(t) is None]
        if missing:
            tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (DataLoader workers, ``datasets.map`` with processes, its fingerprints): the configured copies
        and their lock stay behind; the other side makes its own when it needs them."""
        state = dict(self.__dict__)
        del state["_copies_lock"], state["_configured_copies"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._copies_lock = threading.Lock()
        self._configured_copies = {}

    # ------------------------------------------------------------------ vocabulary and special tokens
    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The ``tokenizers.Tokenizer`` itself. Whoever takes it may change it (as transformers users do), so the
        private configured copies made from it are dropped and made again from the changed one when needed."""
        self._backend_changed()
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without added tokens), as in transformers."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in SPECIAL_TOKEN_KEYS if getattr(self, k) is not None}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        seen: list[str] = []
        for token in [getattr(self, k) for k in SPECIAL_TOKEN_KEYS] + self.additional_special_tokens:
            if token is not None and token not in seen:
                seen.append(token)
        return seen

    @property
    def all_special_ids(self) -> list[int]:
        return [i for i in (self._tokenizer.token_to_id(t) for t in self.all_special_tokens) if i is not None]

    def _special_id(self, key: str) -> int | None:
        token = getattr(self, key)
        return None if token is None else self.convert_tokens_to_ids(token)

    bos_token_id = property(lambda self: self._special_id("bos_token"))
    eos_token_id = property(lambda self: self._special_id("eos_token"))
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    sep_token_id = property(lambda self: self._special_id("sep_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))
    cls_token_id = property(lambda self: self._special_id("cls_token"))
    mask_token_id = property(lambda self: self._special_id("mask_token"))
    pad_token_type_id = 0

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int] | None:
        if isinstance(tokens, str):
            token_id = self._tokenizer.token_to_id(tokens)
            if token_id is None and self.unk_token is not None:
                token_id = self._tokenizer.token_to_id(self.unk_token)
            return token_id
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Any, skip_special_tokens: bool = False) -> str | list[str] | None:
        if isinstance(ids, (int, np.integer)):
            return self._tokenizer.id_to_token(int(ids))
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(i) for i in _as_id_list(ids) if i not in special]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._tokenizer.decoder.decode(tokens) if self._tokenizer.decoder else " ".join(tokens)

    def tokenize(self, text: str, text_pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        return self._tokenizer.encode(text, text_pair, add_special_tokens=add_special_tokens).tokens

    def add_tokens(self, tokens: str | Sequence[str], special_tokens: bool = False) -> int:
        tokens = [tokens] if isinstance(tokens, str) else list(tokens)
        added = [AddedToken(t, special=special_tokens, normalized=not special_tokens) for t in tokens]
        self._backend_changed()
        return self._tokenizer.add_special_tokens(added) if special_tokens else self._tokenizer.add_tokens(added)

    def add_special_tokens(self, special_tokens_dict: dict[str, Any]) -> int:
        """Set special-token roles (``{"pad_token": "[PAD]"}``), adding unseen tokens to the vocabulary."""
        new: list[str] = []
        for key, value in special_tokens_dict.items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                values = [_token_content(v) for v in value]
                self.additional_special_tokens += [v for v in values if v not in self.additional_special_tokens]
                new += values
            elif key in SPECIAL_TOKEN_KEYS:
                setattr(self, key, _token_content(value))
                new.append(_token_content(value))
            else:
                raise ConfigError(f"unknown special token role {key!r}; expected one of {SPECIAL_TOKEN_KEYS}")
        unseen = [t for t in dict.fromkeys(new) if self._tokenizer.token_to_id(t) is None]
        self._backend_changed()
        return self._tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in unseen])

    # ------------------------------------------------------------------ encoding
    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair: str | Sequence[str] | None = None,
        *,
        text_target: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        **unused: Any,
    ) -> BatchEncoding:
        unused.pop("verbose", None)
        if unused:
            raise ConfigError(f"unknown tokenizer call options: {sorted(unused)}")
        options = EncodeOptions(
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
        )
        if text_target is not None:  # seq2seq targets: their ids become "labels" (transformers' convention)
            targets = self._call_one(text_target, None, options)
            if text is None:
                return targets
            inputs = self._call_one(text, text_pair, options)
            inputs["labels"] = targets["input_ids"]
            return inputs
        if text is None:
            raise ConfigError("give the text to tokenize")
        return self._call_one(text, text_pair, options)

    def _call_one(self, text: Any, text_pair: Any, options: EncodeOptions) -> BatchEncoding:
        single = isinstance(text, str) or (options.is_split_into_words and text and isinstance(text[0], str))
        texts = [text] if single else list(text)
        pairs = None if text_pair is None else ([text_pair] if single else list(text_pair))
        if pairs is not None and len(pairs) != len(texts):
            raise ConfigError(f"got {len(texts)} texts but {len(pairs)} text pairs")
        plan = resolve(options, self.model_max_length)
        backend = self._configured_backend(plan, options)
        batch = texts if pairs is None else list(zip(texts, pairs))
        encodings = self._encode(backend, batch, options.add_special_tokens, options.is_split_into_words)
        return self._batch_encoding(encodings, single, options)

    def _batch_encoding(self, encodings: list[Any], single: bool, options: EncodeOptions) -> BatchEncoding:
        # overflowing windows (truncation with stride) become extra rows, as in transformers
        rows, sample_map = [], []
        for i, enc in enumerate(encodings):
            for part in [enc] + (list(enc.overflowing) if options.return_overflowing_tokens else []):
                rows.append(part)
                sample_map.append(i)
        data: dict[str, Any] = {"input_ids": [e.ids for e in rows]}
        want_types = options.return_token_type_ids
        if want_types is None:
            want_types = "token_type_ids" in self.model_input_names  # as transformers decides
        if want_types:
            data["token_type_ids"] = [e.type_ids for e in rows]
        want_mask = options.return_attention_mask
        if want_mask is None:
            want_mask = "attention_mask" in self.model_input_names
        if want_mask:
            data["attention_mask"] = [e.attention_mask for e in rows]
        if options.return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in rows]
        if options.return_offsets_mapping:
            data["offset_mapping"] = [e.offsets for e in rows]
        if options.return_length:
            data["length"] = [len(e.ids) for e in rows]
        if options.return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_map
        if single and options.return_tensors is None and not options.return_overflowing_tokens:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, encodings=rows, tensor_type=options.return_tensors)

    def _require_pad_token(self) -> None:
        if self.pad_token is None or self.pad_token_id is None:
            raise ConfigError("this tokenizer has no pad token; set one (tok.pad_token = tok.eos_token) before padding")

    def _configured_backend(self, plan: Plan, options: EncodeOptions) -> Tokenizer:
        """The backend to encode with: the shared, never configured one when the call neither pads nor truncates;
        otherwise a private copy configured for exactly this padding and truncation once and never changed again,
        so threads may share copies (encoding only reads them). The Rust side pads and truncates in parallel,
        which is faster than padding the encodings afterwards from Python."""
        if plan.truncation is None and plan.padding is None:
            return self._tokenizer
        side = options.padding_side or self.padding_side
        pad = None
        if plan.padding is not None:
            self._require_pad_token()
            length = plan.max_length if plan.padding == "max_length" else None
            pad = (length, side, options.pad_to_multiple_of, self.pad_token_id, self.pad_token_type_id, self.pad_token)
        trunc = None if plan.truncation is None else (plan.max_length, options.stride, plan.truncation)
        key = (trunc, self.truncation_side if trunc else None, pad)
        with self._copies_lock:
            backend = self._configured_copies.pop(key, None)
            if backend is None:
                if len(self._configured_copies) >= _MAX_CONFIGURED_COPIES:
                    self._configured_copies.pop(next(iter(self._configured_copies)))  # the least recently used
                backend = Tokenizer.from_str(self._tokenizer.to_str())
                if trunc is not None:
                    max_length, stride, strategy = trunc
                    backend.enable_truncation(max_length, stride=stride, strategy=strategy, direction=key[1])
                if pad is not None:
                    length, side, multiple, pad_id, pad_type_id, pad_token = pad
                    backend.enable_padding(
                        direction=side,
                        pad_id=pad_id,
                        pad_type_id=pad_type_id,
                        pad_token=pad_token,
                        length=length,
                        pad_to_multiple_of=multiple,
                    )
            self._configured_copies[key] = backend  # (re)inserted last: the most recently used
        return backend

    def _backend_changed(self) -> None:
        """Forget the configured copies: the shared backend's vocabulary or pipeline may have changed."""
        with self._copies_lock:
            self._configured_copies.clear()

    @staticmethod
    def _encode(backend: Tokenizer, batch: list[Any], add_special_tokens: bool, pretokenized: bool) -> list[Any]:
        try:
            return backend.encode_batch(batch, add_special_tokens=add_special_tokens, is_pretokenized=pretokenized)
        except TypeError:  # lone surrogates cannot cross into Rust (not UTF-8): replace them by U+FFFD
            from massivetext.tokenization.sources import clean_text

            def clean(x: Any) -> Any:
                return clean_text(x) if isinstance(x, str) else type(x)(clean(y) for y in x)

            return backend.encode_batch(
                [clean(x) for x in batch], add_special_tokens=add_special_tokens, is_pretokenized=pretokenized
            )
        except Exception as e:  # the Rust side raises plain Exceptions for impossible truncations
            if "Truncation error" in str(e):
                raise ConfigError(f"{e} (the other sequence of the pair is too long for max_length)") from e
            raise
        except BaseException as e:  # a Rust panic (e.g. a stride not below max_length) is not an Exception
            if type(e).__name__ == "PanicException":
                raise ConfigError(f"cannot encode with these padding/truncation settings: {e}") from e
            raise

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> Any:
        enc = self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            return_tensors=return_tensors,
            return_attention_mask=False,
            return_token_type_ids=False,
            **kwargs,
        )
        return enc["input_ids"]

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[list[int]]:
        """Ids of many texts at once, no padding or truncation: the fast path used to build token shards."""
        return [e.ids for e in self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=add_special_tokens)]

    # ------------------------------------------------------------------ decoding
    def decode(
        self, token_ids: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None
    ) -> str:
        text = self._tokenizer.decode(_as_id_list(token_ids), skip_special_tokens=skip_special_tokens)
        clean = (
            self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        )
        return _clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False, **kwargs: Any) -> list[str]:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens=skip_special_tokens, **kwargs) for s in sequences]

    # ------------------------------------------------------------------ chat
    def apply_chat_template(
        self,
        conversation: Any,
        tools: list[dict[str, Any]] | None = None,
        documents: list[dict[str, Any]] | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_dict: bool = True,
        return_assistant_tokens_mask: bool = False,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Format chat messages with the tokenizer's chat template, as transformers 5 does.

        ``conversation`` is a list of ``{"role", "content"}`` messages or a list of such lists (a batch).
        ``tokenize=False`` returns the prompt string(s); otherwise the template's text is tokenized without adding
        special tokens (the template writes them) and, with ``return_dict`` (the default, as in transformers 5), a
        ``BatchEncoding`` comes back, else the ids. Extra keyword arguments are visible to the template; the special
        tokens (``bos_token``, ``eos_token``, ...) are too.
        """
        if not tokenize:
            return_dict = False
        if return_assistant_tokens_mask and not (return_dict and tokenize):
            raise ConfigError("return_assistant_tokens_mask=True needs return_dict=True and tokenize=True")
        template = chat.select_template(self.chat_template, chat_template, tools, self.name_or_path)
        if isinstance(conversation, (list, tuple)) and not conversation:
            raise ConfigError("cannot apply a chat template to an empty conversation; give at least one message")
        batched = isinstance(conversation, (list, tuple)) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
        )
        conversations = [chat.normalize_messages(c) for c in (conversation if batched else [conversation])]
        rendered, spans = chat.render(
            conversations,
            template,
            tools=tools,
            documents=documents,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message,
            track_generation=return_assistant_tokens_mask,
            **{**self.special_tokens_map, **kwargs},  # the caller's variables win over the special tokens
        )
        if not tokenize:
            return rendered if batched else rendered[0]
        out = self(
            rendered if batched else rendered[0],
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            add_special_tokens=False,
            return_tensors=return_tensors,
            **(tokenizer_kwargs or {}),
        )
        if not return_dict:
            return out["input_ids"]
        if return_assistant_tokens_mask:
            masks = [_spans_mask(out.encodings[i].offsets, spans[i]) for i in range(len(rendered))]
            out["assistant_masks"] = masks if batched or return_tensors else masks[0]
            if return_tensors:
                out.convert_to_tensors(return_tensors)
        return out

    def get_chat_template(self, chat_template: str | None = None, tools: list[Any] | None = None) -> str:
        """The template ``apply_chat_template`` would use (a name picks one of several templates)."""
        return chat.select_template(self.chat_template, chat_template, tools, self.name_or_path)

    # ------------------------------------------------------------------ padding already-encoded inputs
    def pad(
        self,
        encoded_inputs: Any,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        **unused: Any,
    ) -> BatchEncoding:
        """Pad a list of encodings (or a dict of lists) to one length, as collators do.

        ``input_ids`` get the pad id, ``attention_mask`` 0, ``token_type_ids`` the pad type id and
        ``special_tokens_mask`` 1; other keys (labels, ...) are passed through untouched.
        """
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {k: [row[k] for row in encoded_inputs] for k in encoded_inputs[0]}
        data = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in dict(encoded_inputs).items()}
        if "input_ids" not in data:
            raise ConfigError(f"pad() needs 'input_ids' among the inputs, got {sorted(data)}")
        ids = data["input_ids"]
        single = bool(ids) and isinstance(ids[0], int) or not ids
        if single:
            data = {k: [v] for k, v in data.items()}
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names or "attention_mask" in data
        if return_attention_mask and "attention_mask" not in data:
            data["attention_mask"] = [[1] * len(row) for row in data["input_ids"]]
        strategy = padding_strategy(padding)
        if strategy is not None:
            plan = Plan(strategy, None, max_length if max_length is not None else self.model_max_length)
            target = padded_length([len(row) for row in data["input_ids"]], plan, pad_to_multiple_of)
            self._require_pad_token()
            fill = {  # same keys as _PADDED_KEYS
                "input_ids": self.pad_token_id,
                "attention_mask": 0,
                "token_type_ids": self.pad_token_type_id,
                "special_tokens_mask": 1,
            }
            left = (padding_side or self.padding_side) == "left"
            for key, value in fill.items():
                if key in data:
                    data[key] = [_pad_row(row, target, value, left) for row in data[key]]
        if single and return_tensors is None:
            data = {k: v[0] for k, v in data.items()}
        out = BatchEncoding(data)
        if return_tensors is not None:
            for key in list(out):
                try:
                    out[key] = to_tensor(out[key], return_tensors, key)
                except ConfigError:
                    if key in _PADDED_KEYS:
                        raise  # a ragged batch of ids is the user's error; ragged extras stay lists
        return out

    # ------------------------------------------------------------------ files
    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json (the Hugging Face layout)."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._tokenizer.save(str(directory / "tokenizer.json"))  # never configured for padding or truncation
        config: dict[str, Any] = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "model_input_names": self.model_input_names,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            **self.special_tokens_map,
        }
        if self.chat_template is not None:
            config["chat_template"] = chat.config_value(self.chat_template)
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        (directory / "special_tokens_map.json").write_text(
            json.dumps(self.special_tokens_map, indent=2, ensure_ascii=False) + "\n"
        )
        return tuple(str(directory / name) for name in TOKENIZER_FILES)

    @classmethod
    def from_file(cls, tokenizer_file: str | os.PathLike, config: dict[str, Any] | None = None) -> FastTokenizer:
        backend = Tokenizer.from_file(str(tokenizer_file))
        return cls.from_backend(backend, config, name_or_path=str(Path(tokenizer_file).parent))

    @classmethod
    def from_backend(
        cls, backend: Tokenizer, config: dict[str, Any] | None = None, name_or_path: str = ""
    ) -> FastTokenizer:
        """Wrap a ``tokenizers.Tokenizer``; without a config, well-known special tokens get their usual roles."""
        backend.no_padding()
        backend.no_truncation()
        config = dict(config or {})
        if not any(config.get(k) for k in SPECIAL_TOKEN_KEYS):
            specials = [t.content for t in backend.get_added_tokens_decoder().values() if t.special]
            for token in specials:
                for role in KNOWN_ROLES.get(token, ()):
                    config.setdefault(role, token)
        extra = config.get("additional_special_tokens") or config.get("extra_special_tokens") or []
        if isinstance(extra, dict):  # transformers 5 may name extra tokens
            extra = list(extra.values())
        max_len = config.get("model_max_length") or VERY_LARGE_INTEGER
        input_names = config.get("model_input_names") or _default_input_names(backend, config)
        return cls(
            backend,
            model_max_length=min(int(max_len), VERY_LARGE_INTEGER),
            padding_side=config.get("padding_side", "right"),
            truncation_side=config.get("truncation_side", "right"),
            model_input_names=input_names,
            clean_up_tokenization_spaces=bool(config.get("clean_up_tokenization_spaces", False)),
            additional_special_tokens=[_token_content(t) for t in extra],
            name_or_path=name_or_path,
            chat_template=chat.from_config_value(config.get("chat_template")),
            **{k: _token_content(config.get(k)) for k in SPECIAL_TOKEN_KEYS},
        )

    def __repr__(self) -> str:
        return (
            f"FastTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
            f"special_tokens={self.special_tokens_map})"
        )


def _default_input_names(backend: Tokenizer, config: dict[str, Any]) -> list[str]:
    """transformers keeps model_input_names on the tokenizer class; without it, BERT-like pair templates
    (segment B gets type id 1) mean the model takes token_type_ids."""
    names = ["input_ids", "attention_mask"]
    cls_name = str(config.get("tokenizer_class") or "")
    if any(n in cls_name for n in ("DistilBert", "Roberta", "GPT", "T5", "Marian", "Llama")):
        return names
    post = json.loads(backend.to_str()).get("post_processor") or {}
    steps = post.get("processors", [post]) if post.get("type") == "Sequence" else [post]
    for step in steps:
        pair = step.get("pair") or []
        if step.get("type") == "BertProcessing" or any(
            piece.get(kind, {}).get("type_id") for piece in pair for kind in ("Sequence", "SpecialToken")
        ):
            return ["input_ids", "token_type_ids", "attention_mask"]
    return names


def _spans_mask(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for every token that overlaps a ``{% generation %}`` span (transformers' rule, so that a span cut by
    truncation keeps its remaining tokens); offsets and spans are both in order, so one pass suffices."""
    mask = [0] * len(offsets)
    span = 0
    for i, (start, end) in enumerate(offsets):
        while span < len(spans) and start >= spans[span][1]:
            span += 1
        if span == len(spans):
            break
        if end > spans[span][0]:
            mask[i] = 1
    return mask


def _pad_row(row: list[int], target: int, value: int, left: bool) -> list[int]:
    missing = target - len(row)
    if missing <= 0:
        return list(row)
    return [value] * missing + list(row) if left else list(row) + [value] * missing


def _clean_up_tokenization(text: str) -> str:
    """transformers' clean_up_tokenization: no space before punctuation and common English contractions."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't")):
        text = text.replace(a, b)
    for a, b in ((" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from e


def load_tokenizer_dir(directory: Path, **overrides: Any) -> FastTokenizer:
    """Load a tokenizer directory in the Hugging Face layout (or one with only sentencepiece/vocab files)."""
    from massivetext.tokenization import convert

    config = {**_read_json(directory / "special_tokens_map.json"), **_read_json(directory / "tokenizer_config.json")}
    if (directory / "chat_template.jinja").is_file():  # transformers 5 writes the template to its own file
        config["chat_template"] = (directory / "chat_template.jinja").read_text(encoding="utf-8")
    config.update(overrides)
    if (directory / "tokenizer.json").is_file():
        try:
            backend = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except Exception as e:  # the Rust side reports parse errors as plain Exceptions
            raise ConfigError(f"{directory / 'tokenizer.json'}: not a valid tokenizer file ({e})") from e
    else:
        backend, defaults = convert.convert_directory(directory, config)
        config = {**defaults, **config}
    return FastTokenizer.from_backend(backend, config, name_or_path=str(directory))


class AutoTokenizer:
    """Entry point: ``AutoTokenizer.from_pretrained(dir_or_name)`` returns a ``FastTokenizer``."""

    def __init__(self) -> None:
        raise TypeError("use AutoTokenizer.from_pretrained(path_or_name)")

    @classmethod
    def from_pretrained(cls, path_or_name: str | os.PathLike, **kwargs: Any) -> FastTokenizer:
        """Load from a local directory, a ``tokenizer.json`` or ``.model``/``.spm`` file, or a Hub name (resolved,
        like model names, by ``models.hub.resolve``).

        Keyword arguments override ``tokenizer_config.json`` (``padding_side="left"``, ``model_max_length=512``,
        ``pad_token=...``); Hub options (``revision``, ``cache_dir``, ``token``) go to ``huggingface_hub``.
        """
        hub_options = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
        kwargs.pop("use_fast", None)
        kwargs.pop("trust_remote_code", None)
        path = Path(path_or_name).expanduser()
        if path.is_dir():
            return load_tokenizer_dir(path, **kwargs)
        if path.is_file():
            from massivetext.tokenization import convert

            if path.suffix == ".json":
                return FastTokenizer.from_backend(Tokenizer.from_file(str(path)), kwargs, name_or_path=str(path))
            backend, defaults = convert.convert_file(path)
            return FastTokenizer.from_backend(backend, {**defaults, **kwargs}, name_or_path=str(path))
        from massivetext.models.hub import resolve as resolve_checkpoint

        return load_tokenizer_dir(resolve_checkpoint(path_or_name, "tokenizer", **hub_options), **kwargs)
