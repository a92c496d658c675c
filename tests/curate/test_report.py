"""report.html: funnel and length charts as embedded PNGs, drops by reason, removed examples; the summary table."""

from __future__ import annotations

import base64
import re

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
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert "gopher_repetition: dup_line_frac" in page and "gopher_quality: too_few_words" in page
    assert "5 bad record(s)" in page

    stats = Stats.load(str(out / "stats.json"))
    table = summary_table(stats, ["gopher_quality", "gopher_repetition", "pii"])
    assert table.splitlines()[2].split()[:3] == ["gopher_quality", "24", "20"]
