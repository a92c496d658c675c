"""``question-answering``: extractive answers ``{"score", "start", "end", "answer"}`` with character offsets.

A context longer than ``max_seq_len`` is read in windows that overlap by ``doc_stride`` tokens (the fast
tokenizer's overflow), every window is scored, and the best spans across windows win, exactly as transformers v4
does it (``pipelines/question_answering.py``): span scores are start x end probabilities over context tokens,
answers no longer than ``max_answer_len`` tokens, aligned to whole words by the tokenizer's word ids, equal
answers from different windows add up. Character offsets come from the tokenizer's offset mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import BadInputError, ConfigError
from massivetext.pipelines.base import Feature, Pipeline, check_text


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    heads = ("BertForQuestionAnswering",)
    auto_class = "AutoModelForQuestionAnswering"
    dataset_field = None  # dataset rows are {"question", "context"} dicts

    def window_budget(self) -> int:
        # features (384-token windows) held at once: about one batch's worth, so memory does not grow with the
        # input (50 contexts of 1,000 words: peak 522 MB instead of 689 MB, same CPU time)
        return max(self.batch_size, 32)

    def item_cost(self, item: Any) -> int:
        """About how many windows a context becomes (~1,200 characters of new context per window)."""
        context = item.get("context") if isinstance(item, dict) else None
        return 1 + len(context) // 1200 if isinstance(context, str) else 1

    def parse_call(self, inputs, args, kwargs):
        question, context = kwargs.pop("question", None), kwargs.pop("context", None)
        if inputs is None and not args and (question is not None or context is not None):
            if question is None or context is None:
                raise BadInputError("question-answering needs both question= and context=")
            if isinstance(question, list) and isinstance(context, str):
                return [{"question": q, "context": context} for q in question], kwargs
            if isinstance(question, list) and isinstance(context, list):
                if len(question) != len(context):
                    raise BadInputError(f"{len(question)} questions but {len(context)} contexts")
                return [{"question": q, "context": c} for q, c in zip(question, context)], kwargs
            return {"question": question, "context": context}, kwargs
        if inputs is not None and len(args) == 1 and isinstance(inputs, str) and isinstance(args[0], str):
            return {"question": inputs, "context": args[0]}, kwargs
        return super().parse_call(inputs, args, kwargs)

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, dict)

    def list_result(self, result, params):
        return result

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        out = super().__call__(inputs, *args, **kwargs)
        # transformers returns a lone answer for a one-item list too
        if isinstance(out, list) and len(out) == 1 and not isinstance(inputs, dict):
            return out[0]
        return out

    def sanitize(
        self,
        top_k: int = 1,
        doc_stride: int | None = None,
        max_answer_len: int = 15,
        max_seq_len: int | None = None,
        max_question_len: int = 64,
        handle_impossible_answer: bool = False,
        align_to_words: bool = True,
        padding: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        super().sanitize(**kwargs)
        if int(top_k) < 1:
            raise ConfigError(f"top_k must be >= 1, not {top_k}")
        if int(max_answer_len) < 1:
            raise ConfigError(f"max_answer_len must be >= 1, not {max_answer_len}")
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if self.max_len is not None and max_seq_len > self.max_len:
            max_seq_len = self.max_len  # never past the model's position table
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ConfigError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len})")
        return {
            "top_k": int(top_k),
            "stride": int(doc_stride),
            "max_answer_len": int(max_answer_len),
            "max_seq_len": int(max_seq_len),
            "impossible": bool(handle_impossible_answer),
            "align": bool(align_to_words),
        }

    def validate(self, item: Any) -> Any:
        if not isinstance(item, dict):
            raise BadInputError(
                f"question-answering takes {{'question': ..., 'context': ...}} items, not {type(item).__name__}"
            )
        for key in ("question", "context"):
            if key not in item:
                raise BadInputError(f"question-answering: an input has no {key!r} (keys: {sorted(item)})")
        return {"question": check_text(item["question"], "question"), "context": check_text(item["context"], "context")}

    def preprocess(self, items: list[dict[str, str]], params: dict[str, Any]) -> list[list[Feature]]:
        q_first = self.tokenizer.padding_side == "right"
        qs = [x["question"] for x in items]
        cs = [x["context"] for x in items]
        try:
            enc = self.tokenizer(
                qs if q_first else cs,
                cs if q_first else qs,
                truncation="only_second" if q_first else "only_first",
                max_length=params["max_seq_len"],
                stride=params["stride"],
                return_overflowing_tokens=True,
                return_token_type_ids=True,
            )
        except Exception as e:  # the Rust side: the question leaves no room for the context
            raise BadInputError(
                f"question-answering: a question is too long for max_seq_len={params['max_seq_len']} with "
                f"doc_stride={params['stride']} ({e})"
            ) from e
        types = self.use_token_types()
        cls_id = self.tokenizer.cls_token_id
        feats: list[list[Feature]] = [[] for _ in items]
        for e, i in zip(enc.encodings, enc["overflow_to_sample_mapping"]):
            seq = e.sequence_ids
            p_mask = np.array([(s != 1) if q_first else 0 for s in seq], dtype=np.int64)
            if cls_id is not None:
                p_mask[np.array(e.ids) == cls_id] = 0
            feats[i].append(Feature(e.ids, e.type_ids if types else None, {"enc": e, "p_mask": p_mask}))
        return feats

    def forward(self, batch, feats, params) -> list[Any]:
        out = self.model(**batch, skip_padding=True)  # only each row's own tokens are read below
        start = out.start_logits.float().cpu().numpy()
        end = out.end_logits.float().cpu().numpy()
        return [(start[r, : len(f.input_ids)], end[r, : len(f.input_ids)]) for r, f in enumerate(feats)]

    def postprocess(self, item, feats, outputs, params) -> Any:
        context = item["context"]
        top_k = params["top_k"]
        pre_topk = top_k * 2 + 10 if params["align"] else top_k  # word alignment may merge candidates
        seq_index = 1 if self.tokenizer.padding_side == "right" else 0
        min_null = 1000000.0
        answers: list[dict[str, Any]] = []
        for feat, (start, end) in zip(feats, outputs):
            mask = np.ones((1, len(start)), dtype=np.int64)
            starts, ends, scores, min_null = select_starts_ends(
                start[None],
                end[None],
                feat.extra["p_mask"],
                mask,
                min_null,
                pre_topk,
                params["impossible"],
                params["max_answer_len"],
            )
            enc = feat.extra["enc"]
            for s, e, score in zip(starts, ends, scores):
                a, b = get_indices(enc, int(s), int(e), seq_index, params["align"])
                text = context[a:b]
                same = next((x for x in answers if x["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score.item()
                else:
                    answers.append({"score": score.item(), "start": a, "end": b, "answer": text})
        if params["impossible"]:
            answers.append({"score": min_null, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def get_indices(enc: Any, s: int, e: int, seq_index: int, align: bool) -> tuple[int, int]:
    if align:
        try:
            start_word, end_word = enc.token_to_word(s), enc.token_to_word(e)
            return (
                enc.word_to_chars(start_word, sequence_index=seq_index)[0],
                enc.word_to_chars(end_word, sequence_index=seq_index)[1],
            )
        except Exception:  # a token outside any word: fall back to its own offsets, as transformers does
            pass
    return enc.offsets[s][0], enc.offsets[e][1]


def decode_spans(start, end, topk: int, max_answer_len: int, undesired: np.ndarray) -> tuple:
    """The top spans by start x end probability, at most max_answer_len tokens long (transformers' numpy)."""
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if topk == 1:
        idx_sort = [np.argmax(flat)]
    elif len(flat) < topk:
        idx_sort = np.argsort(-flat)
    else:
        idx = np.argpartition(-flat, topk)[0:topk]
        idx_sort = idx[np.argsort(-flat[idx])]
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    # transformers tests membership in undesired.nonzero() (row and column indices alike): kept for parity
    keep = np.isin(starts, undesired.nonzero()) & np.isin(ends, undesired.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def select_starts_ends(start, end, p_mask, attention_mask, min_null, top_k, impossible, max_answer_len) -> tuple:
    undesired = np.abs(np.array(p_mask) - 1) & attention_mask
    bad = undesired == 0.0
    start = np.where(bad, -10000.0, start)
    end = np.where(bad, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if impossible:
        min_null = min(min_null, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, undesired)
    return starts, ends, scores, min_null
