"""GPT under torch.compile, as the Trainer runs it (autocast, chunked loss, dropout): one graph, no breaks, and the
traced training step computes what eager computes."""

from __future__ import annotations

import pytest
import torch

import massivetext as mt


def _gpt(dropout: float) -> mt.GPTForCausalLM:
    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=96, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                  resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)  # fmt: skip
    torch.manual_seed(0)
    return mt.AutoModelForCausalLM.from_config(cfg).train()


@pytest.mark.parametrize("dropout,bf16", [(0.0, True), (0.1, True), (0.1, False)], ids=["bf16", "bf16-drop", "drop"])
def test_training_forward_is_one_graph(dropout, bf16):
    model = _gpt(dropout)
    x = torch.randint(0, 96, (2, 32))
    torch._dynamo.reset()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        explained = torch._dynamo.explain(model)(x, labels=x, return_logits=False)
    assert explained.graph_break_count == 0, [str(b.reason).splitlines()[0] for b in explained.break_reasons]
    assert explained.graph_count == 1


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_traced_training_step_equals_eager(bf16):
    """aot_eager runs the graph dynamo and AOTAutograd trace (forward and backward, the chunked loss's own
    autograd.Function included) with eager kernels, so any difference is a tracing error, not a kernel's rounding."""
    x = torch.randint(0, 96, (4, 32))
    grads, losses = [], []
    for backend in (None, "aot_eager"):
        model = _gpt(0.0)
        torch._dynamo.reset()
        fwd = model if backend is None else torch.compile(model, backend=backend)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = fwd(x, labels=x, return_logits=False).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-6, atol=1e-6)
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-5, atol=1e-6, msg=name)
