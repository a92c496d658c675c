"""Provenance end to end: curated stats.json lists every input (size, sha256), the recipe with every parameter,
versions and wall time; data_card.md beside it; token shards' index.json points to it; a checkpoint saved by the
Trainer carries a README.md model card whose YAML front matter parses and names that data."""

from __future__ import annotations

import hashlib
import json
import os

import torch
import yaml
from _curate_data import make_corpus

import massivetext as mt
from massivetext.curate import GopherQualityFilter, PIIRedactor, Pipeline
from massivetext.curate.provenance import recipe_record
from massivetext.curate.recipes import load_recipe


def recipe_json(steps) -> str:
    return json.dumps(recipe_record(steps), sort_keys=True)


def test_curate_encode_train_carry_provenance(tmp_path):
    paths = make_corpus(str(tmp_path / "in"), n_files=3, docs_per_file=20, bad=False)
    curated = tmp_path / "my-corpus"
    steps = [GopherQualityFilter(sources=["prose/*"], min_words=40), PIIRedactor()]
    Pipeline(steps).run(paths, str(curated), workers=1, progress=False)

    stats = json.loads((curated / "stats.json").read_text(encoding="utf-8"))
    prov = stats["extra"]["provenance"]
    assert [i["path"] for i in prov["inputs"]] == [os.path.abspath(p) for p in sorted(paths)]
    for i in prov["inputs"]:
        with open(i["path"], "rb") as f:
            data = f.read()
        assert i["bytes"] == len(data) and i["sha256"] == hashlib.sha256(data).hexdigest()
    assert prov["recipe"][0]["type"] == "GopherQualityFilter" and prov["recipe"][0]["min_words"] == 40
    assert prov["recipe"][0]["max_mean_word_length"] == 10  # every parameter, defaults too
    rebuilt = load_recipe({"steps": prov["recipe"]})  # the record is a recipe again
    assert recipe_json(rebuilt) == recipe_json(steps)
    assert prov["libraries"]["numpy"] and prov["libraries"]["python"]
    assert stats["extra"]["run"]["seconds"] > 0
    card = (curated / "data_card.md").read_text(encoding="utf-8")
    assert prov["inputs"][0]["sha256"] in card and "gopher_quality" in card

    tok = mt.train_tokenizer([json.loads(x)["text"] for p in paths for x in open(p)], vocab_size=300)
    shards = tmp_path / "shards"
    index = mt.encode_corpus(tok, str(curated / "part-*"), str(shards), val_fraction=0.0, progress=False)
    assert index["curation"] == [
        {
            "corpus": str(curated),
            "stats": str(curated / "stats.json"),
            "stats_sha256": hashlib.sha256((curated / "stats.json").read_bytes()).hexdigest(),
            "data_card": str(curated / "data_card.md"),
        }
    ]

    torch.manual_seed(0)
    config = mt.AutoConfig.for_model("gpt2", vocab_size=len(tok), n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                     bos_token_id=0, eos_token_id=0)  # fmt: skip
    model = mt.AutoModelForCausalLM.from_config(config)
    train = mt.TokenShards(shards, block_size=16, seed=3)
    args = mt.TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2,
                                learning_rate=1e-3, logging_steps=1, save_steps=2, disable_tqdm=True, use_cpu=True)  # fmt: skip
    mt.Trainer(model, args, train_dataset=train, tokenizer=tok).train()
    readme = (tmp_path / "run" / "checkpoint-2" / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\n")
    front = yaml.safe_load(readme.split("---\n")[1])
    assert front["library_name"] == "massivetext"
    assert front["datasets"] == ["shards", "my-corpus"] and "loss" in front["metrics"]
    body = readme.split("---\n", 2)[2]
    for section in ("## Training data", "## Hyperparameters", "## Evaluation results", "## Intended use"):
        assert section in body
    assert "| learning_rate | 0.001 |" in body and str(curated / "stats.json") in body
    assert f"{index['splits']['train']['tokens']} tokens" in body
