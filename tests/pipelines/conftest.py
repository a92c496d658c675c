"""Session fixtures: tiny random checkpoints (see pipeline_helpers) saved once per test session."""

from __future__ import annotations

import pytest
import torch

from peers import require

require("transformers")
import transformers  # noqa: E402
from pipeline_helpers import (  # noqa: E402
    LABELS_NER,
    _peaked,
    bert_config,
    bytelevel_tokenizer,
    roberta_config,
    save,
    seq2seq_tokenizer,
    tiny_t5,
    wordpiece_tokenizer,
)

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def bert_tok():
    return wordpiece_tokenizer()


@pytest.fixture(scope="session")
def bert_cls_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    cfg = bert_config(bert_tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = _peaked(transformers.BertForSequenceClassification(cfg))
    return save(model, bert_tok, tmp_path_factory.mktemp("bert-cls"))


@pytest.fixture(scope="session")
def nli_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(3)
    labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
    cfg = bert_config(bert_tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    return save(_peaked(transformers.BertForSequenceClassification(cfg)), bert_tok, tmp_path_factory.mktemp("nli"))


@pytest.fixture(scope="session")
def bert_ner_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    labels = dict(enumerate(LABELS_NER))
    cfg = bert_config(bert_tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = _peaked(transformers.BertForTokenClassification(cfg), std=1.0)
    return save(model, bert_tok, tmp_path_factory.mktemp("bert-ner"))


@pytest.fixture(scope="session")
def roberta_ner_dir(tmp_path_factory):
    tok = bytelevel_tokenizer(roberta=True)
    torch.manual_seed(0)
    labels = dict(enumerate(LABELS_NER))
    cfg = roberta_config(tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = _peaked(transformers.RobertaForTokenClassification(cfg), std=1.0)
    return save(model, tok, tmp_path_factory.mktemp("roberta-ner"))


@pytest.fixture(scope="session")
def roberta_cls_dir(tmp_path_factory):
    tok = bytelevel_tokenizer(roberta=True)
    torch.manual_seed(0)
    model = _peaked(transformers.RobertaForSequenceClassification(roberta_config(tok, num_labels=2)))
    return save(model, tok, tmp_path_factory.mktemp("roberta-cls"))


@pytest.fixture(scope="session")
def bert_mlm_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(bert_config(bert_tok))
    return save(model, bert_tok, tmp_path_factory.mktemp("bert-mlm"))


@pytest.fixture(scope="session")
def roberta_mlm_dir(tmp_path_factory):
    tok = bytelevel_tokenizer(roberta=True)
    torch.manual_seed(0)
    model = transformers.RobertaForMaskedLM(roberta_config(tok))
    return save(model, tok, tmp_path_factory.mktemp("roberta-mlm"))


@pytest.fixture(scope="session")
def bert_qa_dir(tmp_path_factory):
    tok = wordpiece_tokenizer(model_max_length=512)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    model = _peaked(transformers.BertForQuestionAnswering(cfg), std=1.0)
    return save(model, tok, tmp_path_factory.mktemp("bert-qa"))


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    tok = bytelevel_tokenizer(roberta=False, model_max_length=96)
    torch.manual_seed(0)
    eos = tok.eos_token_id
    cfg = transformers.GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=96,
        bos_token_id=eos,
        eos_token_id=eos,
        activation_function="gelu_new",
    )
    return save(transformers.GPT2LMHeadModel(cfg), tok, tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory):
    tok = seq2seq_tokenizer()
    torch.manual_seed(0)
    return save(tiny_t5(tok), tok, tmp_path_factory.mktemp("t5"))


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory):
    tok = seq2seq_tokenizer()
    torch.manual_seed(0)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    cfg = transformers.MarianConfig(
        vocab_size=len(tok),
        d_model=32,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=48,
        decoder_ffn_dim=48,
        max_position_embeddings=64,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=eos,
        forced_eos_token_id=eos,
        scale_embedding=True,
        activation_function="swish",
    )
    model = transformers.MarianMTModel(cfg)
    model.generation_config.max_length = 12  # as opus-mt models ship a max_length, which beats the pipeline's 256
    return save(model, tok, tmp_path_factory.mktemp("marian"))
