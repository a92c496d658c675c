"""``BatchEncoding``: what a tokenizer call returns, a dict with attribute access, ``.to(device)`` and alignment helpers.

It mirrors ``transformers.BatchEncoding`` for the calls users make on it; it is a ``dict`` subclass so that
``model(**enc)`` and ``json.dumps(enc)`` (without tensors) just work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import ConfigError


def to_tensor(value: Any, tensor_type: str | None, key: str = "") -> Any:
    """Turn nested lists into a torch/numpy array; a ragged batch gets a clear error, as in transformers."""
    if tensor_type is None:
        return value
    try:
        array = np.asarray(value)
        if array.dtype == object:
            raise ValueError("ragged")
    except ValueError as e:
        raise ConfigError(
            f"cannot make a tensor of {key or 'the inputs'}: the sequences have different lengths; "
            "pass padding=True (and truncation=True) to get a rectangular batch"
        ) from e
    if tensor_type == "np":
        return array
    if tensor_type == "pt":
        import torch

        return torch.from_numpy(array)
    raise ConfigError(f"return_tensors must be None, 'pt' or 'np', not {tensor_type!r}")


class BatchEncoding(dict):
    """Output of a tokenizer call: ``input_ids``, ``attention_mask``, maybe ``token_type_ids`` and offsets."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        encodings: list[Any] | None = None,
        tensor_type: str | None = None,
    ):
        super().__init__()
        for key, value in (data or {}).items():
            self[key] = to_tensor(value, tensor_type, key)
        self.encodings = encodings  # tokenizers.Encoding objects, for word/char alignment

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getstate__(self) -> dict[str, Any]:  # pickling (DataLoader workers): data only
        return {"data": dict(self), "encodings": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.update(state["data"])
        self.encodings = state["encodings"]

    def to(self, device: Any) -> BatchEncoding:
        """Move every tensor to ``device`` (in place, like transformers) and return self."""
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device)
        return self

    def convert_to_tensors(self, tensor_type: str | None) -> BatchEncoding:
        for key, value in self.items():
            self[key] = to_tensor(value, tensor_type, key)
        return self

    # --- alignment, from the tokenizers encodings (fast-tokenizer features used by NER and QA) ---
    def _encoding(self, batch_index: int) -> Any:
        if not self.encodings:
            raise ValueError("alignment needs the encodings of a tokenizer call (not available after pad())")
        return self.encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).sequence_ids

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0):
        if char_index is None:
            batch_index, char_index = 0, batch_or_char_index
        else:
            batch_index = batch_or_char_index
        return self._encoding(batch_index).char_to_token(char_index, sequence_index)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None):
        if token_index is None:
            batch_index, token_index = 0, batch_or_token_index
        else:
            batch_index = batch_or_token_index
        return self._encoding(batch_index).token_to_chars(token_index)
