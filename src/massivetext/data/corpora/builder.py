"""The shared machinery of MassiveText's dataset builders: build once, cache, check, split, load.

A builder (one small class per data set) knows where its text comes from and how to parse it into records; this
module does the rest the same way for all of them:

* **cache**: ``$MASSIVETEXT_CACHE/corpora/<name>-v<version>/`` holds ``train.jsonl``, ``validation.jsonl``,
  ``test.jsonl`` and ``info.json`` (licence, source, sizes and the sha256 of every split file). Files are written to
  a temporary name and moved in; ``info.json`` is written last, so a build that was interrupted has no valid
  ``info.json``. On load every split file is checked against its sha256; a missing or altered file (a half-written
  cache) is reported in one warning and the data set is rebuilt from the (also sha256-checked) download.
* **splits**: each record's *split key* (chosen per builder so that near-duplicates share it) is hashed with sha256;
  the hash alone decides train / validation / test (80 / 10 / 10). The splits are therefore deterministic, disjoint,
  stable when the source grows, and independent of record order.
* **load**: ``datasets.Dataset`` objects with typed ``Features`` (``ClassLabel`` for labels) and a ``DatasetInfo``
  that carries the licence, the source line, the homepage and the citation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from massivetext.data.corpora.fetch import CacheCorruptWarning, sha256_file
from massivetext.errors import ConfigError

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class BuilderInfo:
    """What a user must know about a data set: what it is, where it comes from and under which licence."""

    name: str
    description: str
    license: str
    source: str  # one line: the package/index and the file inside it
    homepage: str
    citation: str = ""
    version: int = 1


class BadSourceRecordWarning(UserWarning):
    """Some records of a builder's source were malformed and left out; the message says which."""


def assign_split(key: str, fractions: tuple[float, float, float] = FRACTIONS) -> str:
    """train / validation / test from the sha256 of ``key`` alone (deterministic, order-independent)."""
    u = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def split_key_text(text: str) -> str:
    """A split key that puts texts differing only in case or spacing into the same split."""
    return " ".join(text.lower().split())


class DatasetBuilder(ABC):
    """One data set: ``info``, ``features()`` and ``records(downloads_dir)``; the rest is shared."""

    info: BuilderInfo
    # malformed source records left out of the last build (file, position, why): written to info.json and warned
    skipped: list[str]

    def __init__(self) -> None:
        self.skipped = []

    @abstractmethod
    def features(self) -> Any:
        """The ``datasets.Features`` of a record."""

    @abstractmethod
    def records(self, downloads: str) -> Iterator[tuple[str, dict]]:
        """(split key, record) for every record, fetching the source into ``downloads`` if it is not there."""

    def source_files(self, downloads: str) -> dict[str, str]:
        """sha256 of the downloaded files the records came from (recorded in ``info.json``)."""
        return {}

    # -- cache -------------------------------------------------------------------------------------------------
    def cache_path(self, cache_dir: str | None = None) -> str:
        from massivetext.data.corpora.stdlib import cache_dir as default_cache

        return os.path.join(cache_dir or default_cache(), "corpora", f"{self.info.name}-v{self.info.version}")

    def downloads_path(self, cache_dir: str | None = None) -> str:
        from massivetext.data.corpora.stdlib import cache_dir as default_cache

        return os.path.join(cache_dir or default_cache(), "downloads")

    def build(self, cache_dir: str | None = None, force: bool = False) -> str:
        """Build the cached split files (unless a valid build exists) and return the build directory."""
        path = self.cache_path(cache_dir)
        if not force:
            problem = verify_build(path)
            if problem is None:
                return path
            if problem != "not built":
                warnings.warn(f"{self.info.name}: cache {path} is {problem}; rebuilding", CacheCorruptWarning,
                              stacklevel=3)  # fmt: skip
        downloads = self.downloads_path(cache_dir)
        rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
        for key, record in self.records(downloads):
            rows[assign_split(key)].append(record)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(path)
        sums = {}
        for split in SPLITS:
            file = os.path.join(path, f"{split}.jsonl")
            tmp = f"{file}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[split])
            os.replace(tmp, file)
            sums[split] = sha256_file(file)
        info = {
            **asdict(self.info),
            "num_rows": {s: len(rows[s]) for s in SPLITS},
            "sha256": sums,
            "source_sha256": self.source_files(downloads),
            "split_rule": "sha256(split key) -> 80/10/10 train/validation/test",
            "skipped_source_records": list(self.skipped),
        }
        if self.skipped:
            warnings.warn(f"{self.info.name}: {len(self.skipped)} malformed source record(s) left out: "
                          f"{'; '.join(self.skipped[:3])}", BadSourceRecordWarning, stacklevel=3)  # fmt: skip
        tmp = os.path.join(path, f"info.json.tmp-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, ensure_ascii=False)
        os.replace(tmp, os.path.join(path, "info.json"))  # last: its presence marks a complete build
        return path

    # -- load --------------------------------------------------------------------------------------------------
    def load(self, split: str | None = None, cache_dir: str | None = None, rebuild: bool = False):
        import datasets

        if split is not None and split not in SPLITS:
            raise ConfigError(f"{self.info.name}: unknown split {split!r}; available: {', '.join(SPLITS)}")
        path = self.build(cache_dir, force=rebuild)
        features = self.features()
        ds_info = datasets.DatasetInfo(
            description=f"{self.info.description}\nSource: {self.info.source}",
            license=self.info.license,
            homepage=self.info.homepage,
            citation=self.info.citation,
            features=features,
        )
        out = {}
        for name in [split] if split else SPLITS:
            file = os.path.join(path, f"{name}.jsonl")
            with open(file, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
            out[name] = datasets.Dataset.from_list(rows, features=features, info=ds_info.copy(),
                                                   split=datasets.NamedSplit(name))  # fmt: skip
        return out[split] if split else datasets.DatasetDict(out)


def verify_build(path: str) -> str | None:
    """None when the build at ``path`` is complete and every split file matches its sha256; else what is wrong."""
    info_path = os.path.join(path, "info.json")
    if not os.path.exists(info_path):
        return "incomplete (no info.json)" if os.path.isdir(path) else "not built"
    try:
        with open(info_path, encoding="utf-8") as f:
            sums = json.load(f)["sha256"]
    except (OSError, ValueError, KeyError):
        return "damaged (unreadable info.json)"
    for split in SPLITS:
        file = os.path.join(path, f"{split}.jsonl")
        if not os.path.exists(file):
            return f"incomplete (no {split}.jsonl)"
        if sha256_file(file) != sums.get(split):
            return f"damaged ({split}.jsonl fails its sha256 check)"
    return None


def read_info(path: str) -> dict:
    with open(os.path.join(path, "info.json"), encoding="utf-8") as f:
        return json.load(f)
