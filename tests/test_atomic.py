"""The one atomic-write helper: the old state or the whole new one, never half, also after kill -9."""

import os
import signal
import subprocess
import sys

import pytest

from massivetext._atomic import (
    atomic_directory,
    atomic_open,
    atomic_write_json,
    atomic_write_text,
    is_tmp,
    remove_stale,
)
from massivetext._atomic import tmp_path as temporary_name  # the name tmp_path is pytest's fixture


def test_a_file_is_published_whole_or_not_at_all(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "old")  # parent created
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half of the new")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old" and os.listdir(path.parent) == ["a.txt"]  # no temporary left
    atomic_write_json(path, {"x": 1})
    assert path.read_text() == '{"x": 1}\n'


def test_a_directory_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as d:
        (d / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as d:
            (d / "weights").write_text("v2 half")
            raise RuntimeError("crash")
    assert (target / "weights").read_text() == "v1" and sorted(os.listdir(tmp_path)) == ["ckpt"]
    with atomic_directory(target, tmp=tmp_path / "ckpt.tmp") as d:  # a fixed name several ranks agree on
        (d / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2" and sorted(os.listdir(tmp_path)) == ["ckpt"]


WRITER = """
import sys, time
from massivetext._atomic import atomic_open
with atomic_open(sys.argv[1]) as f:
    f.write("partial"); f.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def test_kill_9_mid_write_keeps_the_old_file_and_remove_stale_cleans_up(tmp_path):
    path = tmp_path / "marker.json"
    atomic_write_text(path, "complete")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(30)
    finally:
        writer.kill()
    leftovers = [n for n in os.listdir(tmp_path) if is_tmp(n)]
    assert path.read_text() == "complete" and leftovers == [
        os.path.basename(tmp_path / f"marker.json.tmp-{writer.pid}")
    ]
    (tmp_path / "stage.tmp-1").mkdir()  # a directory a killed run left
    assert remove_stale(tmp_path) == 2
    assert os.listdir(tmp_path) == ["marker.json"]
    assert is_tmp(temporary_name("x")) and not is_tmp("x.json")
