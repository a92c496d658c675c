"""Shared test data for the tokenization and CLI tests (imported by file name: tests are not a package)."""

import json

# mixed scripts, emoji, combining marks, code: what a byte-level tokenizer must round-trip
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Größenmaßstäbe und Übergrößen: naïve café, déjà vu.",
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "Emoji: 🙂🚀👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵, math ∑∫√∞.",
    "Русский текст и ελληνικά γράμματα, עברית وعربي.",
    "def f(x):\n    return x ** 2  # tabs\tand  double  spaces\n",
    "e\u0301 (combining) vs \u00e9 (precomposed), zero\u200bwidth",
    "Numbers 1234567890 and 3.14159, URLs https://example.org/a?b=c.",
]


def corpus(n: int = 40) -> list[str]:
    return [
        f"{t} Document {i} says hello world number {i % 7}."
        for i in range(n)
        for t in TEXTS[i % len(TEXTS) : i % len(TEXTS) + 1]
    ]


def write_jsonl(path, docs) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return str(path)
