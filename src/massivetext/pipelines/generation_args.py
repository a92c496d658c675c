"""Generation options for the generating pipelines, resolved in transformers v4.57's order of priority:
the call's options, then the model's ``generation_config.json`` (values that differ from the library defaults),
then ``task_specific_params`` of the config for this task, then the pipeline's own defaults."""

from __future__ import annotations

from typing import Any

from massivetext.errors import ConfigError

# transformers' GenerationConfig() defaults: a model config value equal to these does not override a pipeline default
LIBRARY_DEFAULTS: dict[str, Any] = {
    "max_length": 20,
    "max_new_tokens": None,
    "min_length": 0,
    "min_new_tokens": None,
    "do_sample": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "early_stopping": False,
    "num_return_sequences": 1,
    "no_repeat_ngram_size": 0,
}
# what MassiveText's generate() implements
SUPPORTED = {
    "max_length",
    "max_new_tokens",
    "min_length",
    "min_new_tokens",
    "do_sample",
    "num_beams",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "length_penalty",
    "early_stopping",
    "num_return_sequences",
    "eos_token_id",
    "pad_token_id",
    "bos_token_id",
    "decoder_start_token_id",
    "forced_eos_token_id",
    "bad_words_ids",
    "stop_strings",
    "generator",
    "streamer",
}


def resolve(
    model: Any, tokenizer: Any, defaults: dict[str, Any], task: str, user: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """(generate kwargs, input prefix) for one call."""
    unknown = sorted(set(user) - SUPPORTED)
    if unknown:
        raise ConfigError(f"{task}: generation options MassiveText does not implement: {unknown}")
    cfg = dict(defaults)
    for key, value in (getattr(model, "generation_config", None) or {}).items():
        if key in SUPPORTED and value is not None and value != LIBRARY_DEFAULTS.get(key, object()):
            cfg[key] = value
    if (
        defaults.get("max_new_tokens") is not None
        and cfg.get("max_new_tokens") == defaults["max_new_tokens"]
        and cfg.get("max_length") not in (None, 20)
    ):
        cfg.pop("max_new_tokens")  # a model's own max_length beats the pipeline's length default
    prefix = model.config.get("prefix") or ""
    task_params = dict((model.config.get("task_specific_params") or {}).get(task) or {})
    prefix = task_params.pop("prefix", prefix)
    cfg.update({k: v for k, v in task_params.items() if k in SUPPORTED})
    if cfg.get("pad_token_id") is None and tokenizer.pad_token_id is not None:
        cfg["pad_token_id"] = tokenizer.pad_token_id
    if "max_length" in user and "max_new_tokens" not in user:
        cfg.pop("max_new_tokens", None)
    if "max_new_tokens" in user and "max_length" not in user:
        cfg.pop("max_length", None)
    cfg.update(user)
    if not cfg.get("do_sample"):
        for key in ("temperature", "top_k", "top_p"):
            cfg.pop(key, None)
    return cfg, prefix or ""


def min_new_tokens(cfg: dict[str, Any], prompt_len: int) -> dict[str, Any]:
    """generate() counts a minimum in new tokens; transformers' min_length counts the whole sequence."""
    cfg = dict(cfg)
    min_length = cfg.pop("min_length", 0) or 0
    if min_length and cfg.get("min_new_tokens") is None:
        cfg["min_new_tokens"] = max(0, int(min_length) - prompt_len)
    if cfg.get("min_new_tokens") is None:
        cfg.pop("min_new_tokens", None)
    return cfg
