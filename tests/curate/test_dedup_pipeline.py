"""Dedup and decontamination as GlobalSteps of a Pipeline: planted copies, determinism, resume, recipes."""

from __future__ import annotations

import json

import pytest
from _dedup_data import planted_corpus, write_shards

from massivetext.curate.dedup.exact import ExactDeduplicator
from massivetext.curate.dedup.minhash import MinHashDeduplicator
from massivetext.curate.io import read_output
from massivetext.curate.pipeline import Pipeline
from massivetext.executors.local import LocalExecutor

TASK_BYTES = 60_000  # several tasks from a small corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    records, truth = planted_corpus(seed=5, n_base=80)
    d = tmp_path_factory.mktemp("pipe")
    write_shards(records, str(d / "in"), 3)
    return records, truth, str(d / "in")


def _pipeline():
    return Pipeline([ExactDeduplicator(), MinHashDeduplicator()], task_bytes=TASK_BYTES)


def _outputs(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*"))}


def _ids(out) -> list[str]:
    return [r["id"] for p in sorted(out.glob("part-*")) for r in read_output(str(p))]


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    _, _, inp = corpus
    out = tmp_path_factory.mktemp("ref") / "out"
    stats = _pipeline().run(inp, str(out), workers=1, progress=False)
    return out, stats


def test_planted_copies_removed_boilerplate_kept(corpus, reference):
    records, truth, _ = corpus
    out, stats = reference
    kept = _ids(out)
    assert len(kept) == len(set(kept))
    assert not {c for _, c in truth["exact"]} & set(kept)
    assert not {c for _, c in truth["near"]} & set(kept)
    assert {o for o, _ in truth["near"] + truth["exact"]} <= set(kept)
    assert set(truth["boiler"]) <= set(kept) and "long0" in kept
    assert len(set(truth["short"]) & set(kept)) == 1
    # kept documents keep their input order and every input field, nothing added
    order = [r["id"] for r in records]
    assert kept == sorted(kept, key=order.index)
    first = next(read_output(str(sorted(out.glob("part-*"))[0])))
    assert set(first) == {"id", "text"}
    ex, mh = stats.extra["exact_dedup"], stats.extra["minhash_dedup"]
    assert ex["docs_removed"] == stats.steps["exact_dedup"].drops["exact duplicate"] >= 15
    assert mh["docs_removed"] == stats.steps["minhash_dedup"].drops["near duplicate"] >= 15
    assert mh["example_pairs"] and mh["example_pairs"][0]["kept"]["id"]
    assert "minhash_dedup" in (out / "report.html").read_text()
    saved = json.loads((out / "stats.json").read_text())
    assert saved["extra"]["minhash_dedup"]["cluster_size_histogram"] == mh["cluster_size_histogram"]


def test_two_workers_give_identical_bytes(corpus, reference, tmp_path):
    _, _, inp = corpus
    _pipeline().run(inp, str(tmp_path / "out"), workers=2, progress=False, report=False)
    assert _outputs(tmp_path / "out") == _outputs(reference[0])


class _CrashAfter:
    """An executor that dies in the middle of its n-th map call (half the items done), like a killed job."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def map(self, fn, items, desc=""):
        self.calls += 1
        if self.calls < self.n:
            return [fn(x) for x in items]
        for x in items[: len(items) // 2]:
            fn(x)
        raise KeyboardInterrupt("killed")


# map calls: 1 segment 0, 2 exact hash, 3 exact group, 4 segment 1, 5 signatures, 6 candidates, 7 verify, 8 segment 2
@pytest.mark.parametrize("crash_at", [2, 3, 5, 7])
def test_kill_and_resume_gives_identical_output(corpus, reference, tmp_path, crash_at):
    _, _, inp = corpus
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _pipeline().run(inp, str(out), executor=_CrashAfter(crash_at), progress=False, report=False)
    _pipeline().run(inp, str(out), executor=LocalExecutor(1, progress=False), progress=False, report=False)
    assert _outputs(out) == _outputs(reference[0])


def test_recipe_with_dedup_and_decontamination(corpus, tmp_path):
    records, truth, inp = corpus
    victim = records[3]
    (tmp_path / "eval.jsonl").write_text(json.dumps({"id": "ev", "text": victim["text"]}) + "\n")
    (tmp_path / "recipe.yaml").write_text(
        "steps:\n"
        "  - {type: ExactDeduplicator, normalization: none}\n"
        "  - {type: MinHashDeduplicator, threshold: 0.8, ngram: 13}\n"
        f"  - {{type: Decontaminator, eval_sets: {{heldout: '{tmp_path / 'eval.jsonl'}'}}}}\n"
    )
    stats = Pipeline(str(tmp_path / "recipe.yaml"), task_bytes=TASK_BYTES).run(
        inp, str(tmp_path / "out"), workers=1, progress=False, report=False
    )
    kept = set(_ids(tmp_path / "out"))
    assert victim["id"] not in kept
    assert stats.extra["decontaminate"]["eval_sets"]["heldout"]["eval_docs_hit"] == 1
    assert not {c for _, c in truth["near"]} & kept


def test_dedup_command(corpus, tmp_path, capsys):
    from massivetext.cli.main import main

    records, truth, inp = corpus
    (tmp_path / "eval.jsonl").write_text(json.dumps({"text": records[9]["text"]}) + "\n")
    args = ["dedup", inp, "-o", str(tmp_path / "out"), "--workers", "1", "--quiet", "--task-size", "60KB"]
    assert main([*args, "--eval", str(tmp_path / "eval.jsonl")]) == 0
    kept = set(_ids(tmp_path / "out"))
    assert records[9]["id"] not in kept and not {c for _, c in truth["near"] + truth["exact"]} & kept
    assert main(["dedup", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o2")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


def test_sigkill_during_near_dedup_then_resume(corpus, reference, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    _, _, inp = corpus
    out = tmp_path / "out"
    code = (
        "from massivetext.curate.dedup.exact import ExactDeduplicator\n"
        "from massivetext.curate.dedup.minhash import MinHashDeduplicator\n"
        "from massivetext.curate.pipeline import Pipeline\n"
        f"Pipeline([ExactDeduplicator(), MinHashDeduplicator()], task_bytes={TASK_BYTES})"
        f".run({inp!r}, {str(out)!r}, workers=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    sigs = out / "_work" / "global-minhash_dedup" / "signatures"
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if sigs.is_dir() and any(p.suffix == ".npy" for p in sigs.iterdir()):
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of the near-dedup signature stage
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "stats.json").exists()
    _pipeline().run(inp, str(out), workers=1, progress=False)
    assert _outputs(out) == _outputs(reference[0])
