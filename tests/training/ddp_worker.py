"""Run by test_ddp.py under `torch.distributed.run`: a few steps of a tiny GPT-2; rank 0 writes the losses and
every rank writes which examples it read."""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from training_helpers import counting_sequences, tiny_gpt2  # noqa: E402

from massivetext.training.arguments import TrainingArguments  # noqa: E402
from massivetext.training.trainer import Trainer  # noqa: E402


class Recorded(torch.utils.data.Dataset):
    """Rows of varied length; remembers which indices this process read."""

    def __init__(self, rows):
        self.rows, self.seen = rows, []

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        self.seen.append(i)
        return {"input_ids": torch.tensor(self.rows[i])}


def rows() -> list[list[int]]:
    g = torch.Generator().manual_seed(5)
    lengths = torch.randint(4, 16, (48,), generator=g).tolist()
    return [r[:k] for r, k in zip(counting_sequences(48, 16, seed=5), lengths)]


def run(out_dir: str, batch_size: int) -> tuple[Trainer, Recorded]:
    torch.set_num_threads(1)
    from training_helpers import make_tokenizer

    data = Recorded(rows())
    args = TrainingArguments(
        output_dir=out_dir, max_steps=4, per_device_train_batch_size=batch_size, gradient_accumulation_steps=2,
        learning_rate=1e-2, logging_steps=1, save_steps=4, disable_tqdm=True, use_cpu=True, seed=3,
        bf16=False,  # DDP == one process is a float32 guarantee: bf16 rounds differently for other batch shapes
    )  # fmt: skip
    trainer = Trainer(tiny_gpt2(), args, train_dataset=data, eval_dataset=Recorded(rows()[:10]),
                      tokenizer=make_tokenizer())  # fmt: skip
    trainer.train()
    trainer.evaluate()
    return trainer, data


if __name__ == "__main__":
    out, bs = sys.argv[1], int(sys.argv[2])
    trainer, data = run(out, bs)
    rank = trainer.rank
    with open(os.path.join(out, f"seen_{rank}.json"), "w") as f:
        json.dump(data.seen, f)
    if rank == 0:
        with open(os.path.join(out, "log.json"), "w") as f:
            json.dump(trainer.state.log_history, f)
    torch.distributed.destroy_process_group()
