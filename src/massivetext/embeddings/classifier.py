"""A word-level bidirectional-LSTM text classifier: the classic baseline for embeddings (random or pretrained).

Words (``word_vectors.words``) → ids over a vocabulary built from the training texts → embedding (randomly
initialised, or copied from word vectors through ``init_embedding``) → BiLSTM → max-pool over time → linear.
``fit`` trains with Adam and keeps the epoch with the best validation accuracy (early stopping as the classic
recipes do); ``predict`` returns labels. Batches are padded per batch and packed so pads cost nothing.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from massivetext.embeddings.word_vectors import Coverage, init_embedding, words

PAD, UNK = "<pad>", "<unk>"


@dataclass
class LSTMClassifierConfig:
    embedding_dim: int = 100
    hidden_size: int = 128
    num_labels: int = 2
    dropout: float = 0.5
    max_length: int = 64
    min_count: int = 1
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0


def build_vocab(texts: Sequence[str], min_count: int = 1) -> dict[str, int]:
    counts = Counter(w for t in texts for w in words(t))
    vocab = {PAD: 0, UNK: 1}
    for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if c >= min_count:
            vocab[w] = len(vocab)
    return vocab


class LSTMClassifier(nn.Module):
    def __init__(self, vocab: dict[str, int], config: LSTMClassifierConfig):
        super().__init__()
        self.vocab, self.config = vocab, config
        self.embed = nn.Embedding(len(vocab), config.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden_size, config.num_labels)

    def init_from_vectors(self, vectors) -> Coverage:
        """Copy pretrained word vectors into the embedding (pad and unk keep their random rows)."""
        vocab = {w: i for w, i in self.vocab.items() if w not in (PAD, UNK)}
        coverage = init_embedding(self.embed, vocab, vectors)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        return coverage

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [[self.vocab.get(w, 1) for w in words(t)][: self.config.max_length] or [1] for t in texts]
        lengths = torch.tensor([len(x) for x in ids])
        batch = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for i, x in enumerate(ids):
            batch[i, : len(x)] = torch.tensor(x)
        return batch, lengths

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.embed(ids))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, padding_value=float("-inf"))
        return self.out(self.drop(y.max(dim=1).values))

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        self.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            out.append(self(*self.encode(texts[i : i + batch_size])).argmax(-1).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def fit(self, texts: Sequence[str], labels: Sequence[int], val_texts: Sequence[str], val_labels: Sequence[int]):
        """Train; returns {"best_epoch", "val_accuracy"} and leaves the best epoch's weights in place."""
        c = self.config
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        opt = torch.optim.Adam(self.parameters(), lr=c.learning_rate)
        y_all = torch.tensor(list(labels))
        best, best_state, best_epoch = -1.0, None, 0
        for epoch in range(c.epochs):
            self.train()
            order = rng.permutation(len(texts))
            for i in range(0, len(order), c.batch_size):
                idx = order[i : i + c.batch_size]
                ids, lengths = self.encode([texts[j] for j in idx])
                loss = nn.functional.cross_entropy(self(ids, lengths), y_all[idx])
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.parameters(), 5.0)
                opt.step()
            acc = float((self.predict(val_texts) == np.asarray(val_labels)).mean())
            if acc > best:
                best, best_state, best_epoch = acc, copy.deepcopy(self.state_dict()), epoch + 1
        if best_state is not None:
            self.load_state_dict(best_state)
        return {"best_epoch": best_epoch, "val_accuracy": best}
