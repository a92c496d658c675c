"""MassiveText: from massive raw text to language models you can evaluate, use and serve.

``import massivetext as mt`` gives the public API. Names are imported lazily so that ``import massivetext``
stays fast and a stage's heavy dependencies (torch, ray) load only when that stage is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from massivetext.errors import BadInputError, ConfigError, MassiveTextError, MissingFileError

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # data
    "load_dataset": "massivetext.data.load",
    "LoadReport": "massivetext.data.readers",
    "build_stdlib_corpus": "massivetext.data.corpora.stdlib",
    # curation
    "Pipeline": "massivetext.curate.pipeline",
    "GopherQualityFilter": "massivetext.curate.quality",
    "LanguageFilter": "massivetext.curate.language",
    "GopherRepetitionFilter": "massivetext.curate.repetition",
    "PIIRedactor": "massivetext.curate.pii",
    "ExactDeduplicator": "massivetext.curate.dedup.exact",
    "MinHashDeduplicator": "massivetext.curate.dedup.minhash",
    "Decontaminator": "massivetext.curate.dedup.decontaminate",
    # executors (curation, dedup and encoding run on them)
    "LocalExecutor": "massivetext.executors.local",
    "RayExecutor": "massivetext.executors.ray",
    # tokenization
    "AutoTokenizer": "massivetext.tokenization.tokenizer",
    "FastTokenizer": "massivetext.tokenization.tokenizer",
    "train_tokenizer": "massivetext.tokenization.train",
    "TokenShards": "massivetext.tokenization.shards",
    "encode_corpus": "massivetext.tokenization.encode",
    # text preprocessing (classic baselines, long inputs for summarization/QA)
    "normalize": "massivetext.tokenization.preprocess",
    "remove_stop_words": "massivetext.tokenization.preprocess",
    "ENGLISH_STOP_WORDS": "massivetext.tokenization.preprocess",
    "truncate": "massivetext.tokenization.preprocess",
    "pad_sequences": "massivetext.tokenization.preprocess",
    "sliding_windows": "massivetext.tokenization.preprocess",
    "split_long_text": "massivetext.tokenization.preprocess",
    # models
    "AutoConfig": "massivetext.models.auto",
    "AutoModel": "massivetext.models.auto",
    "AutoModelForCausalLM": "massivetext.models.auto",
    "AutoModelForMaskedLM": "massivetext.models.auto",
    "AutoModelForSeq2SeqLM": "massivetext.models.auto",
    "AutoModelForSequenceClassification": "massivetext.models.auto",
    "AutoModelForTokenClassification": "massivetext.models.auto",
    "AutoModelForQuestionAnswering": "massivetext.models.auto",
    "TextStreamer": "massivetext.models.streamers",
    "TextIteratorStreamer": "massivetext.models.streamers",
    "AsyncTextIteratorStreamer": "massivetext.models.streamers",
    # training
    "TrainingArguments": "massivetext.training.arguments",
    "Trainer": "massivetext.training.trainer",
    "TrainerCallback": "massivetext.training.callbacks",
    "EarlyStoppingCallback": "massivetext.training.callbacks",
    "DataCollatorForLanguageModeling": "massivetext.training.collators",
    "DataCollatorForSeq2Seq": "massivetext.training.collators",
    "DataCollatorWithPadding": "massivetext.training.collators",
    "set_seed": "massivetext.training.seed",
    "EvalPrediction": "massivetext.training.eval_loop",
    # evaluation
    "perplexity": "massivetext.evaluation.perplexity",
    "unigram_perplexity": "massivetext.evaluation.baseline",
    "load_metric": "massivetext.evaluation.metrics",
    "combine": "massivetext.evaluation.metrics",
    "paired_bootstrap": "massivetext.evaluation.metrics",
    "evaluate": "massivetext.evaluate",  # a module: mt.evaluate.load / mt.evaluate.combine
    "evaluation": "massivetext.evaluation",  # a module: mt.evaluation.metrics_for, mt.evaluation.paired_bootstrap
    # applications
    "pipeline": "massivetext.pipelines",
    # serving
    "serve": "massivetext.serving.server",
    # word vectors
    "train_word_vectors": "massivetext.embeddings.word_vectors",
    "load_word_vectors": "massivetext.embeddings.word_vectors",
    "save_word_vectors": "massivetext.embeddings.word_vectors",
    "evaluate_word_vectors": "massivetext.embeddings.word_vectors",
    "init_embedding": "massivetext.embeddings.word_vectors",
    # the main job
    "quickstart": "massivetext.quickstart.run",
    "QuickstartConfig": "massivetext.quickstart.run",
}

__all__ = ["BadInputError", "ConfigError", "MassiveTextError", "MissingFileError", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'massivetext' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module == f"{__name__}.{name}" else getattr(imported, name)  # a submodule exported as such
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
