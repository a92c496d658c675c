"""Auto classes, configs, strict checkpoint loading, and hub names without a network."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import massivetext as mt
from massivetext.errors import ConfigError, MassiveTextError, MissingFileError

transformers = pytest.importorskip("transformers")


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
    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=40, n_embd=32, n_head=2, n_layer=1, n_positions=16)
    model = mt.AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(tmp_path, dtype=torch.bfloat16)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    back = mt.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    out = back(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
