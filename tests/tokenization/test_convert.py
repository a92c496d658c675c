"""Tokenizers without a tokenizer.json: SentencePiece (T5, Marian), BERT vocab.txt, GPT-2 vocab.json + merges.txt."""

import io
import json

import pytest
import sentencepiece as spm

import massivetext as mt
from tokenization_helpers import TEXTS, corpus

SAMPLES = ["Hello world, this is a test.", "the quick  brown fox", "  spaces   everywhere  ", "Größe café naïve"]


def _train_spm(model_type: str, vocab_size: int = 180, **extra) -> bytes:
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus(200) + TEXTS * 5),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type=model_type,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
        hard_vocab_limit=False,
        **extra,
    )
    return buf.getvalue()


@pytest.fixture(scope="module")
def unigram_spm():
    return _train_spm("unigram")


def test_t5_style_spiece_model_matches_sentencepiece(tmp_path, unigram_spm):
    (tmp_path / "spiece.model").write_bytes(unigram_spm)
    sp = spm.SentencePieceProcessor(model_proto=unigram_spm)
    tok = mt.AutoTokenizer.from_pretrained(tmp_path)
    assert (tok.pad_token, tok.eos_token, tok.unk_token) == ("<pad>", "</s>", "<unk>")
    for text in SAMPLES + TEXTS[:3]:
        assert tok.encode(text) == sp.encode(text) + [sp.eos_id()], text  # T5 appends </s>
        if sp.unk_id() not in sp.encode(text):  # spm renders <unk> as " ⁇ ", transformers as the token
            assert tok.decode(tok.encode(text), skip_special_tokens=True) == sp.decode(sp.encode(text))
    # the converted tokenizer saves as tokenizer.json and loads in transformers with the same ids
    out = tmp_path / "converted"
    tok.save_pretrained(out)
    from transformers import AutoTokenizer as HFAutoTokenizer

    hf = HFAutoTokenizer.from_pretrained(str(out))
    assert hf(SAMPLES)["input_ids"] == tok(SAMPLES)["input_ids"]


def test_single_spm_file_and_bpe_model(tmp_path):
    proto = _train_spm("bpe")
    (tmp_path / "m.model").write_bytes(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    tok = mt.AutoTokenizer.from_pretrained(tmp_path / "m.model")
    for text in SAMPLES:
        assert tok.encode(text)[:-1] == sp.encode(text), text


def test_marian_source_spm_and_vocab_json_match_transformers(tmp_path, unigram_spm):
    from transformers import MarianTokenizer

    sp = spm.SentencePieceProcessor(model_proto=unigram_spm)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    # Marian's vocab.json orders pieces its own way: <pad> first, then the rest reversed (ids differ from spm's)
    order = ["<pad>", "</s>", "<unk>"] + [p for p in reversed(pieces) if p not in ("<pad>", "</s>", "<unk>")]
    (tmp_path / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(order)}))
    (tmp_path / "source.spm").write_bytes(unigram_spm)
    (tmp_path / "target.spm").write_bytes(unigram_spm)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"source_lang": "en", "target_lang": "fr"}))
    ref = MarianTokenizer(str(tmp_path / "source.spm"), str(tmp_path / "target.spm"), str(tmp_path / "vocab.json"))
    tok = mt.AutoTokenizer.from_pretrained(tmp_path)
    assert tok.pad_token_id == ref.pad_token_id == 0 and tok.eos_token_id == ref.eos_token_id == 1
    for text in SAMPLES:
        assert tok.encode(text) == ref.encode(text), text
    batch = tok(SAMPLES, padding=True)
    assert batch["input_ids"] == ref(SAMPLES, padding=True)["input_ids"]
    assert tok.batch_decode(batch["input_ids"], skip_special_tokens=True) == ref.batch_decode(
        batch["input_ids"], skip_special_tokens=True
    )


def test_bert_vocab_txt_and_gpt2_vocab_merges(tmp_path, wordpiece, bpe):
    from transformers import BertTokenizer, GPT2Tokenizer

    wp, _ = wordpiece
    vocab = sorted(wp.get_vocab().items(), key=lambda kv: kv[1])
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "vocab.txt").write_text("\n".join(t for t, _ in vocab) + "\n")
    tok = mt.AutoTokenizer.from_pretrained(tmp_path / "bert")
    ref = BertTokenizer(str(tmp_path / "bert" / "vocab.txt"))
    for a, b in [("Hello world!", "Second part"), ("the Quick fox", "x")]:
        assert tok(a, b)["input_ids"] == ref(a, b)["input_ids"]
        assert tok(a, b)["token_type_ids"] == ref(a, b)["token_type_ids"]
    # GPT-2's older files: vocab.json + merges.txt
    bpe_tok, _ = bpe
    model = json.loads(bpe_tok.backend_tokenizer.to_str())["model"]
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "gpt2" / "vocab.json").write_text(json.dumps(model["vocab"]))
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (tmp_path / "gpt2" / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = mt.AutoTokenizer.from_pretrained(tmp_path / "gpt2")
    ref = GPT2Tokenizer(str(tmp_path / "gpt2" / "vocab.json"), str(tmp_path / "gpt2" / "merges.txt"))
    for text in TEXTS:
        assert tok.encode(text) == ref.encode(text) == bpe_tok.encode(text)
