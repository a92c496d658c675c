"""Fetching a dataset builder's source with the package clients the user already has configured.

* ``pip_download``: one pinned distribution file through ``python -m pip download`` (the running interpreter's pip,
  so its index, mirror, proxy and certificate settings apply), checked against a pinned sha256.
* ``apt_translations``: the Debian Description Translation Project indices (``Translation-LL``) through
  ``apt-get update`` into a *private* lists directory, so the system's own package lists are never touched; apt's
  sources (hosts, mirrors, proxies) are the user's, only the index targets we do not need are switched off.

Downloads land in a temporary place first and are moved in when complete, so an interrupted fetch never leaves a
file that looks finished; a file whose sha256 does not match is removed and fetched again. When the registry cannot
be reached the error is one line that says what was being fetched and how.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

from massivetext.errors import BadInputError, MassiveTextError

PIP_TIMEOUT_S = 600
APT_TIMEOUT_S = 900


class SourceUnavailableError(MassiveTextError, ConnectionError):
    """A builder's source could not be fetched (offline, registry unreachable, client missing)."""


class CacheCorruptWarning(UserWarning):
    """A cached file failed its sha256 check and is being rebuilt."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _apt_reason(stderr: str) -> str:
    """The first 'Failed to fetch' line says which host failed and why; apt's closing 'E:' line says neither."""
    for line in stderr.splitlines():
        if "Failed to fetch" in line or line.startswith("E:"):
            return " ".join(line.split())[:300]
    return _last_line(stderr)


def pip_download(requirement: str, filename: str, sha256: str, dest: str, binary: bool = False) -> str:
    """The distribution file ``filename`` of ``requirement`` in ``dest``, fetched with pip unless a copy with the
    pinned ``sha256`` is already there. ``binary=False`` asks for the source distribution (``--no-binary :all:``)."""
    path = os.path.join(dest, filename)
    if os.path.exists(path):
        if sha256_file(path) == sha256:
            return path
        warnings.warn(f"{path}: sha256 mismatch (half-downloaded or altered); fetching it again", CacheCorruptWarning,
                      stacklevel=3)  # fmt: skip
        os.remove(path)
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", tmp]
        # an sdist is only fetched, never installed: reading its metadata with the setuptools already here saves a
        # second download (the build environment) and works against a local mirror that holds just this file
        cmd.append("--no-build-isolation")
        cmd += ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        cmd.append(requirement)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise SourceUnavailableError(
                f"could not fetch {requirement} with pip: no answer from the package index in {PIP_TIMEOUT_S} s"
            ) from e
        got = os.path.join(tmp, filename)
        if proc.returncode != 0 or not os.path.exists(got):
            why = _last_line(proc.stderr) if proc.returncode else f"pip saved {os.listdir(tmp)}, not {filename}"
            raise SourceUnavailableError(
                f"could not fetch {requirement} with pip ({why}); connect to the package index or point pip at a "
                "mirror (PIP_INDEX_URL / PIP_FIND_LINKS) and retry"
            )
        actual = sha256_file(got)
        if actual != sha256:
            raise BadInputError(f"sha256 {actual} does not match the pinned {sha256} of {requirement}", filename)
        os.replace(got, path)
    return path


def _apt_command(lists: str, cache: str, languages: tuple[str, ...]) -> list[str]:
    opts = {
        "Dir::State::Lists": lists,  # private: the system's lists stay as they are
        "Dir::Cache": cache,  # and so does its package cache
        "Acquire::Languages": ",".join(languages),
        # only the Translation-* indices are needed; the binary and source package indices are skipped
        "Acquire::IndexTargets::deb::Packages::DefaultEnabled": "false",
        "Acquire::IndexTargets::deb-src::Sources::DefaultEnabled": "false",
        # the system's update hooks (e.g. an AppStream refresh) act on system state: not ours to run
        "APT::Update::Post-Invoke-Success::": "",
        "APT::Update::Post-Invoke::": "",
    }
    cmd = ["apt-get", "update", "-q", "--error-on=any"]
    for key, value in opts.items():
        cmd += ["-o", f"{key}={value}"]
    return cmd


def apt_translations(dest: str, languages: tuple[str, ...]) -> dict[str, list[str]]:
    """Paths of the ``Translation-LL`` index files for each language, from ``apt-get update`` into ``dest/lists``.

    A completed fetch is recorded with the sha256 of every file; it is reused while those still match, and fetched
    again otherwise (a half-written lists directory never passes)."""
    lists, marker = os.path.join(dest, "lists"), os.path.join(dest, "lists", "massivetext-complete.json")
    found = _verified(marker, languages)
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        raise SourceUnavailableError("could not fetch the Debian translation indices: apt-get is not installed")
    if os.path.exists(marker):
        warnings.warn(f"{lists}: translation indices changed since they were fetched; fetching them again",
                      CacheCorruptWarning, stacklevel=3)  # fmt: skip
        os.remove(marker)
    os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
    os.makedirs(os.path.join(dest, "cache", "archives", "partial"), exist_ok=True)
    cmd = _apt_command(lists, os.path.join(dest, "cache"), languages)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise SourceUnavailableError(f"could not fetch the Debian translation indices: apt-get update took over "
                                     f"{APT_TIMEOUT_S} s") from e  # fmt: skip
    if proc.returncode != 0:
        raise SourceUnavailableError(
            f"could not fetch the Debian translation indices with apt-get update ({_apt_reason(proc.stderr)}); "
            "connect to your Debian mirror and retry"
        )
    files = {lang: _translation_files(lists, lang) for lang in languages}
    missing = [lang for lang, paths in files.items() if not paths]
    if missing:
        raise SourceUnavailableError(
            f"apt-get update brought no Translation-{'/'.join(missing)} index: the apt sources configured here "
            "(/etc/apt/sources.list*) do not serve Debian's description translations"
        )
    tmp = f"{marker}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({os.path.basename(p): sha256_file(p) for paths in files.values() for p in paths}, f, indent=1)
    os.replace(tmp, marker)
    return files


def _translation_files(lists: str, lang: str) -> list[str]:
    return sorted(p for p in glob.glob(os.path.join(lists, f"*_i18n_Translation-{lang}*")) if os.path.isfile(p))


def _verified(marker: str, languages: tuple[str, ...]) -> dict[str, list[str]] | None:
    if not os.path.exists(marker):
        return None
    lists = os.path.dirname(marker)
    with open(marker) as f:
        recorded: dict[str, str] = json.load(f)
    files = {lang: _translation_files(lists, lang) for lang in languages}
    if any(not paths for paths in files.values()):
        return None
    for paths in files.values():
        for p in paths:
            if recorded.get(os.path.basename(p)) != sha256_file(p):
                return None
    return files


def read_apt_index(path: str) -> str:
    """The text of an apt index file in whatever compression apt kept it (``apt-helper cat-file`` when present)."""
    helper = "/usr/lib/apt/apt-helper"
    if os.path.exists(helper):
        proc = subprocess.run([helper, "cat-file", path], capture_output=True, timeout=300)
        if proc.returncode == 0:
            return proc.stdout.decode("utf-8", errors="replace")
    return _decompress(path).decode("utf-8", errors="replace")


def _decompress(path: str) -> bytes:
    raw = open(path, "rb").read()
    if path.endswith(".gz"):
        import gzip

        return gzip.decompress(raw)
    if path.endswith(".xz") or path.endswith(".lzma"):
        import lzma

        return lzma.decompress(raw)
    if path.endswith(".bz2"):
        import bz2

        return bz2.decompress(raw)
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    if path.endswith(".lz4"):
        try:
            import lz4.frame
        except ImportError as e:
            raise SourceUnavailableError(f"{path}: lz4-compressed and neither apt-helper nor python-lz4 is here") from e
        return lz4.frame.decompress(raw)
    return raw
