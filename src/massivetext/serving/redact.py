"""``--redact-pii`` for text that leaves in pieces: the curation PIIRedactor runs over everything generated so far,
and a piece is sent only once no later token can turn it into part of a match."""

from __future__ import annotations

from massivetext.curate.pii import PIIRedactor

# the longest tail a PII match can still grow into (a phone number with its spaces, an e-mail, a key); longer
# matches (PEM blocks) stay whole because nothing after a "-----BEGIN" is sent before the sequence ends
_HOLD = 96


class StreamRedactor:
    def __init__(self, redactor: PIIRedactor):
        self.redactor = redactor
        self.raw = ""
        self.sent = ""

    def _clean(self) -> str:
        return self.redactor.redact(self.raw)[0]

    def push(self, delta: str) -> str:
        if not delta:
            return ""
        self.raw += delta
        clean = self._clean()
        begin = clean.find("-----BEGIN")
        ready = len(clean) - _HOLD if begin < 0 else min(begin, len(clean) - _HOLD)
        if ready <= len(self.sent) or not clean.startswith(self.sent):
            return ""
        out = clean[len(self.sent) : ready]
        self.sent += out
        return out

    def finish(self) -> str:
        clean = self._clean()
        if not clean.startswith(self.sent):  # cannot happen short of a match over _HOLD characters
            return ""
        out = clean[len(self.sent) :]
        self.sent = clean
        return out
