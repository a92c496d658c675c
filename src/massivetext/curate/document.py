"""The unit of curation: one document with the record it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    """A document on its way through a pipeline.

    ``record`` is the input record as read (every field), so a writer can keep all input fields and add nothing;
    steps that change the text (PII redaction) change ``text`` and the writer puts it back under the text field.
    ``order`` is a stable sort key ``(shard or task index, position)`` that makes "first occurrence" well defined
    whatever the number of workers.
    """

    id: str
    text: str
    source: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    order: tuple[int, int] = (0, 0)

    @property
    def nbytes(self) -> int:
        """UTF-8 size of the text (what "bytes" means in every statistic)."""
        t = self.text
        return len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass"))  # isascii is O(1)
