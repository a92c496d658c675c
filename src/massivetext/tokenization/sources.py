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
from massivetext.errors import BadInputError

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Replace lone surrogates by U+FFFD (the only strings UTF-8 cannot hold); everything else is kept."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _is_paths(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return isinstance(source, (list, tuple)) and bool(source) and all(isinstance(s, (str, os.PathLike)) for s in source)


def iter_texts(
    source: Any,
    text_field: str = "text",
    report: LoadReport | None = None,
    strict: bool = False,
) -> Iterator[str]:
    """Texts from a path/glob/directory (or a list of them), a ``datasets`` dataset, or an iterable of str/dicts.

    A plain ``str`` is a path; to train on literal strings pass a list of strings that are not existing files.
    """
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, str) for s in source):
        if not all(os.path.exists(s) or any(c in s for c in "*?[") for s in source):
            yield from (clean_text(s) for s in source)  # literal texts
            return
    if _is_paths(source):
        for path in resolve_files(source):
            for _, rec in iter_records(path, report=report, strict=strict, text_field=text_field):
                yield clean_text(rec[text_field])
        return
    if hasattr(source, "column_names") and hasattr(source, "iter"):  # datasets.Dataset / IterableDataset
        if text_field not in (source.column_names or [text_field]):
            raise BadInputError(f"the dataset has no {text_field!r} column (columns: {source.column_names})")
        for batch in source.iter(batch_size=1000):
            yield from (clean_text(t) for t in batch[text_field])
        return
    for item in source:
        if isinstance(item, str):
            yield clean_text(item)
        elif isinstance(item, dict):
            if not isinstance(item.get(text_field), str):
                raise BadInputError(f"record without a string {text_field!r} field: keys {sorted(item)}")
            yield clean_text(item[text_field])
        else:
            raise BadInputError(f"expected texts (str) or records (dict), got {type(item).__name__}")


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
