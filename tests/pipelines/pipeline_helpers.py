"""Builders for tiny random checkpoints made by transformers (non-default configs) with tokenizers trained here,
saved to directories that both MassiveText and transformers (5 in-process, 4.57 in a side virtualenv) load; and
``assert_same``, the field-for-field comparison of pipeline outputs."""

from __future__ import annotations

import random

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from massivetext.tokenization.tokenizer import FastTokenizer

WORDS = (
    "the a of and to in is was for on that with as by at from his her it an were are which this be has had "
    "river valley mountain city market harbour bridge station garden museum library castle village forest "
    "Alice Bob Carol David Erin Frank Grace Heidi Ivan Judy Mallory Oscar Peggy Trent Victor Walter "
    "Paris London Berlin Madrid Rome Vienna Prague Lisbon Dublin Oslo Zurich Geneva Krakow Utrecht "
    "walked visited painted founded discovered wrote built crossed opened closed remembered announced "
    "quickly slowly gladly rarely often never always yesterday tomorrow morning evening winter summer "
    "extraordinary unbelievable reconstruction internationalization photosynthesis "
    ", . ! ? ' ( ) 1999 2024 42"
).split()
LABELS_NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def sentences(n: int, seed: int = 0, lo: int = 4, hi: int = 30) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
        out.append(" ".join(words).replace(" ,", ",").replace(" .", "."))
    return out


def wordpiece_tokenizer(model_max_length: int = 64) -> FastTokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # a small vocabulary so long words split into several pieces (NER word aggregation, QA word alignment)
    tok.train_from_iterator(sentences(400), trainers.WordPieceTrainer(vocab_size=180, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return FastTokenizer.from_backend(
        tok,
        {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
            "model_max_length": model_max_length,
            "clean_up_tokenization_spaces": True,
        },
    )


def bytelevel_tokenizer(roberta: bool, model_max_length: int = 64) -> FastTokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if roberta else ["<|endoftext|>"]
    tok.train_from_iterator(
        sentences(400, seed=1),
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    if roberta:
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
        config = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            "cls_token": "<s>",
            "sep_token": "</s>",
            "mask_token": "<mask>",
        }
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        config = {
            "bos_token": "<|endoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
        }
    return FastTokenizer.from_backend(tok, {**config, "model_max_length": model_max_length})


def seq2seq_tokenizer(model_max_length: int = 64) -> FastTokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(sentences(400, seed=2), trainers.BpeTrainer(vocab_size=200, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return FastTokenizer.from_backend(
        tok, {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": model_max_length}
    )


def save(model, tokenizer, path) -> str:
    model.eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _peaked(model, std: float = 0.3):
    """Larger random weights so a random model's labels vary (otherwise every token gets one label)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "classifier" in name or "qa_outputs" in name:
                p.normal_(0.0, std)
    return model


def bert_config(tok: FastTokenizer, **kw):
    return transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=64,
        type_vocab_size=2,
        pad_token_id=tok.pad_token_id,
        **kw,
    )


def roberta_config(tok: FastTokenizer, **kw):
    return transformers.RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=66,
        type_vocab_size=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=0,
        eos_token_id=2,
        **kw,
    )


def assert_same(ours, ref, tol: float = 1e-5, path: str = "result") -> None:
    """Same structure, keys, strings and ints; floats within tol."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict), f"{path}: {type(ours).__name__} vs dict"
        assert sorted(ours) == sorted(ref), f"{path}: keys {sorted(ours)} vs {sorted(ref)}"
        for k in ref:
            assert_same(ours[k], ref[k], tol, f"{path}.{k}")
    elif isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)), f"{path}: {type(ours).__name__} vs list"
        assert len(ours) == len(ref), f"{path}: {len(ours)} vs {len(ref)} items\nours={ours}\nref={ref}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same(a, b, tol, f"{path}[{i}]")
    elif isinstance(ref, float) or hasattr(ref, "dtype") and "float" in str(ref.dtype):
        assert abs(float(ours) - float(ref)) <= tol, f"{path}: {ours} vs {ref}"
    else:
        if hasattr(ref, "item"):
            ref = ref.item()
        assert ours == ref, f"{path}: {ours!r} vs {ref!r}"


def tiny_t5(tok: FastTokenizer) -> transformers.T5ForConditionalGeneration:
    """A tiny random T5 with task_specific_params (summarization and translation prefixes), as the pipelines read."""
    cfg = transformers.T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=8,
        num_heads=4,
        num_layers=2,
        d_ff=48,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=20,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
        task_specific_params={
            "summarization": {"prefix": "summarize: ", "max_length": 12, "num_beams": 2},
            "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 10},
        },
    )
    return transformers.T5ForConditionalGeneration(cfg)
