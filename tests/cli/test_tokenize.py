"""`massivetext tokenize train|encode` end to end, and their one-line errors."""

import json

import massivetext as mt
from massivetext.cli.main import main
from tokenization_helpers import corpus, write_jsonl


def test_train_then_encode(tmp_path, capsys):
    data = write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": t} for i, t in enumerate(corpus(120))])
    assert main(["tokenize", "train", data, "-o", str(tmp_path / "tok"), "--vocab-size", "400"]) == 0
    tok = mt.AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert len(tok) == 400
    code = main(["tokenize", "encode", "-t", str(tmp_path / "tok"), data, "-o", str(tmp_path / "shards"),
                 "--val-fraction", "0.1", "--no-progress"])  # fmt: skip
    assert code == 0
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    out = capsys.readouterr().out
    assert f"train: {index['splits']['train']['tokens']:,} tokens" in out and index["dtype"] == "uint16"
    assert index["splits"]["train"]["documents"] + index["splits"]["val"]["documents"] == 120


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    data = write_jsonl(tmp_path / "docs.jsonl", [{"id": 1, "text": "x"}])
    (tmp_path / "no_tok").mkdir()
    assert main(["tokenize", "encode", "-t", str(tmp_path / "no_tok"), data, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_tok: no tokenizer.json" in err
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["tokenize", "train", str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "t")]) == 2
    assert "empty corpus" in capsys.readouterr().err


def test_train_on_a_missing_file_is_one_line_exit_2(tmp_path, capsys):
    data = write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": t} for i, t in enumerate(corpus(50))])
    for inputs in ([str(tmp_path / "nonexist.jsonl")], [data, str(tmp_path / "typo.jsonl")]):
        assert main(["tokenize", "train", *inputs, "-o", str(tmp_path / "tok"), "--vocab-size", "300"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and inputs[-1] in err
        assert not (tmp_path / "tok").exists()


def test_encode_sources_from_a_metadata_field(tmp_path, capsys):
    texts = corpus(60)
    rows = [{"id": i, "text": t, "metadata": {"source": ("web", "books")[i % 3 == 0]}} for i, t in enumerate(texts)]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    assert main(["tokenize", "train", data, "-o", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    code = main(["tokenize", "encode", "-t", str(tmp_path / "tok"), data, "-o", str(tmp_path / "shards"),
                 "--val-fraction", "0", "--source-field", "metadata.source", "--no-progress"])  # fmt: skip
    assert code == 0
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    train = index["splits"]["train"]
    assert {s["source"]: s["documents"] for s in train["shards"]} == {"books": 20, "web": 40}
    tok = mt.AutoTokenizer.from_pretrained(tmp_path / "tok")
    books = sum(len(tok.encode(r["text"], add_special_tokens=False)) + 1 for r in rows if r["metadata"]["source"] == "books")  # fmt: skip
    assert train["sources"]["books"] == books and sum(train["sources"].values()) == train["tokens"]
