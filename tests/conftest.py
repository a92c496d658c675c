import os

import pytest

# keep every test off the network and out of the user's caches
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# CI has 2 cores and runs 2 test workers: one BLAS/OpenMP thread each (and in their subprocesses), because
# oversubscribed OpenMP threads spin and can make a CPU step 40x slower
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    # a shared cache for the whole session: the stdlib corpus is built once
    if "MASSIVETEXT_CACHE" not in os.environ:
        os.environ["MASSIVETEXT_CACHE"] = str(tmp_path_factory.mktemp("mt-cache"))
    yield
