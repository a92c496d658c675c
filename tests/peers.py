"""The reference libraries the tests compare against (transformers, DataTrove, datasets, ray, ...): ``require``.

``require("datatrove")`` imports a peer, or skips the test when it is not installed, as ``pytest.importorskip``
does, so a developer without every peer can still run the rest. In CI (``MASSIVETEXT_REQUIRE_PEERS=1``, set by
``.ci/run``) a peer that cannot be imported FAILS the run instead: a parity test must never pass by being skipped.

Tests are not a package: ``from peers import require`` works because pytest puts ``tests/`` (the directory of the
root ``conftest.py``) on ``sys.path``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

ENV = "MASSIVETEXT_REQUIRE_PEERS"


def peers_required() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


def require(module: str, reason: str | None = None) -> ModuleType:
    """Import ``module`` and return it; when it cannot be imported: skip, or fail if ``MASSIVETEXT_REQUIRE_PEERS``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        why = reason or f"{module} is not importable ({e})"
        if peers_required():
            pytest.fail(f"{why}; {ENV}=1 requires every peer the tests compare against", pytrace=False)
        pytest.skip(why, allow_module_level=True)
