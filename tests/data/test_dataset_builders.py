"""Dataset builders: real source formats parsed, labels as the source says, splits deterministic and disjoint, a
damaged cache rebuilt, an unreachable source reported in one line.

The real sources are fetched once per test session with pip / apt-get as configured on this machine (into the
session's ``MASSIVETEXT_CACHE``); a test that cannot reach the registry is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile

import pytest

import massivetext as mt
from massivetext.data.corpora import chat_dialogs, ddtp, movie_sentiment
from massivetext.data.corpora.builder import SPLITS, assign_split, split_key_text, verify_build
from massivetext.data.corpora.fetch import CacheCorruptWarning, SourceUnavailableError, read_apt_index
from massivetext.data.corpora.registry import get_builder

MS = movie_sentiment


def _fetch(fn, *args):
    try:
        return fn(*args)
    except SourceUnavailableError as e:
        print(f"SKIP reason: {e}")
        pytest.skip(f"registry not reachable: {e}")


@pytest.fixture(scope="session")
def downloads():
    from massivetext.data.corpora.stdlib import cache_dir

    return os.path.join(cache_dir(), "downloads")


@pytest.fixture(scope="session")
def vader_sdist(downloads):
    return _fetch(MS.pip_download, MS.REQUIREMENT, MS.SDIST, MS.SDIST_SHA256, os.path.join(downloads, "pip"))


@pytest.fixture(scope="session")
def translations(downloads):
    return _fetch(ddtp.apt_translations, os.path.join(downloads, "apt-ddtp"), ddtp.LANGUAGES)


@pytest.fixture(scope="session")
def chat_wheel(downloads):
    c = chat_dialogs
    return _fetch(c.pip_download, c.REQUIREMENT, c.WHEEL, c.WHEEL_SHA256, os.path.join(downloads, "pip"), True)


# -- movie-sentiment -------------------------------------------------------------------------------------------------
def test_movie_snippets_real_format(vader_sdist):
    lines = MS.read_ground_truth(vader_sdist)
    assert len(lines) == 10605
    first = next(MS.parse_snippets(lines[:1]))
    assert first["id"] == 1 and first["score"] == pytest.approx(2.26666666667) and first["label"] == 1
    assert first["text"].startswith("The Rock is destined to be the 21st Century's new")
    recs = list(MS.parse_snippets(lines[:500]))
    assert [r["id"] for r in recs] == list(range(1, 501))
    # label = score > 0, straight from the file's second column
    assert all(r["label"] == (float(line.split("\t")[1]) > 0) for r, line in zip(recs, lines, strict=False))
    assert next(r for r in recs if r["id"] == 3)["label"] == 0  # "Effective but too tepid biopic", -0.6


def test_movie_sentiment_splits_and_labels(vader_sdist):
    d = mt.load_dataset("movie-sentiment")
    assert set(d) == set(SPLITS) and sum(d[s].num_rows for s in SPLITS) == 10605
    assert d["train"].features["label"].names == ["negative", "positive"]
    assert "MIT" in d["train"].info.license and "vaderSentiment==3.3.2" in d["train"].info.description
    ids = {s: set(d[s]["id"]) for s in SPLITS}
    assert not (ids["train"] & ids["validation"] or ids["train"] & ids["test"] or ids["validation"] & ids["test"])
    source = {r["id"]: r for r in MS.parse_snippets(MS.read_ground_truth(vader_sdist))}
    for s in SPLITS:
        for rec in d[s].select(range(0, d[s].num_rows, 37)):
            src = source[rec["id"]]
            assert rec["label"] == int(src["score"] > 0) and rec["score"] == src["score"] and rec["text"] == src["text"]
            assert assign_split(split_key_text(rec["text"])) == s  # the split is a function of the text alone
    assert 0.75 < d["train"].num_rows / 10605 < 0.85


def test_bad_label_values_name_file_and_line():
    good = "1\t2.5\tFine film."
    with pytest.raises(mt.BadInputError, match=r"truth\.txt:2: .*number"):
        list(MS.parse_snippets([good, "2\tpositive\tGreat."], "truth.txt"))
    with pytest.raises(mt.BadInputError, match=r"truth\.txt:3: score 7.0 is outside"):
        list(MS.parse_snippets([good, "", "3\t7\tToo good."], "truth.txt"))
    with pytest.raises(mt.BadInputError, match="3 tab-separated"):
        list(MS.parse_snippets(["4 1.0 spaces not tabs"], "truth.txt"))


def test_damaged_cache_is_rebuilt(vader_sdist, tmp_path):
    builder = get_builder("movie-sentiment")
    cache = str(tmp_path)
    os.makedirs(os.path.join(cache, "downloads", "pip"))
    shutil.copyfile(vader_sdist, os.path.join(cache, "downloads", "pip", MS.SDIST))  # no second download needed
    path = builder.build(cache)
    want = {s: open(os.path.join(path, f"{s}.jsonl"), "rb").read() for s in SPLITS}
    train = os.path.join(path, "train.jsonl")
    with open(train, "r+b") as f:  # a half-written split file
        f.truncate(len(want["train"]) // 2)
    assert "sha256" in verify_build(path)
    with pytest.warns(CacheCorruptWarning, match="fails its sha256"):
        ds = builder.load("train", cache_dir=cache)
    assert open(train, "rb").read() == want["train"] and ds.num_rows == want["train"].count(b"\n")
    os.remove(os.path.join(path, "info.json"))  # an interrupted build: no info.json
    with pytest.warns(CacheCorruptWarning, match="incomplete"):
        builder.build(cache)
    assert verify_build(path) is None and all(open(os.path.join(path, f"{s}.jsonl"), "rb").read() == want[s]
                                              for s in SPLITS)  # fmt: skip


def test_half_downloaded_source_is_fetched_again(vader_sdist, tmp_path, monkeypatch):
    mirror, dest = tmp_path / "mirror", tmp_path / "pip"
    mirror.mkdir(), dest.mkdir()
    shutil.copyfile(vader_sdist, mirror / MS.SDIST)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip as a user with a local mirror would have it: no network needed
    monkeypatch.setenv("PIP_FIND_LINKS", str(mirror))
    (dest / MS.SDIST).write_bytes(open(vader_sdist, "rb").read()[:1000])
    with pytest.warns(CacheCorruptWarning, match="sha256 mismatch"):
        path = MS.pip_download(MS.REQUIREMENT, MS.SDIST, MS.SDIST_SHA256, str(dest))
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == MS.SDIST_SHA256


def test_offline_source_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    with pytest.raises(SourceUnavailableError, match=r"could not fetch vaderSentiment==3\.3\.2 with pip"):
        mt.load_dataset("movie-sentiment", cache_dir=str(tmp_path))
    conf = tmp_path / "apt.conf"
    conf.write_text('Acquire::http::Proxy "http://127.0.0.1:9/";\nAcquire::https::Proxy "http://127.0.0.1:9/";\n')
    monkeypatch.setenv("APT_CONFIG", str(conf))
    if not os.path.exists("/usr/bin/apt-get"):
        pytest.skip("apt-get is not installed here")
    with pytest.raises(SourceUnavailableError, match="could not fetch the Debian translation indices"):
        mt.load_dataset("ddtp-en-fr", cache_dir=str(tmp_path))


# -- DDTP ------------------------------------------------------------------------------------------------------------
def test_translation_index_real_format(translations):
    text = read_apt_index(max(translations["en"], key=os.path.getsize))
    head = "\n\n".join(text.split("\n\n")[:300])
    paras = list(ddtp.iter_paragraphs(head))
    assert len(paras) == 300
    for para in paras:  # Description-md5 is the md5 of the raw English description: proves the field was read whole
        raw = "\n".join(para["Description-en"]) + "\n"
        assert hashlib.md5(raw.encode()).hexdigest() == para["Description-md5"][0]
    entries = list(ddtp.parse_translation_index(head, "en"))
    # Debian's " ." paragraph marks became blank lines, and no text keeps the field's leading space
    assert all(e["synopsis"] and "." not in e["description"].split("\n") for e in entries)
    assert all(not e["description"][:1].isspace() for e in entries)
    fr = list(ddtp.parse_translation_index(read_apt_index(translations["fr"][0])[:200_000], "fr"))
    assert len(fr) > 50 and all(len(e["id"]) == 32 for e in fr)


def test_long_description_format():
    lines = [" First line of", " a wrapped paragraph.", " .", " Features:", "  * verbatim bullet", " * short", " bullet",
             " \xa0"]  # fmt: skip
    assert ddtp.long_description(lines) == (
        "First line of a wrapped paragraph.\n\nFeatures:\n * verbatim bullet\n* short bullet"
    )


PLANTED = {
    "en": "Package: foo\nDescription-md5: {a}\nDescription-en: frobnicate files\n Foo frobnicates files.\n .\n Fast.\n\n"
    "Package: foo-doc\nDescription-md5: {b}\nDescription-en: frobnicate files - docs\n Foo frobnicates files.\n .\n"
    " Fast.\n\nPackage: bar\nDescription-md5: {c}\nDescription-en: bar tool\n",
    "fr": "Package: foo\nDescription-md5: {a}\nDescription-fr: fichiers frobniqués\n Foo frobnique.\n .\n Rapide.\n\n"
    "Package: old\nDescription-md5: {d}\nDescription-fr: traduction périmée\n",
}


def test_ddtp_join_on_md5_and_summaries(tmp_path, monkeypatch):
    ids = {k: k * 32 for k in "abcd"}
    files = {}
    for lang, text in PLANTED.items():
        p = tmp_path / f"x_i18n_Translation-{lang}"
        p.write_text(text.format(**ids), encoding="utf-8")
        files[lang] = [str(p)]
    files["de"] = []
    monkeypatch.setattr(ddtp._DDTP, "_files", lambda self, downloads: files)
    pairs = [r for _, r in ddtp.DDTPTranslation("fr").records("")]
    assert pairs == [{"id": ids["a"], "package": "foo", "synopsis_en": "frobnicate files",
                      "description_en": "Foo frobnicates files.\n\nFast.", "synopsis_fr": "fichiers frobniqués",
                      "description_fr": "Foo frobnique.\n\nRapide."}]  # fmt: skip
    summaries = list(ddtp.DDTPSummaries().records(""))
    # foo-doc shares foo's long description (kept once); bar has no long description
    assert [r["summary"] for _, r in summaries] == ["frobnicate files"]
    assert summaries[0][0] == split_key_text("Foo frobnicates files.\n\nFast.")


def test_ddtp_en_fr_build(translations):
    d = mt.load_dataset("ddtp-en-fr")
    n = sum(d[s].num_rows for s in SPLITS)
    assert 15_000 < n < 25_000  # ~19.5 k in bookworm
    assert set(d["train"].column_names) == {"id", "package", "synopsis_en", "description_en", "synopsis_fr",
                                             "description_fr"}  # fmt: skip
    keys = {s: {split_key_text(r["description_en"] or r["synopsis_en"]) for r in d[s]} for s in SPLITS}
    assert not (keys["train"] & keys["test"] or keys["train"] & keys["validation"] or keys["validation"] & keys["test"])
    ex = d["test"][0]
    assert ex["synopsis_fr"] and ex["synopsis_fr"] != ex["synopsis_en"]


# -- chat-dialogs ----------------------------------------------------------------------------------------------------
def test_chatterbot_real_format(chat_wheel):
    with zipfile.ZipFile(chat_wheel) as z:
        convs = list(chat_dialogs.parse_conversations(z.read(chat_dialogs.PREFIX + "conversations.yml").decode(), "c"))
        trivia = z.read(chat_dialogs.PREFIX + "trivia.yml").decode()
    category, messages = convs[0]
    assert category == "conversations" and messages[:2] == [
        {"role": "user", "content": "Good morning, how are you?"},
        {"role": "assistant", "content": "I am doing well, how about you?"},
    ]
    assert all(m["role"] == ("user" if i % 2 == 0 else "assistant") for _, ms in convs for i, m in enumerate(ms))
    skipped: list[str] = []
    answers = [ms[1]["content"] for _, ms in chat_dialogs.parse_conversations(trivia, "trivia.yml", skipped)]
    assert "1984" in answers  # a year stays text (BaseLoader), not the integer 1984
    assert len(skipped) == 1 and "two little ducks" in skipped[0]
    with pytest.raises(mt.BadInputError, match="trivia.yml: conversation 14"):
        list(chat_dialogs.parse_conversations(trivia, "trivia.yml"))


def test_chat_dialogs_dataset(chat_wheel):
    with pytest.warns(UserWarning, match="malformed source record"):
        d = mt.load_dataset("chat-dialogs", rebuild=True)
    firsts = {s: {split_key_text(m[0]["content"]) for m in d[s]["messages"]} for s in SPLITS}
    assert not (firsts["train"] & firsts["test"] or firsts["train"] & firsts["validation"])
    ids = [i for s in SPLITS for i in d[s]["id"]]
    assert len(ids) == len(set(ids)) > 500
    info = json.load(open(os.path.join(get_builder("chat-dialogs").cache_path(), "info.json")))
    assert info["license"].startswith("BSD-3-Clause") and len(info["skipped_source_records"]) == 1


# -- names -----------------------------------------------------------------------------------------------------------
def test_hub_names_go_to_the_hub():
    # conftest sets HF_DATASETS_OFFLINE: the Hub's own offline error, as one ConfigError line
    with pytest.raises(mt.ConfigError, match="Hugging Face Hub did not provide it") as e:
        mt.load_dataset("imdb")
    assert "\n" not in str(e.value)
    with pytest.raises(mt.ConfigError, match="Did you mean 'movie-sentiment'"):
        mt.load_dataset("movie-sentimnt")
    with pytest.raises(mt.ConfigError, match="unknown option"):
        mt.load_dataset("movie-sentiment", max_docs=3)
