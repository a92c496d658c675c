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


@pytest.fixture(scope="session")
def shard_dir(tmp_path_factory):
    """Token shards (train + val) of a small synthetic corpus, encoded with a BPE tokenizer trained on it (shared by
    the training, evaluation and CLI tests)."""
    import json
    import random

    import massivetext as mt

    root = tmp_path_factory.mktemp("shards")
    rng = random.Random(0)
    animals, verbs = ["cat", "dog", "bird", "fish", "cow"], ["runs", "sleeps", "eats", "sings"]
    docs = [
        {"id": f"d{i}", "text": " ".join(f"the {rng.choice(animals)} {rng.choice(verbs)}." for _ in range(12))}
        for i in range(300)
    ]
    path = root / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    tok = mt.train_tokenizer([d["text"] for d in docs], kind="bpe", vocab_size=300,
                             special_tokens=["<|endoftext|>"])  # fmt: skip
    mt.encode_corpus(tok, path, root / "out", val_fraction=0.1, processes=1, progress=False)
    return root / "out"
