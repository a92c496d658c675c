"""MassiveText pipelines against transformers 4.57's, side by side on the same random checkpoints and inputs.

    python benchmarks/pipelines_vs_hf.py                 # the issue's sizes (slow on a shared CPU)
    python benchmarks/pipelines_vs_hf.py --scale 0.1     # a tenth of every input count, to run quickly

Tasks: sentiment (BERT 4 layers x 256, mixed-length texts), NER with aggregation_strategy="simple", fill-mask
(the same texts with one word masked; not in the default list, the issue sets no goal for it), extractive QA
over contexts of ``--context-words`` words with doc_stride, and translation with a Marian 4+4 layers x 256, beam 4.
transformers 4.57 runs in the side virtualenv the tests use (~/.cache/massivetext/tf457-venv, created when
missing) at each of ``--hf-batch-sizes``; its best time is compared with MassiveText's. Each side runs in its own
process (same thread count), so peak memory (max RSS) is measured per side. Outputs are compared: labels,
entity groups, answers and translations must agree (scores within 1e-5). The ratio is of wall-clock items/s;
"CPU ratio" compares each side's process CPU time, which a machine shared with other jobs disturbs less.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import massivetext as mt
from massivetext.tokenization.tokenizer import FastTokenizer

HERE = Path(__file__).parent
WORKER = HERE / "_pipeline_worker.py"
VENV = Path(os.environ.get("MASSIVETEXT_TF457_VENV", Path.home() / ".cache" / "massivetext" / "tf457-venv"))
LABELS_NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def venv_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (transformers 4.57) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        version = torch.__version__.split("+")[0]
        wheels = sorted(Path("/opt/wheels").glob(f"torch-{version}*.whl")) if Path("/opt/wheels").exists() else []
        req = str(wheels[0]) if wheels else f"torch=={version}"
        subprocess.run([str(python), "-m", "pip", "install", "-q", req, "transformers==4.57.*"], check=True)
    return python


def corpus_sentences() -> list[str]:
    path = mt.build_stdlib_corpus(max_docs=400)
    out = []
    for line in open(path, encoding="utf-8"):
        text = json.loads(line)["text"]
        out += [" ".join(s.split()) for s in text.replace("\n\n", "\n").split("\n") if len(s.split()) >= 3]
    return out


def wordpiece(sents: list[str], max_len: int) -> FastTokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(sents, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return FastTokenizer.from_backend(
        tok,
        {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
            "model_max_length": max_len,
        },
    )


def spm_like(sents: list[str]) -> FastTokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(sents, trainers.BpeTrainer(vocab_size=8000, special_tokens=["<pad>", "</s>", "<unk>"]))
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return FastTokenizer.from_backend(
        tok, {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": 512}
    )


def build(root: Path, sents: list[str]) -> dict[str, str]:
    torch.manual_seed(0)
    tok = wordpiece(sents, 512)
    bert = dict(
        vocab_size=len(tok),
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
    )
    dirs = {}
    labels = {0: "NEGATIVE", 1: "POSITIVE"}
    m = transformers.BertForSequenceClassification(
        transformers.BertConfig(**bert, id2label=labels, label2id={v: k for k, v in labels.items()})
    )
    dirs["sentiment"] = _save(m, tok, root / "sentiment")
    ner = dict(enumerate(LABELS_NER))
    m = transformers.BertForTokenClassification(
        transformers.BertConfig(**bert, id2label=ner, label2id={v: k for k, v in ner.items()})
    )
    with torch.no_grad():
        m.classifier.weight.normal_(0, 0.5)  # random entities of every kind, not one label everywhere
    dirs["ner"] = _save(m, tok, root / "ner")
    m = transformers.BertForQuestionAnswering(transformers.BertConfig(**bert))
    dirs["qa"] = _save(m, tok, root / "qa")
    m = transformers.BertForMaskedLM(transformers.BertConfig(**bert))
    dirs["fill-mask"] = _save(m, tok, root / "fill-mask")
    st = spm_like(sents)
    pad, eos = st.pad_token_id, st.eos_token_id
    m = transformers.MarianMTModel(
        transformers.MarianConfig(
            vocab_size=len(st),
            d_model=256,
            encoder_layers=4,
            decoder_layers=4,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=1024,
            decoder_ffn_dim=1024,
            max_position_embeddings=512,
            pad_token_id=pad,
            decoder_start_token_id=pad,
            eos_token_id=eos,
            forced_eos_token_id=eos,
            scale_embedding=True,
            activation_function="swish",
        )
    )
    with torch.no_grad():  # a random decoder rarely ends; a strong EOS bias gives sentences of varied length
        m.final_logits_bias[0, eos] = 2.0
    dirs["translation"] = _save(m, st, root / "translation")
    return dirs


def _save(model, tok, path: Path) -> str:
    model.eval().save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def run_side(python: str, side: str, task: str, model: str, inputs, kwargs, batch_size: int, threads: int, env):
    with tempfile.TemporaryDirectory() as d:
        spec, out = Path(d) / "spec.json", Path(d) / "out.json"
        spec.write_text(
            json.dumps(
                {
                    "side": side,
                    "task": task,
                    "model": model,
                    "inputs": inputs,
                    "kwargs": kwargs,
                    "batch_size": batch_size,
                    "threads": threads,
                }
            )
        )
        done = subprocess.run([python, str(WORKER), str(spec), str(out)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{side} {task} failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def agree(task: str, ours, ref) -> str:
    """'identical' (labels, spans, offsets, texts equal; scores within 1e-5, the largest difference shown) or what
    differs."""
    if len(ours) != len(ref):
        return f"different counts {len(ours)} vs {len(ref)}"
    bad, worst = 0, 0.0
    for a, b in zip(ours, ref):
        if task == "sentiment":
            a, b = a if isinstance(a, dict) else a[0], b if isinstance(b, dict) else b[0]
            ok, diffs = a["label"] == b["label"], [a["score"] - b["score"]]
        elif task == "ner":
            key = lambda e: (e["entity_group"], e["start"], e["end"], e["word"])  # noqa: E731
            ok = [key(e) for e in a] == [key(e) for e in b]
            diffs = [x["score"] - y["score"] for x, y in zip(a, b)]
        elif task == "qa":
            ok = (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
            diffs = [a["score"] - b["score"]]
        elif task == "fill-mask":
            ok = [(x["token"], x["sequence"]) for x in a] == [(y["token"], y["sequence"]) for y in b]
            diffs = [x["score"] - y["score"] for x, y in zip(a, b)]
        else:
            ok, diffs = a == b, []
        item = max([0.0] + [abs(d) for d in diffs])
        worst = max(worst, item)
        bad += not ok or item >= 1e-5
    if bad:
        return f"{bad} of {len(ref)} differ"
    return "identical" + (f" (scores within {worst:.1e})" if task != "translation" else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every input count (0.1 to run quickly)")
    ap.add_argument("--tasks", default="sentiment,ner,qa,translation")
    ap.add_argument("--hf-batch-sizes", default="1,8,32", help="transformers' batch sizes to try (its best counts)")
    ap.add_argument("--batch-size", type=int, default=64, help="MassiveText's batch_size (rows cap)")
    ap.add_argument(
        "--translation-batch-size",
        type=int,
        default=64,
        help="MassiveText's batch_size for translation (sentences; each has num_beams rows)",
    )
    ap.add_argument("--context-words", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=1, help="runs per side (interleaved); the fastest counts")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for each side")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="translation length cap (random decoders)")
    args = ap.parse_args()
    rng = random.Random(0)
    sents = corpus_sentences()
    n = lambda k: max(8, int(k * args.scale))  # noqa: E731
    mixed = [" ".join(rng.choice(sents).split()[: rng.choice([8, 16, 32, 64, 128, 180])]) for _ in range(n(2000))]
    words = " ".join(sents).split()
    contexts = []
    for _ in range(n(500)):
        start = rng.randrange(0, max(1, len(words) - args.context_words))
        contexts.append(" ".join(words[start : start + args.context_words]))
    qa_inputs = [
        {"question": "What does the function " + rng.choice(words) + " return?", "context": c} for c in contexts
    ]
    mt_sents = [" ".join(rng.choice(sents).split()[:40]) for _ in range(n(500))]
    masked = []
    for text in mixed:
        ws = text.split()
        ws[rng.randrange(len(ws))] = "[MASK]"
        masked.append(" ".join(ws))
    jobs = {
        "sentiment": ("text-classification", mixed, {}),
        "ner": ("token-classification", mixed, {"aggregation_strategy": "simple"}),
        "qa": ("question-answering", qa_inputs, {"doc_stride": 128, "max_seq_len": 384}),
        "fill-mask": ("fill-mask", masked, {"top_k": 5}),
        "translation": ("translation_en_to_fr", mt_sents, {"num_beams": 4, "max_new_tokens": args.max_new_tokens}),
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    env.update(OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    hf_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    src = str(Path(mt.__file__).parents[1])
    mt_env = {**env, "PYTHONPATH": src + os.pathsep + env.get("PYTHONPATH", "")}
    hf_python = str(venv_python())
    print(
        f"torch threads per side: {args.threads}; scale {args.scale}; transformers 4.57 batch sizes "
        f"{args.hf_batch_sizes}; MassiveText batch_size {args.batch_size}"
    )
    with tempfile.TemporaryDirectory() as root:
        dirs = build(Path(root), sents)
        rows = []
        for name in args.tasks.split(","):
            task, inputs, kwargs = jobs[name]
            model = dirs[name]
            hf_runs: dict[int, dict] = {}
            ours = None
            bs_ours = args.translation_batch_size if name == "translation" else args.batch_size
            # repeats interleave the two sides, so both see the same swings of a shared machine's load; min counts
            for _ in range(args.repeats):
                for bs in [int(x) for x in args.hf_batch_sizes.split(",")]:
                    run = run_side(hf_python, "hf", task, model, inputs, kwargs, bs, args.threads, hf_env)
                    print(
                        f"  {name}: transformers 4.57 batch_size={bs}: {run['seconds']:.1f}s "
                        f"(CPU {run['cpu_seconds']:.1f}s)",
                        flush=True,
                    )
                    if bs not in hf_runs or run["seconds"] < hf_runs[bs]["seconds"]:
                        hf_runs[bs] = run
                run = run_side(sys.executable, "mt", task, model, inputs, kwargs, bs_ours, args.threads, mt_env)
                print(f"  {name}: MassiveText: {run['seconds']:.1f}s (CPU {run['cpu_seconds']:.1f}s)", flush=True)
                if ours is None or run["seconds"] < ours["seconds"]:
                    ours = run
            best_bs = min(hf_runs, key=lambda b: hf_runs[b]["seconds"])
            hf = hf_runs[best_bs]
            rows.append((name, len(inputs), hf, best_bs, ours, agree(name, ours["outputs"], hf["outputs"])))
    print(
        f"\n{'task':12} {'items':>6} {'hf 4.57 items/s':>16} {'(bs)':>5} {'mt items/s':>11} {'ratio':>6} "
        f"{'CPU ratio':>9} {'hf peak MB':>11} {'mt peak MB':>11}  outputs"
    )
    for name, count, hf, bs, ours, same in rows:
        a, b = count / hf["seconds"], count / ours["seconds"]
        cpu = hf["cpu_seconds"] / ours["cpu_seconds"]  # items per CPU second, ours over theirs
        print(
            f"{name:12} {count:6d} {a:16.1f} {bs:5d} {b:11.1f} {b / a:5.2f}x {cpu:8.2f}x {hf['peak_rss_mb']:11.0f} "
            f"{ours['peak_rss_mb']:11.0f}  {same}"
        )


if __name__ == "__main__":
    main()
