"""The Ray executor on a local 2-CPU Ray instance: ordered results, errors, and pipelines (dedup stages included)
giving byte-identical output to the local executor."""

from __future__ import annotations

import functools
import json
import operator

import pytest
from _dedup_data import planted_corpus, write_shards

from massivetext.curate.dedup.decontaminate import Decontaminator
from massivetext.curate.dedup.exact import ExactDeduplicator
from massivetext.curate.dedup.minhash import MinHashDeduplicator
from massivetext.curate.pipeline import Pipeline
from peers import require

ray = require("ray")


@pytest.fixture(scope="module")
def ray_instance():
    # one instance for the module: starting Ray costs 10-20 s
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_map_keeps_order_and_raises_task_errors(ray_instance):
    from massivetext.executors.ray import RayExecutor

    ex = RayExecutor(progress=False)
    assert ex.map(functools.partial(operator.mul, 3), list(range(20))) == [3 * i for i in range(20)]
    assert ex.map(abs, []) == []
    with pytest.raises(ValueError):
        ex.map(int, ["1", "2", "not a number"])


def test_pipeline_on_ray_equals_local(ray_instance, tmp_path):
    records, truth = planted_corpus(seed=11, n_base=60)
    write_shards(records, str(tmp_path / "in"), 3)
    (tmp_path / "eval.jsonl").write_text(json.dumps({"text": records[7]["text"]}) + "\n")

    def pipeline():
        steps = [
            ExactDeduplicator(),
            MinHashDeduplicator(),
            Decontaminator(eval_sets=[str(tmp_path / "eval.jsonl")]),
        ]
        return Pipeline(steps, task_bytes=50_000)

    s_local = pipeline().run(str(tmp_path / "in"), str(tmp_path / "local"), workers=2, progress=False, report=False)
    s_ray = pipeline().run(str(tmp_path / "in"), str(tmp_path / "ray"), executor="ray", progress=False, report=False)
    local = {p.name: p.read_bytes() for p in sorted((tmp_path / "local").glob("part-*"))}
    on_ray = {p.name: p.read_bytes() for p in sorted((tmp_path / "ray").glob("part-*"))}
    assert len(local) > 1 and local == on_ray
    for name in ("exact_dedup", "minhash_dedup", "decontaminate"):
        assert s_local.extra[name]["docs_removed"] == s_ray.extra[name]["docs_removed"] > 0
