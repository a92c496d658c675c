"""Batch collators with the names and behaviour of `transformers`' data collators.

A collator turns a list of examples (dicts of token lists or tensors) into a dict of padded tensors the model
takes. Padding is per batch (dynamic), labels are padded with -100 so the loss ignores them. Masking for MLM is
vectorized over the whole batch (15% of the non-special tokens; of those 80% become the mask token, 10% a random
token, 10% stay), drawn from torch's global generator so that a resumed run draws the same masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from massivetext.errors import ConfigError

# padding value per column; anything else pads with 0
_PAD_VALUES = {"labels": -100, "shift_labels": -100, "attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1}


def _pad_id(tokenizer: Any) -> int | None:
    if tokenizer is None:
        return None
    pid = getattr(tokenizer, "pad_token_id", None)
    return pid if pid is not None else getattr(tokenizer, "eos_token_id", None)


def _as_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)


def pad_stack(
    features: Sequence[Mapping[str, Any]],
    pad_token_id: int | None = None,
    pad_to_multiple_of: int | None = None,
    padding_side: str = "right",
    label_pad_token_id: int = -100,
) -> dict[str, torch.Tensor]:
    """Stack each column of `features` into a tensor, padding variable-length columns to the longest (rounded up).

    Strings and other non-numeric columns are dropped; `label` is renamed `labels` (as transformers does).
    """
    if not features:
        raise ValueError("cannot collate an empty batch")
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], str) or values[0] is None:
            continue
        name = "labels" if key in ("label", "label_ids") else key
        tensors = [_as_tensor(v) for v in values]
        if tensors[0].dim() == 0:
            batch[name] = torch.stack(tensors)
            continue
        lengths = [t.shape[0] for t in tensors]
        longest = max(lengths)
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        if all(n == longest for n in lengths):
            batch[name] = torch.stack(tensors)
            continue
        if name == "input_ids" or name == "decoder_input_ids":
            if pad_token_id is None:
                raise ConfigError("examples have different lengths but no tokenizer with a pad token was given")
            value = pad_token_id
        elif name in ("labels", "shift_labels"):
            value = label_pad_token_id
        else:
            value = _PAD_VALUES.get(name, 0)
        out = torch.full((len(tensors), longest, *tensors[0].shape[1:]), value, dtype=tensors[0].dtype)
        for i, t in enumerate(tensors):  # one copy per example, not per token
            if padding_side == "left":
                out[i, longest - t.shape[0] :] = t
            else:
                out[i, : t.shape[0]] = t
        batch[name] = out
    if "input_ids" in batch and "attention_mask" not in batch and pad_token_id is not None:
        lengths = torch.tensor([len(f["input_ids"]) for f in features])
        if (lengths != batch["input_ids"].shape[1]).any():
            pos = torch.arange(batch["input_ids"].shape[1])
            if padding_side == "left":
                pos = pos.flip(0)
            batch["attention_mask"] = (pos[None, :] < lengths[:, None]).long()
    return batch


class DefaultDataCollator:
    """Stack equal-length examples (or pad when a pad id is known); no label changes."""

    def __init__(self, tokenizer: Any = None, pad_to_multiple_of: int | None = None):
        self.tokenizer, self.pad_to_multiple_of = tokenizer, pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        side = getattr(self.tokenizer, "padding_side", "right")
        return pad_stack(features, _pad_id(self.tokenizer), self.pad_to_multiple_of, side)


def default_data_collator(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    return pad_stack(features)


class DataCollatorWithPadding(DefaultDataCollator):
    """Classification and other per-sequence labels: pad the inputs, stack the labels (transformers' name)."""

    def __init__(self, tokenizer: Any, padding: bool | str = True, pad_to_multiple_of: int | None = None):
        super().__init__(tokenizer, pad_to_multiple_of)
        self.padding = padding


class DataCollatorForLanguageModeling:
    """Causal LM (`mlm=False`: labels = input_ids, padding ignored) or masked LM (`mlm=True`, the default).

    Examples that already carry `labels` or `shift_labels` (token shards) keep them.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        mlm: bool = True,
        mlm_probability: float = 0.15,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
    ):
        if return_tensors != "pt":
            raise ConfigError("DataCollatorForLanguageModeling: only return_tensors='pt' is supported")
        if mlm and tokenizer is None:
            raise ConfigError("masked-LM training (mlm=True) needs the tokenizer (to mask tokens); pass tokenizer=")
        if mlm and getattr(tokenizer, "mask_token_id", None) is None:
            raise ConfigError(
                "masked-LM training needs a tokenizer with a mask token and this one has none: add one with "
                "tokenizer.add_special_tokens({'mask_token': '[MASK]'}), then grow the model's embeddings to "
                "len(tokenizer) (model.resize_token_embeddings(len(tokenizer)), or build it with that vocab_size)"
            )
        if not 0.0 < mlm_probability < 1.0:
            raise ConfigError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        self.tokenizer, self.mlm, self.mlm_probability = tokenizer, mlm, mlm_probability
        self.pad_to_multiple_of = pad_to_multiple_of
        self._special: torch.Tensor | None = None

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        side = getattr(self.tokenizer, "padding_side", "right")
        batch = pad_stack(features, _pad_id(self.tokenizer), self.pad_to_multiple_of, side)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(batch["input_ids"], batch.get("special_tokens_mask"))
            batch.pop("special_tokens_mask", None)
        elif "labels" not in batch and "shift_labels" not in batch:
            labels = batch["input_ids"].clone()
            if "attention_mask" in batch:
                labels[batch["attention_mask"] == 0] = -100
            batch["labels"] = labels
        return batch

    def _special_ids(self) -> torch.Tensor:
        if self._special is None:
            ids = getattr(self.tokenizer, "all_special_ids", None) or []
            self._special = torch.tensor(sorted(set(ids)), dtype=torch.long)
        return self._special

    def mask_tokens(
        self, inputs: torch.Tensor, special_tokens_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT masking: choose `mlm_probability` of the non-special tokens; 80% [MASK], 10% random, 10% kept."""
        inputs, labels = inputs.clone(), inputs.clone()
        special = torch.isin(inputs, self._special_ids())
        if special_tokens_mask is not None:
            special |= special_tokens_mask.bool()
        probs = torch.full(labels.shape, self.mlm_probability)
        probs.masked_fill_(special, 0.0)
        masked = torch.bernoulli(probs).bool()
        labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, 0.8)).bool() & masked
        inputs[replaced] = self.tokenizer.mask_token_id
        randomized = torch.bernoulli(torch.full(labels.shape, 0.5)).bool() & masked & ~replaced
        inputs[randomized] = torch.randint(len(self.tokenizer), labels.shape, dtype=inputs.dtype)[randomized]
        return inputs, labels


class DataCollatorForSeq2Seq:
    """Encoder-decoder batches: pad inputs with the pad id and labels with -100 (transformers' name).

    With `model` given and able to, builds `decoder_input_ids` from the labels (shift right).
    """

    def __init__(
        self,
        tokenizer: Any,
        model: Any = None,
        padding: bool | str = True,
        pad_to_multiple_of: int | None = None,
        label_pad_token_id: int = -100,
        return_tensors: str = "pt",
    ):
        self.tokenizer, self.model = tokenizer, model
        self.pad_to_multiple_of, self.label_pad_token_id = pad_to_multiple_of, label_pad_token_id

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        side = getattr(self.tokenizer, "padding_side", "right")
        batch = pad_stack(features, _pad_id(self.tokenizer), self.pad_to_multiple_of, side, self.label_pad_token_id)
        prepare = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
        if "labels" in batch and "decoder_input_ids" not in batch and prepare is not None:
            batch["decoder_input_ids"] = prepare(labels=batch["labels"])
        return batch
