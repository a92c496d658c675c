"""``massivetext generate`` runs on the generation pipelines: a seq2seq model's output is the text2text pipeline's
(greedy unless asked), streamed or not; stop strings reach the model."""

from __future__ import annotations

import pytest

import massivetext as mt
from massivetext.cli.main import main


@pytest.mark.parametrize("extra", [["--no-stream"], []])
def test_generate_seq2seq_prints_the_pipeline_output(t5_dir, capsys, extra):
    assert main(["generate", "--model", t5_dir, "--prompt", "Alice visited the castle", "-n", "6", *extra]) == 0
    printed = capsys.readouterr().out
    want = mt.pipeline("text2text-generation", model=t5_dir)("Alice visited the castle", max_new_tokens=6, num_beams=1)
    assert printed.strip() == want[0]["generated_text"].strip()
