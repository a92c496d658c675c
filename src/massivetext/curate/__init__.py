"""Curation: a streaming, resumable pipeline of steps (filters, deduplication, PII redaction) over raw text.

``from massivetext.curate import Pipeline, GopherQualityFilter, GopherRepetitionFilter, PIIRedactor``
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Document": "massivetext.curate.document",
    "Pipeline": "massivetext.curate.pipeline",
    "Step": "massivetext.curate.step",
    "Filter": "massivetext.curate.step",
    "GlobalStep": "massivetext.curate.step",
    "TaskContext": "massivetext.curate.step",
    "STEP_TYPES": "massivetext.curate.recipes",
    "load_recipe": "massivetext.curate.recipes",
    "Stats": "massivetext.curate.stats",
    "GopherQualityFilter": "massivetext.curate.quality",
    "GopherRepetitionFilter": "massivetext.curate.repetition",
    "PIIRedactor": "massivetext.curate.pii",
    "LanguageFilter": "massivetext.curate.language",
    "LocalExecutor": "massivetext.executors.local",
    "ExactDeduplicator": "massivetext.curate.dedup.exact",
    "MinHashDeduplicator": "massivetext.curate.dedup.minhash",
    "Decontaminator": "massivetext.curate.dedup.decontaminate",
    "RayExecutor": "massivetext.executors.ray",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'massivetext.curate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
