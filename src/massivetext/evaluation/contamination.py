"""Contamination-aware evaluation: which evaluation examples overlap the training corpus?

The rule and the n-gram index are curation's test-set decontamination (``Decontaminator``): the evaluation examples
are indexed once, every training shard is streamed past the index, and an evaluation example is *contaminated* when
at least one training document would be dropped because of it (``mode="ngram"``: shares a word 13-gram, or contains
a short example whole; ``mode="jaccard"``: 13-gram Jaccard >= 0.8). The metric is then reported on the clean subset
beside the full set.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

# the only import of curation's decontamination code in massivetext.evaluation (the module may move)
from massivetext.curate.dedup.decontaminate import DecontamConfig, EvalDoc, find_contaminated
from massivetext.errors import MissingFileError


@dataclass
class ContaminationResult:
    hits: np.ndarray  # per evaluation example: how many training documents overlap it
    train_files: list[str]
    mode: str
    ngram: int

    @property
    def contaminated(self) -> np.ndarray:
        return self.hits > 0

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ngram": self.ngram,
            "train_files": len(self.train_files),
            "examples": int(len(self.hits)),
            "contaminated": int(self.contaminated.sum()),
            "contaminated_fraction": float(self.contaminated.mean()) if len(self.hits) else 0.0,
        }


def train_files(train_corpus: str | os.PathLike | list[str]) -> list[str]:
    """The training corpus's document files: a directory (walked), a glob, a file, or a list of them (a shard list)."""
    from massivetext.data.readers import resolve_files

    paths = [train_corpus] if isinstance(train_corpus, str | os.PathLike) else list(train_corpus)
    files: list[str] = []
    for p in paths:
        files.extend(resolve_files(p))
    files = [f for f in files if not os.path.basename(f).startswith(("stats", "index", "errors", "report"))]
    if not files:
        raise MissingFileError(f"training corpus {train_corpus}: no document files found")
    return sorted(files)


def check_contamination(
    texts: list[str],
    train_corpus: str | os.PathLike | list[str],
    *,
    mode: str = "ngram",
    ngram: int = 13,
    threshold: float = 0.8,
    min_overlap: int = 1,
    min_short_words: int = 8,
    text_field: str = "text",
    workdir: str | None = None,
    executor: Any = None,
) -> ContaminationResult:
    """Per evaluation text, the number of training documents that overlap it under curation's rule."""
    from massivetext.curate.dedup.store import DocReader

    files = train_files(train_corpus)
    docs = [EvalDoc("eval", str(i), t) for i, t in enumerate(texts)]
    cfg = DecontamConfig(
        mode=mode, ngram=ngram, threshold=threshold, min_overlap=min_overlap, min_short_words=min_short_words
    )
    with tempfile.TemporaryDirectory(prefix="mt-contam-") as tmp:
        wd = workdir or tmp
        find_contaminated(files, docs, wd, executor, cfg, DocReader(text_field=text_field))
        hits = np.zeros(len(texts), dtype=np.int64)
        for s in range(len(files)):
            pairs = np.load(os.path.join(wd, "hits", f"{s:05d}.npy"))
            if len(pairs):
                hits += np.bincount(pairs[:, 1], minlength=len(texts))
    return ContaminationResult(hits, files, mode, ngram)
