"""load_dataset returns Hugging Face objects, with bad records reported and good ones all loaded."""

import gzip
import json

import datasets
import pytest

import massivetext as mt
from massivetext.data.load import BadRecordsWarning
from massivetext.data.readers import LoadReport
from massivetext.errors import BadInputError, MissingFileError

RECORDS = [{"text": f"doc {i}", "label": i % 2} for i in range(30)]


@pytest.fixture
def files(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:15]))
    b = tmp_path / "b.jsonl.gz"
    b.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in RECORDS[15:]).encode()))
    return tmp_path


def test_json_glob_and_dir(files):
    ds = mt.load_dataset("json", data_files=str(files / "*.jsonl*"))
    assert isinstance(ds, datasets.DatasetDict) and list(ds) == ["train"]
    assert ds["train"].to_list() == RECORDS
    assert mt.load_dataset("json", data_files=str(files), split="train").to_list() == RECORDS
    # everything users know from datasets works on it
    assert ds["train"].filter(lambda r: r["label"] == 1).num_rows == 15


def test_splits_and_streaming(files):
    ds = mt.load_dataset("json", data_files={"train": str(files / "a.jsonl"), "test": str(files / "b.jsonl.gz")})
    assert ds["train"].num_rows == 15 and ds["test"].num_rows == 15
    stream = mt.load_dataset("json", data_files=str(files / "*.jsonl*"), streaming=True, split="train")
    assert isinstance(stream, datasets.IterableDataset)
    assert list(stream) == RECORDS


def test_text_csv_parquet(tmp_path):
    (tmp_path / "t.txt").write_text("one\ntwo\n\nthree\n")
    assert mt.load_dataset("text", data_files=str(tmp_path / "t.txt"), split="train")["text"] == [
        "one",
        "two",
        "",
        "three",
    ]
    paras = mt.load_dataset("text", data_files=str(tmp_path / "t.txt"), split="train", sample_by="paragraph")
    assert paras["text"] == ["one\ntwo", "three"]
    (tmp_path / "d.csv").write_text("text,label,score\na,1,0.5\nb,0,1.5\n")
    csv = mt.load_dataset("csv", data_files=str(tmp_path / "d.csv"), split="train")
    assert csv.to_list() == [{"text": "a", "label": 1, "score": 0.5}, {"text": "b", "label": 0, "score": 1.5}]
    datasets.Dataset.from_list(RECORDS).to_parquet(str(tmp_path / "d.parquet"))
    assert mt.load_dataset("parquet", data_files=str(tmp_path / "d.parquet"), split="train").to_list() == RECORDS


def test_bad_records_warned_reported_and_written(tmp_path):
    lines = [json.dumps(r) for r in RECORDS * 40]  # 1200 records: the schema comes from the first 1000
    lines[2] = "{not json"
    lines[7] = json.dumps({"text": ["a", "list"], "label": 1})  # wrong type for the text column
    lines[1100] = json.dumps({"text": "x", "label": 0, "surprise": 1})  # a field the schema lacks
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    errors = tmp_path / "errors.jsonl"
    with pytest.warns(BadRecordsWarning, match="3 bad record"):
        ds = mt.load_dataset("json", data_files=str(path), split="train", errors_file=str(errors))
    assert ds.num_rows == 1197 and ds.load_report.n_good == 1197
    assert {b.line for b in ds.load_report.bad} == {3, 8, 1101}
    assert {b.line for b in LoadReport.read_errors(str(errors))} == {3, 8, 1101}
    with pytest.raises(BadInputError, match=r"bad\.jsonl:3"):
        mt.load_dataset("json", data_files=str(path), strict=True)


def test_missing_files(tmp_path):
    with pytest.raises(MissingFileError, match="nope"):
        mt.load_dataset("json", data_files=str(tmp_path / "nope*.jsonl"))
    with pytest.raises(mt.ConfigError):
        mt.load_dataset("xml", data_files=str(tmp_path))
