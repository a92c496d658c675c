"""fastText classifier inference in numpy, many documents at once, with fastText's own arithmetic.

fastText's ``predict`` costs about 0.4 ms per document, almost all of it in C++ per word: it re-tokenizes, re-hashes
every character n-gram of every word, looks the hash up in the pruned bucket table and decodes the
product-quantized row, for every occurrence of every word. Here each distinct word is turned into its row ids once
(and remembered: one dict lookup per word occurrence), and a batch of documents becomes one gather of rows and a
few sums, one per group of documents of similar length. A text is read as one line: line breaks inside it are
word separators, as in the single line ``LanguageFilter`` makes of a document.

The numbers are fastText's, bit for bit: rows are decoded as ``norm * centroid`` in float32 as its ``addcode`` does,
each document's rows are summed in float32 in the same order (``np.add.reduce`` along a row axis that is not the
contiguous one adds row after row; zero rows padding the end change nothing), the mean, the dot products and the hierarchical-softmax path sums follow its float32/float64 steps
(``model.cc``, ``loss.cc``: ``1. / (1 + exp(-f))``, ``log(x + 1e-5)``). Only ``exp`` and ``log`` come from numpy
instead of the C library: both are within an ulp of the exact value, so a probability could differ in its last
bit; a document whose result lies that close to a decision (the threshold, the rounding of the stored score, a tie
between two labels) is handed back so the caller can ask fastText itself (``AMBIGUOUS``).

Supported: supervised models with the hierarchical softmax loss (lid.176), quantized or not, word n-grams of 1,
best label only (``k=1``). ``load`` returns ``None`` for anything else, and callers keep fastText's ``predict``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

_MAGIC, _VERSION = 793712314, 12
_LOSS_HS, _MODEL_SUP = 1, 3
EOS = "</s>"
_WORD = re.compile("[^ \t\n\r\v\f\x00]+")  # what fastText's readWord reads as a word
# ASCII characters where str.split() and fastText's readWord disagree: NUL separates for fastText only, \x1c-\x1f
# for Python only
_ODD_ASCII = re.compile("[\x00\x1c-\x1f]")
AMBIGUOUS = None  # a prediction the caller must get from fastText itself
_GATHER_ROWS = 1 << 16  # model rows gathered at once for the sums (4 MB of float32 at lid.176's 16 dimensions)
_MAX_CACHED_WORDS = 300_000  # bound on the word -> row ids memo (~40 MB: memory stays flat on any corpus)


class _Reader:
    def __init__(self, data: bytes):
        self.b, self.o = data, 0

    def unpack(self, fmt: str) -> tuple:
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += struct.calcsize(fmt)
        return v

    def array(self, dtype: str, n: int) -> np.ndarray:
        a = np.frombuffer(self.b, dtype=dtype, count=n, offset=self.o)
        self.o += a.nbytes
        return a

    def cstring(self) -> bytes:
        end = self.b.index(b"\0", self.o)
        s = self.b[self.o : end]
        self.o = end + 1
        return s


def _read_pq(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.unpack("<4i")
    return dim, nsubq, dsub, lastdsub, r.array("<f4", dim * 256)


def _decode_pq(pq: tuple, codes: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Rows of a product-quantized matrix as fastText's ``addcode`` adds them: ``alpha * centroid`` in float32."""
    dim, nsubq, dsub, lastdsub, centroids = pq
    out = np.empty((codes.shape[0], dim), np.float32)
    for m in range(nsubq):
        d = lastdsub if m == nsubq - 1 else dsub
        base = m * 256 * dsub  # get_centroids(m, i): the last block's rows are lastdsub wide
        idx = base + codes[:, m].astype(np.int64) * d
        for n in range(d):
            out[:, m * dsub + n] = alpha * centroids[idx + n]
    return out


def _read_matrix(r: _Reader) -> np.ndarray:
    quant = r.unpack("<?")[0]
    if not quant:
        m, n = r.unpack("<2q")
        return r.array("<f4", m * n).reshape(m, n).copy()
    qnorm = r.unpack("<?")[0]
    m, n = r.unpack("<2q")
    codesize = r.unpack("<i")[0]
    codes = r.array("u1", codesize)
    pq = _read_pq(r)
    codes = codes.reshape(m, pq[1])
    if qnorm:
        norm_codes = r.array("u1", m)
        npq = _read_pq(r)
        alpha = npq[4][norm_codes.astype(np.int64)]  # get_centroids(0, code)[0] of a 1-d quantizer
    else:
        alpha = np.ones(m, np.float32)
    return _decode_pq(pq, codes, alpha.astype(np.float32))


def _huffman(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """fastText's ``HierarchicalSoftmaxLoss::buildTree`` (counts sorted as in the dictionary): left, right."""
    osz = len(counts)
    cnt = [int(c) for c in counts] + [10**15] * (osz - 1)
    left, right = [-1] * (2 * osz - 1), [-1] * (2 * osz - 1)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and cnt[leaf] < cnt[node]:
                mini[j], leaf = leaf, leaf - 1
            else:
                mini[j], node = node, node + 1
        left[i], right[i] = mini
        cnt[i] = cnt[mini[0]] + cnt[mini[1]]
    return np.array(left), np.array(right)


def _fnv_sign_extended(data: np.ndarray) -> np.ndarray:
    """Per byte, what fastText's hash xors in: ``uint32(int8(byte))`` (bytes >= 0x80 sign-extend)."""
    return data.astype(np.int8).astype(np.int32).view(np.uint32)


@dataclass
class FastTextModel:
    """A loaded supervised fastText model, for batched best-label prediction (``predict``)."""

    words: dict[str, int]
    labels: list[str]
    minn: int
    maxn: int
    bucket: int
    prune: np.ndarray  # bucket -> row offset after the words, -1 where the bucket was pruned away
    input: np.ndarray  # (rows, dim) float32, decoded
    output: np.ndarray  # (labels, dim) float32
    left: np.ndarray
    right: np.ndarray
    _index: dict[str, int] = field(default_factory=dict, repr=False)  # word -> its number in the memo
    _flat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32), repr=False)
    _padded: np.ndarray | None = field(default=None, repr=False)
    _scratch: np.ndarray | None = field(default=None, repr=False)
    _ptr_arr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64), repr=False)

    # ---- row ids of words --------------------------------------------------------------------------------------

    def _subword_rows(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The tokens' input rows, one token after the other, and how many each has. A token's rows in fastText's
        order: its word row (if in the vocabulary) then the rows of its character n-grams of ``<token>``
        (``minn``..``maxn`` characters, by start then length) whose bucket survived pruning; ``</s>`` has its word
        row only. All n-grams of all tokens are hashed together (FNV-1a, vectorized over positions)."""
        nwords = len(self.words)
        # "<token>" of every token in one buffer: encoded with "\n" between them (never inside a token: it separates
        # words), which gives the token lengths, then removed
        joined = ("<" + ">\n<".join(tokens) + ">").encode("utf-8", "surrogatepass")
        seps = np.flatnonzero(np.frombuffer(joined, np.uint8) == 10)
        ends_with_sep = np.append(seps, len(joined))
        lens = np.diff(ends_with_sep, prepend=-1) - 1  # bytes of each "<token>"
        data = np.frombuffer(joined.replace(b"\n", b""), np.uint8)
        ends = np.cumsum(lens)
        tok_of_byte = np.repeat(np.arange(len(tokens)), lens)
        is_start = (data & 0xC0) != 0x80  # first byte of a UTF-8 character
        starts = np.flatnonzero(is_start)  # one n-gram family per character: fastText's `i`
        char_rank = np.cumsum(is_start) - 1  # character number of each byte in the whole buffer
        next_char = np.append(starts, len(data))  # byte where character k begins; one past the end at the last
        limit = ends[tok_of_byte[starts]]  # n-grams stay inside their token
        xs = _fnv_sign_extended(data)
        h = np.full(len(starts), 2166136261, np.uint32)  # FNV-1a offset basis
        cur = starts.copy()  # next byte to hash, per n-gram start
        alive = np.ones(len(starts), bool)
        out_start, out_n, out_h = [], [], []
        for n in range(1, self.maxn + 1):
            alive &= cur < limit  # the token has an n-th character after this start
            stop = next_char[np.minimum(char_rank[starts] + n, len(starts))]
            while True:  # the bytes of that character (1 to 4)
                i = np.flatnonzero(alive & (cur < stop))
                if len(i) == 0:
                    break
                h[i] = (h[i] ^ xs[cur[i]]) * np.uint32(16777619)
                cur[i] += 1
            if n >= self.minn:
                i = np.flatnonzero(alive)
                out_start.append(starts[i])
                out_n.append(np.full(len(i), n))
                out_h.append(h[i].copy())
        start = np.concatenate(out_start)
        ngram_n = np.concatenate(out_n)
        hashes = np.concatenate(out_h)
        rows = self.prune[(hashes % np.uint32(self.bucket)).astype(np.int64)]
        ok = rows >= 0
        start, ngram_n, rows = start[ok], ngram_n[ok], rows[ok] + nwords
        order = np.lexsort((ngram_n, start))  # by start (so by token), then length: fastText's order
        tok, rows = tok_of_byte[start[order]], rows[order].astype(np.int32)
        n_tok = len(tokens)
        get = self.words.get
        wid = np.fromiter(map(get, tokens, repeat(-1)), np.int64, n_tok)
        if EOS in self.words:
            eos = [k for k, t in enumerate(tokens) if t == EOS]  # no subwords: fastText adds none to </s>
            if eos:
                keep = tok != eos[0]
                tok, rows = tok[keep], rows[keep]
        has_word = (wid >= 0).astype(np.int64)
        counts = np.bincount(tok, minlength=n_tok).astype(np.int64) + has_word
        ptr = np.cumsum(counts) - counts  # where each token's rows begin
        flat = np.empty(int(counts.sum()), np.int32)
        flat[ptr[has_word > 0]] = wid[has_word > 0]
        sub_start = np.searchsorted(tok, np.arange(n_tok))  # first n-gram row of each token (tok is sorted)
        flat[np.arange(len(tok)) + (ptr + has_word - sub_start)[tok]] = rows
        return flat, counts

    def _ids_of(self, tokens: list[str]) -> np.ndarray:
        """Each token's number in the memo (``_ptr_arr[k]:_ptr_arr[k + 1]`` are its rows in ``_flat``): one dict
        lookup per token; the rows of the words not seen before are computed afterwards, all at once."""
        index = self._index
        idx = np.fromiter(map(index.get, tokens, repeat(-1)), np.int64, len(tokens))
        miss = np.flatnonzero(idx < 0)
        if len(miss) == 0:
            return idx
        missed = [tokens[i] for i in miss.tolist()]
        new = set(missed)
        if len(index) + len(new) > _MAX_CACHED_WORDS:  # start afresh, with this batch's words only
            self._forget()
            index, new = self._index, set(tokens)
            miss, missed = np.arange(len(tokens)), tokens
        words = list(new)  # any order: a word's rows do not depend on where the memo keeps them
        index.update(zip(words, range(len(index), len(index) + len(words))))
        flat, counts = self._subword_rows(words)
        self._flat = np.concatenate([self._flat, flat])
        self._ptr_arr = np.concatenate([self._ptr_arr, self._ptr_arr[-1] + np.cumsum(counts)])
        idx[miss] = np.fromiter(map(index.__getitem__, missed), np.int64, len(missed))
        return idx

    def _input_padded(self) -> np.ndarray:
        """The input matrix with one more row, of zeros (made once)."""
        if self._padded is None:
            self._padded = np.vstack([self.input, np.zeros((1, self.input.shape[1]), np.float32)])
        return self._padded

    def _buffer(self, n: int) -> np.ndarray:
        """A float32 scratch array of at least ``n`` values, reused (fresh large arrays cost page faults)."""
        if self._scratch is None or len(self._scratch) < n:
            self._scratch = np.empty(max(n, _GATHER_ROWS * self.input.shape[1]), np.float32)
        return self._scratch[:n]

    def _forget(self) -> None:
        self._index = {}
        self._flat, self._ptr_arr = np.zeros(0, np.int32), np.zeros(1, np.int64)

    # ---- prediction --------------------------------------------------------------------------------------------

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """fastText's hidden vector of each text read as one line (``text + "\\n"``), and whether it has one (a
        text with no known word or n-gram gets no prediction)."""
        flat: list[str] = []
        n_tok = np.empty(len(texts), np.int64)
        for k, t in enumerate(texts):
            if t.isascii() and _ODD_ASCII.search(t) is None:
                toks = t.split()  # on ASCII without NUL or \x1c-\x1f, str.split() splits where readWord does
            else:
                toks = _WORD.findall(t)  # fastText's readWord, bar its EOS
            if EOS in t:  # fastText stops reading a line at a literal </s>
                toks = toks[: toks.index(EOS)] if EOS in toks else toks
            if "__label__" in t:  # label tokens are not words: predict skips them
                toks = [w for w in toks if not w.startswith("__label__")]
            toks.append(EOS)
            flat += toks
            n_tok[k] = len(toks)
        idx = self._ids_of(flat)
        ptr = self._ptr_arr
        lens = ptr[idx + 1] - ptr[idx]
        total = int(lens.sum())
        offs = np.repeat(ptr[idx] - (np.cumsum(lens) - lens), lens) + np.arange(total)
        row_ids = np.append(self._flat[offs], len(self.input))  # + the id of the zero row that pads (below)
        tok_end = np.cumsum(n_tok)
        per_doc = np.add.reduceat(lens, np.concatenate(([0], tok_end[:-1]))) if len(idx) else np.zeros(0, np.int64)
        has = per_doc > 0
        dim = self.input.shape[1]
        hid = np.zeros((len(texts), dim), np.float32)
        if has.any():
            # Row after row, as fastText's addRow: np.add.reduce along a non-contiguous axis adds whole rows in
            # order, while reduceat (and sums along the contiguous axis) use pairwise summation, which rounds
            # differently. Documents of similar row counts are summed in one call, padded with zero rows at the
            # end (x + 0 == x), in bins whose longest is at most 1/4 longer than their shortest.
            docs = np.flatnonzero(has)
            n_rows = per_doc[docs]
            first = (np.cumsum(per_doc) - per_doc)[docs]
            size_bin = np.floor(np.log(n_rows) / np.log(1.25)).astype(np.int64)
            padded = self._input_padded()
            for b in np.unique(size_bin):
                in_bin = np.flatnonzero(size_bin == b)
                width = int(n_rows[in_bin].max())
                step = max(1, _GATHER_ROWS // width)  # documents gathered at once, into one reused buffer
                for k in range(0, len(in_bin), step):
                    sel = in_bin[k : k + step]
                    at = first[sel][:, None] + np.arange(width)
                    at = np.where(np.arange(width) < n_rows[sel][:, None], at, total)
                    rows = self._buffer(len(sel) * width * dim).reshape(len(sel), width, dim)
                    np.take(padded, row_ids[at], axis=0, out=rows)
                    hid[docs[sel]] = np.add.reduce(rows, axis=1)
            scale = (1.0 / per_doc[has]).astype(np.float32)  # Vector::mul(real(1.0 / n))
            hid[has] *= scale[:, None]
        return hid, has

    def predict(self, texts: list[str]) -> list[tuple[str, float] | None]:
        """Best label and its probability for each text, as fastText's ``predict(text + "\\n", k=1)``; ``None``
        for a text fastText gives no label."""
        return [r[:2] if r else None for r in self.predict_with_margin(texts)]

    def predict_with_margin(self, texts: list[str]) -> list[tuple[str, float, float] | None]:
        """Like ``predict``, with the log-score gap to the second-best label (how safe the label is)."""
        hid, has = self.hidden(texts)
        osz = len(self.labels)
        w = self.output[: osz - 1]  # internal node i (osz .. 2*osz-2) uses output row i - osz
        # the same arithmetic as written out in the comments, in place (fewer large temporaries)
        dots = np.zeros((len(texts), osz - 1), np.float32)
        tmp = np.empty_like(dots)
        for j in range(hid.shape[1]):  # DenseMatrix::dotRow: d += w[i][j] * h[j], in float32, j in order
            np.multiply(w[:, j][None, :], hid[:, j][:, None], out=tmp)
            dots += tmp
        x = dots.astype(np.float64)
        np.negative(x, out=x)
        np.exp(x, out=x)
        e = x.astype(np.float32)  # e = float32(exp(-dots)): std::exp(float)
        e += np.float32(1)
        x[...] = e
        np.divide(1.0, x, out=x)
        f = x.astype(np.float32)  # f = float32(1. / (1 + e))
        x[...] = f
        np.subtract(1.0, x, out=x)
        x[...] = x.astype(np.float32)  # std_log takes a real: 1.0 - f rounded to float32
        x += 1e-5
        np.log(x, out=x)
        log_left = x.astype(np.float32)  # log(1 - f + 1e-5)
        x[...] = f
        x += 1e-5
        np.log(x, out=x)
        log_right = x.astype(np.float32)  # log(f + 1e-5)
        score = np.zeros((len(texts), 2 * osz - 1), np.float32)
        for node in range(2 * osz - 2, osz - 1, -1):  # parents have larger numbers than their children
            k = node - osz
            score[:, self.left[node]] = score[:, node] + log_left[:, k]
            score[:, self.right[node]] = score[:, node] + log_right[:, k]
        leaves = score[:, :osz]
        best = np.argmax(leaves, axis=1)
        top2 = np.partition(leaves, osz - 2, axis=1)[:, osz - 2 :]
        gap = top2[:, 1] - top2[:, 0]
        prob = np.exp(leaves[np.arange(len(texts)), best].astype(np.float64)).astype(np.float32)
        out: list[tuple[str, float, float] | None] = []
        for i in range(len(texts)):
            out.append((self.labels[best[i]], float(prob[i]), float(gap[i])) if has[i] else None)
        return out


def load(path: str) -> FastTextModel | None:
    """The model in ``path`` (a fastText ``.bin``/``.ftz``), or ``None`` when it is of a kind this module does not
    compute (not supervised, not hierarchical softmax, word n-grams, a quantized output matrix)."""
    with open(path, "rb") as f:
        r = _Reader(f.read())
    magic, version = r.unpack("<2i")
    if magic != _MAGIC or version != _VERSION:
        return None
    dim, _ws, _epoch, _mincount, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr = r.unpack("<12i")
    r.unpack("<d")
    if loss != _LOSS_HS or model != _MODEL_SUP or word_ngrams != 1 or minn < 2 or maxn < minn:
        return None
    size, nwords, nlabels = r.unpack("<3i")
    _ntokens, prune_size = r.unpack("<2q")
    words: dict[str, int] = {}
    labels: list[str] = []
    counts: list[int] = []
    for i in range(size):
        w = r.cstring().decode("utf-8", "surrogateescape")
        count, kind = r.unpack("<qb")
        if kind == 0:
            words[w] = i
        else:
            labels.append(w.removeprefix("__label__"))
            counts.append(count)
    if len(words) != nwords or len(labels) != nlabels:
        return None
    if prune_size > 0:
        pairs = r.array("<i4", 2 * prune_size).reshape(-1, 2)
        prune = np.full(bucket, -1, np.int32)
        prune[pairs[:, 0]] = pairs[:, 1]
    elif prune_size == 0:
        prune = np.full(bucket, -1, np.int32)  # pruned to no n-gram at all
    else:
        prune = np.arange(bucket, dtype=np.int32)
    inp = _read_matrix(r)
    if r.unpack("<?")[0]:  # a quantized output matrix
        return None
    m, n = r.unpack("<2q")
    out = r.array("<f4", m * n).reshape(m, n).copy()
    if inp.shape[1] != dim or out.shape != (nlabels, dim):
        return None
    left, right = _huffman(counts)
    return FastTextModel(words, labels, minn, maxn, bucket, prune, inp, out, left, right)


__all__ = ["AMBIGUOUS", "FastTextModel", "load"]
