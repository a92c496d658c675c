"""BeamKVCache keeps beams in interchangeable physical rows (copying only second children of a parent): seen in
beam order, its keys/values must equal a cache that moves every row to its beam's place each step."""

import torch

from massivetext.models.cache import BeamKVCache


def _beam_view(cache: BeamKVCache, layer: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
    k, v = cache.buf[:end, layer, :, 0], cache.buf[:end, layer, :, 1]  # (t, rows, heads, d) physical
    return cache.to_beams(k.transpose(0, 1)), cache.to_beams(v.transpose(0, 1))


def test_reorder_matches_moving_every_row():
    torch.manual_seed(0)
    B, K, layers, heads, d, steps = 5, 4, 2, 2, 3, 9
    rows = B * K
    cache = BeamKVCache(layers, rows, heads, steps, d, torch.float32, "cpu")
    ref_k = torch.zeros(rows, 0, heads, d)  # beam order, moved in full every step
    ref_v = ref_k.clone()
    copied = 0
    for t in range(steps):
        k, v = torch.randn(rows, heads, 1, d), torch.randn(rows, heads, 1, d)  # this step's rows, in beam order
        for layer in range(layers):
            cache.update(layer, cache.to_physical(k), cache.to_physical(v), t)
        ref_k = torch.cat([ref_k, k.permute(0, 2, 1, 3)], 1)
        ref_v = torch.cat([ref_v, v.permute(0, 2, 1, 3)], 1)
        for layer in range(layers):
            got_k, got_v = _beam_view(cache, layer, t + 1)
            assert torch.equal(got_k, ref_k) and torch.equal(got_v, ref_v), (t, layer)
        # parents inside each input's block, often repeated (a parent with 2-3 children)
        parents = torch.randint(0, K, (rows // K, K)).sort(1).values
        parents[:, 0] = torch.randint(0, K, (rows // K,))
        index = (parents + torch.arange(rows // K)[:, None] * K).view(-1)
        if t == 5:  # an input finished: its rows leave
            keep = torch.arange(rows // K) != 2
            index = index.view(-1, K)[keep].view(-1)
            rows -= K
        before = cache.buf.clone()
        cache.reorder(index, K)
        if index.numel() == before.shape[2]:
            copied += int((cache.buf != before).any(-1).any(-1).any(-1).any(0).any(0).sum())
        ref_k, ref_v = ref_k[index], ref_v[index]
    assert 0 < copied < (steps - 1) * B * K  # some rows copied, far from all of them
