"""A reduced quickstart end to end: every artifact, a model both libraries load alike, better than unigram."""

import json
import os
import subprocess
import sys

import pytest
import torch

import massivetext as mt
from peers import require

ARGS = ["--minutes", "1", "--max-docs", "900", "--vocab-size", "1024", "--n-layer", "2", "--n-embd", "64",
        "--n-head", "2", "--block-size", "64", "--workers", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    cmd = [sys.executable, "-m", "massivetext.cli.main", "quickstart", "--output", str(out), *ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_every_artifact_exists(run_dir):
    out, stdout = run_dir
    for rel in ["corpus.jsonl", "curated/stats.json", "curated/report.html", "tokenizer/tokenizer.json",
                "shards/index.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json",
                "stats.json", "report.html", "train.yaml"]:  # fmt: skip
        assert (out / rel).exists(), rel
    assert list((out / "curated").glob("part-*.jsonl.zst"))
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 2 and "massivetext curate" in report
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["samples"]) == 3 and all(s["text"].startswith(s["prompt"]) for s in stats["samples"])
    assert "minhash_dedup" in stdout and "perplexity" in stdout


def test_model_loads_in_both_libraries_with_same_logits(run_dir):
    transformers = require("transformers")
    out, _ = run_dir
    ours = mt.AutoModelForCausalLM.from_pretrained(str(out / "model")).eval()
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(out / "model")).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(out / "model"))
    ids = tok("def parse(self, text):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-4, rtol=1e-4)


def test_perplexity_beats_unigram_baseline(run_dir):
    out, _ = run_dir
    ev = json.loads((out / "stats.json").read_text())["evaluation"]
    assert ev["perplexity"] < ev["unigram_perplexity"]


def test_rerun_skips_finished_stages(run_dir):
    out, _ = run_dir
    mtime = os.path.getmtime(out / "model" / "model.safetensors")
    cmd = [sys.executable, "-m", "massivetext.cli.main", "quickstart", "--output", str(out), *ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("already done, skipping") == 5
    assert os.path.getmtime(out / "model" / "model.safetensors") == mtime


def test_bad_argument_exits_2():
    done = subprocess.run([sys.executable, "-m", "massivetext.cli.main", "quickstart", "--minutes", "0"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--minutes" in done.stderr and "Traceback" not in done.stderr


def test_whole_run_ends_within_budget_when_the_machine_slows_down(run_dir, tmp_path, monkeypatch):
    """A fake clock charges each forward pass by the tokens it sees; from the start of training on, the machine is
    3x slower than at calibration. The whole run (training, evaluation, samples, report) still ends within 5% of
    its budget, with the decay finished, and train.yaml states the schedule and precision the run used."""
    import shutil

    import yaml

    from massivetext.quickstart import budget, run

    out = tmp_path / "run"
    shutil.copytree(run_dir[0], out)
    for stage in ("train", "evaluate", "generate"):  # keep the curated corpus and shards, redo the rest
        (out / ".done" / f"{stage}.json").unlink()
    shutil.rmtree(out / "model")
    clock = {"t": 0.0, "per_token": 1.0 / (8 * 64)}  # one training batch = 1 s at calibration
    monkeypatch.setattr(budget, "now", lambda: clock["t"])
    gpt = type(mt.AutoModelForCausalLM.from_pretrained(str(run_dir[0] / "model")))
    forward = gpt.forward

    def charged_forward(self, input_ids=None, *a, **k):
        clock["t"] += clock["per_token"] * input_ids.numel()
        return forward(self, input_ids, *a, **k)

    train = mt.Trainer.train

    def slower_from_now_on(self, *a, **k):
        clock["per_token"] *= 3
        return train(self, *a, **k)

    monkeypatch.setattr(gpt, "forward", charged_forward)
    monkeypatch.setattr(mt.Trainer, "train", slower_from_now_on)
    kw = dict(zip([a.lstrip("-").replace("-", "_") for a in ARGS[::2]], ARGS[1::2]))
    cfg = run.QuickstartConfig(output=str(out), minutes=10, max_docs=int(kw["max_docs"]),
                               vocab_size=int(kw["vocab_size"]), n_layer=2, n_embd=64, n_head=2, block_size=64,
                               workers=2)  # fmt: skip
    summary = run.quickstart(cfg)

    assert 0.9 * 600 <= summary["seconds"] <= 1.05 * 600, summary["seconds"]
    assert clock["t"] <= 1.05 * 600
    trained = summary["training"]
    assert trained["stopped_by"] == "schedule"
    conf = yaml.safe_load((out / "train.yaml").read_text())["args"]
    assert conf["bf16"] == trained["bf16"] and conf["max_steps"] == trained["steps"]
    assert conf["lr_scheduler_type"] == "warmup_stable_decay"
    kwargs = conf["lr_scheduler_kwargs"]
    assert conf["warmup_steps"] + kwargs["num_stable_steps"] + kwargs["num_decay_steps"] == trained["steps"]
    mt.TrainingArguments(output_dir=str(tmp_path / "x"), **{k: v for k, v in conf.items() if k != "output_dir"})


def test_saved_special_ids_are_the_tokenizers_and_generation_stops_at_end_of_text(run_dir):
    """config.json and generation_config.json carry the tokenizer's end-of-text id (not GPT-2's 50256); a model
    planted to emit end of text first stops there, in MassiveText and in transformers."""
    out, _ = run_dir
    tok = mt.AutoTokenizer.from_pretrained(str(out / "model"))
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    config = json.loads((out / "model" / "config.json").read_text())
    gen = json.loads((out / "model" / "generation_config.json").read_text())
    assert config["vocab_size"] == len(tok)
    for key in ("bos_token_id", "eos_token_id"):
        assert config[key] == gen[key] == eot == getattr(tok, key)

    model = mt.AutoModelForCausalLM.from_pretrained(str(out / "model")).eval()
    with torch.no_grad():  # final norm outputs a constant direction that only the end-of-text row matches
        norm, emb = model.transformer.ln_f, model.get_input_embeddings().weight
        norm.weight.zero_(), norm.bias.zero_()
        norm.bias[0] = 1.0
        emb[:, 0] = 0.0
        emb[eot, 0] = 50.0
    planted = out.parent / "planted"
    model.save_pretrained(planted)
    ids = tok("The module provides", return_tensors="pt")["input_ids"]
    produced = model.generate(ids, max_new_tokens=40, do_sample=False)
    assert produced.shape[1] == ids.shape[1] + 1 and produced[0, -1].item() == eot
    transformers = require("transformers")
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(planted)).eval()
    assert theirs.generate(ids, max_new_tokens=40, do_sample=False).shape[1] == ids.shape[1] + 1


@pytest.mark.parametrize(
    "field, value, flag",
    [("minutes", 0, "--minutes"), ("minutes", -1.5, "--minutes"), ("max_docs", 10, "--max-docs"),
     ("max_docs", 0, "--max-docs"), ("workers", 0, "--workers"), ("vocab_size", 100, "--vocab-size"),
     ("n_layer", 0, "--n-layer"), ("batch_size", 0, "--batch-size"), ("block_size", 2.5, "--block-size"),
     ("learning_rate", 0.0, "--learning-rate"), ("val_fraction", 1.0, "--val-fraction"),
     ("decay_fraction", 0.0, "--decay-fraction"), ("top_p", 1.5, "--top-p"), ("temperature", 0, "--temperature"),
     ("output", "", "--output")],
)  # fmt: skip
def test_config_checks_its_own_fields(field, value, flag):
    from massivetext.errors import ConfigError
    from massivetext.quickstart.run import QuickstartConfig

    with pytest.raises(ConfigError, match=rf"{field} \({flag}\) must be .*got {value!r}"):
        QuickstartConfig(**{field: value})


def test_config_checks_heads_divide_width():
    from massivetext.errors import ConfigError
    from massivetext.quickstart.run import QuickstartConfig

    with pytest.raises(ConfigError, match=r"n_embd \(--n-embd\) must be a multiple of n_head \(3\)"):
        QuickstartConfig(n_embd=128, n_head=3)
    QuickstartConfig(n_embd=192, n_head=3, max_docs=50, workers=1)  # fine


def test_bad_head_count_exits_2_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, "-m", "massivetext.cli.main", "quickstart", "--output", str(tmp_path / "q"),
                           "--n-embd", "100", "--n-head", "3"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--n-embd" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "q").exists()
