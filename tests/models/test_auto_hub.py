"""Auto classes, configs, strict checkpoint loading, and hub names without a network."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import massivetext as mt
from massivetext.errors import ConfigError, MassiveTextError, MissingFileError
from peers import require

transformers = require("transformers")


def _tiny_gpt2(path):
    cfg = transformers.GPT2Config(n_embd=32, n_head=2, n_layer=1, vocab_size=50, n_positions=16)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)


def test_auto_config_roundtrip_keeps_unknown_keys(tmp_path):
    _tiny_gpt2(tmp_path)
    cfg = mt.AutoConfig.from_pretrained(tmp_path)
    assert (cfg.n_embd, cfg.vocab_size, cfg.model_type) == (32, 50, "gpt2")
    assert "summary_type" in cfg.extra  # a key MassiveText does not use survives
    again = mt.AutoConfig.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    assert transformers.GPT2Config.from_dict(cfg.to_dict()).n_embd == 32


def test_auto_model_picks_the_family(tmp_path):
    _tiny_gpt2(tmp_path)
    assert type(mt.AutoModel.from_pretrained(tmp_path)).__name__ == "GPTForCausalLM"
    with pytest.raises(ConfigError, match="no masked-lm head"):
        mt.AutoModelForMaskedLM.from_pretrained(tmp_path)


def test_loading_is_strict(tmp_path):
    _tiny_gpt2(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    extra = dict(state, **{"transformer.h.0.attn.surprise": torch.zeros(3)})
    save_file(extra, str(tmp_path / "model.safetensors"))
    with pytest.raises(ConfigError, match="no place for"):
        mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    missing = {k: v for k, v in state.items() if "ln_f" not in k}
    save_file(missing, str(tmp_path / "model.safetensors"))
    with pytest.raises(ConfigError, match="does not fill"):
        mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    bad = dict(state, **{"transformer.ln_f.weight": torch.zeros(7)})
    save_file(bad, str(tmp_path / "model.safetensors"))
    with pytest.raises(ConfigError, match="shape"):
        mt.AutoModelForCausalLM.from_pretrained(tmp_path)


def test_pytorch_bin_checkpoints_load(tmp_path):
    _tiny_gpt2(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    model = mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(model.transformer.wte.weight, state["transformer.wte.weight"])


def test_unknown_model_type_and_missing_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="llama"):
        mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(MissingFileError):
        mt.AutoModelForCausalLM.from_pretrained(tmp_path / "nowhere" / "deeper")


def test_hub_name_offline_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(MassiveTextError, match="could not be fetched from the Hugging Face hub.*offline"):
        mt.AutoModelForCausalLM.from_pretrained("massivetext-test/no-such-model")


def test_from_config_dtype_and_device(tmp_path):
    cfg = mt.AutoConfig.for_model(  # special ids inside the vocabulary, or saving refuses
        "gpt2", vocab_size=40, n_embd=32, n_head=2, n_layer=1, n_positions=16, bos_token_id=0, eos_token_id=0
    )
    model = mt.AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(tmp_path, dtype=torch.bfloat16)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    back = mt.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    out = back(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)


def _resave(path, state):
    (path / "model.safetensors").unlink()
    torch.save(state, path / "pytorch_model.bin")


def test_legacy_hub_layouts_load(tmp_path):
    """What the original hub checkpoints look like: bare GPT2Model names with mask buffers, TF-era BERT LayerNorm
    names with the NSP head and a decoder bias, T5 with embedding copies and a cross-attention bias table."""
    x = torch.tensor([[5, 6, 7, 8]])
    # GPT-2 ("gpt2"): no "transformer." prefix, attn.bias mask buffers
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_embd=32, n_head=2, n_layer=1, vocab_size=50, n_positions=16)
    ).eval()
    hf.save_pretrained(tmp_path / "gpt2")
    state = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    state["h.0.attn.bias"] = torch.ones(1, 1, 16, 16)
    _resave(tmp_path / "gpt2", state)
    with torch.no_grad():
        assert torch.allclose(
            mt.AutoModelForCausalLM.from_pretrained(tmp_path / "gpt2")(x).logits, hf(x).logits, atol=1e-5
        )
    # BERT ("bert-base-uncased"): gamma/beta, NSP head, position_ids buffer, decoder bias
    hf = transformers.BertForMaskedLM(
        transformers.BertConfig(
            hidden_size=32, num_attention_heads=2, num_hidden_layers=1, intermediate_size=40, vocab_size=50
        )
    ).eval()
    hf.save_pretrained(tmp_path / "bert")
    state = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in hf.state_dict().items()
    }
    state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    state["cls.seq_relationship.weight"] = torch.zeros(2, 32)
    state["bert.embeddings.position_ids"] = torch.arange(512)[None]
    _resave(tmp_path / "bert", state)
    with torch.no_grad():
        assert torch.allclose(
            mt.AutoModelForMaskedLM.from_pretrained(tmp_path / "bert")(x).logits, hf(x).logits, atol=1e-5
        )
    # T5 ("t5-small"): embed_tokens copies and decoder EncDecAttention.relative_attention_bias
    hf = transformers.T5ForConditionalGeneration(
        transformers.T5Config(
            d_model=32, d_kv=8, num_heads=4, num_layers=1, d_ff=40, vocab_size=50, decoder_start_token_id=0
        )
    ).eval()
    hf.save_pretrained(tmp_path / "t5")
    state = dict(hf.state_dict())
    state["encoder.embed_tokens.weight"] = state["decoder.embed_tokens.weight"] = state["shared.weight"]
    state["decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"] = torch.zeros(32, 4)
    _resave(tmp_path / "t5", state)
    with torch.no_grad():
        ours = mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "t5")(x, decoder_input_ids=x).logits
        assert torch.allclose(ours, hf(input_ids=x, decoder_input_ids=x).logits, atol=1e-5)
