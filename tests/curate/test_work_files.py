"""Work files: a finished run leaves no corpus copy under ``_work/`` (only plan, markers and statistics),
``keep_work`` / ``--keep-work`` keeps everything, and a rerun of a finished run (whose intermediates are gone) returns
the same output; the kill -9 resume tests (test_resume, test_dedup_pipeline) still cover crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from _curate_data import make_corpus, output_bytes

from massivetext.cli.main import main
from massivetext.curate import ExactDeduplicator, GopherQualityFilter, MinHashDeduplicator, PIIRedactor, Pipeline

TASK = 4000


def pipeline() -> Pipeline:
    # three segments: two GlobalSteps, so two intermediate copies of the corpus under _work/stage-*
    return Pipeline(
        [GopherQualityFilter(sources=["prose/*"]), ExactDeduplicator(), MinHashDeduplicator(), PIIRedactor()],
        task_bytes=TASK,
    )


def work_files(out: str) -> list[str]:
    work = os.path.join(out, "_work")
    return sorted(os.path.relpath(os.path.join(d, n), work) for d, _, ns in os.walk(work) for n in ns)


def test_finished_run_keeps_no_corpus_copy(tmp_path):
    paths = make_corpus(str(tmp_path / "in"), n_files=4, docs_per_file=12)
    kept = str(tmp_path / "kept")
    pipeline().run(paths, kept, workers=1, progress=False, keep_work=True)
    kept_files = work_files(kept)
    assert any(f.startswith("stage-0/part-") for f in kept_files) and any(f.startswith("stage-1/") for f in kept_files)
    assert any(f.startswith("global-") for f in kept_files)

    out = str(tmp_path / "out")
    stats = pipeline().run(paths, out, workers=1, progress=False)
    files = work_files(out)
    assert "plan.json" in files and "done/run.json" in files
    assert all(f == "plan.json" or f.startswith("done/") for f in files), files
    assert all(f.endswith(".json") for f in files)  # markers and stats only: no shard, no signature array
    assert len(files) < len(kept_files)
    assert output_bytes(out) == output_bytes(kept)

    # a rerun of the finished run: nothing recomputed, same output and statistics
    again = pipeline().run(paths, out, workers=1, progress=False)
    assert output_bytes(out) == output_bytes(kept)
    assert again.docs_written == stats.docs_written and again.steps.keys() == stats.steps.keys()


def test_cli_keep_work(tmp_path):
    paths = make_corpus(str(tmp_path / "in"), n_files=2, docs_per_file=8)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"steps": [{"type": "GopherQualityFilter"}, {"type": "ExactDeduplicator"}]}))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(["curate", *paths, "-o", a, "--recipe", str(recipe), "--workers", "1", "-q"]) == 0
    assert main(["curate", *paths, "-o", b, "--recipe", str(recipe), "--workers", "1", "-q", "--keep-work"]) == 0
    assert not any(f.startswith("stage-") for f in work_files(a))
    assert any(f.startswith("stage-0/") for f in work_files(b))
    assert output_bytes(a) == output_bytes(b)


def test_killed_two_stage_run_resumes_then_cleans(tmp_path):
    paths = make_corpus(str(tmp_path / "in"), n_files=6, docs_per_file=12)
    ref = str(tmp_path / "ref")
    pipeline().run(paths, ref, workers=1, progress=False)
    out = str(tmp_path / "out")
    code = (
        f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "from test_work_files import pipeline\n"
        f"pipeline().run({paths!r}, {out!r}, workers=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    stage1 = os.path.join(out, "_work", "stage-1")
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if os.path.isdir(stage1) and os.listdir(stage1):  # killed inside the second segment
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert os.path.isdir(os.path.join(out, "_work", "stage-0"))  # a crash keeps what resume needs
    pipeline().run(paths, out, workers=1, progress=False)
    assert output_bytes(out) == output_bytes(ref)
    assert not any(f.startswith("stage-") for f in work_files(out))
