"""Readers: every format and compression; bad records set aside with the right file and line, good ones all kept."""

import bz2
import gzip
import json
import os
import tracemalloc

import pytest
import zstandard

from massivetext.data.readers import LoadReport, iter_records, resolve_files, split_byte_ranges
from massivetext.errors import BadInputError, MissingFileError

GOOD = [{"id": i, "text": f"document number {i}"} for i in range(50)]


def write(path, data: bytes):
    if path.endswith(".gz"):
        data = gzip.compress(data)
    elif path.endswith(".bz2"):
        data = bz2.compress(data)
    elif path.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


def jsonl(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".zst"])
def test_jsonl_compressed(tmp_path, suffix):
    path = write(str(tmp_path / f"d.jsonl{suffix}"), jsonl(GOOD))
    report = LoadReport()
    assert [r for _, r in iter_records(path, report=report)] == GOOD
    assert report.n_good == 50 and report.n_bad == 0


def test_bad_records_reported_with_line(tmp_path):
    lines = [json.dumps(r) for r in GOOD]
    lines[3] = '{"id": 3, "text": "trunc'  # broken JSON
    lines[10] = json.dumps({"id": 10, "text": 42})  # wrong type
    lines[20] = json.dumps({"id": 20})  # missing field
    lines[30] = "[1, 2]"  # not an object
    raw = ("\n".join(lines) + "\n").encode()
    raw = raw.replace(b"document number 40", b"document \xff\xfe 40")  # invalid UTF-8
    raw = raw.replace(b"document number 45", b"document \\u0000 45").replace(b"\\u0000", b"\x00")  # raw NUL
    path = write(str(tmp_path / "bad.jsonl"), raw)
    report = LoadReport()
    got = [r for _, r in iter_records(path, report=report, text_field="text")]
    bad_lines = {b.line for b in report.bad}
    assert bad_lines == {4, 11, 21, 31, 41, 46}
    assert got == [r for i, r in enumerate(GOOD) if i + 1 not in bad_lines]
    assert report.n_bad == 6 and report.n_good == 44
    assert all(b.file == path for b in report.bad)
    with pytest.raises(BadInputError, match=r"bad\.jsonl:4:"):
        list(iter_records(path, strict=True, text_field="text"))


def test_truncated_gzip_keeps_what_came_before(tmp_path):
    data = gzip.compress(jsonl(GOOD * 40))
    path = write(str(tmp_path / "t.jsonl"), b"")
    with open(path + ".gz", "wb") as f:
        f.write(data[: len(data) // 2])
    report = LoadReport()
    got = [r for _, r in iter_records(path + ".gz", report=report)]
    assert 0 < len(got) < 2000 and got == (GOOD * 40)[: len(got)]
    assert report.n_bad == 1 and "unreadable" in report.bad[0].reason
    assert report.bad[0].line == len(got) + 1


def test_binary_file_with_jsonl_name(tmp_path):
    path = write(str(tmp_path / "blob.jsonl"), bytes(range(256)) * 40 + b"\n" + jsonl(GOOD[:2]))
    report = LoadReport()
    got = [r for _, r in iter_records(path, report=report)]
    assert got == GOOD[:2] and report.n_bad >= 1


def test_byte_ranges_partition_the_file(tmp_path):
    path = write(str(tmp_path / "r.jsonl"), jsonl(GOOD))
    whole = list(iter_records(path))
    size = os.path.getsize(path)
    parts = []
    for k in range(7):
        parts += list(iter_records(path, byte_range=(size * k // 7, size * (k + 1) // 7)))
    assert parts == whole  # same records, same true line numbers, none twice
    planned = []
    for rng in split_byte_ranges(path, 97):
        planned += list(iter_records(path, byte_range=rng))
    assert planned == whole


def test_csv_ragged_rows(tmp_path):
    path = write(str(tmp_path / "d.csv"), b'text,label\nhello,1\n"two\nlines",0\nragged,1,extra\nok,0\n')
    report = LoadReport()
    got = [(line, r) for line, r in iter_records(path, report=report)]
    assert [r["text"] for _, r in got] == ["hello", "two\nlines", "ok"]
    assert [(b.line, "3 fields" in b.reason) for b in report.bad] == [(5, True)]


def test_text_modes(tmp_path):
    path = write(str(tmp_path / "t.txt"), b"para one\nstill one\n\npara two\n")
    lines = [r["text"] for _, r in iter_records(path)]
    paras = [r["text"] for _, r in iter_records(path, sample_by="paragraph")]
    docs = [r["text"] for _, r in iter_records(path, sample_by="document")]
    assert lines == ["para one", "still one", "", "para two"]
    assert paras == ["para one\nstill one", "para two"]
    assert docs == ["para one\nstill one\n\npara two"]


def test_parquet_and_corrupt_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "d.parquet")
    pq.write_table(pa.Table.from_pylist(GOOD), path)
    assert [r for _, r in iter_records(path)] == GOOD
    broken = write(str(tmp_path / "x.parquet"), b"PAR1 not really")
    report = LoadReport()
    assert list(iter_records(broken, report=report)) == [] and report.n_bad == 1


def test_resolve_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "_work").mkdir()
    for name in ["a.jsonl", "b.jsonl", "sub/c.jsonl", "_work/skipped.jsonl", ".hidden.jsonl"]:
        write(str(tmp_path / name), jsonl(GOOD[:1]))
    assert len(resolve_files(str(tmp_path))) == 3
    assert len(resolve_files(str(tmp_path / "*.jsonl"))) == 2
    assert len(resolve_files(str(tmp_path / "**" / "*.jsonl"))) == 4  # a glob says exactly what it wants
    with pytest.raises(MissingFileError, match="nothing-here"):
        resolve_files(str(tmp_path / "nothing-here*.jsonl"))
    with pytest.raises(MissingFileError, match="missing.jsonl"):
        resolve_files(str(tmp_path / "missing.jsonl"))


def test_30mb_line_memory(tmp_path):
    big = "word " * 6_000_000  # 30 MB of text in one record
    path = write(str(tmp_path / "big.jsonl"), jsonl([{"text": big}, {"text": "small"}]))
    tracemalloc.start()
    n = 0
    for _, rec in iter_records(path):
        n += len(rec["text"])
        del rec
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == len(big) + 5
    assert peak < 5 * 30_000_000  # a small multiple of the line, not of the file


def test_loads_is_json_loads():
    """The orjson fast path gives json.loads' value on everything, including what orjson alone reads differently
    (integers beyond 64 bits become floats there) or refuses (NaN, lone surrogates, huge exponents)."""
    import json
    import math

    from massivetext.data.readers import loads

    lines = [
        '{"id": 1, "text": "caf\\u00e9 \\u2028 \\ud83d\\ude00", "n": [1.5, -0.0, 1e-300, true, null]}',
        '{"big": 123456789012345678901234567890, "neg": -18446744073709551617}',
        '{"x": NaN, "y": Infinity, "z": 1e400}',
        '{"lone": "\\ud800"}',
        '{"a": 1, "a": 2}',
        '"just a string"',
        '{"t": "a 1234567890123456789 run", "u64": 18446744073709551616, "i": -9223372036854775809}',
        "[18446744073709551615, 9223372036854775807, 123456789012345678, 0.12345678901234567890123]",
    ]
    for line in lines:
        for raw in (line, line.encode("utf-8")):
            got, want = loads(raw), json.loads(raw)
            assert repr(got) == repr(want) and type(got) is type(want), line
        got = loads(line, line.encode("utf-8"))  # the readers' call: the text and the bytes it came from
        assert repr(got) == repr(json.loads(line)) and type(got) is type(json.loads(line)), line
    assert isinstance(loads(lines[1])["big"], int)
    assert math.isnan(loads(lines[2])["x"])
    with pytest.raises(json.JSONDecodeError):
        loads('{"a": }')
