"""``report.html``: a self-contained page (inline SVG charts) that explains what a curation run did.

Sections: the funnel (documents and bytes kept after each step), length histograms of kept and removed documents,
drops by reason per step, and a few removed documents per reason.

The charts are SVG written directly: a bar chart is a few dozen rectangles and labels, and drawing them with
matplotlib cost about 1.5 s of a run (its import, text layout and PNG encoding), more than most curation steps on
a small corpus. The page stays one file with nothing to fetch, and the charts scale with the browser window.
"""

from __future__ import annotations

import html
import math

from massivetext._atomic import atomic_write_text
from massivetext.curate.stats import N_BINS, Stats, bin_edges, summary_table

_KEPT, _REMOVED, _BAR = "#55a868", "#c44e52", "#4c72b0"
_FONT = "font-family='sans-serif' font-size='11'"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{html.escape(label)}' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' {_FONT}>" + "".join(body) + "</svg>"
    )


def _hbars(x0: int, width: int, labels: list[str], vals: list[float], title: str, fmt: str) -> list[str]:
    """One horizontal bar chart: a bar per label, its value and share of the first value written after it."""
    esc = html.escape
    top = max(vals) if vals and max(vals) > 0 else 1.0
    scale = (width - 110) / top  # room on the right for the value text
    out = [f"<text x='{x0 + width / 2:.0f}' y='14' text-anchor='middle' font-size='13'>{esc(title)}</text>"]
    for i, (lab, v) in enumerate(zip(labels, vals)):
        y = 24 + 22 * i
        pct = f" ({100 * v / vals[0]:.1f}%)" if vals[0] else ""
        out.append(
            f"<text x='{x0 - 4}' y='{y + 12}' text-anchor='end'>{esc(lab)}</text>"
            f"<rect class='bar' x='{x0}' y='{y}' width='{v * scale:.1f}' height='16' fill='{_BAR}'>"
            f"<title>{esc(lab)}: {fmt.format(v)}</title></rect>"
            f"<text x='{x0 + v * scale + 4:.1f}' y='{y + 12}'>{fmt.format(v)}{pct}</text>"
        )
    return out


def funnel_chart(stats: Stats, order: list[str]) -> str:
    """Documents and MB left after each step, as two bar charts side by side (one SVG)."""
    labels = ["input", *[n for n in order if n in stats.steps]]
    docs = [float(stats.docs_read)] + [float(stats.steps[n].docs_out) for n in labels[1:]]
    mb = [stats.bytes_read / 1e6] + [stats.steps[n].bytes_out / 1e6 for n in labels[1:]]
    pad = 8 + 7 * max(len(s) for s in labels)  # room for the step names
    body = _hbars(pad, 500 - pad, labels, docs, "documents kept", "{:,.0f}")
    body += _hbars(500 + pad, 500 - pad, labels, mb, "MB kept", "{:,.2f}")
    return _svg(1000, 30 + 22 * len(labels), body, "funnel")


def length_chart(stats: Stats, order: list[str]) -> str:
    """Histograms of kept and removed document lengths on a log axis (quarter-decade bins), overlaid."""
    edges = bin_edges()
    removed = [0] * N_BINS
    for n in order:
        if n in stats.steps:
            removed = [a + b for a, b in zip(removed, stats.steps[n].removed_hist)]
    used = [i for i in range(N_BINS) if stats.kept_hist[i] or removed[i]]
    lo, hi = (used[0], used[-1] + 1) if used else (0, 4)  # only the quarter-decades that hold documents
    w, h, left, bottom = 900, 300, 60, 40
    plot_w, plot_h = w - left - 20, h - bottom - 30
    top = max([*stats.kept_hist, *removed, 1])
    bin_w = plot_w / (hi - lo)
    body = [f"<rect x='{left}' y='20' width='{plot_w}' height='{plot_h}' fill='none' stroke='#999'/>"]
    for series, color, name in ((stats.kept_hist, _KEPT, "kept"), (removed, _REMOVED, "removed")):
        for i in range(lo, hi):
            if series[i]:
                bh = plot_h * series[i] / top
                x = left + (i - lo) * bin_w
                body.append(
                    f"<rect class='{name}' x='{x:.1f}' y='{20 + plot_h - bh:.1f}' width='{bin_w:.1f}' "
                    f"height='{bh:.1f}' fill='{color}' fill-opacity='0.6'><title>{name}: {series[i]} docs of "
                    f"{edges[i]:,.0f}-{edges[i + 1]:,.0f} bytes</title></rect>"
                )
    for i in range(lo, hi + 1):
        if i % 4 == 0:  # a tick at each power of ten
            x = left + (i - lo) * bin_w
            body.append(
                f"<line x1='{x:.1f}' y1='{20 + plot_h}' x2='{x:.1f}' y2='{24 + plot_h}' stroke='#333'/>"
                f"<text x='{x:.1f}' y='{36 + plot_h}' text-anchor='middle'>1e{i // 4}</text>"
            )
    step = 10 ** max(0, math.floor(math.log10(top)))
    for v in range(0, top + 1, step):
        y = 20 + plot_h - plot_h * v / top
        body.append(f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end'>{v:,}</text>")
    body.append(
        f"<text x='{left + plot_w / 2:.0f}' y='{h - 4}' text-anchor='middle'>document length (bytes)</text>"
        f"<text x='14' y='{20 + plot_h / 2:.0f}' text-anchor='middle' "
        f"transform='rotate(-90 14 {20 + plot_h / 2:.0f})'>documents</text>"
        f"<rect x='{left + plot_w - 90}' y='26' width='12' height='12' fill='{_KEPT}' fill-opacity='0.6'/>"
        f"<text x='{left + plot_w - 74}' y='36'>kept</text>"
        f"<rect x='{left + plot_w - 90}' y='44' width='12' height='12' fill='{_REMOVED}' fill-opacity='0.6'/>"
        f"<text x='{left + plot_w - 74}' y='54'>removed</text>"
    )
    return _svg(w, h, body, "lengths")


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
        funnel_chart(stats, order),
        "<h2>Lengths of kept and removed documents</h2>",
        length_chart(stats, order),
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
