"""Evaluation against the peers, side by side in one run.

    python benchmarks/evaluate_vs_peers.py [--ppl-tokens 1000000] [--ppl-model quickstart,4x256] [--ppl-ablations]
                                           [--corpus-mb 30] [--eval-examples 1000] [--pairs 3000] [--threads N]
                                           [--only ppl,contam,bleu]

1. Perplexity of a quickstart-sized GPT-2 (the quickstart's default: 2 layers x 128, 4 heads, vocab 8192; or
   ``--ppl-model 4x256``, its size before issue 18; context 256; random weights) over N validation tokens with a
   sliding window (context 256, stride 128): MassiveText's batched windows against the loop of the Hugging Face
   perplexity guide on the transformers model loaded from the same checkpoint. Prints the multiply-adds per
   window of both (the bound of an exact method), both perplexities, their relative difference and tokens/s.
2. Contamination check of E evaluation examples (100 of them planted passages of training documents) against a
   ~30 MB stdlib corpus: MassiveText (curation's n-gram decontamination index, 13-grams, any overlap) against
   DataTrove's NGramsDecontIndexer.compute_hashes + NGramsDecontFilter (13-grams; DataTrove's indexer needs the
   `lighteval` package only to load benchmark tasks, so its hashes are computed with its own `compute_hashes` and
   written in its index format). Prints time, flagged training documents on each side and their agreement.
3. BLEU with a 1,000-resample interval, and ROUGE, on P sentence pairs: MassiveText against bare sacrebleu
   (``corpus_score(n_bootstrap=1000)``) and bare rouge-score (a loop of ``RougeScorer.score`` and a mean).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def ppl_model_size(spec: str) -> dict:
    """``quickstart`` (the quickstart's current default GPT) or ``LxW`` (layers x width, 4 heads, vocab 8192)."""
    if spec == "quickstart":
        from massivetext.quickstart.run import QuickstartConfig

        q = QuickstartConfig()
        return {"n_layer": q.n_layer, "n_embd": q.n_embd, "n_head": q.n_head, "vocab_size": q.vocab_size}
    layers, width = (int(v) for v in spec.lower().split("x"))
    return {"n_layer": layers, "n_embd": width, "n_head": 4, "vocab_size": 8192}


def flop_budget(n_layer: int, width: int, vocab: int, ctx: int, stride: int) -> dict[str, float]:
    """Multiply-adds (and exps) per full window of the guide's loop and of MassiveText's scored forward.

    Guide: every one of the ``ctx`` positions through every layer (12 C^2 per token per layer: QKV 3, output 1,
    MLP 8), causal attention, and logits + log-softmax for all of them. MassiveText: the window without its last
    token (only a target), all layers but the last in full, the last layer's keys/values (2 C^2) for every position
    and its remaining 10 C^2 + attention for the ``stride`` scored positions, logits + log-softmax for those only."""
    c2, t = width * width, ctx
    guide_body = t * n_layer * 12 * c2 + n_layer * 2 * width * t * (t + 1) / 2
    guide_head = t * width * vocab
    n_in, first = t - 1, t - 1 - stride  # inputs; first scored hidden position
    ours_body = (n_layer - 1) * (n_in * 12 * c2 + 2 * width * n_in * (n_in + 1) / 2)
    ours_body += n_in * 2 * c2 + stride * 10 * c2 + 2 * width * sum(p + 1 for p in range(first, n_in))
    ours_head = stride * width * vocab
    return {
        "guide_macs": guide_body + guide_head,
        "guide_head_share": guide_head / (guide_body + guide_head),
        "guide_exps": t * vocab,
        "ours_macs": ours_body + ours_head,
        "ours_exps": stride * vocab,
    }


def bench_perplexity(
    n_tokens: int, batch_size: int, size: str = "quickstart", ablations: bool = False, low: str | None = None
) -> None:
    import torch
    import transformers

    import massivetext as mt
    from massivetext.evaluation.perplexity import sliding_window_nll, sliding_window_perplexity

    ctx, stride = 256, 128
    dims = ppl_model_size(size)
    torch.manual_seed(0)
    cfg = mt.AutoConfig.for_model(
        "gpt2",
        **dims,
        n_positions=ctx,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,  # inside the vocabulary (save_pretrained checks)
        eos_token_id=0,
    )
    vocab = dims["vocab_size"]
    model = mt.AutoModelForCausalLM.from_config(cfg).eval()
    tmp = tempfile.mkdtemp(prefix="mt-ppl-")
    try:
        model.save_pretrained(tmp)
        hf = transformers.GPT2LMHeadModel.from_pretrained(tmp).eval()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ids = np.random.default_rng(0).integers(0, vocab, n_tokens)
    with torch.no_grad():  # warm-up: one-time kernel and allocator set-up is not part of either side's rate
        sliding_window_perplexity(model, ids[:2048], max_length=ctx, stride=stride, batch_size=batch_size)
        hf(torch.from_numpy(ids[:ctx])[None], labels=torch.from_numpy(ids[:ctx])[None])

    print(
        f"\n== perplexity, {n_tokens:,} tokens, GPT-2 {dims['n_layer']}x{dims['n_embd']} ({size}), vocab {vocab}, "
        f"context {ctx}, stride {stride}, torch threads {torch.get_num_threads()} =="
    )
    fb = flop_budget(dims["n_layer"], dims["n_embd"], vocab, ctx, stride)
    print(
        f"  per full window: guide {fb['guide_macs'] / 1e6:,.0f} M multiply-adds (output layer "
        f"{100 * fb['guide_head_share']:.0f}%) + {fb['guide_exps'] / 1e6:.2f} M exps; massivetext "
        f"{fb['ours_macs'] / 1e6:,.0f} M + {fb['ours_exps'] / 1e6:.2f} M exps: an exact method is bounded near "
        f"{fb['guide_macs'] / fb['ours_macs']:.2f}x by multiply-adds"
    )
    t0 = time.perf_counter()
    ours = sliding_window_perplexity(model, ids, max_length=ctx, stride=stride, batch_size=batch_size)
    t_ours = time.perf_counter() - t0

    # the Hugging Face perplexity guide (https://huggingface.co/docs/transformers/perplexity), one window at a time
    t0 = time.perf_counter()
    x = torch.from_numpy(ids)[None]
    seq_len = x.size(1)
    nll_sum, n_count, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + ctx, seq_len)
        trg_len = end - prev_end
        input_ids = x[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = hf(input_ids, labels=target_ids).loss
        num_loss_tokens = (target_ids != -100).sum().item() - target_ids.size(0)
        nll_sum += loss.item() * num_loss_tokens
        n_count += num_loss_tokens
        prev_end = end
        if end == seq_len:
            break
    guide = math.exp(nll_sum / n_count)
    t_hf = time.perf_counter() - t0
    rel = abs(ours["perplexity"] - guide) / guide
    print(
        f"  massivetext (batch {batch_size} windows): ppl {ours['perplexity']:.6f}  {t_ours:7.1f} s  "
        f"{n_tokens / t_ours:9,.0f} tokens/s"
    )
    print(f"  HF guide loop (transformers):   ppl {guide:.6f}  {t_hf:7.1f} s  {n_tokens / t_hf:9,.0f} tokens/s")
    print(f"  relative difference {rel:.2e} (goal <= 1e-4)   speed ratio {t_hf / t_ours:.2f}x (goal >= 2x)")
    if low:  # the not-exact option: its speed and how far it moves the perplexity
        t0 = time.perf_counter()
        got = sliding_window_perplexity(model, ids, max_length=ctx, stride=stride, batch_size=batch_size, dtype=low)
        t = time.perf_counter() - t0
        print(
            f"  option dtype={low} (not exact): ppl {got['perplexity']:.6f}  {t:7.1f} s  {n_tokens / t:9,.0f} "
            f"tokens/s ({t_hf / t:.2f}x the guide); relative difference from float32 "
            f"{abs(got['perplexity'] - ours['perplexity']) / ours['perplexity']:.1e}"
        )
    if not ablations:
        return
    ref = ours["loss"]
    for name, kw in (
        ("split head, whole last block", {"last_block_scored_only": False}),
        ("model forward (logits_to_keep), no split head", {"split_head": False}),
    ):
        t0 = time.perf_counter()
        nll, count, _ = sliding_window_nll(model, [ids], max_length=ctx, stride=stride, batch_size=batch_size, **kw)
        t = time.perf_counter() - t0
        loss = nll.sum() / count.sum()
        print(
            f"  ablation, {name}: {n_tokens / t:9,.0f} tokens/s ({t_hf / t:.2f}x the guide); loss differs from "
            f"the default path by {abs(loss - ref) / ref:.1e} relative"
        )


def _corpus(mb: float) -> list[dict]:
    path = os.path.join(tempfile.gettempdir(), "mt_bench_stdlib_all.jsonl")
    if not os.path.exists(path):
        try:
            from massivetext.data.corpora.stdlib import build_stdlib_corpus

            build_stdlib_corpus(path, max_docs=None)
        except (ImportError, TypeError):
            subprocess.run(
                [sys.executable, "/work/shared/bench/make_corpus.py", "--out", path, "--max-docs", "0"], check=True
            )
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line))
    return docs, int(mb * 1e6)


def bench_contamination(mb: float, n_eval: int) -> None:
    from datatrove.data import Document
    from datatrove.pipeline.decont import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer

    from massivetext.evaluation.contamination import check_contamination

    docs, budget = _corpus(mb)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(docs))
    train, held, size = [], [], 0
    for i in order:  # training corpus: up to `mb` MB; the rest is where clean evaluation examples come from
        d = docs[i]
        if size < budget:
            train.append(d["text"])
            size += len(d["text"].encode())
        else:
            held.append(d["text"])
    planted = min(100, n_eval // 10)
    evals = []
    for t in held:  # clean examples: 60-word pieces (at least 30) of held-out documents
        w = t.split()
        for s in range(0, len(w), 60):
            if len(w[s : s + 60]) >= 30 and len(evals) < n_eval - planted:
                evals.append(" ".join(w[s : s + 60]))
    long_docs = [j for j, t in enumerate(train) if len(t.split()) >= 60]
    for j in rng.choice(long_docs, planted, replace=False):  # planted: a 40-word passage of a training document
        w = train[j].split()
        s = int(rng.integers(0, len(w) - 40 + 1))
        evals.append(" ".join(w[s : s + 40]))
    work = tempfile.mkdtemp(prefix="mt-contam-bench-")
    try:
        shard_paths = []
        per = math.ceil(len(train) / 4)
        for k in range(4):
            p = os.path.join(work, f"train-{k}.jsonl")
            with open(p, "w", encoding="utf-8") as f:
                for t in train[k * per : (k + 1) * per]:
                    f.write(json.dumps({"text": t}) + "\n")
            shard_paths.append(p)
        print(
            f"\n== contamination: {len(evals)} eval examples ({planted} planted) vs {size / 1e6:.1f} MB "
            f"({len(train)} docs, 4 shards), word 13-grams =="
        )

        t0 = time.perf_counter()
        wd = os.path.join(work, "mt")
        res = check_contamination(evals, shard_paths, mode="ngram", ngram=13, min_short_words=10**9, workdir=wd)
        t_ours = time.perf_counter() - t0
        ours_train = set()
        offs = np.cumsum([0] + [min(per, len(train) - k * per) for k in range(4)])
        for k in range(4):
            ours_train |= {int(offs[k] + i) for i in np.load(os.path.join(wd, "remove", f"{k:05d}.npy"))}

        t0 = time.perf_counter()
        cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=False, find_overlap_ngrams=False)
        index_dir = os.path.join(work, "dt-index")
        os.makedirs(index_dir)
        indexer = object.__new__(NGramsDecontIndexer)  # skip the lighteval dependency check (tasks unused here)
        NGramsDecontIndexer.__init__(indexer, index_dir, config=cfg)
        hashes = set()
        for t in evals:
            hashes.update(indexer.compute_hashes(t))
        np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(os.path.join(index_dir, "eval.index.hashes"))
        filt = NGramsDecontFilter(index_dir, config=cfg)
        dt_train = {i for i, t in enumerate(train) if filt.filter(Document(text=t, id=str(i))) is not True}
        t_dt = time.perf_counter() - t0

        both = ours_train & dt_train
        print(
            f"  massivetext: {t_ours:7.1f} s  {size / 1e6 / t_ours:6.2f} MB/s   flagged {len(ours_train)} training "
            f"docs, {int(res.contaminated.sum())} eval examples ({int(res.contaminated[-planted:].sum())}/{planted} "
            f"planted)"
        )
        print(f"  datatrove:   {t_dt:7.1f} s  {size / 1e6 / t_dt:6.2f} MB/s   flagged {len(dt_train)} training docs")
        print(
            f"  speed ratio {t_dt / t_ours:.2f}x (goal >= 5x); flagged training docs: {len(both)} on both sides, "
            f"{len(ours_train - dt_train)} only massivetext, {len(dt_train - ours_train)} only datatrove"
        )
        only = sorted(ours_train ^ dt_train)[:3]
        for i in only:
            side = "massivetext" if i in ours_train else "datatrove"
            doc = Document(text=train[i], id=str(i))
            filt.filter(doc)
            shared = doc.metadata.get("contaminated_ngram", "")
            print(f"    e.g. only {side}: doc {i}: {train[i][:80]!r}; DataTrove's matching 13-gram: {shared!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_text_metrics(n_pairs: int, repeats: int = 5) -> None:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    import massivetext as mt
    from massivetext.evaluation.metrics.rouge import split_sentences

    docs, _ = _corpus(1)
    rng = np.random.default_rng(0)
    sents = [s for d in docs[:3000] for s in d["text"].split(". ") if 5 <= len(s.split()) <= 40][:n_pairs]
    refs = sents
    hyps = []
    for s in sents:  # a "system": drop and swap some words
        w = s.split()
        keep = [x for x in w if rng.random() > 0.15]
        if len(keep) > 3 and rng.random() < 0.3:
            i = int(rng.integers(0, len(keep) - 1))
            keep[i], keep[i + 1] = keep[i + 1], keep[i]
        hyps.append(" ".join(keep))
    print(f"\n== BLEU and ROUGE on {len(hyps)} pairs (min of {repeats} alternating runs) ==")

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    medians = {}

    def best(a, b):
        """Alternate the two sides `repeats` times, each pair in a new order (the first of a pair may pay for the
        other's garbage); the minimum time of each (load on a shared machine is noise), medians kept aside."""
        ta, tb = [], []
        for i in range(repeats):
            for side in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
                t, r = timed(side[0])
                side[1].append(t)
                if side[0] is a:
                    ra = r
                else:
                    rb = r
        medians["last"] = (float(np.median(ta)), float(np.median(tb)))
        return min(ta), ra, min(tb), rb

    t_bare, bare, t_ours, ours = best(
        lambda: BLEU().corpus_score(hyps, [refs]),
        lambda: mt.load_metric("sacrebleu").compute(predictions=hyps, references=refs),
    )
    print(
        f"  BLEU, no interval: sacrebleu {t_bare:6.2f} s, massivetext {t_ours:6.2f} s "
        f"(overhead {100 * (t_ours / t_bare - 1):+.1f}%; medians {medians['last'][0]:.2f} / "
        f"{medians['last'][1]:.2f} s), scores {bare.score:.4f} / {ours['score']:.4f}"
    )
    t_bare, bare, t_ours, ours = best(
        lambda: BLEU().corpus_score(hyps, [refs], n_bootstrap=1000),
        lambda: mt.load_metric("sacrebleu").compute(predictions=hyps, references=refs, confidence=0.95, resamples=1000),
    )
    print(
        f"  BLEU + 1,000-resample interval: sacrebleu {t_bare:6.2f} s (mean {bare._mean:.2f} +- {bare._ci:.2f}), "
        f"massivetext {t_ours:6.2f} s ([{ours['score_ci_low']:.2f}, {ours['score_ci_high']:.2f}]); "
        f"ratio {t_bare / t_ours:.2f}x"
    )

    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

    def bare_rouge():
        scorer = rouge_scorer.RougeScorer(types)
        per = [scorer.score(split_sentences(r), split_sentences(h)) for h, r in zip(hyps, refs)]
        return {t: float(np.mean([s[t].fmeasure for s in per])) for t in types}

    t_bare, bare_r, t_ours, ours_r = best(
        bare_rouge, lambda: mt.load_metric("rouge").compute(predictions=hyps, references=refs)
    )
    same = all(abs(bare_r[t] - ours_r[t]) < 1e-12 for t in types)
    print(
        f"  ROUGE (4 types): rouge-score {t_bare:6.2f} s, massivetext {t_ours:6.2f} s "
        f"(overhead {100 * (t_ours / t_bare - 1):+.1f}%, goal < 10%), same scores: {same}"
    )
    t_ci, ours_r = timed(
        lambda: mt.load_metric("rouge").compute(predictions=hyps, references=refs, confidence=0.95, resamples=1000)
    )
    print(
        f"  ROUGE + 1,000-resample interval: massivetext {t_ci:6.2f} s "
        f"(rougeL {ours_r['rougeL']:.4f} [{ours_r['rougeL_ci_low']:.4f}, {ours_r['rougeL_ci_high']:.4f}])"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ppl-tokens", type=int, default=1_000_000)
    ap.add_argument("--ppl-batch", type=int, default=16, help="windows per forward pass (massivetext side)")
    ap.add_argument(
        "--ppl-model", default="quickstart", help="'quickstart' (its default GPT) or LxW, e.g. 4x256 (comma list)"
    )
    ap.add_argument("--ppl-ablations", action="store_true", help="also time the paths without each exact saving")
    ap.add_argument("--ppl-dtype", default=None, help="also time this not-exact option, e.g. bfloat16")
    ap.add_argument("--corpus-mb", type=float, default=30.0)
    ap.add_argument("--eval-examples", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (both sides)")
    ap.add_argument("--only", default="ppl,contam,bleu")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; this machine may be shared: compare only within one run")
    parts = set(args.only.split(","))
    if "ppl" in parts:
        for size in args.ppl_model.split(","):
            bench_perplexity(args.ppl_tokens, args.ppl_batch, size, args.ppl_ablations, args.ppl_dtype)
    if "contam" in parts:
        bench_contamination(args.corpus_mb, args.eval_examples)
    if "bleu" in parts:
        bench_text_metrics(args.pairs)


if __name__ == "__main__":
    main()
