"""Turn tokenizer files without a ``tokenizer.json`` into a ``tokenizers.Tokenizer``.

Covers what checkpoints ship: SentencePiece models (T5 ``spiece.model``, ``tokenizer.model``, any ``.model``/``.spm``;
Unigram and BPE), Marian (``source.spm`` + ``vocab.json``), BERT (``vocab.txt``) and GPT-2 (``vocab.json`` +
``merges.txt``). The recipes follow transformers' ``convert_slow_tokenizer`` so ids agree with the original.

Marian: the pieces come from ``source.spm`` and the ids from ``vocab.json``. MarianTokenizer maps a piece that is
missing from ``vocab.json`` to ``<unk>``; here such a piece is absent from the model so a segmentation from known
pieces is chosen instead. For the vocabularies Marian ships (built from the same pieces) the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from massivetext.errors import ConfigError, MissingFileError

SPM_NAMES = ("spiece.model", "tokenizer.model", "sentencepiece.bpe.model", "sentencepiece.model")
_UNIGRAM, _BPE = 1, 2  # sentencepiece TrainerSpec.ModelType
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _BYTE = 1, 2, 3, 4, 6  # SentencePiece.Type


def _read_spm(path: Path) -> Any:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except Exception as e:
        raise ConfigError(f"{path}: not a SentencePiece model ({e})") from e
    if not proto.pieces:
        raise ConfigError(f"{path}: SentencePiece model without pieces")
    return proto


def _spm_pipeline(tokenizer: Tokenizer, proto: Any) -> None:
    """Normalizer, pre-tokenizer and decoder that reproduce SentencePiece's text handling."""
    spec = proto.normalizer_spec
    steps = [normalizers.Precompiled(spec.precompiled_charsmap)] if spec.precompiled_charsmap else []
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Strip(left=False, right=True), normalizers.Replace(Regex(" {2,}"), "▁")]
    if steps:
        tokenizer.normalizer = normalizers.Sequence(steps)
    scheme = "always" if spec.add_dummy_prefix else "never"
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme)
    metaspace = decoders.Metaspace(replacement="▁", prepend_scheme=scheme)
    if proto.trainer_spec.byte_fallback:
        tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(), metaspace])
    else:
        tokenizer.decoder = metaspace


def _bpe_merges(pieces: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """Merges of a SentencePiece BPE model: every split of a piece into two known pieces, in piece order."""
    vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
    merges: list[tuple[int, int, int, str, str]] = []
    for rank, (piece, _) in enumerate(pieces):
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                merges.append((rank, vocab[left], vocab[right], left, right))
    merges.sort()
    return [(left, right) for *_, left, right in merges]


def spm_to_tokenizer(
    path: Path, vocab_ids: dict[str, int] | None = None, append_eos: bool = True
) -> tuple[Tokenizer, dict[str, Any]]:
    """A SentencePiece model as a ``tokenizers.Tokenizer`` (ids from ``vocab_ids`` when given, as Marian does)."""
    proto = _read_spm(path)
    spm_pieces = [(p.piece, p.score) for p in proto.pieces]
    kinds = {p.piece: p.type for p in proto.pieces}
    byte_fallback = bool(proto.trainer_spec.byte_fallback)
    unk_piece = proto.pieces[proto.trainer_spec.unk_id].piece
    if vocab_ids is not None:  # Marian: vocab.json order; pieces spm never produces get a hopeless score
        scores = dict(spm_pieces)
        floor = min(scores.values()) - 100.0
        pieces = [(p, scores.get(p, floor)) for p, _ in sorted(vocab_ids.items(), key=lambda kv: kv[1])]
        if unk_piece not in vocab_ids:
            raise ConfigError(f"{path}: the vocabulary has no {unk_piece!r} (the model's unknown piece)")
        unk_id = vocab_ids[unk_piece]
    else:
        pieces, unk_id = spm_pieces, proto.trainer_spec.unk_id
    model_type = proto.trainer_spec.model_type
    if model_type == _UNIGRAM:
        tokenizer = Tokenizer(models.Unigram(pieces, unk_id, byte_fallback))
    elif model_type == _BPE:
        vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
        bpe = models.BPE(vocab, _bpe_merges(pieces), unk_token=unk_piece, fuse_unk=True, byte_fallback=byte_fallback)
        tokenizer = Tokenizer(bpe)
    else:
        raise ConfigError(f"{path}: SentencePiece model type {model_type} (word/char) is not supported")
    _spm_pipeline(tokenizer, proto)
    control = [p for p, _ in pieces if kinds.get(p) in (_CONTROL, _UNKNOWN)]
    user = [p for p, _ in pieces if kinds.get(p) == _USER_DEFINED]
    tokenizer.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in control])
    tokenizer.add_tokens([AddedToken(p, special=False, normalized=False) for p in user])

    def piece(index: int) -> str | None:
        return proto.pieces[index].piece if 0 <= index < len(proto.pieces) else None

    spec = proto.trainer_spec
    defaults = {"unk_token": unk_piece, "eos_token": piece(spec.eos_id), "pad_token": piece(spec.pad_id)}
    if piece(spec.bos_id):
        defaults["bos_token"] = piece(spec.bos_id)
    eos = defaults["eos_token"]
    if append_eos and eos is not None:
        eos_id = tokenizer.token_to_id(eos)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, eos_id)]
        )
    return tokenizer, {k: v for k, v in defaults.items() if v is not None}


def convert_file(path: Path) -> tuple[Tokenizer, dict[str, Any]]:
    """A single ``.model``/``.spm`` file."""
    if path.suffix in (".model", ".spm"):
        return spm_to_tokenizer(path)
    raise ConfigError(f"{path}: expected a tokenizer directory, a tokenizer.json or a SentencePiece .model/.spm file")


def convert_directory(directory: Path, config: dict[str, Any]) -> tuple[Tokenizer, dict[str, Any]]:
    """Build the backend of a directory that has no tokenizer.json, from the files it does have."""
    has = {p.name for p in directory.iterdir()}
    if "source.spm" in has and "vocab.json" in has:  # Marian
        vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        tokenizer, defaults = spm_to_tokenizer(directory / "source.spm", vocab_ids=vocab)
        return tokenizer, {**defaults, "model_max_length": 512}
    for name in SPM_NAMES:
        if name in has:
            return spm_to_tokenizer(directory / name)
    if "vocab.txt" in has:  # BERT WordPiece
        from tokenizers.implementations import BertWordPieceTokenizer

        lower = bool(config.get("do_lower_case", True))
        bert = BertWordPieceTokenizer(
            str(directory / "vocab.txt"), lowercase=lower, strip_accents=None if lower else False
        )
        defaults = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}
        defaults |= {"mask_token": "[MASK]", "model_input_names": ["input_ids", "token_type_ids", "attention_mask"]}
        return bert._tokenizer, defaults
    if "vocab.json" in has and "merges.txt" in has:  # GPT-2 byte-level BPE
        from tokenizers.implementations import ByteLevelBPETokenizer

        gpt2 = ByteLevelBPETokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
        eot = "<|endoftext|>"
        return gpt2._tokenizer, {"bos_token": eot, "eos_token": eot, "unk_token": eot}
    spm_files = sorted(p for p in has if p.endswith((".model", ".spm")))
    if spm_files:
        return spm_to_tokenizer(directory / spm_files[0])
    raise MissingFileError(
        f"{directory}: no tokenizer.json in this directory (nor a SentencePiece .model/.spm, vocab.txt, "
        "or vocab.json + merges.txt to convert)"
    )
