"""Checkpoints in the Hugging Face Trainer layout, and what it takes to resume a run exactly.

`checkpoint-N/` holds the model (`model.safetensors` + `config.json` via the model's `save_pretrained`),
`optimizer.pt`, `scheduler.pt`, `scaler.pt` (fp16 only), `rng_state.pth` (python, numpy, torch CPU and CUDA
generators; `rng_state_R.pth` per rank under DDP), `trainer_state.json` (step, log history, best metric, data
position) and `training_args.json`. Writes go to a temporary folder renamed into place, so a crash never leaves a
half-written checkpoint that resume would pick.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from massivetext._atomic import replace_directory
from massivetext.errors import MissingFileError

PREFIX = "checkpoint"
_STEP = re.compile(rf"^{PREFIX}-(\d+)$")


def checkpoint_dirs(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest (lowest step) first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found) if (p / "trainer_state.json").exists()]


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    dirs = checkpoint_dirs(output_dir)
    return dirs[-1] if dirs else None


def save_model_files(model: torch.nn.Module, directory: str | os.PathLike) -> None:
    """Weights (+ config) in the HF layout; plain modules without `save_pretrained` get `model.safetensors`."""
    os.makedirs(directory, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory)
    else:
        from safetensors.torch import save_model

        save_model(model, os.path.join(directory, "model.safetensors"))


def load_model_files(model: torch.nn.Module, directory: str | os.PathLike) -> None:
    """Copy weights saved by `save_model_files` into `model`'s own tensors (the optimizer keeps pointing at them).

    MassiveText models store Hugging Face names (`hf_to_mt` maps them back); tied weights may be absent from the file.
    """
    from safetensors.torch import load_file

    path = Path(directory) / "model.safetensors"
    if not path.exists():
        raise MissingFileError(f"no model.safetensors in {directory}")
    state = load_file(str(path))
    if hasattr(model, "hf_to_mt"):
        state = model.hf_to_mt(state)
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    loaded_ptrs = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in own if k not in state and own[k].data_ptr() not in loaded_ptrs]
    if unexpected or missing:
        raise MissingFileError(f"{path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for key, tensor in state.items():
            own[key].copy_(tensor)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    trainer_state: dict[str, Any],
    args_dict: dict[str, Any],
    tokenizer: Any = None,
    rank: int = 0,
    world_size: int = 1,
    dataset: Any = None,
) -> None:
    """Write one checkpoint. Every rank writes its RNG state; rank 0 writes the rest (with a ``README.md`` model
    card describing ``dataset`` and the run), then renames into place."""
    tmp = directory.with_name(directory.name + ".tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier(world_size)
    tmp.mkdir(parents=True, exist_ok=True)  # other nodes may not share rank 0's filesystem (their files stay local)
    rng_name = "rng_state.pth" if world_size == 1 else f"rng_state_{rank}.pth"
    torch.save(rng_state(), tmp / rng_name)
    if rank == 0:
        save_model_files(model, tmp)
        if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(str(tmp))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / "scaler.pt")
        (tmp / "training_args.json").write_text(json.dumps(args_dict, indent=2, sort_keys=True, default=str))
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
        from massivetext.training.model_card import write_model_card

        write_model_card(tmp, model, args_dict, trainer_state, dataset)
    _barrier(world_size)
    if rank == 0:
        replace_directory(tmp, directory)  # the old checkpoint stays complete until the new one is in place
    _barrier(world_size)


def load_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler, scaler and RNG from `directory`; return its trainer state."""
    state_file = directory / "trainer_state.json"
    if not state_file.exists():
        raise MissingFileError(f"{directory} is not a checkpoint (no trainer_state.json)")
    load_model_files(model, directory)
    device = next(model.parameters()).device
    optimizer.load_state_dict(torch.load(directory / "optimizer.pt", map_location=device, weights_only=True))
    scheduler.load_state_dict(torch.load(directory / "scheduler.pt", weights_only=False))
    if scaler is not None and (directory / "scaler.pt").exists():
        scaler.load_state_dict(torch.load(directory / "scaler.pt", weights_only=True))
    rng_file = directory / ("rng_state.pth" if world_size == 1 else f"rng_state_{rank}.pth")
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return json.loads(state_file.read_text())


def rotate_checkpoints(output_dir: str | os.PathLike, limit: int | None, best: str | None = None) -> list[Path]:
    """Delete the oldest checkpoints beyond `limit`, never the best one; return what was deleted."""
    if limit is None:
        return []
    dirs = checkpoint_dirs(output_dir)
    best_path = Path(best).resolve() if best else None
    if best_path is not None and limit == 1 and dirs and dirs[-1].resolve() != best_path:
        limit = 2  # keep the best and the latest (to resume from), as transformers does
    keep_newest = dirs[-limit:]
    doomed = [d for d in dirs if d not in keep_newest and d.resolve() != best_path]
    # the best one counts toward the limit: drop one more old one if it survived outside the newest
    if (
        best_path is not None
        and any(d.resolve() == best_path for d in dirs)
        and best_path not in {d.resolve() for d in keep_newest}
    ):
        extra = [d for d in keep_newest[:-1] if d.resolve() != best_path][:1]
        doomed += extra
    for d in doomed:
        shutil.rmtree(d, ignore_errors=True)
    return doomed


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()
