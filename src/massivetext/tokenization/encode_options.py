"""The options of one tokenizer call, and transformers' rules for turning them into padding and truncation.

Every call carries its own options: ``FastTokenizer`` resolves them here, then encodes with a backend configured for
exactly that plan, so no call changes state another call reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from massivetext.errors import ConfigError

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no limit" model_max_length
PADDING_STRATEGIES = (None, "longest", "max_length")
TRUNCATION_STRATEGIES = (None, "longest_first", "only_first", "only_second")


@dataclass(frozen=True)
class EncodeOptions:
    """What ``tokenizer(text, ...)`` was asked for, as transformers names it."""

    add_special_tokens: bool = True
    padding: bool | str | None = False
    truncation: bool | str | None = None
    max_length: int | None = None
    stride: int = 0
    is_split_into_words: bool = False
    pad_to_multiple_of: int | None = None
    padding_side: str | None = None
    return_tensors: str | None = None
    return_token_type_ids: bool | None = None
    return_attention_mask: bool | None = None
    return_overflowing_tokens: bool = False
    return_special_tokens_mask: bool = False
    return_offsets_mapping: bool = False
    return_length: bool = False


@dataclass(frozen=True)
class Plan:
    """Resolved strategies: ``padding`` in PADDING_STRATEGIES, ``truncation`` in TRUNCATION_STRATEGIES."""

    padding: str | None
    truncation: str | None
    max_length: int | None


def padding_strategy(padding: Any) -> str | None:
    """``True``/``"longest"`` -> "longest", ``"max_length"``, ``False``/``None``/``"do_not_pad"`` -> None."""
    if padding is True:
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return None
    if padding in PADDING_STRATEGIES:
        return padding
    raise ConfigError(f"padding must be True/False/'longest'/'max_length'/'do_not_pad', not {padding!r}")


def truncation_strategy(truncation: Any) -> str | None:
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return None
    if truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise ConfigError(
        f"truncation must be True/False/'longest_first'/'only_first'/'only_second'/'do_not_truncate', "
        f"not {truncation!r}"
    )


def resolve(options: EncodeOptions, model_max_length: int) -> Plan:
    """transformers' ``_get_padding_truncation_strategies`` for the cases its fast tokenizers accept."""
    padding = padding_strategy(options.padding)
    truncation, max_length = options.truncation, options.max_length
    if truncation is None and max_length is not None and padding is None:
        truncation = True  # transformers' legacy default: a max_length alone truncates
    truncation = truncation_strategy(truncation)
    if max_length is None and (truncation or padding == "max_length"):
        if model_max_length >= VERY_LARGE_INTEGER:
            truncation = None  # no known limit: nothing to truncate to
            padding = None if padding == "max_length" else padding  # nor to pad to (transformers warns, no padding)
        else:
            max_length = model_max_length
    multiple = options.pad_to_multiple_of
    if truncation and padding and multiple and max_length is not None and max_length % multiple:
        raise ConfigError(  # as transformers: a truncated row could not be padded to a multiple
            f"truncation and padding are both on but max_length ({max_length}) is not a multiple of "
            f"pad_to_multiple_of ({multiple})"
        )
    return Plan(padding, truncation, max_length)


def padded_length(lengths: list[int], plan: Plan, pad_to_multiple_of: int | None) -> int:
    """The length ``pad()`` pads rows to (the Rust backend's rule: the longest row, or max_length, rounded up to a
    multiple)."""
    target = plan.max_length if plan.padding == "max_length" else max(lengths, default=0)
    if pad_to_multiple_of and target % pad_to_multiple_of:
        target += pad_to_multiple_of - target % pad_to_multiple_of
    return int(target)
