"""Model configs: dataclasses whose fields are the Hugging Face ``config.json`` keys.

Field names are the HF spellings (``n_embd`` for GPT-2, ``hidden_size`` for BERT, ``d_model`` for T5), so a
``config.json`` written by ``transformers`` loads without a rename table and one written here loads in
``transformers``. Keys a config does not know are kept in ``extra`` and written back unchanged.
MassiveText-only options carry an ``mt_`` prefix; ``transformers`` ignores them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from massivetext.errors import ConfigError, MissingFileError

CONFIG_NAME = "config.json"


@dataclass
class ModelConfig:
    """Base: dict and ``config.json`` round trip, unknown keys preserved."""

    model_type: ClassVar[str] = ""
    vocab_size: int = 32000
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    decoder_start_token_id: int | None = None
    tie_word_embeddings: bool = True
    architectures: list[str] | None = None
    mt_label_smoothing: float = 0.0
    mt_pad_vocab_multiple: int = 1
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        mt = data.pop("model_type", cls.model_type)
        if cls.model_type and mt != cls.model_type:
            raise ConfigError(f"config has model_type {mt!r}, expected {cls.model_type!r}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: data.pop(k) for k in list(data) if k in names}
        cfg = cls(**known)
        cfg.extra.update(data)
        return cfg

    def __post_init__(self) -> None:  # subclasses derive defaults here (must be idempotent)
        pass

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        out["model_type"] = self.model_type
        for key in ("architectures", "num_labels", "id2label", "label2id", "problem_type"):
            if out.get(key) is None:  # transformers rejects None for these; absent means its default
                out.pop(key, None)
        if "num_labels" in out:  # transformers stores the label count as id2label/label2id
            n = out.pop("num_labels")
            out.setdefault("id2label", {str(i): f"LABEL_{i}" for i in range(n)})
            out.setdefault("label2id", {v: int(k) for k, v in out["id2label"].items()})
        return dict(sorted(out.items()))

    def save_pretrained(self, directory: str | Path) -> None:
        path = Path(directory)
        data = self.to_dict()
        check_special_ids(data, path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_NAME).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path) -> ModelConfig:
        from massivetext.models.hub import resolve

        return cls.from_dict(read_config_dict(resolve(name_or_dir)))

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if hasattr(self, key) else self.extra.get(key, default)

    @property
    def eos_token_ids(self) -> list[int]:
        eos = self.eos_token_id
        return [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))

    @property
    def padded_vocab_size(self) -> int:
        m = max(1, int(self.mt_pad_vocab_multiple or 1))
        return (self.vocab_size + m - 1) // m * m


def special_ids_from_tokenizer(tokenizer: Any) -> dict[str, int | None]:
    """The tokenizer's bos/eos/pad ids as config fields, ``None`` where it has no such token, so that a model
    built for a tokenizer never keeps another model's defaults (GPT-2's 50256 in an 8,192-token vocabulary)."""
    return {k: getattr(tokenizer, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}


def check_special_ids(config: dict[str, Any], where: str | Path) -> None:
    """Refuse a config whose special-token ids (every ``*_token_id`` key) fall outside its vocabulary: such a model
    never emits its end of text, and transformers warns on load (issue 18)."""
    vocab = config.get("vocab_size")
    if not isinstance(vocab, int):
        return
    for key in sorted(config):
        value = config[key]
        if not key.endswith("_token_id") or value is None:
            continue
        for v in value if isinstance(value, list | tuple) else [value]:
            if not isinstance(v, int) or not 0 <= v < vocab:
                raise ConfigError(
                    f"{where}: {key}={value!r} is outside the vocabulary (vocab_size={vocab}); take the special ids "
                    f"from the tokenizer (massivetext.models.config.special_ids_from_tokenizer) or set them to None"
                )


def read_config_dict(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise MissingFileError(f"{path}: no config.json (not a model directory)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or "model_type" not in data:
        raise ConfigError(f"{path}: no model_type key")
    return data


@dataclass
class GPTConfig(ModelConfig):
    """GPT-2 (HF ``gpt2`` keys) plus the modern switches for training from scratch."""

    model_type: ClassVar[str] = "gpt2"
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    mt_rotary: bool = False
    mt_rope_theta: float = 10000.0
    mt_rmsnorm: bool = False
    mt_swiglu: bool = False
    mt_bias: bool = True

    @property
    def hidden_size(self) -> int:
        return self.n_embd

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layer

    @property
    def num_attention_heads(self) -> int:
        return self.n_head

    @property
    def max_position_embeddings(self) -> int:
        return self.n_positions

    @property
    def inner_size(self) -> int:
        if self.n_inner:
            return self.n_inner
        # SwiGLU keeps the MLP's parameter count near 8*d^2 with a 2/3 width (LLaMA's rule), rounded to 64
        return (int(8 * self.n_embd / 3) + 63) // 64 * 64 if self.mt_swiglu else 4 * self.n_embd


@dataclass
class BertConfig(ModelConfig):
    """BERT encoder (RoBERTa subclasses it: it differs in position ids and head names)."""

    model_type: ClassVar[str] = "bert"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    classifier_dropout: float | None = None
    num_labels: int | None = None
    id2label: dict[str, str] | None = None
    label2id: dict[str, int] | None = None
    problem_type: str | None = None

    @property
    def is_roberta(self) -> bool:
        return self.model_type == "roberta"

    @property
    def n_labels(self) -> int:
        if self.num_labels is not None:
            return self.num_labels
        return len(self.id2label) if self.id2label else 2


@dataclass
class RobertaConfig(BertConfig):
    model_type: ClassVar[str] = "roberta"
    vocab_size: int = 50265
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2


@dataclass
class T5Config(ModelConfig):
    """T5 v1.0 (ReLU, tied head with d_model**-0.5 rescale) and v1.1 (gated GELU, untied)."""

    model_type: ClassVar[str] = "t5"
    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    decoder_start_token_id: int | None = 0
    is_encoder_decoder: bool = True

    def __post_init__(self) -> None:
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers

    @property
    def is_gated(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    @property
    def act_name(self) -> str:
        act = self.feed_forward_proj.removeprefix("gated-")
        return "gelu_new" if act == "gelu" and self.is_gated else act

    @property
    def hidden_size(self) -> int:
        return self.d_model


@dataclass
class MarianConfig(ModelConfig):
    """The opus-mt encoder-decoder (BART-like, post-LN, sinusoidal positions)."""

    model_type: ClassVar[str] = "marian"
    vocab_size: int = 58101
    decoder_vocab_size: int | None = None
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 8
    decoder_attention_heads: int = 8
    encoder_ffn_dim: int = 2048
    decoder_ffn_dim: int = 2048
    activation_function: str = "swish"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    max_position_embeddings: int = 512
    init_std: float = 0.02
    scale_embedding: bool = True
    share_encoder_decoder_embeddings: bool = True
    pad_token_id: int | None = 58100
    eos_token_id: int | list[int] | None = 0
    decoder_start_token_id: int | None = 58100
    forced_eos_token_id: int | None = 0
    bad_words_ids: list[list[int]] | None = None
    is_encoder_decoder: bool = True

    def __post_init__(self) -> None:
        if self.decoder_vocab_size is None:
            self.decoder_vocab_size = self.vocab_size

    @property
    def hidden_size(self) -> int:
        return self.d_model


@dataclass
class LSTMConfig(ModelConfig):
    """The LSTM language-model baseline (MassiveText only; ``model_type`` mt_lstm)."""

    model_type: ClassVar[str] = "mt_lstm"
    vocab_size: int = 8192
    hidden_size: int = 512
    embedding_size: int | None = None
    num_layers: int = 2
    dropout: float = 0.1
    n_positions: int = 1 << 30  # no position limit; a Trainer reads it as the longest usable context

    def __post_init__(self) -> None:
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size


CONFIG_CLASSES: dict[str, type[ModelConfig]] = {
    "gpt2": GPTConfig,
    "bert": BertConfig,
    "roberta": RobertaConfig,
    "t5": T5Config,
    "marian": MarianConfig,
    "mt_lstm": LSTMConfig,
}


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    mt = data.get("model_type")
    if mt not in CONFIG_CLASSES:
        raise ConfigError(f"unsupported model_type {mt!r}; MassiveText knows {sorted(CONFIG_CLASSES)}")
    return CONFIG_CLASSES[mt].from_dict(data)
