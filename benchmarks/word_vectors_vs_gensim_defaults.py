"""Word vectors: MassiveText's defaults (skip-gram, min_count 3, 10 epochs) beside gensim's own (CBOW, min_count 5,
5 epochs), trained on the same English text in one process, scored on WordSim-353, SimLex-999 (Spearman) and the
Google analogies (accuracy) from gensim's test data.

    python benchmarks/word_vectors_vs_gensim_defaults.py [--max-texts N]

The text is the sentiment recipe's pretraining text: stdlib docstrings and pydoc topics, English Debian package
descriptions (ddtp-summaries) and the movie-sentiment training snippets.
"""

from __future__ import annotations

import argparse
import random
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--max-texts", type=int, default=None, help="train on a random sample of this many texts")
    p.add_argument("--dim", type=int, default=100)
    args = p.parse_args()
    from gensim.models import Word2Vec

    import massivetext as mt
    from massivetext.embeddings.word_vectors import _Sentences

    prose = [d["text"] for d in mt.load_dataset("stdlib", split="train") if d["source"].startswith("prose")]
    ddtp = mt.load_dataset("ddtp-summaries")
    texts = (
        prose
        + [t for s in ddtp for t in ddtp[s]["document"]]
        + list(mt.load_dataset("movie-sentiment")["train"]["text"])
    )
    random.Random(0).shuffle(texts)
    if args.max_texts:
        texts = texts[: args.max_texts]
    print(f"{len(texts)} texts, {sum(len(t.split()) for t in texts)} words")
    rows = {}
    t = time.perf_counter()
    ours = mt.train_word_vectors(texts, dim=args.dim)
    rows["massivetext defaults (sg, min_count 3, 10 epochs)"] = (
        time.perf_counter() - t,
        mt.evaluate_word_vectors(ours),
    )
    t = time.perf_counter()
    # gensim's defaults, same tokens, same dimension, one worker and a seed (as ours) so the runs are comparable
    theirs = Word2Vec(_Sentences(texts), vector_size=args.dim, workers=1, seed=0).wv
    rows["gensim defaults (cbow, min_count 5, 5 epochs)"] = (time.perf_counter() - t, mt.evaluate_word_vectors(theirs))
    print("| settings | seconds | WordSim-353 ρ | SimLex-999 ρ | analogy acc. (answered) |")
    print("|---|---|---|---|---|")
    for name, (sec, m) in rows.items():
        print(f"| {name} | {sec:.0f} | {m['wordsim353_spearman']:.3f} (OOV {m['wordsim353_oov']:.0%}) | "
              f"{m['simlex999_spearman']:.3f} (OOV {m['simlex999_oov']:.0%}) | "
              f"{m['analogy_accuracy']:.3f} ({m['analogy_answered']:.0f}) |")  # fmt: skip
    a, b = rows.values()
    print(
        f"ratio of WordSim-353 Spearman (ours / gensim defaults): {a[1]['wordsim353_spearman'] / b[1]['wordsim353_spearman']:.2f}"
    )


if __name__ == "__main__":
    main()
