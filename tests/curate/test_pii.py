"""PII redaction: each kind found and replaced by its placeholder; no hits on look-alikes."""

from __future__ import annotations

import pytest

from massivetext.curate.pii import PIIRedactor, luhn_ok
from massivetext.curate.pipeline import apply

R = PIIRedactor()

HITS = [
    ("write to jane.doe+news@mail.example.org today", "EMAIL", "write to <EMAIL> today"),
    ("server at 8.8.8.8.", "IP_ADDRESS", "server at <IP_ADDRESS>."),
    ("resolver 2606:4700:4700::1111 answers", "IP_ADDRESS", "resolver <IP_ADDRESS> answers"),
    ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "card <CREDIT_CARD> expires"),
    ("amex 3782-822463-10005 ok", "CREDIT_CARD", "amex <CREDIT_CARD> ok"),
    ("visa 4012888888881881", "CREDIT_CARD", "visa <CREDIT_CARD>"),
    ("call (415) 555-2671 now", "PHONE", "call <PHONE> now"),
    ("call 415-555-2671 now", "PHONE", "call <PHONE> now"),
    ("office +44 20 7946 0958 London", "PHONE", "office <PHONE> London"),
    ("id AKIAIOSFODNN7EXAMPLE in config", "SECRET", "id <SECRET> in config"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SECRET", "aws_secret_access_key = <SECRET>"),
    ("token ghp_" + "A1b2" * 9 + " leaked", "SECRET", "token <SECRET> leaked"),
    ("slack xoxb-123456789012-abcdefABCDEF", "SECRET", "slack <SECRET>"),
    ("k=-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----!", "SECRET", "k=<SECRET>!"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "SECRET", "<SECRET>"),
]

NON_HITS = [
    "Python 3.11.7 and numpy 1.26.4 were used; see version 2.0.1.5 and v1.2.3.4",  # versions
    "released on 2024-05-12, 12/05/2024 and 12.05.2021 at 10:30:45",  # dates and times
    "ISBN 978-3-16-148410-0, ISBN-13 9783161484100, ISBN 0-306-40615-2",  # ISBNs
    "private 10.0.0.1, 192.168.1.20, 172.16.5.4, loopback 127.0.0.1, link-local 169.254.10.1, docs 192.0.2.7",
    "IPv6 loopback ::1, link-local fe80::1ff:fe23:4567:890a, documentation 2001:db8::8a2e:370:7334, ULA fd00::1",
    "an OID 1.3.6.1.4.1.311.21 and a section number 1.2.3.4.5",
    "std::vector<int>::iterator and a::b::c and 12:30:45",
    "mapped private ::ffff:192.168.1.1 and documentation ::FFFF:192.0.2.1.",
    "4111 1111 1111 1112 fails Luhn; 1234567890123 is a plain number; order 100 200 3000",
    "the value 3.14159 and 2.718281828 and 0.0.0.0 and 676.5203681218851 and 12.4111111111111111",
    "calendar 20 21 22 23 24 25 26\n27 28 29 30 31 1 2 and 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
    "email-like but not: user@localhost, @handle, a@b",
]


@pytest.mark.parametrize("text,kind,expected", HITS)
def test_hits(text, kind, expected):
    new, counts = R.redact(text)
    assert new == expected
    assert counts == {kind: 1}


@pytest.mark.parametrize("text", NON_HITS)
def test_non_hits(text):
    assert R.redact(text) == (text, {})


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005") and not luhn_ok("4111111111111112")


def test_counts_several_kinds_and_kind_selection():
    text = "a@b.com, c@d.org, 8.8.4.4 and (212) 555-0100"
    new, counts = R.redact(text)
    assert counts == {"EMAIL": 2, "IP_ADDRESS": 1, "PHONE": 1}
    assert new == "<EMAIL>, <EMAIL>, <IP_ADDRESS> and <PHONE>"
    only_email = PIIRedactor(kinds=["EMAIL"])
    assert only_email.redact(text)[1] == {"EMAIL": 2}
    with pytest.raises(TypeError):
        PIIRedactor(kinds=["SSN"])


def test_step_counts_in_stats():
    kept, stats = apply([PIIRedactor()], ["mail x@example.com", "nothing here", "ip 1.1.1.1 and y@example.com"])
    assert kept == ["mail <EMAIL>", "nothing here", "ip <IP_ADDRESS> and <EMAIL>"]
    s = stats.steps["pii"]
    assert s.counts == {"EMAIL": 2, "IP_ADDRESS": 1, "docs_with_pii": 2}
    assert s.docs_in == s.docs_out == 3


def test_gates_never_skip_a_redaction():
    """Each pattern runs only where a cheap gate says it can match (a literal, or a substring of the text's digit /
    hex "shape"): the same output as running every pattern on every text, on random mixtures of PII, near misses,
    separators, non-ASCII letters and non-ASCII digits."""
    import random

    red = PIIRedactor()

    def ungated(text: str) -> tuple[str, dict[str, int]]:
        counts: dict[str, int] = {}
        for kind, _literals, _gate, pat, replace in red._subs():
            n = 0

            def repl(m, replace=replace):
                nonlocal n
                new = replace(m)
                n += new is not None
                return m.group() if new is None else new

            text = pat.sub(repl, text)
            if n:
                counts[kind] = counts.get(kind, 0) + n
        return text, counts

    pieces = ["john@example.com", "8.8.8.8", "10.0.0.1", "2001:4860:4860::8888", "fe80::1", "::1", "2001:db8::1",
              "1:2:3:4:5:6:7:8", "::ffff:8.8.4.4", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005",
              "3782 822463 10005", "+1 415 555 2671", "+44 (20) 7946 0958", "(415) 555-2671", "415-555-2671",
              "415.555.2671", "v1.2.3.4", "1.2.3.4.5", "2024-05-12", "978-3-16-148410-0", "AKIAIOSFODNN7EXAMPLE",
              "ghp_" + "a1" * 18, "AIza" + "b" * 35, " ", "\n", "x", "-", ".", ":", "12", "(", ")", "+", "é", "١٢٣٤",
              "４１１１"]  # fmt: skip
    rng = random.Random(11)
    kinds = set()
    for _ in range(3000):
        text = "".join(rng.choices(pieces, k=rng.randint(1, 25)))
        got = red.redact(text)
        assert got == ungated(text), text
        kinds |= set(got[1])
    assert kinds == {"SECRET", "EMAIL", "IP_ADDRESS", "CREDIT_CARD", "PHONE"}
