"""``chat-dialogs``: the English conversations of ``chatterbot-corpus`` as chat messages.

``chatterbot-corpus`` 1.3.3 (BSD-3-Clause, PyPI) ships YAML files ``chatterbot_corpus/data/english/<topic>.yml``
with ``categories`` and ``conversations``: lists of turns, alternately said by the user and the bot. Each
conversation becomes ``{"id", "category", "messages": [{"role": "user"|"assistant", "content"}]}``, the first turn
the user's. YAML is read with every scalar as a string (``BaseLoader``), so a turn such as ``yes`` or ``42`` keeps
its text instead of turning into a boolean or a number. Conversations repeated verbatim in the source (the
tech-support file has many) are kept once. Split key: the first user turn, so the same question never sits in
both train and test.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator

from massivetext.data.corpora.builder import BuilderInfo, DatasetBuilder, split_key_text
from massivetext.data.corpora.fetch import pip_download, sha256_file
from massivetext.errors import BadInputError

REQUIREMENT = "chatterbot-corpus==1.3.3"
WHEEL = "chatterbot_corpus-1.3.3-py2.py3-none-any.whl"
WHEEL_SHA256 = "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154"
PREFIX = "chatterbot_corpus/data/english/"


def parse_conversations(text: str, file: str, skipped: list[str] | None = None) -> Iterator[tuple[str, list[dict]]]:
    """(category, messages) for each conversation of one chatterbot YAML file. A conversation that is not a list
    of at least two text turns (trivia.yml in 1.3.3 has one flattened into a single string) is left out and
    described in ``skipped``; with ``skipped=None`` it raises ``BadInputError``."""
    import yaml

    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise BadInputError(
            f"not valid YAML ({getattr(e, 'problem', e)})", file, mark.line + 1 if mark else None
        ) from e
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
        raise BadInputError("expected a mapping with a 'conversations' list", file)
    categories = data.get("categories") or [os.path.splitext(os.path.basename(file))[0]]
    category = categories[0] if isinstance(categories, list) else str(categories)
    for n, conv in enumerate(data["conversations"], 1):
        if not isinstance(conv, list) or not all(isinstance(t, str) for t in conv) or len(conv) < 2:
            problem = f"{file}: conversation {n} is not a list of at least two text turns: {str(conv)[:80]!r}"
            if skipped is None:
                raise BadInputError(problem)
            skipped.append(problem)
            continue
        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t.strip()} for i, t in enumerate(conv)]
        yield category, messages


class ChatDialogs(DatasetBuilder):
    info = BuilderInfo(
        name="chat-dialogs",
        description="Short English chatbot conversations (chatterbot-corpus) as user/assistant chat messages.",
        license="BSD-3-Clause (chatterbot-corpus, Copyright (c) Gunther Cox)",
        source=f"pip download --only-binary :all: {REQUIREMENT} → {PREFIX}*.yml",
        homepage="https://github.com/gunthercox/chatterbot-corpus",
    )

    def _wheel(self, downloads: str) -> str:
        return pip_download(REQUIREMENT, WHEEL, WHEEL_SHA256, os.path.join(downloads, "pip"), binary=True)

    def features(self):
        import datasets

        message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
        return datasets.Features(
            {"id": datasets.Value("string"), "category": datasets.Value("string"), "messages": datasets.List(message)}
        )

    def records(self, downloads: str) -> Iterator[tuple[str, dict]]:
        seen: set[str] = set()
        self.skipped.clear()
        with zipfile.ZipFile(self._wheel(downloads)) as wheel:
            names = sorted(n for n in wheel.namelist() if n.startswith(PREFIX) and n.endswith((".yml", ".yaml")))
            for name in names:
                text = wheel.read(name).decode("utf-8")
                for category, messages in parse_conversations(text, name, self.skipped):
                    blob = "\x1e".join(m["content"] for m in messages)
                    ident = hashlib.sha256(blob.encode()).hexdigest()[:16]
                    if ident in seen:
                        continue
                    seen.add(ident)
                    record = {"id": ident, "category": category, "messages": messages}
                    yield split_key_text(messages[0]["content"]), record

    def source_files(self, downloads: str) -> dict[str, str]:
        return {WHEEL: sha256_file(self._wheel(downloads))}
