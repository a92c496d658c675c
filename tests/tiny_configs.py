"""The tiny random transformers configs several test folders build checkpoints from (one copy, not one per folder)."""

from peers import require


def tiny_t5_config(tok, eos_token_id: int | None = None):
    """T5 with 1 layer, d_model 32; pad = decoder start; ``eos_token_id`` defaults to the tokenizer's."""
    transformers = require("transformers")
    return transformers.T5Config(
        d_model=32,
        d_kv=8,
        num_heads=2,
        num_layers=1,
        d_ff=48,
        vocab_size=len(tok),
        relative_attention_num_buckets=8,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id if eos_token_id is None else eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )


def tiny_bert_config(tok, max_position_embeddings: int = 128, **kw):
    """BERT with 1 layer, hidden 32, 2 heads; ``kw`` adds labels and the like."""
    transformers = require("transformers")
    return transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        vocab_size=len(tok),
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tok.pad_token_id,
        **kw,
    )
