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


def test_reorder_with_token_prefixes_matches_moving_every_row():
    """With the beams' token ids, a copied row moves only what follows the prefix it shares with the beam whose row
    it takes. Simulated beam search: keys/values are a function of the token prefix (as a decoder's are), children
    of one parent get different tokens, and inputs leave; seen in beam order the cache equals moving every row,
    and fewer positions were written than copying whole rows would."""
    torch.manual_seed(1)
    B, K, layers, heads, d, steps = 6, 4, 2, 2, 3, 14
    rows = B * K
    cache = BeamKVCache(layers, rows, heads, steps, d, torch.float32, "cpu")
    table: dict[tuple, torch.Tensor] = {}  # token prefix -> the keys/values its last position gets

    def kv_of(prefix: tuple) -> torch.Tensor:
        return table.setdefault(prefix, torch.randn(heads, d))

    seqs = [[b, 0] for b in range(B) for _ in range(K)]  # input id, start token: the beams of an input start equal
    ref = torch.zeros(rows, 0, heads, d)
    written = whole = 0
    real_copy = torch.Tensor.copy_
    count: list[int] = []  # positions written by each row copy of one reorder

    def counting_copy(dst, src, *a, **kw):
        count.append(dst.shape[0])
        return real_copy(dst, src, *a, **kw)

    for t in range(steps):
        k = torch.stack([kv_of(tuple(s)) for s in seqs])[:, :, None]  # (rows, heads, 1, d) in beam order
        for layer in range(layers):
            cache.update(layer, cache.to_physical(k), cache.to_physical(k), t)
        ref = torch.cat([ref, k.permute(0, 2, 1, 3)], 1)
        for layer in range(layers):
            got, _ = _beam_view(cache, layer, t + 1)
            assert torch.equal(got, ref), (t, layer)
        if t == steps - 1:
            break
        nb = rows // K
        parents = torch.randint(0, K, (nb, K)).sort(1).values
        index = (parents + torch.arange(nb)[:, None] * K).view(-1)
        tokens = torch.tensor([s[1:] for s in seqs])  # what each old beam fed in, position by position
        if t in (4, 9):  # inputs finish and leave
            keep = torch.ones(nb, dtype=torch.bool)
            keep[1 if t == 4 else 0] = False
            index = index.view(-1, K)[keep].view(-1)
            rows = index.numel()
        count.clear()
        torch.Tensor.copy_ = counting_copy
        try:
            cache.reorder(index, K, tokens)
        finally:
            torch.Tensor.copy_ = real_copy
        written += sum(count)
        whole += (index.numel() - index.unique().numel()) * (t + 1)  # second children, whole rows copied
        # each child appends a token no sibling of the same parent appends: sequences stay distinct
        new = []
        for i, p in enumerate(index.tolist()):
            sibling = sum(1 for q in index.tolist()[:i] if q == p)
            new.append(seqs[p] + [1 + sibling + 3 * (t % 2)])
        seqs = new
        ref = ref[index]
    assert 0 < written < whole / 2, (written, whole)  # shared prefixes were skipped


def test_buffer_is_reused_after_its_cache_is_collected():
    """A finished cache hands its buffer to the next one (memory already mapped), also to a smaller one; the spare
    can be released."""
    import gc

    from massivetext.models import cache as cache_module

    cache_module.release_spare_buffers()
    first = BeamKVCache(2, 8, 2, 5, 3, torch.float32, "cpu")
    ptr = first.buf.data_ptr()
    second = BeamKVCache(2, 8, 2, 5, 3, torch.float32, "cpu")  # while the first lives: its own memory
    assert second.buf.data_ptr() != ptr
    del first
    gc.collect()
    third = BeamKVCache(2, 4, 2, 5, 3, torch.float32, "cpu")
    assert third.buf.data_ptr() == ptr and third.buf.shape == (5, 2, 4, 2, 2, 3)
    del second, third
    gc.collect()
    assert cache_module._SPARE
    with torch.inference_mode():  # an inference tensor could not be written outside: not handed out there
        inner = BeamKVCache(2, 4, 2, 5, 3, torch.float32, "cpu")
        assert inner.buf.data_ptr() != ptr
    del inner
    gc.collect()
    outside = BeamKVCache(2, 4, 2, 5, 3, torch.float32, "cpu")
    assert not outside.buf.is_inference()
    outside.buf.zero_()
    del outside
    gc.collect()
    cache_module.release_spare_buffers()
    assert not cache_module._SPARE
