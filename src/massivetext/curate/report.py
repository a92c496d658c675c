"""``report.html``: a self-contained page (PNG charts embedded as base64) that explains what a curation run did.

Sections: the funnel (documents and bytes kept after each step), length histograms of kept and removed documents,
drops by reason per step, and a few removed documents per reason.
"""

from __future__ import annotations

import base64
import html
import io

from massivetext._atomic import atomic_write_text
from massivetext.curate.stats import N_BINS, Stats, bin_edges, summary_table


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def funnel_chart(stats: Stats, order: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["input", *[n for n in order if n in stats.steps]]
    docs = [stats.docs_read] + [stats.steps[n].docs_out for n in labels[1:]]
    mb = [stats.bytes_read / 1e6] + [stats.steps[n].bytes_out / 1e6 for n in labels[1:]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(labels) + 1.5))
    for ax, vals, title in ((axes[0], docs, "documents kept"), (axes[1], mb, "MB kept")):
        y = list(range(len(labels)))[::-1]
        ax.barh(y, vals, color="#4c72b0")
        ax.set_yticks(y, labels)
        ax.set_title(title)
        top = max(vals) if vals and max(vals) > 0 else 1
        for yi, v in zip(y, vals):
            pct = f" ({100 * v / vals[0]:.1f}%)" if vals[0] else ""
            ax.text(
                v + top * 0.01,
                yi,
                f"{v:,.0f}{pct}" if title.startswith("doc") else f"{v:,.2f}{pct}",
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, top * 1.35)
    return _png(fig)


def length_chart(stats: Stats, order: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = bin_edges()
    removed = [0] * N_BINS
    for n in order:
        if n in stats.steps:
            removed = [a + b for a, b in zip(removed, stats.steps[n].removed_hist)]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    centers = [max(1.0, (edges[i] + edges[i + 1]) / 2 + 1) for i in range(N_BINS)]
    widths = [edges[i + 1] - edges[i] for i in range(N_BINS)]
    ax.bar(centers, stats.kept_hist, width=widths, alpha=0.6, label="kept", color="#55a868")
    ax.bar(centers, removed, width=widths, alpha=0.6, label="removed", color="#c44e52")
    ax.set_xscale("log")
    used = [i for i in range(N_BINS) if stats.kept_hist[i] or removed[i]]
    if used:  # only the decades that hold documents
        ax.set_xlim(max(1.0, edges[used[0]]), edges[used[-1] + 1] * 1.5)
    ax.set_xlabel("document length (bytes)")
    ax.set_ylabel("documents")
    ax.legend()
    return _png(fig)


def write_report(stats: Stats, path: str, order: list[str] | None = None) -> None:
    order = order or list(stats.steps)
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>MassiveText curation report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}pre{white-space:pre-wrap;"
        "background:#f6f6f6;padding:.5em;font-size:12px;max-height:14em;overflow:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>",
        "<h1>Curation report</h1>",
        f"<pre>{esc(summary_table(stats, order))}</pre>",
        "<h2>Funnel</h2>",
        f"<img alt='funnel' src='data:image/png;base64,{funnel_chart(stats, order)}'>",
        "<h2>Lengths of kept and removed documents</h2>",
        f"<img alt='lengths' src='data:image/png;base64,{length_chart(stats, order)}'>",
        "<h2>Drops by reason</h2><table><tr><th>step</th><th>reason</th><th>docs</th><th>bytes</th></tr>",
    ]
    for n in order:
        s = stats.steps.get(n)
        for reason, count in sorted((s.drops if s else {}).items(), key=lambda kv: -kv[1]):
            parts.append(
                f"<tr><td>{esc(n)}</td><td>{esc(reason)}</td><td>{count}</td>"
                f"<td>{s.drop_bytes.get(reason, 0)}</td></tr>"
            )
    parts.append("</table>")
    if stats.bad_records:
        parts.append(
            f"<h2>Bad input</h2><p>{stats.bad_records} bad record(s) set aside (see errors.jsonl): "
            + esc(", ".join(f"{k} {v}" for k, v in stats.bad_reasons.items()))
            + "</p>"
        )
    parts.append("<h2>Examples of removed documents</h2>")
    for n in order:
        s = stats.steps.get(n)
        for reason, exs in (s.examples if s else {}).items():
            parts.append(f"<h3>{esc(n)}: {esc(reason)}</h3>")
            for e in exs:
                parts.append(
                    f"<p><code>{esc(str(e['id']))}</code> ({esc(str(e['file']))}:{e['line']})</p>"
                    f"<pre>{esc(e['text'])}</pre>"
                )
    extras = {k: v for k, v in stats.extra.items() if k != "run"}
    if extras:
        import json

        parts.append("<h2>Global steps</h2>")
        for k, v in extras.items():
            parts.append(f"<h3>{esc(k)}</h3><pre>{esc(json.dumps(v, indent=1, default=str)[:5000])}</pre>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
