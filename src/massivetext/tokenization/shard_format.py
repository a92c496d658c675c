"""The token shard file: a 64-byte header, then the token ids, documents separated by the EOS id.

Header (little-endian): magic ``b"MTTOKENS"``, format version (u32), bytes per token (u32: 2 = uint16, 4 = uint32),
token count (u64), document count (u64), 32 reserved bytes. The header is written last (a placeholder first, then
the true counts), and the file is written under a temporary name and renamed, so a shard that exists is complete.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from massivetext._atomic import discard, publish, tmp_path
from massivetext.errors import BadInputError

MAGIC = b"MTTOKENS"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIQQ")  # magic, version, itemsize, n_tokens, n_docs (32 bytes; the rest reserved)
_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65536), else uint32."""
    return _DTYPES[2] if vocab_size <= 1 << 16 else _DTYPES[4]


def pack_header(itemsize: int, n_tokens: int, n_docs: int) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, itemsize, n_tokens, n_docs).ljust(HEADER_SIZE, b"\0")


def read_header(path: str | os.PathLike) -> tuple[np.dtype, int, int]:
    """(dtype, token count, document count) of a shard; checks the magic and that the file holds every token."""
    with open(path, "rb") as f:
        raw = f.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE or raw[:8] != MAGIC:
        raise BadInputError("not a MassiveText token shard (bad magic)", str(path))
    _, version, itemsize, n_tokens, n_docs = _HEADER.unpack_from(raw)
    if version != VERSION or itemsize not in _DTYPES:
        raise BadInputError(f"unsupported shard version {version} / token size {itemsize}", str(path))
    expected = HEADER_SIZE + n_tokens * itemsize
    if os.path.getsize(path) != expected:
        raise BadInputError(f"truncated shard: {os.path.getsize(path)} bytes, header says {expected}", str(path))
    return _DTYPES[itemsize], n_tokens, n_docs


def open_shard(path: str | os.PathLike) -> np.ndarray:
    """The tokens of a shard as a read-only memory map (no copy)."""
    dtype, n_tokens, _ = read_header(path)
    if n_tokens == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER_SIZE, shape=(n_tokens,))


class TokenShardWriter:
    """Streams token arrays into one shard file: ``write(ids, n_docs)`` as you go, ``close()`` publishes it."""

    def __init__(self, path: str | os.PathLike, dtype: np.dtype):
        self.path = Path(path)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.n_tokens = 0
        self.n_docs = 0
        self._tmp = Path(tmp_path(self.path))
        self._file: BinaryIO | None = open(self._tmp, "wb")
        self._file.write(pack_header(self.dtype.itemsize, 0, 0))

    def write(self, ids: np.ndarray, n_docs: int = 0) -> None:
        """Append token ids (already including the EOS after each document) and count ``n_docs`` documents."""
        assert self._file is not None, "writer is closed"
        if ids.dtype != self.dtype:
            ids = ids.astype(self.dtype)
        self._file.write(memoryview(np.ascontiguousarray(ids)).cast("B"))
        self.n_tokens += len(ids)
        self.n_docs += n_docs

    def close(self) -> None:
        """Write the true header, flush to disk and rename into place (atomic)."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.write(pack_header(self.dtype.itemsize, self.n_tokens, self.n_docs))
        self._file.close()
        self._file = None
        publish(self._tmp, self.path, fsync=True)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        discard(self._tmp)

    def __enter__(self) -> TokenShardWriter:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
