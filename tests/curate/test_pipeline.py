"""The curation engine: stats add up, output keeps input fields, sources, bad input, workers, formats, recipes."""

from __future__ import annotations

import json
import os

import pytest
from _curate_data import BAD_LINES, make_corpus, output_bytes, write_jsonl

from massivetext.cli.main import main
from massivetext.curate import GopherQualityFilter, GopherRepetitionFilter, PIIRedactor, Pipeline
from massivetext.curate.io import read_output
from massivetext.curate.recipes import STEP_TYPES, load_recipe
from massivetext.errors import BadInputError, ConfigError


def steps():
    return [GopherQualityFilter(sources=["prose/*"]), GopherRepetitionFilter(sources=["prose/*"]), PIIRedactor()]


def read_all(out: str) -> list[dict]:
    return [
        r for name in sorted(os.listdir(out)) if name.startswith("part-") for r in read_output(os.path.join(out, name))
    ]


def inputs_by_id(paths: list[str]) -> dict[str, dict]:
    recs = {}
    for p in paths:
        with open(p, "rb") as f:
            for raw in f:
                try:
                    r = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(r, dict) and isinstance(r.get("text"), str):
                    recs[r["id"]] = r
    return recs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    return make_corpus(str(d))


@pytest.fixture(scope="module")
def run1(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out1"))
    stats = Pipeline(steps(), task_bytes=3000).run(corpus, out, workers=1, progress=False)
    return out, stats


def test_stats_add_up(run1, corpus):
    out, stats = run1
    names = ["gopher_quality", "gopher_repetition", "pii"]
    assert list(stats.steps) == names
    prev_out = stats.docs_read
    for n in names:
        s = stats.steps[n]
        assert s.docs_in == prev_out
        assert s.docs_in == s.docs_out + sum(s.drops.values())
        if n != "pii":  # redaction changes bytes
            assert s.bytes_in == s.bytes_out + sum(s.drop_bytes.values())
        prev_out = s.docs_out
    q, r = stats.steps["gopher_quality"], stats.steps["gopher_repetition"]
    assert q.drops == {"too_few_words": 8}  # 2 short prose docs per file
    assert r.drops == {"dup_line_frac": 8}
    assert stats.steps["pii"].counts == {"EMAIL": 8, "docs_with_pii": 8}
    assert stats.docs_written == prev_out == len(read_all(out)) == 4 * 12 - 16
    assert stats.docs_read == 48 and stats.bad_records == 5
    assert sum(stats.kept_hist) == stats.docs_written
    on_disk = json.load(open(os.path.join(out, "stats.json")))
    assert on_disk["docs_written"] == stats.docs_written
    assert on_disk["steps"]["gopher_quality"]["drops"] == {"too_few_words": 8}
    ex = on_disk["steps"]["gopher_quality"]["examples"]["too_few_words"][0]
    assert ex["file"].endswith("in-00.jsonl") and ex["line"] > 0 and ex["text"]


def test_output_keeps_input_fields_and_order(run1, corpus):
    out, _ = run1
    src = inputs_by_id(corpus)
    got = read_all(out)
    ids = [r["id"] for r in got]
    assert ids == [i for i in src if i in set(ids)]  # input order kept
    for r in got:
        original = src[r["id"]]
        assert set(r) == set(original)  # nothing added, nothing lost
        if "@example.com" in original["text"]:
            assert r["text"] == original["text"].replace(original["text"].split()[-3], "<EMAIL>")
        else:
            assert r == original
    # code passes the prose filters untouched (it would fail the word count)
    assert sum(r["source"] == "code/py" for r in got) == 8


def test_bad_input_counted_with_file_and_line(run1, corpus):
    out, stats = run1
    errors = [json.loads(x) for x in open(os.path.join(out, "errors.jsonl"))]
    assert [e["line"] for e in errors] == BAD_LINES
    assert all(e["file"] == corpus[0] for e in errors)
    assert "invalid JSON" in errors[0]["reason"] and "UTF-8" in errors[4]["reason"]
    assert stats.bad_records == 5 and sum(stats.bad_reasons.values()) == 5
    # grouped by kind: places become N, names (UTF-8) stay, and so does the report's wording
    assert stats.bad_reasons["invalid UTF-8 at byte N"] == 1, stats.bad_reasons
    assert "invalid UTF-8 at byte N" in open(os.path.join(out, "report.html"), encoding="utf-8").read()


def test_bad_reason_kinds_keep_names():
    from massivetext.curate.stats import bad_reason_kind

    assert bad_reason_kind("invalid UTF-8 at byte 1234") == "invalid UTF-8 at byte N"
    assert bad_reason_kind("CSV row has 3 fields, header has 2") == "CSV row has N fields, header has N"
    assert bad_reason_kind("invalid JSON: Expecting value (column 7)") == "invalid JSON"
    assert bad_reason_kind("missing field 'text 2'") == "missing field 'text 2'"
    assert bad_reason_kind("field 'body' is int, expected a string") == "field 'body' is int, expected a string"


def test_strict_stops_at_first_bad_record(corpus, tmp_path, capsys):
    with pytest.raises(BadInputError) as e:
        Pipeline(steps()).run(corpus, str(tmp_path / "o"), workers=1, strict=True, progress=False)
    assert e.value.line == BAD_LINES[0] or f":{BAD_LINES[0]}:" in str(e.value)
    rc = main(["curate", *corpus, "--output", str(tmp_path / "o2"), "--recipe", "gopher-filters", "--strict", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"in-00.jsonl:{BAD_LINES[0]}" in err[0]


def test_workers_1_and_2_identical(corpus, tmp_path, run1):
    out2 = str(tmp_path / "w2")
    Pipeline(steps(), task_bytes=3000).run(corpus, out2, workers=2, progress=False)
    a, b = output_bytes(run1[0]), output_bytes(out2)
    assert len([n for n in a if n.startswith("part-")]) >= 4
    assert a == b


def test_byte_range_tasks_give_the_same_documents(tmp_path):
    paths = make_corpus(str(tmp_path / "in"), n_files=1, docs_per_file=60, bad=False)
    whole = Pipeline(steps(), task_bytes=1 << 30).run(paths, str(tmp_path / "a"), workers=1, progress=False)
    split = Pipeline(steps(), task_bytes=2000).run(paths, str(tmp_path / "b"), workers=1, progress=False)
    assert split.extra["run"]["tasks"] > 5 and whole.extra["run"]["tasks"] == 1
    assert read_all(str(tmp_path / "a")) == read_all(str(tmp_path / "b"))


def test_parquet_output_and_custom_fields(tmp_path):
    p = str(tmp_path / "in.jsonl")
    good = " ".join(["the river and the stone of the valley"] * 10)
    write_jsonl(p, [{"content": good, "k": 1}, {"content": "too short", "k": 2}, {"content": good + " more", "k": 3}])
    out = str(tmp_path / "o")
    stats = Pipeline([GopherQualityFilter(max_words=None)], text_field="content", output_format="parquet").run(
        p, out, workers=1, progress=False
    )
    recs = read_all(out)
    assert recs == [{"content": good, "k": 1}, {"content": good + " more", "k": 3}]
    assert os.listdir(out).count("part-00000.parquet") == 1
    # no id field: a stable id from file and line
    assert stats.steps["gopher_quality"].examples["too_few_words"][0]["id"] == f"{p}:2"


def test_write_removed(corpus, tmp_path):
    out = str(tmp_path / "o")
    Pipeline(steps(), write_removed=True).run(corpus, out, workers=1, progress=False)
    removed = [
        r
        for n in sorted(os.listdir(os.path.join(out, "removed")))
        for r in read_output(os.path.join(out, "removed", n))
    ]
    assert sorted({(r["step"], r["reason"]) for r in removed}) == [
        ("gopher_quality", "too_few_words"),
        ("gopher_repetition", "dup_line_frac"),
    ]
    assert len(removed) == 16 and all("text" in r["record"] and r["line"] > 0 for r in removed)


def test_resume_refuses_a_different_pipeline(corpus, tmp_path):
    out = str(tmp_path / "o")
    Pipeline(steps()).run(corpus, out, workers=1, progress=False)
    with pytest.raises(ConfigError, match="different run"):
        Pipeline([GopherQualityFilter(min_words=10)]).run(corpus, out, workers=1, progress=False)
    stats = Pipeline([GopherQualityFilter(min_words=10)]).run(corpus, out, workers=1, progress=False, resume=False)
    assert list(stats.steps) == ["gopher_quality"]


def test_recipes():
    names = [type(s).__name__ for s in load_recipe("gopher-filters")]
    assert names == ["GopherQualityFilter", "GopherRepetitionFilter", "PIIRedactor"]
    import yaml

    from massivetext.curate.recipes import recipe_path

    spec = yaml.safe_load(recipe_path("massivetext").read_text(encoding="utf-8"))
    types = [s["type"] for s in spec["steps"]]
    assert types == [
        "LanguageFilter",
        "GopherQualityFilter",
        "GopherRepetitionFilter",
        "ExactDeduplicator",
        "MinHashDeduplicator",
        "PIIRedactor",
    ]
    assert all(t in STEP_TYPES for t in types)
    q = load_recipe({"steps": [spec["steps"][1]]})[0]
    assert q.sources == ["prose/*", "web/*", "text/*"] and q.min_words == 50 and q.min_stop_words == 2
    with pytest.raises(ConfigError, match="unknown step type"):
        load_recipe({"steps": [{"type": "NoSuchFilter"}]})
    with pytest.raises(ConfigError, match="bad parameters"):
        load_recipe({"steps": [{"type": "GopherQualityFilter", "min_wordz": 3}]})
    with pytest.raises(ConfigError):
        load_recipe("no-such-recipe")


def test_full_massivetext_recipe_builds():
    steps = load_recipe("massivetext")
    assert [s.name for s in steps][:3] == ["language", "gopher_quality", "gopher_repetition"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["curate", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.jsonl" in err[0]
    bad = tmp_path / "r.yaml"
    bad.write_text("steps: [ {type: Nope} ]")
    p = tmp_path / "x.jsonl"
    write_jsonl(str(p), [{"text": "hello"}])
    assert main(["curate", str(p), "--output", str(tmp_path / "o"), "--recipe", str(bad), "-q"]) == 2
    assert "unknown step type" in capsys.readouterr().err


def test_text_csv_and_compressed_inputs(tmp_path):
    import gzip

    good = " ".join(["the river and the stone of the valley"] * 10)
    (tmp_path / "a.txt").write_text(good + "\n\nsecond paragraph of the same document\n")
    (tmp_path / "b.csv").write_text(f'id,text\nc1,"{good}"\nc2,short\n')
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "g1", "text": good}) + "\n")
    out = str(tmp_path / "o")
    stats = Pipeline([GopherQualityFilter(max_words=None)]).run(str(tmp_path), out, workers=1, progress=False)
    got = read_all(out)
    assert stats.docs_read == 4 and stats.docs_written == 3
    assert got[0] == {"text": good + "\n\nsecond paragraph of the same document"}  # a .txt file is one document
    assert got[1] == {"id": "c1", "text": good} and got[2] == {"id": "g1", "text": good}
