"""The ``README.md`` model card every checkpoint carries, in the Hugging Face format: YAML front matter (library,
license, datasets, metrics, tags), then the training data, hyperparameters, evaluation results, intended use and
limitations, filled from what the run did (its arguments, its trainer state and its dataset), nothing invented."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

# arguments worth a reader's eye; the full set is in training_args.json beside the card
HYPERPARAMETERS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                   "max_steps", "warmup_steps", "warmup_ratio", "lr_scheduler_type", "weight_decay", "max_grad_norm",
                   "optim", "seed", "bf16", "fp16", "block_size")  # fmt: skip


def describe_dataset(dataset: Any) -> dict[str, Any]:
    """What is known of a training dataset: its name(s), size, and the curated corpora behind token shards."""
    if dataset is None:
        return {"names": [], "lines": ["No training dataset was given to this run."]}
    directory = getattr(dataset, "directory", None)
    index = getattr(dataset, "index", None)
    if directory is not None and isinstance(index, dict):  # TokenShards
        names = [os.path.basename(os.path.abspath(str(directory)))]
        split = getattr(dataset, "split", "train")
        info = index.get("splits", {}).get(split, {})
        lines = [
            f"Token shards `{directory}` (split `{split}`): {info.get('tokens', '?')} tokens, "
            f"{info.get('documents', '?')} documents, vocabulary {index.get('vocab_size', '?')}, "
            f"tokenizer sha256 `{index.get('tokenizer_sha256', '?')}`.",
            f"Windows of {getattr(dataset, 'block_size', '?')} tokens, seed {getattr(dataset, 'seed', '?')}.",
        ]
        weights = getattr(dataset, "weights", None)
        if weights:
            lines.append("Sources mixed by token weight: " + ", ".join(f"{k} {v:g}" for k, v in weights.items()) + ".")
        for c in index.get("curation", []):
            names.append(os.path.basename(c["corpus"]))
            lines.append(f"Curated corpus `{c['corpus']}` (statistics `{c['stats']}`, sha256 `{c['stats_sha256']}`).")
        return {"names": names, "lines": lines}
    name = getattr(dataset, "name", None) or getattr(getattr(dataset, "info", None), "dataset_name", None)
    names = [str(name)] if name else [type(dataset).__name__]
    size = f"{len(dataset)} examples" if hasattr(dataset, "__len__") else "an iterable dataset"
    return {"names": names, "lines": [f"`{names[0]}`: {size}."]}


def model_card(
    model: Any, args: dict[str, Any], state: dict[str, Any], dataset: Any = None, license: str = "other"
) -> str:
    data = describe_dataset(dataset)
    history = state.get("log_history", [])
    evals: dict[str, Any] = {}
    for rec in history:
        evals.update({k: v for k, v in rec.items() if k.startswith("eval_") and isinstance(v, (int, float))})
    losses = [r["loss"] for r in history if "loss" in r]
    metrics = sorted({k.removeprefix("eval_") for k in evals if k not in ("eval_runtime",)} | ({"loss"} if losses else set()))  # fmt: skip
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None) or type(model).__name__
    front = {
        "library_name": "massivetext",
        "license": license,
        "datasets": data["names"],
        "metrics": metrics,
        "tags": ["massivetext", str(model_type)],
    }
    n_params = sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None
    out = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
           f"# {os.path.basename(str(args.get('output_dir', 'model')))}", "",
           f"A `{model_type}` model" + (f" of {n_params:,} parameters" if n_params else "")
           + f" trained with MassiveText for {state.get('global_step', 0)} steps"
           + (f" ({state['epoch']:.2f} epochs)" if isinstance(state.get("epoch"), (int, float)) else "") + ".",
           "", "## Training data", ""]  # fmt: skip
    out += [f"- {line}" for line in data["lines"]]
    out += ["", "## Hyperparameters", "", "| name | value |", "|---|---|"]
    out += [f"| {k} | {args[k]} |" for k in HYPERPARAMETERS if args.get(k) is not None]
    out += ["", "All arguments: `training_args.json`; the trainer state and log: `trainer_state.json`.", ""]
    out += ["## Evaluation results", ""]
    if losses:
        out.append(f"- training loss: first logged {losses[0]:.4f}, last logged {losses[-1]:.4f}")
    out += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in sorted(evals.items())]
    if not losses and not evals:
        out.append("- none recorded in this run")
    out += ["", "## Intended use and limitations", "",
            "A research model trained by MassiveText on the data above; it reproduces that data's language, topics "
            "and biases, and was not evaluated for safety or factual accuracy. Not for decisions about people "
            "without further evaluation. Its numbers hold for the data and settings above only.", ""]  # fmt: skip
    return "\n".join(out)


def write_model_card(directory: str | os.PathLike, model: Any, args: dict[str, Any], state: dict[str, Any],
                     dataset: Any = None) -> None:  # fmt: skip
    path = os.path.join(os.fspath(directory), "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(model_card(model, json.loads(json.dumps(args, default=str)), state, dataset))


__all__ = ["describe_dataset", "model_card", "write_model_card"]
