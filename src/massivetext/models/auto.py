"""Auto classes: pick the model family from ``config.json``'s ``model_type`` (and the head from the class)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from massivetext.errors import ConfigError
from massivetext.models.config import ModelConfig, config_from_dict, read_config_dict
from massivetext.models.hub import resolve

# head -> model_type -> "module:Class"
_REGISTRY: dict[str, dict[str, str]] = {
    "causal-lm": {"gpt2": "gpt:GPTForCausalLM", "mt_lstm": "lstm:LSTMForCausalLM"},
    "masked-lm": {"bert": "bert:BertForMaskedLM", "roberta": "bert:BertForMaskedLM"},
    "seq2seq-lm": {"t5": "t5:T5ForConditionalGeneration", "marian": "marian:MarianMTModel"},
    "sequence-classification": {
        "bert": "bert:BertForSequenceClassification",
        "roberta": "bert:BertForSequenceClassification",
    },
    "token-classification": {
        "bert": "bert:BertForTokenClassification",
        "roberta": "bert:BertForTokenClassification",
    },
    "question-answering": {"bert": "bert:BertForQuestionAnswering", "roberta": "bert:BertForQuestionAnswering"},
}
# AutoModel: the natural head of each family
_DEFAULT_HEAD = {
    "gpt2": "causal-lm",
    "mt_lstm": "causal-lm",
    "bert": "masked-lm",
    "roberta": "masked-lm",
    "t5": "seq2seq-lm",
    "marian": "seq2seq-lm",
}


def model_class(head: str, model_type: str) -> type:
    spec = _REGISTRY[head].get(model_type)
    if spec is None:
        known = sorted(_REGISTRY[head])
        raise ConfigError(f"model_type {model_type!r} has no {head} head in MassiveText (known: {known})")
    module, cls = spec.split(":")
    return getattr(importlib.import_module(f"massivetext.models.{module}"), cls)


class AutoConfig:
    """``AutoConfig.from_pretrained(dir_or_name)`` / ``AutoConfig.for_model("gpt2", n_layer=4, ...)``."""

    @staticmethod
    def from_pretrained(name_or_dir: str | Path, **overrides: Any) -> ModelConfig:
        data = read_config_dict(resolve(name_or_dir))
        data.update(overrides)
        return config_from_dict(data)

    @staticmethod
    def for_model(model_type: str, **kwargs: Any) -> ModelConfig:
        return config_from_dict({"model_type": model_type, **kwargs})

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ModelConfig:
        return config_from_dict(data)


class _AutoModel:
    head: str = ""

    @classmethod
    def _head(cls, model_type: str) -> str:
        return cls.head or _DEFAULT_HEAD.get(model_type, "causal-lm")

    @classmethod
    def from_pretrained(
        cls, name_or_dir: str | Path, dtype: torch.dtype | None = None, device: Any = None, **overrides: Any
    ):
        directory = resolve(name_or_dir)
        mt = read_config_dict(directory)["model_type"]
        return model_class(cls._head(mt), mt).from_pretrained(directory, dtype=dtype, device=device, **overrides)

    @classmethod
    def from_config(cls, config: ModelConfig | dict[str, Any], **kwargs: Any):
        if isinstance(config, dict):
            config = config_from_dict(config)
        return model_class(cls._head(config.model_type), config.model_type)(config, **kwargs)


class AutoModel(_AutoModel):
    """The family's natural head (GPT: causal LM, BERT: masked LM, T5/Marian: seq2seq)."""


class AutoModelForCausalLM(_AutoModel):
    head = "causal-lm"


class AutoModelForMaskedLM(_AutoModel):
    head = "masked-lm"


class AutoModelForSeq2SeqLM(_AutoModel):
    head = "seq2seq-lm"


class AutoModelForSequenceClassification(_AutoModel):
    head = "sequence-classification"


class AutoModelForTokenClassification(_AutoModel):
    head = "token-classification"


class AutoModelForQuestionAnswering(_AutoModel):
    head = "question-answering"
