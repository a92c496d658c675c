"""Varied hypothesis/reference pairs for the text metrics: unicode, empty hypotheses, case, punctuation."""

import random

HYPS = [
    "The cat sat on the mat.",
    "Le chat est assis sur le tapis.",
    "",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "东京是日本的首都。",
    "It is raining cats and dogs today, isn't it?",
    "a a a a a a",
    "Numbers: 3.14, 2,718 and 1e-9.",
    'He said, "Hello!" and left.',
]
REFS_A = [
    "The cat is sitting on the mat.",
    "Le chat s'est assis sur le tapis.",
    "There is nothing here.",
    "Über den Wolken muss die Freiheit grenzenlos sein.",
    "The quick brown fox jumps over the lazy dog",
    "东京是日本首都。",
    "Today it rains cats and dogs, doesn't it?",
    "a a b a",
    "Numbers: 3.14, 2,718, and 1e-9.",
    'He said "Hello" and then he left.',
]
REFS_B = [
    "A cat sat on the mat.",
    "Le chat est sur le tapis.",
    "Nothing.",
    "Die Freiheit ist grenzenlos über den Wolken.",
    "A quick brown fox jumped over a lazy dog.",
    "日本的首都是东京。",
    "It's raining cats and dogs today.",
    "a a a a",
    "The numbers are 3.14, 2.718 and 1e-9.",
    '"Hello!" he said, and left.',
]


def random_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = "the a cat dog sat ran on under mat tree big small red blue quickly slowly and".split()
    hyps, refs = [], []
    for _ in range(n):
        ref = [rng.choice(words) for _ in range(rng.randint(3, 20))]
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in ref]
        if rng.random() < 0.2:
            hyp = hyp[: rng.randint(0, len(hyp))]
        hyps.append(" ".join(hyp))
        refs.append(" ".join(ref))
    return hyps, refs
