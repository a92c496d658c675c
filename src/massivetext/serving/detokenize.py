"""Turning one sequence's growing token ids into text deltas, with OpenAI's stop-string rules.

Text is decoded from all generated ids each step (byte-level BPE merges across token boundaries, so decoding one
token alone can be wrong), and a delta leaves only when it is final: never half of a UTF-8 character, never the
start of what may become a stop string. A stop string ends the sequence and is not part of its text (OpenAI).
"""

from __future__ import annotations

from typing import Any


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, stops: list[str], skip_special_tokens: bool = True):
        self.tok, self.stops = tokenizer, [s for s in stops if s]
        self.skip = skip_special_tokens
        self.ids: list[int] = []
        self.text = ""  # the text sent so far
        self.waiting = 0  # tokens held back for an incomplete character
        self.longest_stop = max((len(s) for s in self.stops), default=0)

    def _held_back(self, text: str) -> int:
        """How many trailing characters could still become a stop string."""
        for n in range(min(self.longest_stop - 1, len(text)), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.stops):
                return n
        return 0

    def add(self, token: int) -> tuple[str, bool]:
        """Take one new token; return (text delta ready to send, whether a stop string was hit)."""
        self.ids.append(token)
        full = self.tok.decode(self.ids, skip_special_tokens=self.skip)
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
        ready = len(full) - self._held_back(full)
        if ready <= len(self.text):
            return "", False
        delta = full[len(self.text) : ready]
        self.text = full[:ready]
        return delta, False

    def flush(self) -> str:
        """The held-back tail when the sequence ends for another reason (EOS, length)."""
        full = self.tok.decode(self.ids, skip_special_tokens=self.skip)
        delta = full[len(self.text) :] if full.startswith(self.text) else ""
        self.text = full if delta else self.text
        return delta
