"""A sequence longer than a model's positions, fed straight to it, is a MassiveTextError naming both numbers
(transformers and plain torch give ``IndexError: index out of range in self``)."""

from __future__ import annotations

import pytest
import torch
import transformers

import massivetext as mt
from massivetext.models.config import GPTConfig
from massivetext.models.gpt import GPTForCausalLM


def _load(hf_model, path):
    hf_model.save_pretrained(path)
    return mt.AutoModel.from_pretrained(path)


def _ids(n: int) -> torch.Tensor:
    return torch.randint(5, 40, (2, n), generator=torch.Generator().manual_seed(0))


def test_gpt2(tmp_path):
    model = _load(transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=16, n_head=2, n_layer=1,
                                                                       vocab_size=50, n_positions=12)), tmp_path)  # fmt: skip
    assert model(_ids(12)).logits.shape == (2, 12, 50)  # the limit itself is fine
    with pytest.raises(mt.MassiveTextError, match="13 tokens is longer than the 12 positions"):
        model(_ids(13))
    with pytest.raises(mt.MassiveTextError, match="12"):
        model.generate(_ids(5), max_new_tokens=8)


def test_rotary_gpt_has_a_limit_too():
    model = GPTForCausalLM(GPTConfig(n_embd=16, n_head=2, n_layer=1, vocab_size=50, n_positions=12, mt_rotary=True))
    with pytest.raises(mt.MassiveTextError, match="13 tokens is longer than the 12 positions"):
        model(_ids(13))
    with pytest.raises(mt.MassiveTextError, match="exceeds the model's context of 12"):
        model.generate(_ids(5), max_new_tokens=8)


@pytest.mark.parametrize("roberta", [False, True])
def test_bert_and_roberta(tmp_path, roberta):
    kind = "Roberta" if roberta else "Bert"
    config = getattr(transformers, f"{kind}Config")(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                    num_attention_heads=2, intermediate_size=32,
                                                    max_position_embeddings=14 if roberta else 12)  # fmt: skip
    model = _load(getattr(transformers, f"{kind}ForMaskedLM")(config), tmp_path)
    assert model(_ids(12)).logits.shape == (2, 12, 50)  # RoBERTa: 14 rows, positions from pad id + 1 = 2
    with pytest.raises(mt.MassiveTextError, match="13 tokens is longer than the 12 positions"):
        model(_ids(13))


def test_marian(tmp_path):
    config = transformers.MarianConfig(vocab_size=50, d_model=16, encoder_layers=1, decoder_layers=1,
                                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                       decoder_ffn_dim=32, max_position_embeddings=12, pad_token_id=49,
                                       decoder_start_token_id=49)  # fmt: skip
    model = _load(transformers.MarianMTModel(config), tmp_path)
    with pytest.raises(mt.MassiveTextError, match="13 tokens is longer than the 12 positions"):
        model(input_ids=_ids(13), decoder_input_ids=_ids(3))
    with pytest.raises(mt.MassiveTextError, match="13 tokens is longer than the 12 positions"):
        model(input_ids=_ids(3), decoder_input_ids=_ids(13))


def test_t5_relative_positions_have_no_limit(tmp_path):
    config = transformers.T5Config(vocab_size=50, d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=1,
                                   n_positions=12, decoder_start_token_id=0)  # fmt: skip
    model = _load(transformers.T5ForConditionalGeneration(config), tmp_path)
    assert model(input_ids=_ids(40), decoder_input_ids=_ids(40)).logits.shape == (2, 40, 50)
