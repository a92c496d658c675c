"""``massivetext train CONFIG.yaml``: train or fine-tune a model from one YAML file.

    model: {type: gpt2, n_layer: 4, n_head: 4, n_embd: 256, n_positions: 256}   # a new model (config keys) ...
    # model: runs/base/checkpoint-1000                                           # ... or a model directory
    task: causal_lm            # causal_lm | masked_lm | seq2seq | classification
    tokenizer: shards/         # default: the shard directory (encode_corpus saves the tokenizer there)
    data:
      shards: shards/          # token shards (causal LM); block_size defaults to the model's context
      block_size: 256
      # or files: {train: data/train.jsonl, eval: data/val.jsonl, format: json}  (text + tokenizer, or token columns)
    args:                      # TrainingArguments, the transformers names
      output_dir: runs/gpt
      max_steps: 2000
      per_device_train_batch_size: 8
      learning_rate: 1.0e-3

``--set args.max_steps=10`` overrides any key (value parsed as YAML); ``--resume`` continues from the last
checkpoint in output_dir. Multi-process: ``torchrun --nproc_per_node N -m massivetext.cli.main train CONFIG.yaml``.
The final model and tokenizer are saved to output_dir; eval loss and perplexity are printed when there is eval data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from massivetext.errors import ConfigError, MissingFileError

TASKS = {
    "causal_lm": "AutoModelForCausalLM",
    "masked_lm": "AutoModelForMaskedLM",
    "seq2seq": "AutoModelForSeq2SeqLM",
    "classification": "AutoModelForSequenceClassification",
}
SECTIONS = {"model", "task", "tokenizer", "data", "args"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train or fine-tune a model from a YAML config")
    p.add_argument("config", help="YAML file: model, task, tokenizer, data, args")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. args.max_steps=100 (repeatable)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in output_dir")
    p.set_defaults(func=run)


def load_config(path: str, overrides: list[str]) -> dict[str, Any]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"{path}: no such config file")
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(path, e)) from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping with sections {sorted(SECTIONS)}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from e
    unknown = set(config) - SECTIONS
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; expected {sorted(SECTIONS)}")
    for needed in ("model", "data", "args"):
        if needed not in config:
            raise ConfigError(f"{path}: missing section {needed!r}")
    return config


def _yaml_error(path: str, error: Exception) -> str:
    """One line, `file:line:column: not valid YAML: what`, from PyYAML's marks (0-based) and its messages."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
    what = "; ".join(str(m) for m in (getattr(error, "problem", None), getattr(error, "context", None)) if m)
    return f"{where}: not valid YAML: {what or str(error).splitlines()[0]}"


def _tokenizer(config: dict[str, Any]) -> Any:
    import massivetext as mt

    where = config.get("tokenizer") or (config["data"] or {}).get("shards")
    if where is None:
        if isinstance(config["model"], str):
            where = config["model"]
        else:
            return None
    if not Path(where).exists():
        raise MissingFileError(f"tokenizer: {where} does not exist")
    return mt.AutoTokenizer.from_pretrained(where)


def _model(config: dict[str, Any], task: str, tokenizer: Any) -> Any:
    import massivetext as mt
    from massivetext.models.config import special_ids_from_tokenizer

    auto = getattr(mt, TASKS[task])
    spec = config["model"]
    if isinstance(spec, str):
        if not Path(spec).exists():
            raise MissingFileError(f"model: {spec} does not exist")
        return auto.from_pretrained(spec)
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError("model: give a directory, or a mapping with 'type' (e.g. gpt2) and config keys")
    fields = {k: v for k, v in spec.items() if k != "type"}
    if "vocab_size" not in fields:
        if tokenizer is None:
            raise ConfigError("model: vocab_size is not set and there is no tokenizer to take it from")
        fields["vocab_size"] = len(tokenizer)
    if tokenizer is not None:  # special ids from the tokenizer, None where it has none (never another model's)
        for name, value in special_ids_from_tokenizer(tokenizer).items():
            fields.setdefault(name, value)
    try:
        return auto.from_config(mt.AutoConfig.for_model(spec["type"], **fields))
    except TypeError as e:
        raise ConfigError(f"model: {e}") from e


def _datasets(config: dict[str, Any], model: Any, seed: int) -> tuple[Any, Any]:
    import massivetext as mt

    data = config["data"] or {}
    if "shards" in data:
        mc = model.config
        block = data.get("block_size") or getattr(mc, "n_positions", None) or mc.max_position_embeddings
        if isinstance(block, bool) or not str(block).strip().isdigit():
            raise ConfigError(f"data.block_size must be a positive integer, got {block!r}")
        block = int(str(block).strip())
        train = mt.TokenShards(data["shards"], block_size=block, split=data.get("train_split", "train"), seed=seed)
        eval_split = data.get("eval_split", "val")
        try:
            val = mt.TokenShards(data["shards"], block_size=block, split=eval_split, shuffle=False)
        except ConfigError:
            val = None  # no (or too small a) validation split
        return train, val
    if "files" in data:
        files = dict(data["files"])
        kind = files.pop("format", None) or _format(files.get("train", ""))
        splits = {k: v for k, v in files.items() if k in ("train", "eval")}
        if "train" not in splits:
            raise ConfigError("data.files needs a 'train' entry")
        loaded = mt.load_dataset(kind, data_files=splits)
        return loaded["train"], loaded.get("eval") if "eval" in splits else None
    raise ConfigError("data: give 'shards' (a token shard directory) or 'files' ({train: ..., eval: ...})")


def _format(path: str) -> str:
    name = str(path).lower()
    for ext, kind in ((".jsonl", "json"), (".json", "json"), (".csv", "csv"), (".parquet", "parquet")):
        if ext in name:
            return kind
    return "text"


def run(args: argparse.Namespace) -> int:
    import massivetext as mt

    config = load_config(args.config, args.set)
    task = config.get("task", "causal_lm")
    if task not in TASKS:
        raise ConfigError(f"task {task!r} is not one of {', '.join(TASKS)}")
    targs = dict(config["args"] or {})
    if args.resume:
        targs["resume_from_checkpoint"] = True
    training_args = mt.TrainingArguments.from_dict(targs)
    tokenizer = _tokenizer(config)
    mt.set_seed(training_args.seed)  # before the model's initial weights are drawn: same seed, same run
    model = _model(config, task, tokenizer)
    train, val = _datasets(config, model, training_args.seed)
    trainer = mt.Trainer(model, training_args, train_dataset=train, eval_dataset=val, tokenizer=tokenizer)
    out = trainer.train()
    trainer.save_model()
    summary: dict[str, Any] = {"steps": out.global_step, "train_loss": round(out.training_loss, 4)}
    if val is not None:
        metrics = trainer.evaluate()
        summary.update({k: round(v, 4) for k, v in metrics.items() if k in ("eval_loss", "eval_perplexity")})
    if trainer.is_world_process_zero():
        print(json.dumps(summary))
        print(f"model saved to {training_args.output_dir}")
    return 0
