"""Steps apart from the runner: removed documents go to the task context's explicit sink, in the run and alone."""

import glob
import json
import os

from massivetext.curate import ExactDeduplicator, GopherQualityFilter, Pipeline
from massivetext.curate.document import Document
from massivetext.curate.io import Task, read_output
from massivetext.curate.stats import Stats
from massivetext.curate.step import Filter, TaskContext

PROSE = "the river runs over the stone and the cloud moves with the wind of the forest " * 8


class ListSink:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []

    def add(self, step_name: str, reason: str, doc: Document) -> None:
        self.got.append((step_name, reason, doc.id))


class ShortFilter(Filter):
    def check(self, text: str) -> tuple[bool, str | None]:
        return (len(text) > 3, None if len(text) > 3 else "short")


def test_a_filter_drops_into_the_context_sink_and_the_stats():
    sink, stats = ListSink(), Stats()
    ctx = TaskContext(Task(0, []), stats, "", "", removed=sink)
    docs = [Document(str(i), t) for i, t in enumerate(["long enough", "no", "ok!", "fine text"])]
    kept = [d.id for d in ShortFilter(name="short")(iter(docs), ctx)]
    assert kept == ["0", "3"]
    assert sink.got == [("short", "short", "1"), ("short", "short", "2")]
    assert stats.steps["short"].drops == {"short": 2}
    # without a sink, only the stats
    ctx = TaskContext(Task(0, []), Stats(), "", "")
    assert [d.id for d in ShortFilter(name="short")(iter(docs), ctx)] == ["0", "3"]


def test_write_removed_keeps_every_removed_document_with_its_step_and_reason(tmp_path):
    records = [{"id": f"d{i}", "text": PROSE + f" number {i}"} for i in range(6)]
    records += [{"id": "copy", "text": records[2]["text"]}, {"id": "tiny", "text": "too short"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = str(tmp_path / "out")
    steps = [GopherQualityFilter(), ExactDeduplicator()]  # a Filter and a GlobalStep
    stats = Pipeline(steps, write_removed=True).run(str(src), out, workers=1, progress=False, report=False)
    removed = [r for p in sorted(glob.glob(os.path.join(out, "removed", "*"))) for r in read_output(p)]
    assert sorted((r["step"], r["reason"], r["record"]["id"]) for r in removed) == [
        ("exact_dedup", "exact duplicate", "copy"),
        ("gopher_quality", "too_few_words", "tiny"),
    ]
    assert all(r["record"] == next(x for x in records if x["id"] == r["record"]["id"]) for r in removed)
    kept = [r["id"] for p in sorted(glob.glob(os.path.join(out, "part-*"))) for r in read_output(p)]
    assert kept == [f"d{i}" for i in range(6)]
    assert stats.steps["gopher_quality"].drops == {"too_few_words": 1}
