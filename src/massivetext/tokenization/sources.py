"""Where training and encoding texts come from: files (via ``massivetext.data.readers``), datasets, iterables.

Everything here streams: texts are yielded in batches, never collected, so a corpus never sits in memory whole.
Lone surrogates (which cannot be encoded as UTF-8, so the Rust tokenizer refuses them) become U+FFFD; NUL stays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from massivetext.data.readers import LoadReport, iter_records, resolve_files
from massivetext.errors import BadInputError, ConfigError

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Replace lone surrogates by U+FFFD (the only strings UTF-8 cannot hold); everything else is kept."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _looks_like_existing_path(text: str) -> bool:
    # only short one-line strings can be paths; a long text is never stat()ed
    return len(text) < 4096 and "\n" not in text and "\x00" not in text and os.path.isfile(text)


def iter_texts(
    source: Any = None,
    text_field: str = "text",
    report: LoadReport | None = None,
    strict: bool = False,
    *,
    files: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
) -> Iterator[str]:
    """Texts from ``files`` (paths, directories or glob patterns: every one must exist, else ``MissingFileError``
    names it) or from ``source``: a path (one ``str`` or ``os.PathLike``, or a list of ``os.PathLike``), a
    ``datasets`` dataset, or an iterable of texts (str) or records (dicts).

    Files and texts are never guessed from each other: a list of ``str`` is texts. So that a list of file names
    is never trained on as if it were text, such a list that names an existing file is refused with a message
    that says to pass ``files=``.
    """
    if (source is None) == (files is None):
        raise ConfigError("give either texts (or a dataset) or files=, not both" if files is not None
                          else "nothing to read: give texts, a dataset or files=")  # fmt: skip
    # checks run here, before the first text is asked for (this is not a generator): a missing file is an error
    # at the call, not somewhere inside a trainer's loop
    if files is not None:
        return _file_texts(resolve_files(files), text_field, report, strict)
    if isinstance(source, (str, os.PathLike)) or (
        isinstance(source, (list, tuple)) and source and all(isinstance(s, os.PathLike) for s in source)
    ):
        return _file_texts(resolve_files(source), text_field, report, strict)
    if isinstance(source, (list, tuple)):
        for text in source:
            if isinstance(text, str) and _looks_like_existing_path(text):
                raise ConfigError(
                    f"{text!r} is an existing file, but a list of str is read as literal texts: "
                    "pass files=[...] to read files"
                )
    if hasattr(source, "column_names") and hasattr(source, "iter"):  # datasets.Dataset / IterableDataset
        if text_field not in (source.column_names or [text_field]):
            raise BadInputError(f"the dataset has no {text_field!r} column (columns: {source.column_names})")
        return _dataset_texts(source, text_field)
    return _iterable_texts(source, text_field)


def _dataset_texts(dataset: Any, text_field: str) -> Iterator[str]:
    for batch in dataset.iter(batch_size=1000):
        yield from (clean_text(t) for t in batch[text_field])


def _iterable_texts(source: Iterable[Any], text_field: str) -> Iterator[str]:
    for item in source:
        if isinstance(item, str):
            yield clean_text(item)
        elif isinstance(item, dict):
            if not isinstance(item.get(text_field), str):
                raise BadInputError(f"record without a string {text_field!r} field: keys {sorted(item)}")
            yield clean_text(item[text_field])
        else:
            raise BadInputError(f"expected texts (str) or records (dict), got {type(item).__name__}")


def _file_texts(paths: list[str], text_field: str, report: LoadReport | None, strict: bool) -> Iterator[str]:
    for path in paths:
        for _, rec in iter_records(path, report=report, strict=strict, text_field=text_field):
            yield clean_text(rec[text_field])


def batched(texts: Iterable[str], max_chars: int = 1 << 20, max_items: int = 1000) -> Iterator[list[str]]:
    """Group texts into lists of at most ``max_items`` texts or about ``max_chars`` characters."""
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if size >= max_chars or len(batch) >= max_items:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
