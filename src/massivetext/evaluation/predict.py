"""Running a checkpoint over evaluation examples, batched, with a progress bar: generation (translation,
summarization), sequence classification, token classification (NER) and extractive QA.

Inputs are sorted by length so a batch pads little, and results are put back in the examples' order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def _batches(lengths: list[int], batch_size: int, desc: str, progress: bool) -> Iterator[np.ndarray]:
    order = np.argsort(-np.asarray(lengths), kind="stable")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(order), desc=desc, unit="ex")
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        yield idx
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def generate_texts(
    model: Any,
    tokenizer: Any,
    sources: list[str],
    *,
    batch_size: int = 16,
    max_new_tokens: int = 128,
    num_beams: int = 1,
    max_source_length: int | None = None,
    prefix: str = "",
    progress: bool = True,
) -> list[str]:
    """Greedy (or beam) outputs for each source. A decoder-only model continues ``prefix + source`` (left padded)
    and only the continuation is returned."""
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    tokenizer.padding_side = "right" if enc_dec else "left"
    texts = [prefix + s for s in sources]
    outputs: list[str] = [""] * len(texts)
    model.eval()
    with torch.inference_mode():
        for idx in _batches([len(t) for t in texts], batch_size, "generate", progress):
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=max_source_length is not None,
                max_length=max_source_length,
                return_tensors="pt",
            )
            ids = enc["input_ids"].to(_device(model))
            mask = enc["attention_mask"].to(_device(model))
            out = model.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, num_beams=num_beams)
            if not enc_dec:
                out = out[:, ids.shape[1] :]
            for i, text in zip(idx, tokenizer.batch_decode(out.tolist(), skip_special_tokens=True)):
                outputs[int(i)] = text.strip()
    return outputs


def classify(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Predicted class ids."""
    tokenizer.padding_side = "right"
    preds = np.zeros(len(texts), dtype=np.int64)
    model.eval()
    with torch.inference_mode():
        for idx in _batches([len(t) for t in texts], batch_size, "classify", progress):
            enc = tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            logits = model(**{k: v.to(_device(model)) for k, v in enc.items() if k != "offset_mapping"}).logits
            preds[idx] = logits.argmax(-1).cpu().numpy()
    return preds


def tag_words(
    model: Any,
    tokenizer: Any,
    words: list[list[str]],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    progress: bool = True,
) -> list[list[int]]:
    """Predicted tag id per word: the prediction at each word's first sub-token (the usual alignment). Words cut
    off by truncation get tag id -1."""
    tokenizer.padding_side = "right"
    out: list[list[int]] = [[] for _ in words]
    model.eval()
    with torch.inference_mode():
        for idx in _batches([sum(map(len, w)) for w in words], batch_size, "tag", progress):
            enc = tokenizer(
                [words[i] for i in idx],
                is_split_into_words=True,
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            inputs = {
                k: v.to(_device(model))
                for k, v in enc.items()
                if k in ("input_ids", "attention_mask", "token_type_ids")
            }
            pred = model(**inputs).logits.argmax(-1).cpu().numpy()
            for row, i in enumerate(idx):
                tags = [-1] * len(words[i])
                seen: set[int] = set()
                for pos, w in enumerate(enc.word_ids(row)):
                    if w is not None and w not in seen:
                        seen.add(w)
                        tags[w] = int(pred[row, pos])
                out[int(i)] = tags
    return out


def answer_spans(
    model: Any,
    tokenizer: Any,
    questions: list[str],
    contexts: list[str],
    *,
    batch_size: int = 16,
    max_length: int | None = None,
    doc_stride: int | None = None,
    max_answer_tokens: int = 30,
    progress: bool = True,
) -> list[str]:
    """Each question's best answer span in its context, read by the ``question-answering`` pipeline: a context
    longer than ``max_length`` tokens (default: the pipeline's, min(384, the model's positions)) is read in
    windows overlapping by ``doc_stride`` tokens, every window is scored and the best span over all windows wins
    (start x end probability, at most ``max_answer_tokens`` tokens, aligned to words), exactly as
    transformers v4's pipeline does. A blank question or context gets the empty answer."""
    from massivetext.pipelines import pipeline  # the one implementation of QA windowing and span scoring

    qa = pipeline("question-answering", model=model, tokenizer=tokenizer, batch_size=batch_size)
    answers = [""] * len(questions)
    todo = [i for i, (q, c) in enumerate(zip(questions, contexts)) if q.strip() and c.strip()]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="qa", unit="ex")
    results = qa(
        ({"question": questions[i], "context": contexts[i]} for i in todo),
        max_seq_len=max_length,
        doc_stride=doc_stride,
        max_answer_len=max_answer_tokens,
    )
    for i, r in zip(todo, results):
        # top_k=1 gives the answer dict, or [] when no window had a span inside the context
        answers[i] = r["answer"] if isinstance(r, dict) else ""
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return answers
