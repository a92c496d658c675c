"""A model that `massivetext train` builds for a tokenizer takes its special ids from it, never GPT-2's (issue 18)."""

from massivetext.cli.train import _model


class EosOnlyTokenizer:
    """A tokenizer with an end of text and no bos/pad token."""

    eos_token_id, bos_token_id, pad_token_id = 3, None, None

    def __len__(self) -> int:
        return 50


def test_model_built_for_a_tokenizer_takes_its_special_ids(tmp_path):
    spec = {"model": {"type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 16}}
    model = _model(spec, "causal_lm", EosOnlyTokenizer())
    c = model.config
    assert (c.vocab_size, c.eos_token_id, c.bos_token_id, c.pad_token_id) == (50, 3, None, None)
    model.save_pretrained(tmp_path / "m")  # every id inside the vocabulary: the save check lets it through
    explicit = _model({"model": {**spec["model"], "bos_token_id": 7}}, "causal_lm", EosOnlyTokenizer())
    assert explicit.config.bos_token_id == 7  # what the config says wins over the tokenizer
