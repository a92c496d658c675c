"""``mt.evaluate``: the Hugging Face ``evaluate`` entry points, offline: ``mt.evaluate.load("sacrebleu")``,
``mt.evaluate.combine(["accuracy", "f1"])``, ``mt.evaluate.list_evaluation_modules()``."""

from __future__ import annotations

from massivetext.evaluation.metrics import combine, list_metrics, load_metric

load = load_metric
list_evaluation_modules = list_metrics

__all__ = ["combine", "list_evaluation_modules", "load"]
