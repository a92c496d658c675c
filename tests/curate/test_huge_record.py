"""One huge valid record is dropped early and cheaply (issue: a 30 MB line used to cost 1 GB of memory)."""

import json
import random
import subprocess
import sys

from massivetext.curate.quality import GopherQualityFilter
from massivetext.curate.text_units import PUNCTUATION, count_words

_DELETE_PUNCTUATION = str.maketrans("", "", PUNCTUATION)
# whitespace of every kind str.split() knows, punctuation, symbol words, astral characters and a lone surrogate
ALPHABET = [*"ab .,-\n\t#…'", "\u3000", "\xa0", "\x85", "\x1c", "—", "é", "😀", "\ud800"]


def test_count_words_equals_the_word_lists_it_replaces():
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
        expected = (len(text.split()), len(text.translate(_DELETE_PUNCTUATION).split()))
        for chunk in (1, 3, 7, 1 << 20):  # words and symbol words cut by a chunk boundary
            assert count_words(text, chunk) == expected, (text, chunk)


def _word_rules_then_the_rest(f: GopherQualityFilter, text: str) -> tuple[bool, str | None]:
    """The filter as it was: word lists first, then every other rule (a filter without max_words never scans)."""
    n_words, n = len(text.split()), len(text.translate(_DELETE_PUNCTUATION).split())
    if n_words < f.min_words or n < f.min_words:
        return False, "too_few_words"
    if n > f.max_words:
        return False, "too_many_words"
    return GopherQualityFilter(min_words=f.min_words, max_words=None).check(text)


def test_long_texts_get_the_same_decisions_as_with_word_lists():
    f = GopherQualityFilter(min_words=20, max_words=60)
    rng = random.Random(1)
    words = ["the", "of", "and", "river", "stone", "-", "#", "...", "é", "\u3000", "\n", "  "]
    seen = set()
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(30, 160)))
        if (len(text) + 1) // 2 <= f.max_words:  # short texts never take the early path
            continue
        decision = f.check(text)
        assert decision == _word_rules_then_the_rest(f, text), text
        seen.add(decision[1])
    assert {"too_few_words", "too_many_words"} <= seen and len(seen) > 2  # both early reasons and others


MEASURE = """
import json, sys
import massivetext as mt
stats = mt.Pipeline.from_recipe("massivetext").run(sys.argv[1], sys.argv[2], workers=1, progress=False, report=False)
# VmHWM is this process's own peak: ru_maxrss carries the parent's peak across exec (a pytest worker with
# torch loaded made this test read 850 MB)
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_mb": hwm_kb / 1024,
                  "drops": stats.to_dict()["steps"]["gopher_quality"]["drops"]}))
"""


def test_a_30_mb_line_is_dropped_without_a_gigabyte(tmp_path):
    unit = "the quick brown fox jumps over the lazy dog with some more words here. "
    path = tmp_path / "huge.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": "huge", "text": unit * (30_000_000 // len(unit))}) + "\n")
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["drops"] == {"too_many_words": 1}
    # measured 150 MB (1,000 MB before); a memory bound, generous for other Python builds
    assert result["peak_mb"] < 400, result
