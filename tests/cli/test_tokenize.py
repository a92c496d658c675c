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
