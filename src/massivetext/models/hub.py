"""Find a checkpoint (local directory or hub name) and read or write its weights in the HF layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massivetext.errors import MassiveTextError, MissingFileError

if TYPE_CHECKING:
    import torch

WEIGHTS_SAFE = "model.safetensors"
WEIGHTS_SAFE_INDEX = "model.safetensors.index.json"
WEIGHTS_PT = "pytorch_model.bin"
WEIGHTS_PT_INDEX = "pytorch_model.bin.index.json"
_TOKENIZER_PATTERNS = ["*.json", "*.jinja", "*.model", "*.spm", "*.txt", "vocab.*"]
_HUB_PATTERNS = {"model": [*_TOKENIZER_PATTERNS, "*.safetensors"], "tokenizer": _TOKENIZER_PATTERNS}


def resolve(name_or_dir: str | os.PathLike, what: str = "model", **hub_options: Any) -> Path:
    """Where a checkpoint's files are: a local directory as is; otherwise a Hugging Face hub name, downloaded (or
    found in the cache) by ``huggingface_hub``. The one place that tells a path from a hub name.

    ``what`` is ``"model"`` (config.json and weights) or ``"tokenizer"`` (only the tokenizer's files);
    ``hub_options`` (``revision``, ``cache_dir``, ``token``, ``local_files_only``) go to ``snapshot_download``.
    """
    if what not in _HUB_PATTERNS:
        raise ValueError(f"what must be one of {sorted(_HUB_PATTERNS)}, not {what!r}")
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_dir)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise MissingFileError(f"{name}: no such {what} directory")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub is a dependency
        raise MassiveTextError(f"{name}: not a local directory and huggingface_hub is not installed") from e
    try:
        local = Path(snapshot_download(name, allow_patterns=_HUB_PATTERNS[what], **hub_options))
        if what == "model" and not any((local / f).is_file() for f in (WEIGHTS_SAFE, WEIGHTS_SAFE_INDEX)):
            # older repos ship only pytorch_model.bin
            local = Path(snapshot_download(name, allow_patterns=[*_HUB_PATTERNS[what], "*.bin"], **hub_options))
    except Exception as e:  # offline, unknown repo, gated, network error: one clear line for the user
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        why = "the hub is offline (HF_HUB_OFFLINE is set) and it is not in the local cache" if offline else str(e)
        raise MissingFileError(
            f"{name}: not a local directory and could not be fetched from the Hugging Face hub: {why.splitlines()[0]}"
        ) from e
    if what == "model" and not (local / "config.json").is_file():
        raise MissingFileError(f"{name}: the hub snapshot has no config.json")
    return local


def load_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint: safetensors (single or sharded) first, else pytorch_model.bin (weights only)."""
    import torch  # here, so that the tokenizer can resolve hub names without importing torch
    from safetensors.torch import load_file

    if (directory / WEIGHTS_SAFE).is_file():
        return load_file(str(directory / WEIGHTS_SAFE))
    if (directory / WEIGHTS_SAFE_INDEX).is_file():
        return _load_sharded(directory, WEIGHTS_SAFE_INDEX, lambda p: load_file(str(p)))
    if (directory / WEIGHTS_PT).is_file():
        return torch.load(directory / WEIGHTS_PT, map_location="cpu", weights_only=True)
    if (directory / WEIGHTS_PT_INDEX).is_file():
        return _load_sharded(
            directory, WEIGHTS_PT_INDEX, lambda p: torch.load(p, map_location="cpu", weights_only=True)
        )
    raise MissingFileError(f"{directory}: no {WEIGHTS_SAFE} or {WEIGHTS_PT}")


def _load_sharded(directory: Path, index_name: str, load) -> dict[str, torch.Tensor]:
    index = json.loads((directory / index_name).read_text())
    out: dict[str, torch.Tensor] = {}
    for shard in sorted(set(index["weight_map"].values())):
        out.update(load(directory / shard))
    return out


def save_state_dict(state: dict[str, torch.Tensor], directory: Path) -> None:
    """One model.safetensors with contiguous, unshared tensors (what transformers writes and reads)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    # clone: tied or viewed tensors share storage, which safetensors refuses
    clean = {k: v.detach().contiguous().clone() for k, v in state.items()}
    save_file(clean, str(directory / WEIGHTS_SAFE), metadata={"format": "pt"})
