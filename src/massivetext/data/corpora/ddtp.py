"""``ddtp-en-fr``, ``ddtp-en-de`` and ``ddtp-summaries``: Debian package descriptions and their human translations.

The Debian Description Translation Project (DDTP) publishes every package description of a release in English
(``Translation-en``) and, for the part volunteers have translated and reviewed, in other languages
(``Translation-fr``, ``Translation-de``, ...). ``apt-get update`` fetches these indices; we run it with the user's
apt sources into a private lists directory (see ``fetch.apt_translations``).

Each index is a deb822 file of paragraphs ``Package`` / ``Description-md5`` / ``Description-LL``, where the md5 is
that of the *English* description, so joining on it pairs a translation with exactly the English text it
translates (a stale translation of an older English text has another md5 and is left out). A description is a
synopsis line and a long description in Debian's format (policy §5.6.13): continuation lines start with a space,
" ." is an empty line, lines with more indentation are shown verbatim. The long description becomes plain text:
wrapped lines joined with spaces, verbatim and bullet lines kept on their own line, paragraphs separated by a blank
line.

* ``ddtp-en-fr`` / ``ddtp-en-de``: ``id`` (the md5), ``package``, ``synopsis_en``, ``description_en``,
  ``synopsis_LL``, ``description_LL`` (synopsis and long description kept apart: short pairs for quick models,
  long ones for real use).
* ``ddtp-summaries``: ``id``, ``package``, ``document`` (the English long description) and ``summary`` (its
  synopsis), for descriptions that have both: a headline-generation task. A long description shared by several
  packages is kept once (with the first package's synopsis), so no document has two different targets.

Split key: the normalized English long description (the synopsis when there is none), so packages that share a long
description (``foo`` / ``foo-data`` / ``foo-doc``) never straddle train and test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from massivetext.data.corpora.builder import BuilderInfo, DatasetBuilder, split_key_text
from massivetext.data.corpora.fetch import apt_translations, read_apt_index, sha256_file
from massivetext.errors import BadInputError

LANGUAGES = ("en", "fr", "de")  # one fetch serves every DDTP data set
LICENSE = (
    "Package descriptions: the licences of the respective Debian packages (DFSG-free, Debian main); "
    "translations: DDTP contributors, distributed by Debian with the archive"
)
HOMEPAGE = "https://www.debian.org/international/l10n/ddtp"
_BULLET = re.compile(r"^([*+\-o]|\d+[.)])\s")


def iter_paragraphs(text: str, file: str = "<index>") -> Iterator[dict[str, list[str]]]:
    """deb822 paragraphs as {field: [first line, continuation lines...]}; a continuation line before any field
    raises ``BadInputError`` with the file and line."""
    para: dict[str, list[str]] = {}
    field = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip(" \t\r"):  # deb822 blank line: spaces and tabs only (a line " \xa0" is content)
            if para:
                yield para
            para, field = {}, None
        elif line[0] in " \t":
            if field is None:
                raise BadInputError("continuation line outside a field", file, n)
            para[field].append(line)
        else:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadInputError(f"expected 'Field: value', got {line[:60]!r}", file, n)
            field = name.strip()
            para[field] = [value.strip()]
    if para:
        yield para


def long_description(lines: Iterable[str]) -> str:
    """Debian's long-description lines (each starting with a space) as plain text."""
    paragraphs: list[list[list]] = [[]]  # paragraph -> [text, verbatim] units
    for raw in lines:
        body = raw[1:] if raw[:1] in (" ", "\t") else raw
        if body.strip() in (".", ""):
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        verbatim = body[:1] in (" ", "\t")
        starts_unit = verbatim or _BULLET.match(body.strip()) is not None
        current = paragraphs[-1]
        if current and not starts_unit and not current[-1][1]:
            current[-1][0] += " " + body.strip()  # a wrapped line continues the text before it
        else:
            current.append([body.rstrip() if verbatim else body.strip(), verbatim])
    return "\n\n".join("\n".join(text for text, _ in p) for p in paragraphs if p).strip()


def parse_translation_index(text: str, lang: str, file: str = "<index>") -> Iterator[dict]:
    """{"id", "package", "synopsis", "description"} for every paragraph of a ``Translation-LL`` index."""
    field = f"Description-{lang}"
    for para in iter_paragraphs(text, file):
        if field not in para or "Description-md5" not in para:
            continue
        first, *rest = para[field]
        yield {
            "id": para["Description-md5"][0],
            "package": para.get("Package", [""])[0],
            "synopsis": first.strip(),
            "description": long_description(rest),
        }


def _index(files: list[str], lang: str) -> dict[str, dict]:
    """md5 -> entry over all files of a language (suites overlap; the first occurrence wins)."""
    out: dict[str, dict] = {}
    for path in files:
        for entry in parse_translation_index(read_apt_index(path), lang, os.path.basename(path)):
            out.setdefault(entry["id"], entry)
    return out


def _split_key(entry: dict) -> str:
    return split_key_text(entry["description"] or entry["synopsis"])


class _DDTP(DatasetBuilder):
    def _files(self, downloads: str) -> dict[str, list[str]]:
        return apt_translations(os.path.join(downloads, "apt-ddtp"), LANGUAGES)

    def source_files(self, downloads: str) -> dict[str, str]:
        return {os.path.basename(p): sha256_file(p) for paths in self._files(downloads).values() for p in paths}


class DDTPTranslation(_DDTP):
    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang
        self.info = BuilderInfo(
            name=f"ddtp-en-{lang}",
            description=f"Debian package descriptions (English) and their human {lang} translations (DDTP), joined "
            "on Description-md5; synopsis and long description in separate fields.",
            license=LICENSE,
            source=f"apt-get update -o Acquire::Languages=en,{lang} (private lists dir) → Translation-en, "
            f"Translation-{lang}",
            homepage=HOMEPAGE,
        )

    def features(self):
        import datasets

        names = ["id", "package", "synopsis_en", "description_en", f"synopsis_{self.lang}", f"description_{self.lang}"]
        return datasets.Features({n: datasets.Value("string") for n in names})

    def records(self, downloads: str) -> Iterator[tuple[str, dict]]:
        files = self._files(downloads)
        english = _index(files["en"], "en")
        for md5, tr in _index(files[self.lang], self.lang).items():
            en = english.get(md5)
            if en is None or not tr["synopsis"]:
                continue  # a translation of an English text this release no longer has
            yield (
                _split_key(en),
                {
                    "id": md5,
                    "package": en["package"],
                    "synopsis_en": en["synopsis"],
                    "description_en": en["description"],
                    f"synopsis_{self.lang}": tr["synopsis"],
                    f"description_{self.lang}": tr["description"],
                },
            )


class DDTPSummaries(_DDTP):
    info = BuilderInfo(
        name="ddtp-summaries",
        description="English Debian long package descriptions (document) and their one-line synopsis (summary).",
        license=LICENSE,
        source="apt-get update -o Acquire::Languages=en (private lists dir) → Translation-en",
        homepage=HOMEPAGE,
    )

    def features(self):
        import datasets

        return datasets.Features({n: datasets.Value("string") for n in ("id", "package", "document", "summary")})

    def records(self, downloads: str) -> Iterator[tuple[str, dict]]:
        seen: set[str] = set()
        for md5, en in _index(self._files(downloads)["en"], "en").items():
            key = _split_key(en)
            # a long description shared by several packages (foo, foo-data, ...) is one document: its first synopsis
            if en["description"] and en["synopsis"] and key not in seen:
                seen.add(key)
                yield (
                    key,
                    {
                        "id": md5,
                        "package": en["package"],
                        "document": en["description"],
                        "summary": en["synopsis"],
                    },
                )
