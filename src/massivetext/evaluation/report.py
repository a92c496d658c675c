"""``eval.html``: what a person would rather look at than read — the score with its interval (and on the clean
subset when a contamination check ran), the score per length bucket, the confusion matrix, the worst examples, and
what was set aside. Plots are PNG files beside the page (matplotlib, no display needed)."""

from __future__ import annotations

import html
import json
import os
from typing import Any


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_interval(result: dict[str, Any], path: str) -> bool:
    rows = [("all", result["headline"])]
    con = result.get("contamination")
    h = result["headline"]
    if con and con.get("clean"):
        c = con["clean"]
        rows.append(
            ("clean", {"score": c[h["key"]], "ci": [c.get(f"{h['key']}_ci_low"), c.get(f"{h['key']}_ci_high")]})
        )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * len(rows)))
    for y, (_name, r) in enumerate(rows):
        lo, hi = r["ci"] if r.get("ci") and None not in r["ci"] else (r["score"], r["score"])
        ax.errorbar([r["score"]], [y], xerr=[[r["score"] - lo], [hi - r["score"]]], fmt="o", capsize=5)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.set_xlabel(f"{h['metric']} {h['key']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_buckets(buckets: list[dict[str, Any]], label: str, path: str) -> bool:
    if not buckets:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([b["bucket"] for b in buckets], [b["score"] for b in buckets], color="#4477aa")
    for i, b in enumerate(buckets):
        ax.text(i, b["score"], f"n={b['examples']}", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("length (words)")
    ax.set_ylabel(label)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_confusion(cm: dict[str, Any], path: str) -> bool:
    import numpy as np

    m = np.asarray(cm["matrix"])
    labels = cm["labels"]
    plt = _plt()
    size = 2.5 + 0.45 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, str):
        return x
    return json.dumps(x, ensure_ascii=False)


def write_report(result: dict[str, Any], output_dir: str) -> str:
    h = result["headline"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>massivetext evaluate</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}</style>",
        f"<h1>{html.escape(str(result.get('task') or h['metric']))}: {html.escape(h['metric'])}</h1>",
    ]
    ci = h.get("ci") or [None, None]
    interval = f" [{ci[0]:.4g}, {ci[1]:.4g}] ({h['confidence']:.0%} bootstrap)" if None not in ci else ""
    parts.append(f"<p><b>{html.escape(h['key'])} = {h['score']:.4g}</b>{interval}</p>")
    if h.get("signature"):
        parts.append(f"<p><code>{html.escape(h['signature'])}</code></p>")
    src = {k: v for k, v in result.items() if k in ("model", "data", "predictions", "references", "examples")}
    parts.append("<p>" + html.escape(", ".join(f"{k}: {_fmt(v)}" for k, v in src.items())) + "</p>")
    if plot_interval(result, os.path.join(output_dir, "score.png")):
        parts.append("<img src='score.png' alt='score with interval'>")
    con = result.get("contamination")
    if con:
        clean = con.get("clean") or {}
        parts.append(
            f"<h2>Contamination</h2><p>{con['contaminated']} of {con['examples']} examples overlap the training "
            f"corpus ({con['mode']} rule, n={con['ngram']}, {con['train_files']} files). "
            f"{html.escape(h['key'])} on the clean {clean.get('examples', 0)}: {_fmt(clean.get(h['key']))}"
            + (
                f"; on the contaminated: {_fmt(con['contaminated_score'][h['key']])}"
                if con.get("contaminated_score")
                else ""
            )
            + "</p>"
        )
    if plot_buckets(result.get("by_length") or [], h["key"], os.path.join(output_dir, "by_length.png")):
        parts.append("<h2>By length</h2><img src='by_length.png' alt='score per length bucket'>")
    if result.get("confusion_matrix") and plot_confusion(
        result["confusion_matrix"], os.path.join(output_dir, "confusion_matrix.png")
    ):
        parts.append("<h2>Confusion matrix</h2><img src='confusion_matrix.png' alt='confusion matrix'>")
    parts.append("<h2>All metrics</h2><table>")
    for name, r in result["metrics"].items():
        for k, v in r.items():
            if k not in ("perplexities",):
                parts.append(
                    f"<tr><td>{html.escape(name)}</td><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>"
                )
    parts.append("</table>")
    if result.get("worst"):
        parts.append(
            "<h2>Worst examples</h2><table><tr><th>where</th><th>score</th><th>prediction</th><th>reference</th></tr>"
        )
        for w in result["worst"]:
            parts.append(
                f"<tr><td>{html.escape(w['where'])}</td><td>{w['score']:.4g}</td>"
                f"<td>{html.escape(_fmt(w.get('prediction')))}</td><td>{html.escape(_fmt(w.get('reference')))}</td></tr>"
            )
        parts.append("</table>")
    if result.get("bad_records"):
        parts.append(f"<h2>Set aside</h2><p>{result['bad_records']} bad record(s)</p><ul>")
        parts += [f"<li>{html.escape(b)}</li>" for b in result["bad"][:50]]
        parts.append("</ul>")
    path = os.path.join(output_dir, "eval.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return path
