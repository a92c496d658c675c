"""Named data sets: MassiveText's own builders first, then the Hugging Face Hub as ``datasets`` does.

``mt.load_dataset("movie-sentiment")`` builds (once) and loads a builder's data set; any other name that is not a
local file kind (``text``, ``csv``, ``json``, ``parquet``, ``stdlib``) is handed to ``datasets.load_dataset`` with the
same arguments, so ``mt.load_dataset("imdb")`` works as users expect when the Hub is reachable, and fails with one
clear line when it is not.
"""

from __future__ import annotations

import difflib
from typing import Any

from massivetext.data.corpora.builder import DatasetBuilder
from massivetext.errors import ConfigError


def _builders() -> dict[str, DatasetBuilder]:
    from massivetext.data.corpora.chat_dialogs import ChatDialogs
    from massivetext.data.corpora.ddtp import DDTPSummaries, DDTPTranslation
    from massivetext.data.corpora.movie_sentiment import MovieSentiment

    items = [MovieSentiment(), DDTPTranslation("fr"), DDTPTranslation("de"), DDTPSummaries(), ChatDialogs()]
    return {b.info.name: b for b in items}


BUILDER_NAMES = ("movie-sentiment", "ddtp-en-fr", "ddtp-en-de", "ddtp-summaries", "chat-dialogs")


def get_builder(name: str) -> DatasetBuilder:
    builders = _builders()
    if name not in builders:
        raise ConfigError(f"no dataset builder named {name!r}; available: {', '.join(BUILDER_NAMES)}")
    return builders[name]


def load_builder_dataset(name: str, split: str | None = None, cache_dir: str | None = None, **options: Any):
    """A builder's ``DatasetDict`` (train / validation / test), or one split. Option: ``rebuild=True``."""
    rebuild = bool(options.pop("rebuild", False))
    if options:
        raise ConfigError(f"{name}: unknown option(s) {sorted(options)}; a builder takes split, cache_dir, rebuild")
    return get_builder(name).load(split=split, cache_dir=cache_dir, rebuild=rebuild)


def load_from_hub(name: str, local_kinds: tuple[str, ...], **kwargs: Any):
    """``datasets.load_dataset(name, ...)``; any failure (offline, no such data set) is one clear ``ConfigError``."""
    import datasets

    try:
        return datasets.load_dataset(name, **{k: v for k, v in kwargs.items() if v is not None})
    except Exception as e:  # the Hub's errors are many (offline, not found, gated); the user needs one line
        near = difflib.get_close_matches(name, [*local_kinds, *BUILDER_NAMES], n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(
            f"{name!r} is not a local kind ({', '.join(local_kinds)}) nor a MassiveText data set "
            f"({', '.join(BUILDER_NAMES)}), and the Hugging Face Hub did not provide it: {first}.{hint}"
        ) from e
