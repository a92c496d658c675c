"""PII redaction: replace personal data and secrets with typed placeholders and count each kind.

Kinds, placeholders and what counts as a hit (checked in this order, so a secret is never half-redacted as an
e-mail, nor an e-mail's domain as an IP address):

- ``SECRET`` ``<SECRET>``: PEM private key blocks, AWS access key ids (``AKIA...``), AWS secret keys after an
  ``aws_secret_access_key`` label, GitHub tokens (``ghp_``, ``github_pat_`` ...), Slack tokens (``xox?-``),
  Google API keys (``AIza...``), Stripe live keys.
- ``EMAIL`` ``<EMAIL>``: ``local@domain.tld``.
- ``IP_ADDRESS`` ``<IP_ADDRESS>``: IPv4 and IPv6 addresses that ``ipaddress`` accepts and calls global, so private,
  loopback, link-local, documentation and reserved ranges stay; IPv4 preceded by a version word ("version 1.2.3.4",
  "v1.2.3.4") or inside a longer dotted number (1.2.3.4.5, an OID) is not an address.
- ``CREDIT_CARD`` ``<CREDIT_CARD>``: 13 to 19 digits, in one run or in groups of four (Amex: 4-6-5) separated by
  single spaces or dashes, not part of a longer number or a decimal, that pass the Luhn check and start like a card of a major network (Visa 4, Mastercard 51-55/2221-2720, Amex 34/37, Discover
  6011/65, JCB 35, Diners 36/38), which excludes ISBN-13s (978/979) even when they happen to pass Luhn.
- ``PHONE`` ``<PHONE>``: ``+`` and a country code then 7 to 13 more digits in groups, or a North American number
  ``(555) 123-4567`` / ``555-123-4567`` / ``555.123.4567`` (one separator kind). Dates (2024-05-12), version
  numbers, ISBNs and plain long numbers do not have these shapes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from massivetext.curate.step import Step

PLACEHOLDERS = {
    "SECRET": "<SECRET>",
    "EMAIL": "<EMAIL>",
    "IP_ADDRESS": "<IP_ADDRESS>",
    "CREDIT_CARD": "<CREDIT_CARD>",
    "PHONE": "<PHONE>",
}

# each secret pattern with literals of which one must be in the text before the (slower) regex runs
_SECRETS = [
    (
        ("PRIVATE KEY",),
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    (
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    ),
    (
        ("ecret", "ECRET"),
        re.compile(r"(?P<keep>(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}"),
    ),
    (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    (("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    (("k_live_",), re.compile(r"\b[sr]k_live_[0-9A-Za-z]{24,}")),
]
# Patterns start with a character class (never a look-behind) so the regex engine can skip ahead quickly; the
# boundary conditions a look-behind would express are checked on the few candidates instead (_free_before/_after).
_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{6,}")  # a run of address characters; checked by ipaddress
_VERSION_BEFORE = re.compile(r"(?:\b(?:version|ver|release|build|v)\.?\s*|\bv)$", re.IGNORECASE)
# 13-19 digits in one run, or in groups of 4 (4-4-4-1..7) or Amex's 4-6-5, with one kind of separator
_CARD = re.compile(r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5}")
_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|6011|65|35|3[68]")
_PHONE_INTL = re.compile(r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{2,4}){2,5}")
# every card and North American phone pattern holds four digits in a row: a text without them skips both scans
# (about 5% of prose has them; the scan for them is a sixth of the cost of those two patterns)
_FOUR_DIGITS = re.compile(r"\d\d\d\d")
_PHONE_NANP = re.compile(r"\(\d{3}\) ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}")


# Gates: a substring every match must contain, looked for in a "shape" of the text's UTF-8 made by one
# bytes.translate (a C pass and a few substring searches instead of a regex scan per pattern). Digit shape: ASCII
# digits become "0", the separators the patterns use stay, every other byte is "x"; hex shape: hex digits and "."
# become "h", ":" stays, every other byte is " ". Used where \d can only match ASCII digits (see ``redact``). A global IPv6 address with three colons has "::" or a colon
# between two hex digits. Placeholders (<EMAIL> ...) hold none of these characters and are bracketed by < and >,
# so a shape stays true for the text after a substitution (it is made again anyway when one happened).
_DIGIT_SHAPE = bytes(
    48 if 48 <= c <= 57 else c if chr(c) in " -.()+" else ord("x") for c in range(256)
)  # fmt: skip
_HEX_SHAPE = bytes(ord("h") if chr(c) in "0123456789abcdefABCDEF." else c if c == ord(":") else 32 for c in range(256))
_SHAPES = {"digits": _DIGIT_SHAPE, "hex": _HEX_SHAPE}
_SECRET_LITERALS = re.compile("|".join(re.escape(lit) for lits, _ in _SECRETS for lit in lits))
_ASCII_GATES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "ipv4": ("digits", (b"0.0",)),
    "ipv6": ("hex", (b"h:h", b"::")),
    "card": ("digits", (b"0" * 13, b"0000 0000 0000 0", b"0000-0000-0000-0", b"0000 000000 0000", b"0000-000000-0000")),
    "phone_intl": ("digits", (b"+0",)),
    "phone_nanp": ("digits", (b"(000)000-0000", b"(000) 000-0000", b"000-000-0000", b"000.000.0000")),
}


def _free_before(m: re.Match, chars: str, word: bool = True) -> bool:
    """The character before the match is not a word character (``word``) nor one of ``chars``."""
    i = m.start()
    if i == 0:
        return True
    c = m.string[i - 1]
    return not ((word and (c.isalnum() or c == "_")) or c in chars)


def _free_after(m: re.Match, chars: str, word: bool = True, no_dot_digit: bool = False) -> bool:
    j = m.end()
    s = m.string
    if j >= len(s):
        return True
    c = s[j]
    if (word and (c.isalnum() or c == "_")) or c in chars:
        return False
    return not (no_dot_digit and c == "." and j + 1 < len(s) and s[j + 1].isdigit())


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_public_ip(s: str) -> bool:
    try:
        return ipaddress.ip_address(s).is_global
    except ValueError:
        return False


@dataclass(kw_only=True)
class PIIRedactor(Step):
    """Replace PII with typed placeholders; ``redact(text) -> (new_text, counts by kind)``.

    ``kinds``: which of SECRET, EMAIL, IP_ADDRESS, CREDIT_CARD, PHONE to redact (default: all).
    """

    name: str = "pii"
    kinds: list[str] | tuple[str, ...] = ("SECRET", "EMAIL", "IP_ADDRESS", "CREDIT_CARD", "PHONE")
    placeholders: dict[str, str] = field(default_factory=lambda: dict(PLACEHOLDERS))

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(PLACEHOLDERS)
        if unknown:
            raise TypeError(f"unknown PII kinds {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")

    def _subs(
        self,
    ) -> list[tuple[str, Any, Any, re.Pattern, Callable[[re.Match], str | None]]]:
        """(kind, literals one of which must occur or a pattern that must match, the gate for ASCII texts or None,
        pattern, match -> replacement or None), in redaction order."""

        def secret(m: re.Match) -> str:
            keep = m.groupdict().get("keep")  # a label kept before the secret
            return (keep or "") + self.placeholders["SECRET"]

        def email(m: re.Match) -> str | None:
            return self.placeholders["EMAIL"] if _free_before(m, ".%+-") else None

        def ipv4(m: re.Match) -> str | None:
            before = m.string[max(0, m.start() - 12) : m.start()]
            if not (_free_before(m, ".") and _free_after(m, "", no_dot_digit=True)) or _VERSION_BEFORE.search(before):
                return None
            return self.placeholders["IP_ADDRESS"] if _is_public_ip(m.group()) else None

        def ipv6(m: re.Match) -> str | None:
            s = m.group()
            if s.count(":") < 3 or not _free_before(m, "") or not _free_after(m, ""):
                return None
            core = s.rstrip(".")  # a sentence's full stop
            return self.placeholders["IP_ADDRESS"] + s[len(core) :] if _is_public_ip(core) else None

        def card(m: re.Match) -> str | None:
            if not (_free_before(m, "-.,") and _free_after(m, "-", no_dot_digit=True)):
                return None
            digits = m.group().replace(" ", "").replace("-", "")
            ok = 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) is not None and luhn_ok(digits)
            return self.placeholders["CREDIT_CARD"] if ok else None

        def phone_intl(m: re.Match) -> str | None:
            if not (_free_before(m, "+") and _free_after(m, "-", no_dot_digit=True)):
                return None
            return self.placeholders["PHONE"] if 10 <= sum(c.isdigit() for c in m.group()) <= 15 else None

        def phone_nanp(m: re.Match) -> str | None:
            ok = _free_before(m, "(.-") and _free_after(m, "-", no_dot_digit=True)
            return self.placeholders["PHONE"] if ok else None

        g = _ASCII_GATES
        table = {
            "SECRET": [(lits, None, pat, secret) for lits, pat in _SECRETS],
            "EMAIL": [(("@",), None, _EMAIL, email)],
            "IP_ADDRESS": [((".",), g["ipv4"], _IPV4, ipv4), ((":",), g["ipv6"], _IPV6, ipv6)],
            "CREDIT_CARD": [(_FOUR_DIGITS, g["card"], _CARD, card)],
            "PHONE": [
                (("+",), g["phone_intl"], _PHONE_INTL, phone_intl),
                (_FOUR_DIGITS, g["phone_nanp"], _PHONE_NANP, phone_nanp),
            ],
        }
        return [(kind, *entry) for kind in PLACEHOLDERS if kind in self.kinds for entry in table[kind]]

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        subs = self.__dict__.get("_compiled")
        if subs is None:
            subs = self.__dict__["_compiled"] = self._subs()
        counts: dict[str, int] = {}
        gates: dict[re.Pattern, bool] = {}
        # the shape gates are exact where \d means ASCII digits: an ASCII text, or one without other decimal digits
        # (placeholders add none, so this holds after substitutions too)
        shaped = text.isascii() or not any(c.isdecimal() for c in set(text) if not c.isascii())
        shapes: dict[str, bytes] = {}
        secrets: bool | None = None
        for kind, literals, ascii_gate, pat, replace in subs:
            if kind == "SECRET":  # one search for all their literals first: most texts hold none
                if secrets is None:
                    secrets = _SECRET_LITERALS.search(text) is not None
                if not secrets:
                    continue
            if shaped and ascii_gate is not None:
                name, needles = ascii_gate
                shape = shapes.get(name)
                if shape is None:
                    shape = shapes[name] = text.encode("utf-8", "surrogatepass").translate(_SHAPES[name])
                if not any(needle in shape for needle in needles):
                    continue
            elif isinstance(literals, re.Pattern):  # a pattern the text must match (searched once per text)
                found = gates.get(literals)
                if found is None:
                    found = gates[literals] = literals.search(text) is not None
                if not found:
                    continue
            elif literals is not None and not any(lit in text for lit in literals):
                continue
            n = 0

            def repl(m: re.Match, replace=replace) -> str:
                nonlocal n
                new = replace(m)
                if new is None:
                    return m.group()
                n += 1
                return new

            text = pat.sub(repl, text)
            if n:
                counts[kind] = counts.get(kind, 0) + n
                shapes.clear()
        return text, counts

    def __call__(self, docs, ctx):
        count = ctx.stats.count
        for doc in docs:
            new, counts = self.redact(doc.text)
            if counts:
                doc.text = new
                for kind, n in counts.items():
                    count(self.name, kind, n)
                count(self.name, "docs_with_pii")
            yield doc

    def config(self) -> dict:
        return {"name": self.name, "kinds": list(self.kinds), "placeholders": self.placeholders}
