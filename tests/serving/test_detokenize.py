"""Streaming text: deltas add up to the full decode, never split a character, never leak a stop string."""

from __future__ import annotations

import random

from massivetext.serving.detokenize import IncrementalDetokenizer, concatenative_decoder


def stream(tok, ids, stops=()):
    d = IncrementalDetokenizer(tok, list(stops))
    out, hit = [], False
    for t in ids:
        delta, hit = d.add(t)
        out.append(delta)
        if hit:
            break
    if not hit:
        out.append(d.flush())
    return out, hit


def byte_ids(tok, text):
    """One token per byte (byte-level BPE's alphabet), so multi-byte characters arrive in pieces."""
    bytes_to_unicode = {b: c for b, c in zip(range(256), _byte_chars())}
    return [tok.convert_tokens_to_ids(bytes_to_unicode[b]) for b in text.encode("utf-8")]


def _byte_chars():
    # GPT-2's bytes_to_unicode
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    order = sorted(zip(bs, cs))
    return [chr(c) for _, c in order]


def test_multibyte_characters_are_never_split(tiny_model):
    _, tok = tiny_model
    text = "naïve 🙂 Ünïcödé done"
    ids = byte_ids(tok, text)
    assert tok.decode(ids) == text
    deltas, _ = stream(tok, ids)
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


def test_stop_string_is_cut_and_never_sent(tiny_model):
    _, tok = tiny_model
    text = "the quick brown fox jumps over the lazy dog"
    ids = byte_ids(tok, text)
    deltas, hit = stream(tok, ids, stops=["fox j", "zzz"])
    assert hit and "".join(deltas) == "the quick brown "
    # a partial match that does not complete is released
    deltas, hit = stream(tok, byte_ids(tok, "a fox is here"), stops=["fox j"])
    assert not hit and "".join(deltas) == "a fox is here"


def test_an_invalid_byte_is_released_after_three_tokens(tiny_model):
    _, tok = tiny_model
    ids = byte_ids(tok, "ab") + [byte_ids(tok, "é")[0]] * 6  # lead bytes that never complete
    d = IncrementalDetokenizer(tok, [])
    sent = "".join(d.add(t)[0] for t in ids)
    assert sent.startswith("ab") and "\ufffd" in sent  # not held back forever


def test_decoding_from_the_last_character_boundary_equals_decoding_everything(tiny_model):
    """The fast path (decode only the ids after the last whole character) sends exactly what decoding all ids
    each step sends: same deltas, same stop hits, same text, on ids that split characters, repeat lead bytes,
    and mix in special tokens."""
    _, tok = tiny_model
    backend = concatenative_decoder(tok)
    assert backend is not None  # the tiny byte-level BPE qualifies
    rnd = random.Random(0)
    vocab = tok.backend_tokenizer.get_vocab_size()
    pieces = [byte_ids(tok, c) for c in ["é", "🙂", "Ü", "ö", " fox", "x"]]
    lone = [byte_ids(tok, "é")[0], byte_ids(tok, "🙂")[1]]
    for trial in range(60):
        ids: list[int] = []
        while len(ids) < 40:
            r = rnd.random()
            ids += rnd.choice(pieces) if r < 0.4 else [rnd.choice(lone)] if r < 0.5 else [rnd.randrange(vocab)]
        stops = [] if trial % 3 else ["fox", "é "]
        fast = IncrementalDetokenizer(tok, stops, backend=backend)
        slow = IncrementalDetokenizer(tok, stops)
        for t in ids:
            got = fast.add(t)
            assert got == slow.add(t)
            if got[1]:
                break
        else:
            assert fast.flush() == slow.flush()
        assert fast.text == slow.text
        whole = tok.decode(ids, skip_special_tokens=True)
        if not stops and "\ufffd" not in whole:  # (a released broken character cannot be taken back)
            assert fast.text == whole
