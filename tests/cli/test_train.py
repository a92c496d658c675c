"""`massivetext train CONFIG.yaml`: trains from token shards, saves an HF-layout model; bad configs: one line, exit 2."""

from __future__ import annotations

import json

import pytest
import yaml

import massivetext as mt
from massivetext.cli.main import main

CONFIG = {
    "model": {"type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 32},
    "task": "causal_lm",
    "data": {"block_size": 32},
    "args": {"max_steps": 4, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "logging_steps": 2,
             "save_steps": 4, "disable_tqdm": True, "use_cpu": True},
}  # fmt: skip


def _write(tmp_path, config):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_train_from_yaml(shard_dir, tmp_path, capsys):
    config = json.loads(json.dumps(CONFIG))
    config["data"]["shards"] = str(shard_dir)
    config["args"]["output_dir"] = str(tmp_path / "run")
    assert main(["train", _write(tmp_path, config), "--set", "args.max_steps=6"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert summary["steps"] == 6 and summary["eval_loss"] > 0 and "eval_perplexity" in summary
    model = mt.AutoModelForCausalLM.from_pretrained(tmp_path / "run")
    assert model.config.n_layer == 1
    assert (tmp_path / "run" / "tokenizer.json").exists() and (tmp_path / "run" / "metrics.jsonl").exists()
    # --resume continues from checkpoint-6 and trains to the new max_steps
    assert main(["train", _write(tmp_path, config), "--resume", "--set", "args.max_steps=8"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["steps"] == 8


@pytest.mark.parametrize(
    "change, message",
    [
        ({"oops": 1}, "unknown section"),
        ({"args": {"output_dir": "x", "learning_rat": 0.1}}, "did you mean 'learning_rate'"),
        ({"task": "translation"}, "task 'translation'"),
        ({"data": {"shards": "/nonexistent/shards"}}, "/nonexistent/shards does not exist"),
        ({"model": "/nonexistent/model"}, "does not exist"),
    ],
)
def test_bad_configs_exit_2_with_one_line(shard_dir, tmp_path, capsys, change, message):
    config = json.loads(json.dumps(CONFIG))
    config["data"]["shards"] = str(shard_dir)
    config["args"]["output_dir"] = str(tmp_path / "run")
    config.update(change)
    assert main(["train", _write(tmp_path, config)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err
