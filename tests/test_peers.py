"""A missing peer skips a parity test on a developer's machine but fails the run in CI (MASSIVETEXT_REQUIRE_PEERS=1)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# a peer made unimportable: None in sys.modules makes `import datatrove` raise ImportError
BLOCK = 'import sys\nsys.modules["datatrove"] = None\n'
PARITY_TEST = """
from peers import require

dt = require("datatrove")  # at import, as the parity tests do


def test_parity():
    assert dt is not None


def test_inside_a_test():
    require("datatrove.pipeline.filters")
"""


def _run(tmp_path, required: bool) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(BLOCK)
    (tmp_path / "test_parity_blocked.py").write_text(PARITY_TEST)
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert True\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])}
    env.pop("MASSIVETEXT_REQUIRE_PEERS", None)
    if required:
        env["MASSIVETEXT_REQUIRE_PEERS"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_a_missing_peer_skips_by_default(tmp_path):
    done = _run(tmp_path, required=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout  # the parity module is skipped, the rest runs


def test_a_missing_peer_fails_the_run_when_peers_are_required(tmp_path):
    done = _run(tmp_path, required=True)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "MASSIVETEXT_REQUIRE_PEERS=1 requires every peer" in done.stdout + done.stderr


def test_no_test_file_skips_a_peer_on_its_own():
    # every optional import goes through peers.require, so CI can turn a missing peer into a failure
    offenders = []
    for d, _, names in os.walk(HERE):
        for n in names:
            if n.endswith(".py") and n != "peers.py" and os.path.join(d, n) != os.path.abspath(__file__):
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    if "importorskip(" in f.read():
                        offenders.append(os.path.relpath(os.path.join(d, n), HERE))
    assert offenders == []
