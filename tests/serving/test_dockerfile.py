"""The Dockerfile builds (only where docker is installed and its daemon answers)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_serves_the_cli_entry_point():
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["massivetext", "serve"' in text and "HEALTHCHECK" in text and "USER massivetext" in text


@pytest.mark.slow
def test_docker_build():
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("docker is not available here")
    r = subprocess.run(
        ["docker", "build", "-q", "-t", "massivetext-serve-test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-2000:]
