"""``evaluate_model`` (``massivetext evaluate --model ...``) and ``score_files`` (``--metric ... --predictions``).

Both write ``eval.json`` and ``eval.html`` to the output directory: the metric with its bootstrap interval, the
metric per length bucket, the worst examples, the confusion matrix (classification), the bad records set aside,
and, with a training corpus, which examples overlap it and the metric on the clean subset beside the full one.
Per-example predictions go to ``predictions.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from massivetext.errors import BadInputError, ConfigError, MissingFileError
from massivetext.evaluation.data import Example, Fields, read_examples
from massivetext.evaluation.metrics import load_metric
from massivetext.evaluation.metrics.base import subset_score

TASKS = ("perplexity", "translation", "summarization", "classification", "ner", "qa")
MAIN = {  # task -> (metric, key of the headline score, extra metrics)
    "translation": ("sacrebleu", "score", ["chrf"]),
    "summarization": ("rouge", "rougeL", []),
    "classification": ("accuracy", "accuracy", ["f1", "matthews_correlation"]),
    "ner": ("seqeval", "overall_f1", []),
    "qa": ("squad", "f1", []),
    "perplexity": ("perplexity", "perplexity", []),
}
# the sentence-level score that ranks "worst examples" (higher is better, except perplexity)
SENTENCE = {
    "translation": ("chrf", "score"),
    "summarization": ("rouge", "rougeL"),
    "classification": ("accuracy", "accuracy"),
    "ner": ("seqeval", "overall_f1"),
    "qa": ("squad", "f1"),
    "perplexity": ("perplexity", "perplexity"),
}


@dataclass
class EvalOptions:
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0
    buckets: int = 4
    worst: int = 10
    metric_options: dict[str, Any] = field(default_factory=dict)


def _load(model: str, task: str, device: str | None) -> tuple[Any, Any]:
    import torch

    from massivetext.models import auto
    from massivetext.tokenization.tokenizer import AutoTokenizer

    if not os.path.exists(model) and os.sep in model:
        raise MissingFileError(f"{model}: no such model directory")
    cls = {
        "perplexity": auto.AutoModelForCausalLM,
        "classification": auto.AutoModelForSequenceClassification,
        "ner": auto.AutoModelForTokenClassification,
        "qa": auto.AutoModelForQuestionAnswering,
    }.get(task)
    if cls is None:  # generation: seq2seq when the config says so, else a decoder-only LM
        cfg = auto.AutoConfig.from_pretrained(model)
        cls = auto.AutoModelForSeq2SeqLM if getattr(cfg, "is_encoder_decoder", False) else auto.AutoModelForCausalLM
    m = cls.from_pretrained(model)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return m.to(dev).eval(), AutoTokenizer.from_pretrained(model)


def _label_maps(model: Any) -> tuple[dict[int, str], dict[str, int]]:
    cfg = model.config
    id2label = {int(k): v for k, v in (getattr(cfg, "id2label", None) or {}).items()}
    label2id = {k: int(v) for k, v in (getattr(cfg, "label2id", None) or {}).items()}
    return id2label, label2id or {v: k for k, v in id2label.items()}


def _predict(task: str, model: Any, tok: Any, ex: list[Example], args: dict[str, Any]) -> tuple[list, list, dict]:
    """Predictions and references in the metric's input format, plus extras (label names)."""
    from massivetext.evaluation import predict

    bs, progress = args["batch_size"], args["progress"]
    if task in ("translation", "summarization"):
        hyps = predict.generate_texts(
            model,
            tok,
            [e.fields["source"] for e in ex],
            batch_size=bs,
            max_new_tokens=args["max_new_tokens"],
            num_beams=args["num_beams"],
            max_source_length=args["max_length"],
            prefix=args["prefix"],
            progress=progress,
        )
        return hyps, [e.fields["target"] for e in ex], {}
    if task == "classification":
        id2label, label2id = _label_maps(model)
        refs = [label2id[y] if isinstance(y, str) else int(y) for y in (e.fields["label"] for e in ex)]
        preds = predict.classify(
            model, tok, [e.fields["text"] for e in ex], batch_size=bs, max_length=args["max_length"], progress=progress
        )
        return preds.tolist(), refs, {"id2label": id2label}
    if task == "ner":
        id2label, _ = _label_maps(model)
        if not id2label:
            raise ConfigError("the model's config has no id2label: cannot name its predicted tags")
        ids = predict.tag_words(
            model,
            tok,
            [e.fields["tokens"] for e in ex],
            batch_size=bs,
            max_length=args["max_length"],
            progress=progress,
        )
        preds = [[id2label.get(i, "O") for i in row] for row in ids]
        refs = [[t if isinstance(t, str) else id2label[int(t)] for t in e.fields["tags"]] for e in ex]
        return preds, refs, {}
    if task == "qa":
        spans = predict.answer_spans(
            model,
            tok,
            [e.fields["question"] for e in ex],
            [e.fields["context"] for e in ex],
            batch_size=bs,
            max_length=args["max_length"],
            doc_stride=args["stride"],
            progress=progress,
        )
        refs = []
        for e in ex:
            a = e.fields["answers"]
            refs.append(
                {"answers": {"text": a.get("text", [])}} if isinstance(a, dict) else ([a] if isinstance(a, str) else a)
            )
        return spans, refs, {}
    raise ConfigError(f"unknown task {task!r}")


def _known_labels(examples: list[Example], model: Any, report: Any, strict: bool) -> list[Example]:
    from massivetext.data.readers import BadRecord

    id2label, label2id = _label_maps(model)
    keep = []
    for e in examples:
        y = e.fields["label"]
        known = y in label2id if isinstance(y, str) else int(y) in id2label or not id2label
        if known:
            keep.append(e)
            continue
        path, line = e.where.rsplit(":", 1)
        report.n_good -= 1
        report.add_bad(BadRecord(path, int(line), f"label {y!r} is not one of the model's {sorted(label2id)}"), strict)
    if not keep:
        raise ConfigError("no example has a label the model knows")
    return keep


def _contamination_text(task: str, e: Example) -> str:
    f = e.fields
    if task in ("translation", "summarization"):
        tgt = f["target"] if isinstance(f["target"], str) else " ".join(f["target"])
        return f"{f['source']} {tgt}"
    if task == "ner":
        return " ".join(f["tokens"])
    if task == "qa":
        return f"{f['question']} {f['context']}"
    return f["text"]


def _length(task: str, e: Example) -> int:
    f = e.fields
    if task in ("translation", "summarization"):
        return len(f["source"].split())
    if task == "ner":
        return len(f["tokens"])
    if task == "qa":
        return len(f["context"].split())
    return len(f["text"].split())


def _scored(name: str, preds: list, refs: list, options: dict[str, Any]) -> Any:
    m = load_metric(name, **options)
    p, r = m._check(preds, refs)
    return m._score(p, r, m.config)


def _buckets(lengths: np.ndarray, scored: Any, key: str, k: int) -> list[dict[str, Any]]:
    """The corpus-level metric on length-quantile buckets (from the per-example statistics: no re-scoring)."""
    if scored.stats is None or scored.stats.shape[0] != len(lengths) or len(lengths) < 2:
        return []
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, k + 1)).round().astype(int))
    out = []
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        mask = (lengths >= lo) & ((lengths <= hi) if i == len(edges) - 2 else (lengths < hi))
        if mask.any():
            s = scored.from_sums(np.asarray(scored.stats[np.flatnonzero(mask)].sum(0)).ravel())[key]
            out.append({"bucket": f"{lo}-{hi}", "examples": int(mask.sum()), "score": float(np.ravel(s)[0])})
    return out


def _sentence_scores(task: str, scored_by_name: dict[str, Any]) -> np.ndarray:
    """Each example's own score (the metric's formula on its statistics alone)."""
    name, key = SENTENCE[task]
    scored = scored_by_name[name]
    stats = scored.stats.toarray() if hasattr(scored.stats, "toarray") else np.asarray(scored.stats)
    return np.ravel(scored.from_sums(stats)[key])


def _metrics(
    task: str, preds: list, refs: list, opts: EvalOptions, model_cfg: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each of the task's metrics with its interval, and the scored statistics behind them (computed once)."""
    main, _, extra = MAIN[task]
    results, scored = {}, {}
    for name in [main, *extra]:
        options = dict(opts.metric_options if name == main else {})
        if name == "f1" and len(set(refs) | set(preds)) > 2:
            options["average"] = "macro"
        if name == "perplexity":
            options.update(model_cfg)
        m = load_metric(name, **options)
        p, r = m._check(preds, refs)
        scored[name] = m._score(p, r, m.config)
        results[name] = m.finish(scored[name], opts.confidence, opts.resamples, opts.seed)
    return results, scored


def _headline(task: str, metrics: dict[str, Any]) -> dict[str, Any]:
    name, key, _ = MAIN[task]
    r = metrics[name]
    return {
        "metric": name,
        "key": key,
        "score": r[key],
        "ci": [r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")],
        "confidence": r.get("confidence"),
        "signature": r.get("signature"),
    }


def evaluate_model(
    model: str,
    task: str,
    data: str | list[str],
    output_dir: str = "eval",
    *,
    fields: Fields | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 128,
    num_beams: int = 1,
    max_length: int | None = None,
    stride: int | None = None,
    prefix: str = "",
    split: str = "val",
    limit: int | None = None,
    strict: bool = False,
    train_corpus: str | list[str] | None = None,
    contamination_mode: str = "ngram",
    ngram: int = 13,
    device: str | None = None,
    progress: bool = True,
    options: EvalOptions | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Evaluate checkpoint ``model`` on ``data`` for ``task``; writes eval.json, eval.html, predictions.jsonl."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    opts, fields = options or EvalOptions(), fields or Fields()
    m, tok = _load(model, task, device)
    args = {
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "num_beams": num_beams,
        "max_length": max_length,
        "stride": stride,
        "prefix": prefix,
        "progress": progress,
    }
    from massivetext.data.readers import LoadReport

    report, extras = LoadReport(), {}
    if (
        task == "perplexity"
        and isinstance(data, str)
        and os.path.isdir(data)
        and os.path.exists(os.path.join(data, "index.json"))
    ):  # a token-shard directory: one stream, scored with the sliding window
        from massivetext.evaluation.perplexity import token_stream

        examples: list[Example] = []
        preds, refs = [token_stream(data, split)], [None]
    else:
        examples, report = read_examples(data, task, fields, strict=strict, limit=limit)
        if task == "classification":  # a label the model does not know is a bad record, not a wrong prediction
            examples = _known_labels(examples, m, report, strict)
        if task == "perplexity":
            preds, refs = [e.fields["text"] for e in examples], [None] * len(examples)
        else:
            preds, refs, extras = _predict(task, m, tok, examples, args)
    ppl_cfg = {"model": m, "tokenizer": tok, "max_length": max_length, "stride": stride, "batch_size": batch_size}
    ppl_cfg["dtype"] = dtype
    metrics, scored_by_name = _metrics(task, preds, refs, opts, ppl_cfg)
    result: dict[str, Any] = {
        "task": task,
        "model": str(model),
        "data": data if isinstance(data, str) else list(data),
        "examples": len(preds) if examples else None,
        "headline": _headline(task, metrics),
        "metrics": metrics,
        "bad_records": report.n_bad,
        "bad": [str(b) for b in report.bad[:100]],
    }
    if task == "perplexity":
        result["dtype"] = dtype or "float32"  # a bfloat16 perplexity is not the exact one: say which it is
    per_example: list[dict[str, Any]] = []
    if examples:
        main, key, _ = MAIN[task]
        lengths = np.array([_length(task, e) for e in examples])
        result["by_length"] = _buckets(lengths, scored_by_name[main], key, opts.buckets)
        sent = _sentence_scores(task, scored_by_name)
        worst = np.argsort(-sent if task == "perplexity" else sent, kind="stable")[: opts.worst]
        per_example = [
            {
                "where": e.where,
                **({"id": e.fields["id"]} if "id" in e.fields else {}),
                "prediction": _jsonable(p),
                "reference": _jsonable(r),
                "score": float(s),
            }
            for e, p, r, s in zip(examples, preds, refs, sent)
        ]
        if task == "perplexity":
            for row in per_example:
                row.pop("reference")
                row["prediction"] = None
        result["worst"] = [per_example[i] for i in worst]
        if task == "classification":
            id2label = extras.get("id2label") or {}
            cm = load_metric("confusion_matrix").compute(predictions=preds, references=refs)
            result["confusion_matrix"] = {
                "matrix": cm["confusion_matrix"],
                "labels": [id2label.get(int(x), str(x)) for x in cm["labels"]],
            }
    if train_corpus is not None:
        if not examples:
            raise ConfigError("the contamination check needs evaluation examples (a data file, not token shards)")
        from massivetext.evaluation.contamination import check_contamination

        texts = [_contamination_text(task, e) for e in examples]
        con = check_contamination(texts, train_corpus, mode=contamination_mode, ngram=ngram, text_field=fields.text)
        clean = np.flatnonzero(~con.contaminated)
        summary = con.summary()
        for row, h in zip(per_example, con.hits.tolist()):
            row["train_overlaps"] = h
        summary["contaminated_examples"] = [examples[i].where for i in np.flatnonzero(con.contaminated)][:1000]
        main, key, _ = MAIN[task]
        # the headline metric on the clean examples, from their statistics (no second model run)
        summary["clean"] = subset_score(scored_by_name[main], clean, key, opts.confidence, opts.resamples, opts.seed)
        summary["contaminated_score"] = (
            subset_score(scored_by_name[main], np.flatnonzero(con.contaminated), key, None)
            if con.contaminated.any()
            else None
        )
        result["contamination"] = summary
    os.makedirs(output_dir, exist_ok=True)
    if per_example:
        with open(os.path.join(output_dir, "predictions.jsonl"), "w", encoding="utf-8") as f:
            for row in per_example:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    _write(result, output_dir)
    return result


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _write(result: dict[str, Any], output_dir: str) -> None:
    from massivetext.evaluation.report import write_report

    with open(os.path.join(output_dir, "eval.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False, default=_jsonable)
    write_report(result, output_dir)


def read_lines(path: str) -> list[str]:
    """The lines of a text file (UTF-8; the newline removed), an error naming file:line on bad bytes."""
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such file")
    out = []
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                out.append(raw.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError as e:
                raise BadInputError(f"invalid UTF-8 ({e.reason})", path, i) from None
    return out


def score_files(
    metric: str,
    predictions: str,
    references: str | list[str],
    output_dir: str | None = None,
    *,
    options: EvalOptions | None = None,
) -> dict[str, Any]:
    """Score a file of predictions (one a line) against one or more reference files, like the sacrebleu CLI."""
    opts = options or EvalOptions()
    m = load_metric(metric, **opts.metric_options)  # unknown names fail before any file is read
    hyps = read_lines(predictions)
    ref_files = [references] if isinstance(references, str) else list(references)
    streams = [read_lines(r) for r in ref_files]
    for path, s in zip(ref_files, streams):
        if len(s) != len(hyps):
            raise BadInputError(
                f"{len(s)} lines but {predictions} has {len(hyps)}: files must align line by line", path
            )
    refs = [list(x) for x in zip(*streams)] if len(streams) > 1 else streams[0]
    p, rr = m._check(hyps, refs)
    scored = m._score(p, rr, m.config)
    r = m.finish(scored, opts.confidence, opts.resamples, opts.seed)
    key = m.main_key
    result = {
        "metric": metric,
        "predictions": predictions,
        "references": ref_files,
        "examples": len(hyps),
        "headline": {
            "metric": metric,
            "key": key,
            "score": r.get(key),
            "ci": [r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")],
            "confidence": r.get("confidence"),
            "signature": r.get("signature"),
        },
        "metrics": {metric: r},
        "bad_records": 0,
        "bad": [],
    }
    if output_dir:
        lengths = np.array([len((x if isinstance(x, str) else x[0]).split()) for x in refs])
        result["by_length"] = _buckets(lengths, scored, key, opts.buckets)
        if scored.stats is not None:
            stats = scored.stats.toarray() if hasattr(scored.stats, "toarray") else np.asarray(scored.stats)
            sent = np.ravel(scored.from_sums(stats)[key])
            worst = np.argsort(sent, kind="stable")[: opts.worst]
            result["worst"] = [
                {
                    "where": f"{predictions}:{i + 1}",
                    "prediction": hyps[i],
                    "reference": refs[i],
                    "score": float(sent[i]),
                }
                for i in worst
            ]
        os.makedirs(output_dir, exist_ok=True)
        _write(result, output_dir)
    return result
