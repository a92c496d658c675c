"""A model config whose special-token ids fall outside its vocabulary is refused at save time (issue 18)."""

import pytest

import massivetext as mt
from massivetext.errors import ConfigError
from massivetext.models.config import special_ids_from_tokenizer


def _model(**ids):
    config = mt.AutoConfig.for_model("gpt2", vocab_size=100, n_positions=16, n_layer=1, n_head=2, n_embd=16, **ids)
    return mt.AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize(
    "ids, key",
    [
        ({"bos_token_id": 0, "eos_token_id": 50256}, "eos_token_id"),  # GPT-2's id in a 100-token vocabulary
        ({"bos_token_id": 100, "eos_token_id": 0}, "bos_token_id"),  # one past the end
        ({"bos_token_id": 0, "eos_token_id": [0, 512]}, "eos_token_id"),  # a list with one bad id
        ({"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": -1}, "pad_token_id"),
    ],
)
def test_save_refuses_ids_outside_the_vocabulary(tmp_path, ids, key):
    model = _model(**ids)
    for save in (model.save_pretrained, model.config.save_pretrained):
        target = tmp_path / f"m-{save.__self__.__class__.__name__}"
        with pytest.raises(ConfigError, match=rf"{key}=.*outside the vocabulary \(vocab_size=100\)"):
            save(target)
        assert not target.exists()  # refused before anything was written


def test_ids_inside_the_vocabulary_save_and_reach_generation_config(tmp_path):
    model = _model(bos_token_id=0, eos_token_id=[0, 99], pad_token_id=None)
    model.save_pretrained(tmp_path / "m")
    assert mt.AutoConfig.from_pretrained(tmp_path / "m").eos_token_id == [0, 99]
    assert '"eos_token_id"' in (tmp_path / "m" / "generation_config.json").read_text()


def test_special_ids_come_from_the_tokenizer():
    tok = mt.train_tokenizer(["hello world " * 20, "foo bar baz " * 20], kind="bpe", vocab_size=300)
    ids = special_ids_from_tokenizer(tok)
    assert ids == {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    config = mt.AutoConfig.for_model("gpt2", vocab_size=len(tok), **ids)
    assert config.eos_token_id == tok.convert_tokens_to_ids("<|endoftext|>") < len(tok)
