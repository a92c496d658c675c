"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``, two nodes of one CPU each): curation
with dedup through ``ray_address`` places tasks on both nodes and writes the same bytes as the local executor; a
worker node removed mid-run either lets the job finish (Ray retries its tasks) or a rerun resumes identically."""

from __future__ import annotations

import os
import threading
import time

import pytest
from _curate_data import make_corpus, output_bytes

from massivetext.curate import ExactDeduplicator, GopherQualityFilter, MinHashDeduplicator, Pipeline
from peers import require

ray = require("ray")
HERE = os.path.dirname(os.path.abspath(__file__))


class NodeRecorder:
    """Notes, per task, which Ray node ran it (a file named after the node in ``directory``), after a pause
    long enough that one node cannot take every task."""

    name = "node_recorder"

    def __init__(self, directory: str, seconds: float = 0.05):
        self.directory, self.seconds = directory, seconds

    def config(self) -> dict:
        return {}  # where it records is not part of what the pipeline does

    def __call__(self, docs, ctx):
        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, f"{node}-seg{ctx.segment}-{ctx.task.index}"), "w"):
            pass
        time.sleep(self.seconds)
        yield from docs


def pipeline(record_dir: str) -> Pipeline:
    steps = [GopherQualityFilter(sources=["prose/*"]), NodeRecorder(record_dir), ExactDeduplicator(),
             MinHashDeduplicator(), NodeRecorder(record_dir)]  # fmt: skip
    return Pipeline(steps, task_bytes=3000)


@pytest.fixture()
def cluster(monkeypatch):
    from ray.cluster_utils import Cluster

    # the nodes' workers must import this module (its NodeRecorder step) and the package under test
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([HERE, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c, worker
    ray.shutdown()
    c.shutdown()


@pytest.mark.slow
def test_two_nodes_both_work_and_match_local(cluster, tmp_path):
    c, _ = cluster
    paths = make_corpus(str(tmp_path / "in"), n_files=6, docs_per_file=12)
    local = str(tmp_path / "local")
    pipeline(str(tmp_path / "rec-local")).run(paths, local, workers=1, progress=False, report=False)
    out = str(tmp_path / "ray")
    rec = str(tmp_path / "rec-ray")
    pipeline(rec).run(paths, out, ray_address=c.address, executor="ray", progress=False, report=False)
    nodes = {name.split("-seg")[0] for name in os.listdir(rec)}
    assert len(nodes) == 2, nodes  # both nodes ran tasks
    assert len(ray.nodes()) == 2
    assert output_bytes(out) == output_bytes(local) and len(output_bytes(local)) > 2


@pytest.mark.slow
def test_losing_a_worker_node_mid_run(cluster, tmp_path):
    c, worker = cluster
    paths = make_corpus(str(tmp_path / "in"), n_files=6, docs_per_file=12)
    local = str(tmp_path / "local")
    pipeline(str(tmp_path / "rec-local")).run(paths, local, workers=1, progress=False, report=False)
    out, rec = str(tmp_path / "ray"), str(tmp_path / "rec-ray")

    killed = []

    def kill_when_busy():
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.isdir(rec) and any(n.startswith(worker.node_id) for n in os.listdir(rec)):
                c.remove_node(worker, allow_graceful=False)  # the worker node dies with tasks on it
                killed.append(time.time())
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    try:
        pipeline(rec).run(paths, out, ray_address=c.address, executor="ray", progress=False, report=False)
    except Exception:  # the job did not survive the loss: a rerun on what is left must resume it
        killer.join()
        pipeline(rec).run(paths, out, ray_address=c.address, executor="ray", progress=False, report=False)
    killer.join()
    assert killed, "the worker node was never busy"
    assert worker not in c.worker_nodes  # its processes were killed (Ray's health check notices later)
    assert output_bytes(out) == output_bytes(local)
