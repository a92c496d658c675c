"""What the Trainer does to the datasets it is given before batching them (the classic `Trainer` example's input).

- a whole `DatasetDict` is narrowed to its split (`train`; `validation`, `eval` or `test` for evaluation), said in a
  log line, or refused before training with a message naming the splits;
- raw text is tokenized for the model, never longer than the model can take: causal LM cuts each text into
  consecutive windows of the model's length (no token is lost), other tasks truncate to it;
- columns that do not fit the task go with a log line (a per-example `label` under causal LM, whose targets are the
  tokens themselves), and with `remove_unused_columns` every column the model's forward does not take.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from massivetext.errors import ConfigError

logger = logging.getLogger(__name__)

LABEL_COLUMNS = ("labels", "label", "label_ids", "shift_labels")
_SPLITS = {"train": ("train",), "eval": ("validation", "eval", "test"), "test": ("test", "validation", "eval")}
_FALLBACK_LENGTH = 1024  # a tokenizer without a limit and a model without positions: as transformers' scripts


def model_max_length(model: Any) -> int | None:
    """How many positions the model can take (None: no absolute positions, e.g. T5's relative ones)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
                value -= int(getattr(config, "pad_token_id", 1) or 1) + 1  # positions start after the padding index
            return value
    return None


def pick_split(dataset: Any, role: str) -> Any:
    """A `DatasetDict` given as a whole: its train (or evaluation) split, with a log line; else a ConfigError."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        return dataset
    if not isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return dataset
    wanted = _SPLITS[role]
    for name in wanted:
        if name in dataset:
            logger.warning("%s_dataset is a DatasetDict (splits %s): using its %r split", role, list(dataset), name)
            return dataset[name]
    raise ConfigError(
        f"{role}_dataset is a DatasetDict with splits {list(dataset)} and none named {' or '.join(wanted)}; "
        f"pass one split, e.g. {role}_dataset=dataset[{next(iter(dataset), 'train')!r}]"
    )


def prepare_dataset(
    dataset: Any,
    tokenizer: Any,
    model_params: set[str],
    max_length: int | None,
    remove_unused: bool,
    *,
    model_length: int | None = None,
    causal: bool = False,
    role: str = "train",
) -> Any:
    """Lists of strings and text datasets get tokenized; columns that do not fit go (see the module docstring)."""
    if dataset is None:
        return None
    dataset = pick_split(dataset, role)
    if isinstance(dataset, Sequence) and not isinstance(dataset, str) and dataset and isinstance(dataset[0], str):
        import datasets

        dataset = datasets.Dataset.from_dict({"text": list(dataset)})
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        return dataset
    if not isinstance(dataset, datasets.Dataset):
        return dataset
    if causal:
        dataset = _drop_example_labels(dataset)
    if "input_ids" not in dataset.column_names:
        dataset = _tokenize(dataset, tokenizer, _length_limit(tokenizer, max_length, model_length), causal)
    columns = dataset.column_names
    if remove_unused:
        keep = (model_params | set(LABEL_COLUMNS) | {"special_tokens_mask"}) & set(columns)
        if "input_ids" in keep:
            dataset = dataset.remove_columns([c for c in columns if c not in keep])
    return dataset


def _length_limit(tokenizer: Any, max_length: int | None, model_length: int | None) -> int:
    limit = max_length or min(int(getattr(tokenizer, "model_max_length", None) or _FALLBACK_LENGTH), _FALLBACK_LENGTH)
    if model_length is not None and limit > model_length:
        if max_length:
            logger.warning("max_seq_length=%d is longer than the model's %d positions: using %d",
                           max_length, model_length, model_length)  # fmt: skip
        limit = model_length
    return limit


def _drop_example_labels(dataset: Any) -> Any:
    """Causal LM predicts the tokens themselves: a per-example label column (a class id) does not fit, it goes."""
    import datasets

    scalar = [
        c for c in dataset.column_names
        if c in LABEL_COLUMNS and isinstance(dataset.features[c], (datasets.Value, datasets.ClassLabel))
    ]  # fmt: skip
    if scalar:
        logger.warning("causal LM training ignores the per-example column(s) %s: the targets are the next tokens",
                       scalar)  # fmt: skip
        dataset = dataset.remove_columns(scalar)
    return dataset


def _tokenize(dataset: Any, tokenizer: Any, limit: int, causal: bool) -> Any:
    """Tokenize the text column: causal LM in windows of `limit` tokens, anything else truncated to `limit`."""
    columns = dataset.column_names
    text_cols = [c for c in columns if getattr(dataset.features[c], "dtype", None) == "string"]
    if not text_cols:
        raise ConfigError(f"dataset has neither an 'input_ids' column nor a text column (columns: {columns})")
    if tokenizer is None:
        raise ConfigError(f"dataset holds raw text (column {text_cols[0]!r}); pass tokenizer= to tokenize it")
    col = "text" if "text" in text_cols else text_cols[0]
    if not causal:
        return dataset.map(
            lambda batch: dict(tokenizer(batch[col], truncation=True, max_length=limit)),
            batched=True, remove_columns=[col],
        )  # fmt: skip
    others = [c for c in columns if c != col]
    if others:  # windows change the number of rows: other columns cannot follow them
        logger.warning("causal LM on raw text keeps only the tokens of column %r; dropping %s", col, others)

    def windows(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch[col], verbose=False)
        out: dict[str, list] = {k: [] for k in encoded.keys()}
        for i, ids in enumerate(encoded["input_ids"]):
            for start in range(0, len(ids), limit):  # one slice per window, not per token; empty texts give none
                for key in out:
                    out[key].append(encoded[key][i][start : start + limit])
        return out

    return dataset.map(windows, batched=True, remove_columns=columns)
