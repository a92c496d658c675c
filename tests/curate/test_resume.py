"""Kill -9 a curation run part-way, run the same command again: output byte-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _curate_data import SLOW_RECIPE, make_corpus, output_bytes

from massivetext.curate import Pipeline

HERE = os.path.dirname(os.path.abspath(__file__))


def cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "massivetext.cli.main", "curate", *args, "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("kill_after_markers", [1, 3])
def test_kill_9_then_resume_is_byte_identical(tmp_path, monkeypatch, kill_after_markers):
    paths = make_corpus(str(tmp_path / "in"), n_files=6, docs_per_file=12)
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(json.dumps(SLOW_RECIPE))  # JSON is YAML
    task = max(map(os.path.getsize, paths))  # one task per file
    args = [*paths, "--recipe", str(recipe), "--workers", "1", "--task-size", str(task)]

    # the uninterrupted reference run, in this process
    monkeypatch.syspath_prepend(HERE)
    ref = str(tmp_path / "ref")
    Pipeline(str(recipe), task_bytes=task).run(paths, ref, workers=1, progress=False)

    out = str(tmp_path / "out")
    proc = cli([*args, "--output", out])
    done = os.path.join(out, "_work", "done")
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.isdir(done) and len(os.listdir(done)) >= kill_after_markers:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.005)
    time.sleep(0.03 * kill_after_markers)  # land inside a task, not just after a marker
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(os.listdir(done))
    assert 1 <= len(finished) < 6, finished  # really killed part-way
    assert not os.path.exists(os.path.join(out, "stats.json"))

    proc = cli([*args, "--output", out])
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    got, want = output_bytes(out), output_bytes(ref)
    assert sorted(got) == sorted(want) and len(want) == 7  # 6 shards + errors.jsonl
    assert got == want
    assert not [n for _, _, ns in os.walk(out) for n in ns if ".tmp-" in n]
    stats = json.load(open(os.path.join(out, "stats.json")))
    ref_stats = json.load(open(os.path.join(ref, "stats.json")))
    for k in ("docs_read", "docs_written", "bytes_written", "bad_records"):
        assert stats[k] == ref_stats[k]
    assert stats["steps"]["gopher_quality"]["drops"] == ref_stats["steps"]["gopher_quality"]["drops"]
