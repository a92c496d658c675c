"""``massivetext generate``: the text printed is the decoded greedy continuation of the model."""

from __future__ import annotations

import pytest
import torch

from massivetext.cli.main import main
from massivetext.models.gpt import GPTForCausalLM
from peers import require

transformers = require("transformers")
tokenizers = require("tokenizers")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    d = tmp_path_factory.mktemp("gen")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["hello world, this is a small test of the generate verb"] * 20, trainer)
    tok.save(str(d / "tokenizer.json"))
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_embd=32, n_head=2, n_layer=1, vocab_size=tok.get_vocab_size(), n_positions=64, bos_token_id=0, eos_token_id=0
    )
    transformers.GPT2LMHeadModel(cfg).save_pretrained(d)
    return d, tok


@pytest.mark.parametrize("extra", [[], ["--no-stream"], ["--no-stream", "--num-beams", "2"], ["--num-beams", "2"]])
def test_generate_prints_the_greedy_continuation(model_dir, capsys, extra):
    d, tok = model_dir
    assert main(["generate", "--model", str(d), "--prompt", "hello world", "-n", "6", *extra]) == 0
    printed = capsys.readouterr().out
    ids = tok.encode("hello world").ids
    beams = int(extra[-1]) if "--num-beams" in extra else 1
    out = GPTForCausalLM.from_pretrained(d).generate(torch.tensor([ids]), max_new_tokens=6, num_beams=beams)
    assert printed == "hello world" + tok.decode(out[0, len(ids) :].tolist(), skip_special_tokens=True) + "\n"


def test_generate_user_errors_exit_2(model_dir, tmp_path, capsys):
    d, _ = model_dir
    assert main(["generate", "--model", str(tmp_path / "missing"), "--prompt", "x"]) == 2
    assert main(["generate", "--model", str(d)]) == 2
    assert "prompt" in capsys.readouterr().err
