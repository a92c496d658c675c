"""The LSTM baseline learns, saves, loads and generates like the other causal LMs."""

from __future__ import annotations

import torch
from torch.testing import assert_close

import massivetext as mt


def test_lstm_learns_a_counting_sequence_and_roundtrips(tmp_path):
    """Sequences k, k+1, k+2, ... (mod 16): each next token follows from the current one.
    Bound: loss below 0.2 nats after 120 steps (chance is ln 16 = 2.8)."""
    torch.manual_seed(0)
    cfg = mt.AutoConfig.for_model("mt_lstm", vocab_size=16, hidden_size=64, num_layers=1, dropout=0.0)
    model = mt.AutoModelForCausalLM.from_config(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        start = torch.randint(0, 16, (32, 1))
        x = (start + torch.arange(20)) % 16
        loss = model(x[:, :-1], shift_labels=x[:, 1:]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2, loss.item()
    model.eval().save_pretrained(tmp_path)
    back = mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    x = torch.tensor([[3, 4, 5]])
    assert_close(back(x).logits, model(x).logits)
    assert back.generate(x, max_new_tokens=5, eos_token_id=None)[0, 3:].tolist() == [6, 7, 8, 9, 10]
    assert back.generate(x, max_new_tokens=5, eos_token_id=None, num_beams=2)[0, 3:].tolist() == [6, 7, 8, 9, 10]
