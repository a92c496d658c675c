"""Evaluation examples read from data files, per task; bad lines set aside with file:line and counted.

A record whose task fields are missing or of the wrong type is never scored (not even as an empty string): it goes
to the ``LoadReport`` (``--strict`` makes the first one an error) and the run's ``eval.json`` lists it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from massivetext.data.readers import BadRecord, LoadReport, iter_records, resolve_files
from massivetext.errors import ConfigError


@dataclass
class Fields:
    text: str = "text"
    source: str = "source"
    target: str = "target"
    label: str = "label"
    tokens: str = "tokens"
    tags: str = "ner_tags"
    question: str = "question"
    context: str = "context"
    answers: str = "answers"
    id: str = "id"


@dataclass
class Example:
    where: str  # file:line
    fields: dict[str, Any] = field(default_factory=dict)


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def _is_str_or_strs(x: Any) -> bool:
    return isinstance(x, str) or (isinstance(x, list) and bool(x) and all(isinstance(s, str) for s in x))


def _is_label(x: Any) -> bool:
    return (isinstance(x, int | str) and not isinstance(x, bool)) or (
        isinstance(x, float) and not math.isnan(x) and x == int(x)
    )


def _is_tags(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and (all(isinstance(t, str) for t in x) or all(_is_label(t) for t in x))


def _is_answers(x: Any) -> bool:
    if isinstance(x, dict):
        t = x.get("text")
        return isinstance(t, list) and all(isinstance(s, str) for s in t)
    return _is_str_or_strs(x) or x == []


def task_fields(task: str, f: Fields) -> dict[str, tuple[str, Any, str]]:
    """role -> (field name, check, what it should be) for a task."""
    text = (f.text, _is_str, "a string")
    return {
        "perplexity": {"text": text},
        "translation": {
            "source": (f.source, _is_str, "a string"),
            "target": (f.target, _is_str_or_strs, "a string or a list of strings"),
        },
        "summarization": {
            "source": (f.source, _is_str, "a string"),
            "target": (f.target, _is_str_or_strs, "a string or a list of strings"),
        },
        "classification": {"text": text, "label": (f.label, _is_label, "a class label (int or string)")},
        "ner": {
            "tokens": (f.tokens, lambda x: isinstance(x, list) and bool(x) and all(map(_is_str, x)), "a list of words"),
            "tags": (f.tags, _is_tags, "a list of tags"),
        },
        "qa": {
            "question": (f.question, _is_str, "a string"),
            "context": (f.context, _is_str, "a string"),
            "answers": (f.answers, _is_answers, "answers ({'text': [...]} or strings)"),
        },
    }[task]


def read_examples(
    data: str | list[str], task: str, fields: Fields, *, strict: bool = False, limit: int | None = None
) -> tuple[list[Example], LoadReport]:
    """Good examples (each with its file:line) and the report of what was set aside."""
    spec = task_fields(task, fields)
    report = LoadReport()
    out: list[Example] = []
    for path in resolve_files(data):
        for line, rec in iter_records(path, report=report, strict=strict):
            ok = True
            for _role, (name, check, what) in spec.items():
                if name not in rec:
                    reason = f"missing field {name!r}"
                elif not check(rec[name]):
                    reason = f"field {name!r} is {type(rec[name]).__name__} {rec[name]!r:.40}, expected {what}"
                else:
                    continue
                report.n_good -= 1
                report.add_bad(BadRecord(path, line, reason), strict)
                ok = False
                break
            if ok and task == "ner" and len(rec[spec["tokens"][0]]) != len(rec[spec["tags"][0]]):
                report.n_good -= 1
                report.add_bad(BadRecord(path, line, "tokens and tags differ in length"), strict)
                ok = False
            if ok:
                ex = Example(f"{path}:{line}", {role: rec[name] for role, (name, _, _) in spec.items()})
                if fields.id in rec:
                    ex.fields["id"] = str(rec[fields.id])
                out.append(ex)
            if limit is not None and len(out) >= limit:
                return out, report
    if not out:
        first = f"; first: {report.bad[0]}" if report.bad else ""
        raise ConfigError(f"{data}: no usable {task} example ({report.n_bad} bad record(s) set aside{first})")
    return out, report
