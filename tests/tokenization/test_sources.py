"""Where training texts come from: files and texts are different arguments, a missing file is an error."""

from pathlib import Path

import pytest

import massivetext as mt
from massivetext.tokenization.sources import iter_texts
from tokenization_helpers import corpus, write_jsonl


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    real = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in corpus(20)])
    typo = str(tmp_path / "typo.jsonl")
    with pytest.raises(mt.MissingFileError, match="typo.jsonl"):
        iter_texts(files=[real, typo])  # raised at the call, before any text is read
    with pytest.raises(mt.MissingFileError, match="nonexist.jsonl"):
        mt.train_tokenizer(files=[str(tmp_path / "nonexist.jsonl")], vocab_size=300)
    with pytest.raises(mt.MissingFileError, match="typo.jsonl"):
        mt.train_tokenizer(Path(typo), vocab_size=300)  # a single path stays a path


def test_files_and_texts_are_not_guessed_from_each_other(tmp_path):
    real = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in corpus(20)])
    # a list of str is texts, even when they look like file names
    assert list(iter_texts(["nonexist.jsonl", "typo.jsonl"])) == ["nonexist.jsonl", "typo.jsonl"]
    # ... but never the names of files that exist: that is a file list passed as texts
    with pytest.raises(mt.ConfigError, match="files="):
        iter_texts([real, "another text"])
    assert list(iter_texts(files=real)) == corpus(20) == list(iter_texts([Path(real)]))
    with pytest.raises(mt.ConfigError):
        iter_texts(["a text"], files=[real])
    with pytest.raises(mt.ConfigError):
        iter_texts()
