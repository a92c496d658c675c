"""Tiny random checkpoints (transformers configs, MassiveText-trained tokenizers) for the evaluate CLI tests."""

import json

import torch

import massivetext as mt
from tiny_configs import tiny_bert_config, tiny_t5_config

WORDS = "the cat dog sat ran on under mat tree big small red blue house river city walked quickly".split()


def texts(n: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [
        " ".join(
            WORDS[int(i)]
            for i in torch.randint(0, len(WORDS), (int(torch.randint(4, 12, (1,), generator=g)),), generator=g)
        )
        for _ in range(n)
    ]


def _save(model, tok, path) -> str:
    model.eval().save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def gpt(path) -> str:
    import transformers

    torch.manual_seed(0)
    tok = mt.train_tokenizer(texts(60), vocab_size=300)
    cfg = transformers.GPT2Config(
        n_embd=32,
        n_head=2,
        n_layer=1,
        vocab_size=len(tok),
        n_positions=64,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return _save(transformers.GPT2LMHeadModel(cfg), tok, path)


def t5(path) -> str:
    import transformers

    torch.manual_seed(0)
    tok = mt.train_tokenizer(texts(60), vocab_size=300)
    cfg = tiny_t5_config(tok)
    return _save(transformers.T5ForConditionalGeneration(cfg), tok, path)


def bert(path, head: str, labels: list[str] | None = None) -> str:
    import transformers

    torch.manual_seed(0)
    tok = mt.train_tokenizer(texts(60), kind="wordpiece", vocab_size=200)
    kw = {"id2label": dict(enumerate(labels)), "label2id": {v: i for i, v in enumerate(labels)}} if labels else {}
    cfg = tiny_bert_config(tok, **kw)
    cls = {
        "classification": transformers.BertForSequenceClassification,
        "ner": transformers.BertForTokenClassification,
        "qa": transformers.BertForQuestionAnswering,
    }[head]
    return _save(cls(cfg), tok, path)


def write_jsonl(path, rows, extra_lines=()) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return str(path)


def planted_qa(path, word: str) -> str:
    """A BERT QA checkpoint that answers ``word`` wherever it appears: every layer's residual branches are zeroed
    (a layer returns LayerNorm of its input), position and type embeddings are zero, so the final hidden state of a
    token is LayerNorm of its word embedding alone; ``word``'s embedding is a fixed +-1 pattern, every other
    embedding is orthogonal to it, and both QA rows point along it: ``word``'s start and end logits are 128, any
    other token's 0. (With random logits instead, transformers' rule of adding up the scores of equal answer
    texts across windows can let a frequent word outscore the planted one.)"""
    import transformers

    torch.manual_seed(0)
    tok = mt.train_tokenizer(texts(60), kind="wordpiece", vocab_size=200)
    cfg = tiny_bert_config(tok, max_position_embeddings=64)
    model = transformers.BertForQuestionAnswering(cfg)
    pattern = torch.tensor([1.0, -1.0] * 16)
    with torch.no_grad():
        for layer in model.bert.encoder.layer:
            for lin in (layer.attention.output.dense, layer.output.dense):
                lin.weight.zero_()
                lin.bias.zero_()
        emb = model.bert.embeddings
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        (wid,) = tok.encode(word, add_special_tokens=False)
        w = emb.word_embeddings.weight
        w -= (w @ pattern)[:, None] * pattern / 32  # every other token: logit exactly 0 (pattern has mean 0)
        w[wid] = pattern
        model.qa_outputs.weight.copy_(torch.stack([pattern, pattern]) * 4)
        model.qa_outputs.bias.zero_()
    return _save(model, tok, path)
