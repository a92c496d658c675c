"""``train_tokenizer``: train a BPE (byte-level, the default), WordPiece or Unigram tokenizer from a stream of texts.

Training runs in the Rust ``tokenizers`` trainers fed from an iterator of text batches, so the corpus is never held
in memory. The result is a ``FastTokenizer`` with its special tokens set, ready for ``save_pretrained``.

Defaults per kind (what the field ships):
- ``bpe``: GPT-2 style byte-level BPE, lossless on any Unicode; ``<|endoftext|>`` is bos, eos, unk and pad.
- ``wordpiece``: BERT style, lowercased, ``[CLS] A [SEP] B [SEP]`` with token type ids.
- ``unigram``: SentencePiece/T5 style (NFKC, ``▁`` for spaces), ``</s>`` appended, ``<pad>``/``</s>``/``<unk>``.

``chat_template=True`` gives the tokenizer MassiveText's default chat template (ChatML, see
``tokenization/chat_template.py``) and its two special tokens ``<|im_start|>`` and ``<|im_end|>``; a string sets that
template instead (its special tokens are the caller's to add).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from massivetext.errors import BadInputError, ConfigError
from massivetext.tokenization.chat_template import CHATML_END, CHATML_START, DEFAULT_CHAT_TEMPLATE
from massivetext.tokenization.sources import batched, iter_texts
from massivetext.tokenization.tokenizer import KNOWN_ROLES, SPECIAL_TOKEN_KEYS, FastTokenizer

KINDS = ("bpe", "wordpiece", "unigram")
_DEFAULT_SPECIALS: dict[str, dict[str, str]] = {
    "bpe": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>"},
    "wordpiece": {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"},
    "unigram": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
}  # fmt: skip


def _roles(kind: str, special_tokens: Any) -> tuple[list[str], dict[str, str]]:
    """(tokens in id order, role -> token) from a list of tokens or a role dict; None gives the kind's defaults."""
    if special_tokens is None:
        roles = dict(_DEFAULT_SPECIALS[kind])
        return list(dict.fromkeys(roles.values())), roles
    if isinstance(special_tokens, dict):
        bad = set(special_tokens) - set(SPECIAL_TOKEN_KEYS) - {"additional_special_tokens"}
        if bad:
            raise ConfigError(f"unknown special token roles {sorted(bad)}; expected {SPECIAL_TOKEN_KEYS}")
        roles = {k: v for k, v in special_tokens.items() if k in SPECIAL_TOKEN_KEYS}
        extra = list(special_tokens.get("additional_special_tokens", []))
        return list(dict.fromkeys([*roles.values(), *extra])), roles
    tokens = list(dict.fromkeys(special_tokens))
    roles = {}
    for token in tokens:
        for role in KNOWN_ROLES.get(token, ()):
            roles.setdefault(role, token)
    if kind == "bpe" and "<|endoftext|>" in tokens:
        roles.setdefault("pad_token", "<|endoftext|>")
    return tokens, roles


def _build(kind: str, specials: list[str], roles: dict[str, str], vocab_size: int, min_frequency: int,
           lowercase: bool, show_progress: bool) -> tuple[Tokenizer, Any]:  # fmt: skip
    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
    elif kind == "wordpiece":
        unk = roles.get("unk_token", "[UNK]")
        tok = Tokenizer(models.WordPiece(unk_token=unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials if unk in specials else [*specials, unk],
            show_progress=show_progress,
        )
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            unk_token=roles.get("unk_token"),
            show_progress=show_progress,
        )
    else:
        raise ConfigError(f"kind must be one of {KINDS}, not {kind!r}")
    return tok, trainer


def _post_processor(kind: str, tok: Tokenizer, roles: dict[str, str]) -> None:
    """The special tokens each family adds around a text (after training, when their ids are known)."""
    ids = {token: tok.token_to_id(token) for token in roles.values()}
    cls, sep, eos = roles.get("cls_token"), roles.get("sep_token"), roles.get("eos_token")
    if kind == "wordpiece" and cls and sep:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}",
            pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
        )
    elif kind == "unigram" and eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, ids[eos])]
        )


def train_tokenizer(
    texts_or_dataset: Any = None,
    kind: str = "bpe",
    vocab_size: int = 8192,
    special_tokens: list[str] | dict[str, str] | None = None,
    min_frequency: int = 2,
    *,
    text_field: str = "text",
    lowercase: bool | None = None,
    model_max_length: int | None = None,
    show_progress: bool = False,
    chat_template: bool | str | None = None,
    files: Any = None,
) -> FastTokenizer:
    """Train a tokenizer on texts (an iterable of str or records, or a ``datasets`` dataset) or on ``files=``
    (paths, directories, globs: JSONL, .zst/.gz, ...; a missing one raises ``MissingFileError``); a list of str
    is texts (see ``sources.iter_texts``). ``special_tokens`` is a list (roles inferred from the usual names:
    ``[CLS]``, ``</s>``, ``<|endoftext|>``, ...) or a dict ``{"eos_token": "</s>", ...}``; None gives the kind's defaults (module doc).
    ``chat_template``: True for the default ChatML template (adds ``<|im_start|>``/``<|im_end|>``), or a template.

    Raises ``BadInputError`` on an empty corpus.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, not {kind!r}")
    if vocab_size < 1:
        raise ConfigError(f"vocab_size must be positive, got {vocab_size}")
    if lowercase is None:
        lowercase = kind == "wordpiece"
    specials, roles = _roles(kind, special_tokens)
    if chat_template is True:
        specials += [t for t in (CHATML_START, CHATML_END) if t not in specials]
    tok, trainer = _build(kind, specials, roles, vocab_size, min_frequency, lowercase, show_progress)
    texts = iter_texts(texts_or_dataset, text_field=text_field, files=files)  # checks the source before training
    seen = {"texts": 0, "chars": 0}

    def counted() -> Iterator[list[str]]:
        for batch in batched(texts):
            seen["texts"] += len(batch)
            seen["chars"] += sum(map(len, batch))
            yield batch

    tok.train_from_iterator(counted(), trainer=trainer)
    if seen["chars"] == 0:
        raise BadInputError(f"empty corpus: {seen['texts']} texts and no characters to train a tokenizer on")
    _post_processor(kind, tok, roles)
    config: dict[str, Any] = {**roles, "model_max_length": model_max_length}
    if kind == "wordpiece":
        config["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"]
    extra = [t for t in specials if t not in roles.values()]
    if extra:
        config["additional_special_tokens"] = extra
    if chat_template:
        config["chat_template"] = DEFAULT_CHAT_TEMPLATE if chat_template is True else chat_template
    return FastTokenizer.from_backend(tok, config)
