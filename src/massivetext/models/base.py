"""What every MassiveText model shares: config, HF checkpoint load/save through an explicit key map, counts.

A family declares how its parameter names differ from the HF checkpoint's:
``hf_renames``: (hf substring, mt substring) pairs applied in order (reversed for saving);
``hf_transposed``: regexes of MT keys stored transposed in HF files (GPT-2's Conv1D);
``hf_ignored``: regexes of HF keys that carry no parameters (old attention-mask buffers);
``tied``: MT keys that share a tensor with another key and are not written.
Loading asserts that every tensor in the file is used and every parameter is filled.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from massivetext.errors import BadInputError, ConfigError
from massivetext.models.config import ModelConfig, check_special_ids, config_from_dict, read_config_dict
from massivetext.models.hub import load_state_dict, resolve, save_state_dict


class PreTrainedModel(nn.Module):
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    hf_architecture: ClassVar[str] = ""
    hf_renames: ClassVar[list[tuple[str, str]]] = []
    hf_transposed: ClassVar[list[str]] = []
    hf_ignored: ClassVar[list[str]] = []
    hf_optional: ClassVar[list[str]] = []  # MT keys a base checkpoint may lack: a new head, freshly initialized

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.gradient_checkpointing = False
        self.generation_config: dict[str, Any] = {}

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: ModelConfig | dict[str, Any], **kwargs: Any) -> PreTrainedModel:
        if isinstance(config, dict):
            config = config_from_dict(config)
        return cls(config, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        name_or_dir: str | Path,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        **config_overrides: Any,
    ) -> PreTrainedModel:
        directory = resolve(name_or_dir)
        data = read_config_dict(directory)
        data.update(config_overrides)
        config = config_from_dict(data)
        if not isinstance(config, cls.config_class):
            raise ConfigError(f"{directory}: model_type {config.model_type!r} does not fit {cls.__name__}")
        with torch.device("meta"):
            model = cls(config)
        model.load_hf_state_dict(load_state_dict(directory), source=str(directory))
        model.eval()
        gen = directory / "generation_config.json"
        if gen.is_file():  # generation defaults (eos, decoder start, beams...) as transformers reads them
            try:
                model.generation_config = json.loads(gen.read_text())
            except json.JSONDecodeError as e:
                raise ConfigError(f"{gen}: not valid JSON ({e})") from e
        if dtype is not None or device is not None:
            model.to(device=device, dtype=dtype)
        return model

    # ---- key map ----------------------------------------------------------------------------------------------
    def tied(self) -> dict[str, str]:
        """MT key -> the MT key it shares its tensor with (not stored in files)."""
        return {}

    def hf_to_mt(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, tensor in state.items():
            if any(re.search(p, key) for p in self.hf_ignored):
                continue
            new = key
            for hf, mt in self.hf_renames:
                new = new.replace(hf, mt)
            if any(re.search(p, new) for p in self.hf_transposed):
                tensor = tensor.t()
            out[new] = tensor
        return out

    def mt_to_hf(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, tensor in state.items():
            if any(re.search(p, key) for p in self.hf_transposed):
                tensor = tensor.t()
            new = key
            for hf, mt in reversed(self.hf_renames):
                new = new.replace(mt, hf)
            out[new] = tensor
        return out

    def load_hf_state_dict(self, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
        mapped = self.hf_to_mt(state)
        tied = self.tied()
        own = dict(self.named_parameters(remove_duplicate=False))
        own.update({k: b for k, b in self.named_buffers(remove_duplicate=False) if k in mapped})
        unexpected = sorted(set(mapped) - set(own))
        if unexpected:
            raise ConfigError(f"{source}: tensors the model has no place for: {unexpected[:8]}")
        missing = sorted(k for k in own if k not in mapped and k not in tied)
        fresh = [k for k in missing if any(re.search(p, k) for p in self.hf_optional)]
        missing = [k for k in missing if k not in fresh]
        if missing:
            raise ConfigError(f"{source}: parameters the checkpoint does not fill: {missing[:8]}")
        if fresh:
            warnings.warn(f"{source}: newly initialized (train them before use): {fresh}", stacklevel=3)
        for key, tensor in mapped.items():
            if key in tied:
                continue  # the tensor it shares is loaded under its own name
            if tuple(own[key].shape) != tuple(tensor.shape):
                raise ConfigError(f"{source}: {key} has shape {tuple(tensor.shape)}, expected {tuple(own[key].shape)}")
        # assign=True swaps the meta tensors for the loaded ones; then re-tie shared weights
        keep = {k: v for k, v in mapped.items() if k not in tied}
        self.load_state_dict(keep, strict=False, assign=True)
        self._materialize_rest()
        self.tie_weights()

    def _materialize_rest(self) -> None:
        """After a meta-device build: new heads get real, initialized tensors; computed buffers (sinusoids, rotary
        tables) are rebuilt."""
        for module in self.modules():
            own = list(module.parameters(recurse=False))
            if own and all(p.is_meta for p in own):
                module.to_empty(device="cpu", recurse=False)
                init_one(module, self.init_std)
        for module in self.modules():
            reset = getattr(module, "reset_buffers", None)
            if reset is not None:
                reset()

    def tie_weights(self) -> None:
        pass

    @property
    def init_std(self) -> float:
        c = self.config
        return float(c.get("initializer_range") or c.get("init_std") or 0.02)

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """The HF-named tensors to write: state_dict (persistent buffers only) less tied copies."""
        tied = self.tied()
        return self.mt_to_hf({k: v for k, v in self.state_dict().items() if k not in tied})

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> None:
        path = Path(directory)
        check_special_ids(self.config.to_dict(), path)  # before anything is written
        path.mkdir(parents=True, exist_ok=True)
        state = self.hf_state_dict()
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        save_state_dict(state, path)
        cfg = self.config.to_dict()
        if self.hf_architecture:
            cfg["architectures"] = [self.hf_architecture]
        floats = {v.dtype for v in state.values() if v.is_floating_point()}
        if len(floats) == 1:
            cfg["dtype"] = str(floats.pop()).removeprefix("torch.")
        (path / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        gen = self.generation_defaults()
        if gen:
            (path / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")

    def generation_defaults(self) -> dict[str, Any]:
        c = self.config
        out = {
            k: v
            for k in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
            if (v := getattr(c, k, None)) is not None
        }
        return out if getattr(self, "can_generate", False) else {}

    # ---- facts ----------------------------------------------------------------------------------------------
    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        seen: set[int] = set()
        total = 0
        emb = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)} if exclude_embeddings else set()
        for p in self.parameters():
            if id(p) in seen or id(p) in emb or (only_trainable and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def gradient_checkpointing_enable(self, **_: Any) -> None:
        self.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.gradient_checkpointing = False

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _checkpointed(self, fn, *args: Any) -> Any:
        """Run a block through torch.utils.checkpoint while training with checkpointing on (recompute in backward)."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)


def init_weights(module: nn.Module, std: float) -> None:
    """GPT-2/BERT's init: normal(0, std) for linear and embedding weights, zero biases, unit norms."""
    for m in module.modules():
        init_one(m, std)


def init_one(m: nn.Module, std: float) -> None:
    """Initialize the module's own parameters (not its children's); meta tensors are left alone."""
    for name, p in m.named_parameters(recurse=False):
        if p.is_meta:
            continue
        with torch.no_grad():
            if isinstance(m, nn.LayerNorm | RMSNorm) and name == "weight":
                p.fill_(1.0)
            elif name == "bias" or isinstance(m, nn.LayerNorm):
                p.zero_()
            else:
                p.normal_(0.0, std)


class RMSNorm(nn.Module):
    """Root-mean-square norm (T5's and LLaMA's): scale only, no centring; computed in float32."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.float().pow(2).mean(-1, keepdim=True)
        y = x.float() * torch.rsqrt(var + self.eps)
        return self.weight * y.to(self.weight.dtype)


def embedding(num: int, dim: int, padding_idx: int | None = None) -> nn.Embedding:
    """``nn.Embedding``, without its random init when the model is built on the meta device (``from_pretrained``,
    whose checkpoint fills it). On meta, torch's ``normal_`` runs through ``torch._refs``, whose first call imports
    ``torch._dynamo``: ~70 MB of resident memory (and ~1 s) a pipeline process then carries, for values that are
    thrown away. A real-device build draws exactly as before (``init_weights`` reinitializes every weight)."""
    if torch.empty(0).is_meta:
        return nn.Embedding(num, dim, padding_idx=padding_idx, _weight=torch.empty(num, dim))
    return nn.Embedding(num, dim, padding_idx=padding_idx)


def check_positions(length: int, limit: int, model: str) -> None:
    """A sequence longer than a model's position table is the caller's error: say so with both numbers, before
    torch's ``IndexError: index out of range in self`` from deep inside the embedding."""
    if length > limit:
        raise BadInputError(
            f"a sequence of {length} tokens is longer than the {limit} positions this {model} model has "
            f"(n_positions / max_position_embeddings); truncate it, e.g. tokenizer(..., truncation=True, "
            f"max_length={limit}), or split it into windows"
        )


def activation(name: str):
    import torch.nn.functional as F

    acts = {
        "gelu": F.gelu,
        "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
        "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "relu": F.relu,
        "silu": F.silu,
        "swish": F.silu,
        "tanh": torch.tanh,
    }
    if name not in acts:
        raise ConfigError(f"unsupported activation {name!r}; known: {sorted(acts)}")
    return acts[name]
