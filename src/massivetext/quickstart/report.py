"""The quickstart's ``report.html``: funnel, loss curve, perplexity against the baseline, samples, commands."""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def funnel_chart(funnel: list[dict]) -> str:
    """funnel: [{"step", "docs", "bytes"}] from input to output; bars of documents and MB kept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(funnel) + 1.2))
    names = [f["step"] for f in funnel][::-1]
    for ax, key, label, scale in ((axes[0], "docs", "documents", 1), (axes[1], "bytes", "MB", 1e6)):
        values = [f[key] / scale for f in funnel][::-1]
        ax.barh(names, values, color="#4c72b0")
        ax.set_xlabel(f"{label} kept")
        ax.set_xlim(0, max(values) * 1.2)  # room for the value labels
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,.0f}" if scale == 1 else f" {v:,.1f}", va="center", fontsize=8)
    axes[1].set_yticklabels([])
    fig.suptitle("Curation funnel")
    return _png(fig)


def loss_chart(train: list[tuple[int, float]], evals: list[tuple[int, float]], baseline: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    if train:
        ax.plot(*zip(*train), label="training loss", color="#4c72b0")
    if evals:
        ax.plot(*zip(*evals), "o-", label="validation loss (windows spread over the split)", color="#dd8452")
    ax.axhline(baseline, ls="--", color="gray", label="unigram baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def write_report(
    path: str, summary: dict, funnel: list[dict], loss_png: str, samples: list[dict], commands: list[str]
) -> None:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(f['step'])}</td><td>{f['docs']:,}</td><td>{f['bytes'] / 1e6:,.2f}</td></tr>" for f in funnel
    )
    sample_html = "".join(
        f"<h3>{esc(s['kind'])}: <code>{esc(s['prompt'])}</code></h3><pre>{esc(s['text'])}</pre>" for s in samples
    )
    funnel_png = funnel_chart(funnel)
    for name, png in (("funnel.png", funnel_png), ("loss.png", loss_png)):  # the charts as files too
        with open(os.path.join(os.path.dirname(path), name), "wb") as f:
            f.write(base64.b64decode(png))
    ev = summary["evaluation"]
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in summary["facts"].items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>MassiveText quickstart</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:4px 10px;text-align:right}}
th{{text-align:left;background:#f6f6f6}}pre{{background:#f6f8fa;padding:10px;white-space:pre-wrap}}
.big{{font-size:1.4em}}</style></head><body>
<h1>MassiveText quickstart</h1>
<p class="big">Validation perplexity <b>{ev["perplexity"]:.1f}</b> against <b>{ev["unigram_perplexity"]:.1f}</b> for a
unigram model of the same tokens ({ev["unigram_perplexity"] / ev["perplexity"]:.1f}x lower).</p>
<table>{facts}</table>
<h2>1. Curation</h2><img src="data:image/png;base64,{funnel_png}">
<table><tr><th>step</th><th>documents</th><th>MB</th></tr>{rows}</table>
<p>Per-rule details, length histograms and examples of removed documents: <a href="curated/report.html">curated/report.html</a>.</p>
<h2>2. Training</h2><img src="data:image/png;base64,{loss_png}">
<h2>3. Samples</h2>{sample_html}
<h2>Reproduce each stage by hand</h2><pre>{esc(chr(10).join(commands))}</pre>
</body></html>"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
