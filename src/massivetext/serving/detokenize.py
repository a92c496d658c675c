"""Turning one sequence's growing token ids into text deltas, with OpenAI's stop-string rules.

Byte-level BPE merges across token boundaries (one character can span several tokens), so text is decoded from
ids, and a delta leaves only when it is final: never half of a UTF-8 character, never the start of what may become
a stop string. A stop string ends the sequence and is not part of its text (OpenAI).

Decoding all generated ids at every step costs O(length) per token. For tokenizers whose decoding is
concatenative (the byte-level decoder of GPT-2-style BPE, no space clean-up: the text of ``a + b`` is the text of
``a`` plus the text of ``b`` whenever ``a`` ends on a whole character), only the ids after the last whole-character
boundary are decoded; the result is the same string as the full decode. Other tokenizers decode everything.
"""

from __future__ import annotations

from typing import Any


def concatenative_decoder(tokenizer: Any) -> Any:
    """The Rust tokenizer whose ``decode`` may be split at a whole-character boundary, or None (decode all ids).

    Only MassiveText's own ``FastTokenizer`` qualifies (its ``decode`` is the backend's decode plus an optional
    space clean-up), with clean-up off and the byte-level decoder."""
    from tokenizers import decoders

    from massivetext.tokenization.tokenizer import FastTokenizer

    if not isinstance(tokenizer, FastTokenizer) or type(tokenizer).decode is not FastTokenizer.decode:
        return None
    backend = tokenizer._tokenizer
    if tokenizer.clean_up_tokenization_spaces or not isinstance(backend.decoder, decoders.ByteLevel):
        return None
    return backend


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, stops: list[str], skip_special_tokens: bool = True, backend: Any = None):
        """``backend``: what ``concatenative_decoder(tokenizer)`` returned (None: decode all ids each step)."""
        self.tok, self.stops = tokenizer, [s for s in stops if s]
        self.skip = skip_special_tokens
        self.backend = backend
        self.ids: list[int] = []
        self.text = ""  # the text sent so far
        self.base = ""  # with ``backend``: the text of ids[: self.start], which ends on a whole character
        self.start = 0
        self.waiting = 0  # tokens held back for an incomplete character
        self.longest_stop = max((len(s) for s in self.stops), default=0)

    def _held_back(self, text: str) -> int:
        """How many trailing characters could still become a stop string."""
        for n in range(min(self.longest_stop - 1, len(text)), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.stops):
                return n
        return 0

    def _full(self) -> str:
        """The text of all ids (exactly what ``tokenizer.decode(ids)`` gives)."""
        if self.backend is None:
            return self.tok.decode(self.ids, skip_special_tokens=self.skip)
        tail = self.backend.decode(self.ids[self.start :], skip_special_tokens=self.skip)
        full = self.base + tail
        if not tail.endswith("\ufffd"):  # a whole-character boundary: later decodes start here
            self.base, self.start = full, len(self.ids)
        return full

    def add(self, token: int) -> tuple[str, bool]:
        """Take one new token; return (text delta ready to send, whether a stop string was hit)."""
        self.ids.append(token)
        full = self._full()
        if self.stops:
            # a stop string may straddle what was already sent and the new text
            begin = max(0, len(self.text) - self.longest_stop)
            hits = [i for i in (full.find(s, begin) for s in self.stops) if i >= 0]
            if hits:
                cut = full[: min(hits)]
                delta, self.text = cut[len(self.text) :], cut
                return delta, True
        if full.endswith("\ufffd") and self.waiting < 3:
            # an incomplete UTF-8 sequence: wait for its next bytes (at most 3 more: no character is longer)
            self.waiting += 1
            return "", False
        self.waiting = 0
        ready = len(full) - self._held_back(full) if self.stops else len(full)
        if ready <= len(self.text):
            return "", False
        delta = full[len(self.text) : ready]
        self.text = full[:ready]
        return delta, False

    def flush(self) -> str:
        """The held-back tail when the sequence ends for another reason (EOS, length)."""
        full = self._full()
        delta = full[len(self.text) :] if full.startswith(self.text) else ""
        self.text = full if delta else self.text
        return delta
