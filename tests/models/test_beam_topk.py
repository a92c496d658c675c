"""row_topk (beam search's per-row top 2K of a vocabulary) against torch.topk: the same values and indices, on
vocabularies with and without a remainder past the 64-column chunks, rows banned to -inf but one token (a forced
EOS), rows with many banned tokens, and the fallback for small vocabularies."""

import pytest
import torch

from massivetext.models.generation import row_topk


@pytest.mark.parametrize("V", [8000, 8001, 8063, 3000, 58101, 100])
@pytest.mark.parametrize("k", [2, 6, 8])
def test_row_topk_matches_torch_topk(V, k, monkeypatch):
    g = torch.Generator().manual_seed(V + k)
    x = torch.randn(37, V, generator=g).log_softmax(-1)
    x[3] = -float("inf")
    x[3, V - 1] = 0.0  # forced EOS: one finite score, in the remainder when there is one
    x[5, ::3] = -float("inf")  # banned tokens (bad words, n-grams)
    x[7, 12] = 50.0  # one chunk holds the row's two best
    x[7, 13] = 49.0
    sizes = []
    real_topk = torch.topk
    monkeypatch.setattr(torch, "topk", lambda t, kk, *a, **kw: sizes.append(t.shape[-1]) or real_topk(t, kk, *a, **kw))
    got_v, got_i = row_topk(x, k)
    monkeypatch.undo()
    want_v, want_i = torch.topk(x, k)
    assert torch.equal(got_v, want_v)
    rows = [r for r in range(37) if r != 3]  # row 3: -inf ties after its one finite score, in any order
    assert torch.equal(got_i[rows], want_i[rows])
    assert got_i[3, 0] == V - 1
    if V >= 64 * 4 * k:  # the fast path: torch.topk never saw a whole row
        assert max(sizes) < V // 4, sizes
    else:
        assert sizes == [V]
