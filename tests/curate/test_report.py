"""report.html: funnel and length charts as inline SVG, drops by reason, removed examples; the summary table."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from _curate_data import make_corpus

from massivetext.cli.main import main
from massivetext.curate.stats import Stats, summary_table


def test_report_and_summary(tmp_path, capsys):
    paths = make_corpus(str(tmp_path / "in"), n_files=2)
    out = tmp_path / "o"
    assert main(["curate", *paths, "--output", str(out), "--recipe", "gopher-filters", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "gopher_quality" in printed and "too_few_words 4" in printed and "docs out" in printed

    page = (out / "report.html").read_text()
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 2
    funnel, lengths = (ET.fromstring(c) for c in charts)  # well-formed SVG
    stats = Stats.load(str(out / "stats.json"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in funnel.iter(f"{ns}rect") if r.get("class") == "bar"]
    steps = ["gopher_quality", "gopher_repetition", "pii"]
    docs = [stats.docs_read] + [stats.steps[n].docs_out for n in steps]
    assert len(bars) == 2 * len(docs)  # documents and MB, one bar per step and the input
    widths = [float(b.get("width")) for b in bars[: len(docs)]]
    assert [round(w / widths[0], 2) for w in widths] == [round(d / docs[0], 2) for d in docs]
    kept = sum(float(r.get("height")) > 0 for r in lengths.iter(f"{ns}rect") if r.get("class") == "kept")
    assert kept == sum(1 for c in stats.kept_hist if c)  # one bar per non-empty length bin
    assert "gopher_repetition: dup_line_frac" in page and "gopher_quality: too_few_words" in page
    assert "5 bad record(s)" in page

    table = summary_table(stats, ["gopher_quality", "gopher_repetition", "pii"])
    assert table.splitlines()[2].split()[:3] == ["gopher_quality", "24", "20"]
