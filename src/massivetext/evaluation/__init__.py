"""massivetext.evaluation: perplexity, metrics (``load_metric``), bootstrap intervals and paired tests,
``metrics_for`` (Trainer ``compute_metrics``), contamination-aware evaluation of checkpoints (``evaluate_model``)."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load_metric": "massivetext.evaluation.metrics",
    "combine": "massivetext.evaluation.metrics",
    "list_metrics": "massivetext.evaluation.metrics",
    "paired_bootstrap": "massivetext.evaluation.metrics",
    "metrics_for": "massivetext.evaluation.compute_metrics",
    "evaluate_model": "massivetext.evaluation.run",
    "score_files": "massivetext.evaluation.run",
    "contamination": "massivetext.evaluation.contamination",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'massivetext.evaluation' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if module.__name__.endswith(f".{name}") else getattr(module, name)


def __dir__() -> list[str]:
    return sorted(_LAZY)
