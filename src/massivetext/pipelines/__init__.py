"""``mt.pipeline(task, model=...)``: applications on MassiveText models, with transformers-v4 outputs.

The task table maps every task name (and alias) to the pipeline class that serves it; the class names the model
head it needs (``AutoModelFor...``), so a model directory loads with the right head and a model whose head does not
fit the task is refused with a clear error.
"""

from __future__ import annotations

import difflib
import importlib
import re
from pathlib import Path
from typing import Any

from massivetext.errors import ConfigError

# task -> "module:Class"
TASKS: dict[str, str] = {
    "text-generation": "text_generation:TextGenerationPipeline",
    "text2text-generation": "text2text:Text2TextGenerationPipeline",
    "summarization": "text2text:SummarizationPipeline",
    "translation": "text2text:TranslationPipeline",
    "question-answering": "question_answering:QuestionAnsweringPipeline",
    "text-classification": "text_classification:TextClassificationPipeline",
    "token-classification": "token_classification:TokenClassificationPipeline",
    "fill-mask": "fill_mask:FillMaskPipeline",
    "zero-shot-classification": "zero_shot:ZeroShotClassificationPipeline",
    "feature-extraction": "feature_extraction:FeatureExtractionPipeline",
}
ALIASES = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
    "embeddings": "feature-extraction",
}
_TRANSLATION = re.compile(r"^translation_([A-Za-z-]+)_to_([A-Za-z-]+)$")


def canonical_task(task: str) -> str:
    """The table's name for ``task`` (aliases and ``translation_xx_to_yy`` resolved); unknown: "did you mean"."""
    if not isinstance(task, str):
        raise ConfigError(f"task must be a string, not {type(task).__name__}")
    if task in TASKS:
        return task
    if task in ALIASES:
        return ALIASES[task]
    if _TRANSLATION.match(task):
        return "translation"
    known = sorted([*TASKS, *ALIASES, "translation_xx_to_yy"])
    close = difflib.get_close_matches(task, known, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"unknown task {task!r}{hint} (known: {', '.join(known)})")


def pipeline_class(task: str) -> type:
    module, cls = TASKS[canonical_task(task)].split(":")
    return getattr(importlib.import_module(f"massivetext.pipelines.{module}"), cls)


def pipeline(
    task: str,
    model: Any = None,
    tokenizer: Any = None,
    device: Any = None,
    dtype: Any = None,
    batch_size: int = 32,
    **kwargs: Any,
) -> Any:
    """Build the pipeline for ``task`` on ``model`` (a directory, a Hub name when online, or a loaded model).

    ``tokenizer`` defaults to the one in the model's directory. ``batch_size`` caps the rows of one forward pass
    (batches are also cut by a token budget, ``token_budget=``). ``dtype`` may be a torch dtype or its name.
    """
    import torch

    import massivetext.models.auto as auto
    from massivetext.tokenization.tokenizer import AutoTokenizer

    name = canonical_task(task)
    cls = pipeline_class(name)
    if model is None:
        raise ConfigError(f"{task}: give model= (a model directory or a loaded model); there is no default model")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype):
            raise ConfigError(f"unknown dtype {dtype!r}")
    if isinstance(model, (str, Path)):
        model_dir = model
        model = getattr(auto, cls.auto_class).from_pretrained(model_dir)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if isinstance(tokenizer, (str, Path)):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    if tokenizer is None:
        raise ConfigError(f"{task}: a loaded model needs tokenizer= as well")
    return cls(model, tokenizer, task=task, device=device, dtype=dtype, batch_size=batch_size, **kwargs)


__all__ = ["ALIASES", "TASKS", "canonical_task", "pipeline"]
