"""Curation statistics: per step documents and bytes in and out, drops by reason, time, examples and histograms.

A task fills one ``Stats``; the run merges the tasks' ``Stats`` in task order (so examples are deterministic) and
writes ``stats.json``. Everything is additive, so merging is a sum; histograms use fixed log-scale bins.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from massivetext.curate.document import Document

N_BINS = 36  # log10(bytes + 1) in quarter decades: 0 .. 9 (1 GB)
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 600


def length_bin(nbytes: int) -> int:
    return min(int(math.log10(nbytes + 1) * 4), N_BINS - 1)


def bin_edges() -> list[float]:
    """Lower edges in bytes of the histogram bins."""
    return [10 ** (i / 4) - 1 for i in range(N_BINS + 1)]


@dataclass
class StepStats:
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    drops: dict[str, int] = field(default_factory=dict)
    drop_bytes: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # e.g. PII replacements by kind
    removed_hist: list[int] = field(default_factory=lambda: [0] * N_BINS)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def merge(self, other: StepStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        for mine, theirs in (
            (self.drops, other.drops),
            (self.drop_bytes, other.drop_bytes),
            (self.counts, other.counts),
        ):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.removed_hist = [a + b for a, b in zip(self.removed_hist, other.removed_hist)]
        for reason, exs in other.examples.items():
            room = EXAMPLES_PER_REASON - len(self.examples.setdefault(reason, []))
            self.examples[reason].extend(exs[: max(room, 0)])


_QUOTED = re.compile(r"""('[^']*'|"[^"]*")""")
_NUMBER = re.compile(r"(?<![\w.-])\d+(?![\w.-])")  # a number on its own: "byte 12", never the 8 of "UTF-8"


def bad_reason_kind(reason: str) -> str:
    """The kind of a bad record, for grouping: its reason up to the first ":" or "(", numbers (places, counts)
    made ``N``; names stay as they are (``UTF-8``, a quoted field name such as ``'text2'``)."""
    head = re.split(r"[:(]", reason, maxsplit=1)[0].strip()
    parts = _QUOTED.split(head)  # odd indices are quoted names: left alone
    return "".join(p if i % 2 else _NUMBER.sub("N", p) for i, p in enumerate(parts))


@dataclass
class Stats:
    """Statistics of one task, or of a whole run once tasks are merged."""

    steps: dict[str, StepStats] = field(default_factory=dict)
    docs_read: int = 0
    bytes_read: int = 0
    docs_written: int = 0
    bytes_written: int = 0
    bad_records: int = 0
    bad_reasons: dict[str, int] = field(default_factory=dict)
    kept_hist: list[int] = field(default_factory=lambda: [0] * N_BINS)
    read_hist: list[int] = field(default_factory=lambda: [0] * N_BINS)
    extra: dict[str, Any] = field(default_factory=dict)  # GlobalSteps: clusters, histograms, example pairs

    def step(self, name: str) -> StepStats:
        s = self.steps.get(name)
        if s is None:
            s = self.steps[name] = StepStats()
        return s

    def drop(self, step_name: str, reason: str, doc: Document) -> None:
        """Record that ``step_name`` removed ``doc`` for ``reason``."""
        s = self.step(step_name)
        nbytes = doc.nbytes
        s.drops[reason] = s.drops.get(reason, 0) + 1
        s.drop_bytes[reason] = s.drop_bytes.get(reason, 0) + nbytes
        s.removed_hist[length_bin(nbytes)] += 1
        exs = s.examples.setdefault(reason, [])
        if len(exs) < EXAMPLES_PER_REASON:
            exs.append({"id": doc.id, "file": doc.file, "line": doc.line, "text": doc.text[:EXAMPLE_CHARS]})

    def count(self, step_name: str, key: str, n: int = 1) -> None:
        c = self.step(step_name).counts
        c[key] = c.get(key, 0) + n

    def merge(self, other: Stats) -> None:
        for name, s in other.steps.items():
            self.step(name).merge(s)
        self.docs_read += other.docs_read
        self.bytes_read += other.bytes_read
        self.docs_written += other.docs_written
        self.bytes_written += other.bytes_written
        self.bad_records += other.bad_records
        self.bad_reasons = dict(Counter(self.bad_reasons) + Counter(other.bad_reasons))
        self.kept_hist = [a + b for a, b in zip(self.kept_hist, other.kept_hist)]
        self.read_hist = [a + b for a, b in zip(self.read_hist, other.read_hist)]
        self.extra.update(other.extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stats:
        d = dict(d)
        steps = {k: StepStats(**v) for k, v in d.pop("steps", {}).items()}
        return cls(steps=steps, **d)

    def save(self, path: str, text: str | None = None) -> str:
        """Write the statistics as JSON (``text``: their JSON from an earlier ``save`` of unchanged stats); returns
        the JSON written."""
        from massivetext._atomic import atomic_write_text

        if text is None:
            text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
        return text

    @classmethod
    def load(cls, path: str) -> Stats:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def summary_table(stats: Stats, order: list[str] | None = None) -> str:
    """A plain-text table: one row per step, in pipeline order."""
    names = order or list(stats.steps)
    rows = [("step", "docs in", "docs out", "kept", "bytes in", "bytes out", "s", "top drop reasons")]
    for name in names:
        s = stats.steps.get(name)
        if s is None:
            continue
        kept = f"{100 * s.docs_out / s.docs_in:.1f}%" if s.docs_in else "-"
        top = ", ".join(f"{r} {n}" for r, n in sorted(s.drops.items(), key=lambda kv: -kv[1])[:3])
        if s.counts:
            top = (top + "; " if top else "") + ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items()))
        rows.append(
            (
                name,
                str(s.docs_in),
                str(s.docs_out),
                kept,
                _human(s.bytes_in),
                _human(s.bytes_out),
                f"{s.seconds:.1f}",
                top,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1]
        for r in rows
    ]
    lines.insert(1, "-" * max(len(x) for x in lines))
    tail = (
        f"read {stats.docs_read} docs ({_human(stats.bytes_read)}), wrote {stats.docs_written} docs "
        f"({_human(stats.bytes_written)}); {stats.bad_records} bad record(s) set aside"
    )
    return "\n".join([*lines, tail])
