"""The EN→FR translation recipe: its YAML rejects a wrong field in one line, and on a reduced budget (a planted-easy
word-substitution language) the Marian model it trains beats copying the source on BLEU and chrF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "translation"


@pytest.mark.parametrize(
    ("override", "message"),
    [("args.lerning_rate=1", "did you mean 'learning_rate'"), ("datta.files=x", "unknown section(s) ['datta']")],
)
def test_translation_yaml_with_a_wrong_field_is_one_line_exit_2(override, message):
    out = subprocess.run([sys.executable, "-m", "massivetext.cli.main", "train", str(RECIPE / "marian.yaml"), "--set",
                          override], capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr


def test_translation_recipe_beats_copy_source_on_a_planted_easy_language(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(RECIPE / "run.py"), "--ci", "--work", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    model, copy = results["models"]["Marian (from scratch)"], results["models"]["copy the source"]
    assert results["sizes"]["test_scored"] == 200
    # copying English into an invented vocabulary shares no word: BLEU ~0; the trained model must clear it widely,
    # with intervals that do not overlap
    for metric, margin in (("bleu", 50.0), ("chrf", 40.0)):
        assert model[metric]["score"] > copy[metric]["score"] + margin, (metric, model, copy)
        assert model[metric]["ci"][0] > copy[metric]["ci"][1]
    assert model["bleu"]["signature"].startswith("nrefs:1|") and "tok:13a" in model["bleu"]["signature"]
    # the pipeline's output is text in the target language (examples kept in results.json)
    assert all(ex["translation"] and ex["translation"] != ex["source"] for ex in results["examples"])
    # a plain pipeline call with no generation options works on the checkpoint (its generation_config.json says
    # max_length = the position table; the pipeline's own default of 256 new tokens would run past it) and agrees
    # with the recipe's greedy translations wherever both stop
    import massivetext as mt

    tr = mt.pipeline("translation_en_to_fr", model=str(tmp_path / "model"))
    assert json.loads((tmp_path / "model" / "generation_config.json").read_text())["max_length"] == 128
    ex = results["examples"][:4]
    plain = tr([e["source"] for e in ex], num_beams=1)
    assert [p["translation_text"] for p in plain] == [e["translation"] for e in ex]
