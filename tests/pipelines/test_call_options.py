"""transformers' call-time pipeline options, and fill-mask's LM head on the masked positions only: results equal to
transformers' pipeline on the same tiny checkpoints, with the batching and the head's rows observed directly."""

from __future__ import annotations

import pytest
import transformers
from pipeline_helpers import assert_same, sentences

import massivetext as mt
from massivetext.errors import ConfigError

TEXTS = sentences(9, seed=7, lo=1, hi=12)


def _rows_per_forward(pipe) -> list[int]:
    """Wrap the pipeline's model forward and record each batch's row count."""
    rows: list[int] = []
    model = pipe.model
    inner = model.forward

    def spy(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        rows.append(int(ids.shape[0]))
        return inner(*args, **kwargs)

    model.forward = spy
    return rows


def test_batch_size_at_call_time_cuts_that_calls_batches_only(bert_cls_dir):
    ref = transformers.pipeline("text-classification", model=bert_cls_dir, tokenizer=bert_cls_dir)
    pipe = mt.pipeline("text-classification", model=bert_cls_dir, batch_size=64)
    rows = _rows_per_forward(pipe)
    assert_same(pipe(TEXTS, batch_size=2, top_k=None), ref(TEXTS, batch_size=2, top_k=None))
    assert max(rows) == 2 and sum(rows) == len(TEXTS)
    rows.clear()
    assert_same(pipe(TEXTS, top_k=None), ref(TEXTS, top_k=None))  # the pipeline's own size is untouched
    assert rows == [len(TEXTS)] and pipe.batch_size == 64
    assert_same(pipe(TEXTS[0], num_workers=4), ref(TEXTS[0], num_workers=4))  # accepted, nothing to do here
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        pipe(TEXTS, batch_size=0)
    with pytest.raises(ConfigError, match="batch_size must be an integer"):
        pipe(TEXTS, batch_size="8")


@pytest.mark.parametrize("fixture,mask", [("bert_mlm_dir", "[MASK]"), ("roberta_mlm_dir", "<mask>")])
def test_fill_mask_runs_the_lm_head_on_masked_positions_only(fixture, mask, request):
    d = request.getfixturevalue(fixture)
    ref = transformers.pipeline("fill-mask", model=d, tokenizer=d)
    pipe = mt.pipeline("fill-mask", model=d, batch_size=8)
    head_rows: list[int] = []
    pipe.model.head.decoder.register_forward_hook(lambda m, args, out: head_rows.append(args[0].shape[0]))
    items = [f"the river {mask} of the city", f"{mask} walked to the {mask} yesterday", f"Alice visited {mask}."]
    assert_same(pipe(items, top_k=3), ref(items, top_k=3))
    assert head_rows == [4]  # one batch, four masks; not 3 rows x the longest input's tokens
    # a task's own __call__ (fill-mask unwraps a one-item list) still applies once with a call-time batch_size
    assert_same(pipe(items[:1], batch_size=1, top_k=1), ref(items[:1], batch_size=1, top_k=1))
    assert_same(pipe(items, batch_size=1, top_k=2), ref(items, batch_size=1, top_k=2))
