"""Trainer(predict_with_generate=True, compute_metrics=metrics_for("translation", tok)) on a tiny T5 gives the BLEU
of generating and scoring by hand (issue 12's Trainer test; the Trainer side is training/'s)."""

import datasets
import pytest
import sacrebleu
import torch
from eval_t5_helpers import t5_config, tiny_corpus, tiny_tokenizer

import massivetext as mt
from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer
from peers import require

transformers = require("transformers")


def test_predict_with_generate_bleu_equals_by_hand(tmp_path):
    torch.manual_seed(0)
    corpus = tiny_corpus()
    tok = tiny_tokenizer(corpus)
    # seed 6: a random T5 that writes words, not only the pad id, so BLEU is neither 0 nor 100
    torch.manual_seed(6)
    cfg = t5_config(tok)
    # a rare end token: the random model writes max_length tokens instead of stopping at once (empty outputs)
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(tmp_path / "t5")
    model = mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "t5").eval()
    sources = corpus[:7]
    hyps = []
    for s in sources:  # one at a time, unpadded
        out = model.generate(torch.tensor([tok.encode(s)]), max_length=9)[0].tolist()
        hyps.append(tok.decode(out, skip_special_tokens=True).strip())
    # references: some are the outputs themselves, so BLEU is neither 0 nor 100 and a mismatch would show
    targets = [h if i % 2 else corpus[20 + i] for i, h in enumerate(hyps)]
    data = datasets.Dataset.from_dict(
        {
            "input_ids": [tok.encode(s) for s in sources],
            "labels": [tok.encode(t) + [tok.eos_token_id] for t in targets],
        }
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_eval_batch_size=3,
        predict_with_generate=True,
        generation_max_length=9,
        disable_tqdm=True,
        use_cpu=True,
        save_strategy="no",
    )
    trainer = Trainer(
        model,
        args,
        eval_dataset=data,
        tokenizer=tok,
        data_collator=mt.DataCollatorForSeq2Seq(tok, model=model),
        compute_metrics=mt.evaluation.metrics_for("translation", tok, tokenize="char"),
    )
    metrics = trainer.evaluate()
    assert 0 < metrics["eval_bleu"] < 100
    assert metrics["eval_bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [targets], tokenize="char").score)
    assert metrics["eval_chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [targets]).score)
    generated = trainer.predict(data).predictions
    assert mt.evaluation.compute_metrics.decode_ids(tok, generated) == hyps
