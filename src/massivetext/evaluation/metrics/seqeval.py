"""Entity-level precision/recall/F1 computed by the ``seqeval`` package, with ``evaluate``'s ``seqeval`` result layout
(one dict per entity type, then overall_precision/recall/f1/accuracy).

Lenient mode (``mode=None``) is seqeval's default chunking (CoNLL-style: an I- after O starts an entity); strict mode
(``mode="strict"``) uses a scheme (IOB1, IOB2, IOE1, IOE2, IOBES, BILOU; detected from the references when not given).
The bootstrap statistics of a sentence are, per type, its true positives, predicted and gold entities, plus its correct
and total tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.evaluation.metrics.base import Metric, Scored, register

SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")


def _scheme(name: Any) -> Any:
    if name is None or not isinstance(name, str):
        return name
    import seqeval.scheme

    if name not in SCHEMES:
        raise ConfigError(f"unknown tagging scheme {name!r}; use one of {', '.join(SCHEMES)}")
    return getattr(seqeval.scheme, name)


def sentence_entities(sequences: list[list[str]], mode: Any, scheme: Any, suffix: bool) -> list[set[tuple]]:
    """Each sentence's entities as (type, start, end), the way seqeval extracts them in that mode."""
    if mode == "strict":
        from seqeval.scheme import Entities

        return [{(e.tag, e.start, e.end) for e in sent} for sent in Entities(sequences, scheme, suffix).entities]
    from seqeval.metrics.sequence_labeling import get_entities

    return [set(get_entities(seq, suffix)) for seq in sequences]


@register("seqeval")
class Seqeval(Metric):
    name = "seqeval"
    main_key = "overall_f1"
    text_inputs = False
    defaults = {"suffix": False, "scheme": None, "mode": None, "zero_division": "warn"}

    def _check(self, predictions: Any, references: Any) -> tuple[list[Any], list[Any]]:
        preds, refs = super()._check(predictions, references)
        for i, (p, r) in enumerate(zip(preds, refs)):
            for what, seq in (("prediction", p), ("reference", r)):
                if not isinstance(seq, list | tuple) or not all(isinstance(t, str) for t in seq):
                    raise MassiveTextError(f"{what} {i} must be a list of tag strings, got {seq!r:.80}")
            if len(p) != len(r):
                raise MassiveTextError(f"example {i}: {len(p)} predicted tags but {len(r)} reference tags")
        return [list(p) for p in preds], [list(r) for r in refs]

    def _score(self, predictions: list[list[str]], references: list[list[str]], cfg: dict[str, Any]) -> Scored:
        from seqeval.metrics import accuracy_score, classification_report

        mode, scheme, suffix, zd = cfg["mode"], _scheme(cfg["scheme"]), cfg["suffix"], cfg["zero_division"]
        if mode not in (None, "strict"):
            raise ConfigError(f"seqeval mode must be None (lenient) or 'strict', got {mode!r}")
        if mode == "strict" and scheme is None:
            from seqeval.scheme import auto_detect

            scheme = auto_detect(references, suffix)
        try:
            report = classification_report(
                references, predictions, suffix=suffix, output_dict=True, scheme=scheme, mode=mode, zero_division=zd
            )
        except Exception as e:  # seqeval raises bare Exceptions/ValueErrors for tags that break the scheme
            raise MassiveTextError(f"seqeval: {e}") from e
        report.pop("macro avg", None)
        report.pop("weighted avg", None)
        overall = report.pop("micro avg")
        result: dict[str, Any] = {
            t: {
                "precision": float(s["precision"]),
                "recall": float(s["recall"]),
                "f1": float(s["f1-score"]),
                "number": int(s["support"]),
            }
            for t, s in report.items()
        }
        result["overall_precision"] = float(overall["precision"])
        result["overall_recall"] = float(overall["recall"])
        result["overall_f1"] = float(overall["f1-score"])
        result["overall_accuracy"] = float(accuracy_score(references, predictions))

        true_ents = sentence_entities(references, mode, scheme, suffix)
        pred_ents = sentence_entities(predictions, mode, scheme, suffix)
        types = sorted({e[0] for s in true_ents + pred_ents for e in s})
        col = {t: i for i, t in enumerate(types)}
        k = len(types)
        stats = np.zeros((len(references), 3 * k + 2))
        for i, (te, pe) in enumerate(zip(true_ents, pred_ents)):
            for e in te & pe:
                stats[i, col[e[0]]] += 1
            for e in pe:
                stats[i, k + col[e[0]]] += 1
            for e in te:
                stats[i, 2 * k + col[e[0]]] += 1
            stats[i, -2] = sum(a == b for a, b in zip(references[i], predictions[i]))
            stats[i, -1] = len(references[i])
        z = 0.0 if zd == "warn" else float(zd)

        def from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
            s = np.atleast_2d(sums)
            tp, pred, true = s[:, :k].sum(1), s[:, k : 2 * k].sum(1), s[:, 2 * k : 3 * k].sum(1)
            with np.errstate(divide="ignore", invalid="ignore"):
                p = np.where(pred > 0, tp / np.where(pred > 0, pred, 1), z)
                r = np.where(true > 0, tp / np.where(true > 0, true, 1), z)
                f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
                acc = s[:, -2] / np.where(s[:, -1] > 0, s[:, -1], 1)
            return {"overall_precision": p, "overall_recall": r, "overall_f1": f, "overall_accuracy": acc}

        return Scored(result, stats, from_sums)
