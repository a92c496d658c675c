"""BERT and RoBERTa encoders (post-LN, token types; RoBERTa's position ids start after the pad id) with masked-LM,
sequence-classification, token-classification and extractive-QA heads. Module names follow the HF checkpoints
(``bert.encoder.layer.0.attention.self.query`` …), so the key map is the identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from massivetext.models.base import PreTrainedModel, activation, check_positions, embedding, init_weights
from massivetext.models.config import BertConfig
from massivetext.models.fast_linear import linear, linear_gelu
from massivetext.models.losses import linear_cross_entropy, token_loss
from massivetext.models.modeling_outputs import (
    MaskedLMOutput,
    QuestionAnsweringOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.roberta, self.pad, self.max_positions = c.is_roberta, c.pad_token_id, c.max_position_embeddings

    def forward(self, input_ids, token_type_ids=None, position_ids=None) -> torch.Tensor:
        B, T = input_ids.shape
        # RoBERTa's positions start after the pad id, so 514 rows hold 512 tokens
        check_positions(T, self.max_positions - (self.pad + 1 if self.roberta else 0), "BERT/RoBERTa")
        if position_ids is None:
            if self.roberta:  # RoBERTa counts real tokens from pad_id + 1; pads keep pad_id
                real = input_ids.ne(self.pad).long()
                position_ids = real.cumsum(1) * real + self.pad
            else:
                position_ids = torch.arange(T, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.h, self.d = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.p = c.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention of ``queries`` (default: every row of x) over all rows of x."""
        B, T, C = x.shape
        q_in = x if queries is None else queries

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, -1, self.h, self.d).transpose(1, 2)

        y = F.scaled_dot_product_attention(
            heads(linear(q_in, self.query)),
            heads(linear(x, self.key)),
            heads(linear(x, self.value)),
            attn_mask=mask,
            dropout_p=self.p if self.training else 0.0,
        )
        return y.transpose(1, 2).reshape(B, q_in.shape[1], C)


# inference skips padded rows where nothing reads them (``BertPreTrainedModel.encode``); a switch for A/B runs
PACK_PADDED = True


class DenseNorm(nn.Module):
    """Dense, dropout, then LayerNorm of (x + residual): BERT's post-LN sublayer output."""

    def __init__(self, c: BertConfig, d_in: int):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(linear(x, self.dense)) + residual)


class Attention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c.hidden_size)


class Intermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = activation(c.hidden_act)
        self.exact_gelu = c.hidden_act == "gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact_gelu:
            return linear_gelu(x, self.dense)  # fused on the oneDNN path
        return self.act(linear(x, self.dense))


class Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, first_only: bool = False) -> torch.Tensor:
        """``first_only``: compute only row 0 (the [CLS] / <s> token) of the output, attending to every row: all a
        sequence classifier reads of the last layer, exactly, at about a sixth of the layer's cost."""
        queries = x[:, :1] if first_only else x
        x = self.attention.output(self.attention.self(x, mask, queries if first_only else None), queries)
        return self.output(self.intermediate(x), x)

    def forward_packed(self, x: torch.Tensor, pk: Packing) -> torch.Tensor:
        """The layer on the real tokens only: ``x`` (N, C) holds the real tokens of the padded (B, T) batch that
        ``pk`` describes. Every linear, GELU and LayerNorm skips the padding and runs on row blocks
        (``_row_blocks``); attention alone runs padded (B, T)."""
        att = self.attention.self
        q, k, v = pk.project(x, (att.query, att.key, att.value))
        y = F.scaled_dot_product_attention(*(pk.heads(t, att) for t in (q, k, v)), attn_mask=pk.mask)
        del q, k, v
        y = y.transpose(1, 2).reshape(pk.B * pk.T, x.shape[-1])
        return self._feed_forward(y if pk.mask is None else y.index_select(0, pk.where), x)

    def forward_first_packed(self, x: torch.Tensor, pk: Packing, first: torch.Tensor) -> torch.Tensor:
        """``forward_packed`` computing only each row's position 0 (packed at ``first``; all a sequence classifier
        reads of the last layer), attending to every real token: (B, C)."""
        att = self.attention.self
        k, v = pk.project(x, (att.key, att.value))
        rows = x.index_select(0, first)
        q = _by_blocks(lambda r: linear(r, att.query), rows).view(pk.B, 1, att.h, att.d).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, pk.heads(k, att), pk.heads(v, att), attn_mask=pk.mask)
        del k, v
        return self._feed_forward(y.transpose(1, 2).reshape(pk.B, x.shape[-1]), rows)

    def _feed_forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Attention output (dense, residual ``x``, LayerNorm), then the feed-forward block, on row blocks: the
        intermediate (4x wider) activation exists for one block at a time."""

        def block(y_rows: torch.Tensor, x_rows: torch.Tensor) -> torch.Tensor:
            h = self.attention.output(y_rows, x_rows)
            return self.output(self.intermediate(h), h)

        return _by_blocks(block, y, x)


# The packed path feeds oneDNN row blocks of ROW_BLOCK rows, a shorter last block padded up to a multiple of ROW_STEP
# rows. Why: oneDNN caches one primitive per input shape (up to 1,024 of them) and, as torch builds it (concurrent
# execution: a scratchpad per primitive), each cached primitive of a 256-wide input keeps a buffer the size of its
# output. One new row count per batch held ~70 MB more peak memory on the sentiment benchmark and grew with every
# new QA batch shape; with blocks there are at most 16 row counts per weight shape (~10 MB in all), and the
# intermediate activation exists for one block at a time. 512 rows: blocks of 256 cost QA ~8% of its CPU time
# (smaller products, more copies); 512 ran as fast as one product per batch (separate-process A/B).
ROW_BLOCK = 512
ROW_STEP = 32


def _row_blocks(n: int, device: torch.device) -> list[tuple[int, int, int]]:
    """(start, stop, filler rows to add) of each row block of ``n`` rows. Off the CPU: one block, no filler."""
    if device.type != "cpu":
        return [(0, n, 0)]
    return [(i, min(i + ROW_BLOCK, n), -min(ROW_BLOCK, n - i) % ROW_STEP) for i in range(0, n, ROW_BLOCK)]


def _block_rows(t: torch.Tensor, start: int, stop: int, fill: int) -> torch.Tensor:
    """Rows start:stop of ``t``, plus ``fill`` filler rows (copies of the first; computed, then dropped)."""
    rows = t[start:stop]
    return torch.cat([rows, rows[:1].expand(fill, -1)]) if fill else rows


def _by_blocks(fn, *xs: torch.Tensor) -> torch.Tensor:
    """``fn(*xs)`` computed row block by row block (every op in ``fn`` is row-wise: the result is the same)."""
    n = xs[0].shape[0]
    if n == 0:
        return fn(*xs)
    out = None
    for start, stop, fill in _row_blocks(n, xs[0].device):
        y = fn(*(_block_rows(t, start, stop, fill) for t in xs))[: stop - start]
        if stop - start == n:
            return y
        if out is None:
            out = y.new_empty(n, y.shape[-1])
        out[start:stop] = y
    assert out is not None
    return out


@dataclass
class Packing:
    """How the real tokens of a padded (B, T) batch are packed: at flat positions ``where`` (all of them when
    ``mask`` is None: no padding). ``scratch`` holds the padded projections attention reads, one (B*T, C) slot per
    projection, made once per batch and reused by every layer (pad rows stay zero: only real rows are written)."""

    where: torch.Tensor
    B: int
    T: int
    mask: torch.Tensor | None
    scratch: torch.Tensor

    def project(self, x: torch.Tensor, lins) -> list[torch.Tensor]:
        """Each of ``lins`` on the packed rows ``x``, laid out padded (B*T, C) for attention."""
        out = [self.scratch[i] for i in range(len(lins))]
        for start, stop, fill in _row_blocks(x.shape[0], x.device):
            rows = _block_rows(x, start, stop, fill)
            for full, lin in zip(out, lins):
                y = linear(rows, lin)[: stop - start]
                if self.mask is None:
                    full[start:stop] = y
                else:
                    full.index_copy_(0, self.where[start:stop], y)
        return out

    def heads(self, t: torch.Tensor, att: SelfAttention) -> torch.Tensor:
        return t.view(self.B, -1, att.h, att.d).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class Pooler(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # plain F.linear: one row per input, and a oneDNN primitive (cached per row count) would be kept for every
        # batch size seen, for a product this small
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c: BertConfig, pooler: bool = False):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c) if pooler else None


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    head_names: tuple[str, str] = ("", "")  # HF architecture for (bert, roberta)
    pooler = False

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.base_prefix = "roberta" if config.is_roberta else "bert"
        setattr(self, self.base_prefix, BertModel(config, pooler=self.pooler and not config.is_roberta))
        self.hf_architecture = self.head_names[config.is_roberta]
        # what other heads' checkpoints carry that this head does not use
        self.hf_ignored = [
            r"^cls\.",
            r"^lm_head\.",
            r"^classifier\.",
            r"^qa_outputs\.",
            r"position_ids$",
            r"^(bert|roberta)\.pooler\.",
        ]
        self.hf_optional = [r"^cls\.", r"^lm_head\.", r"^classifier\.", r"^qa_outputs\.", r"^(bert|roberta)\.pooler\."]

    @property
    def base(self) -> BertModel:
        return getattr(self, self.base_prefix)

    def _own_prefixes(self) -> tuple[str, ...]:
        return ()

    def hf_to_mt(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fixed = {}
        for k, v in state.items():  # legacy TF-era names in old .bin files
            k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            if not k.startswith(("bert.", "roberta.", "cls.", "lm_head.", "classifier.", "qa_outputs.")):
                k = f"{self.base_prefix}.{k}"  # a bare BertModel checkpoint
            fixed[k] = v
        keep = self._own_prefixes()
        return {
            k: v
            for k, v in fixed.items()
            # older checkpoints also store the MLM decoder's bias: the same tensor as the head's ``bias``
            if not k.endswith(".decoder.bias")
            and (k.startswith(keep) or not any(re.search(p, k) for p in self.hf_ignored))
        }

    def encode(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        first_only: bool = False,
        skip_padding: bool = False,
    ) -> torch.Tensor:
        """Hidden states (B, T, C); with ``first_only`` the last layer computes row 0 only: (B, 1, C).
        ``skip_padding`` (inference): padded positions are not computed and come out as zeros (the pipelines,
        which never read them); ``first_only`` implies it."""
        b = self.base
        x = b.embeddings(input_ids, token_type_ids, position_ids)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]
        layers = b.encoder.layer
        skip = (first_only or skip_padding) and PACK_PADDED and not self.training and not torch.is_grad_enabled()
        # [CLS] must be a real token to be computed packed (a left-padded batch takes the padded path); a batch
        # without any real token as well
        if skip and mask is not None and first_only and not bool(attention_mask[:, 0].all()):
            skip = False
        if skip and (mask is None or bool(attention_mask.any())):
            B, T, C = x.shape
            flat = x.reshape(B * T, C)
            del x  # the padded embeddings are not needed again
            if mask is None:
                where, packed = torch.arange(B * T, device=flat.device), flat
                scratch = flat.new_empty(3, B * T, C)
            else:
                where = attention_mask.reshape(-1).nonzero().squeeze(1)
                packed = flat.index_select(0, where)
                scratch = flat.new_zeros(3, B * T, C)
            pk = Packing(where, B, T, mask, scratch)
            for layer in layers[:-1] if first_only else layers:
                packed = layer.forward_packed(packed, pk)
            if first_only:
                lengths = attention_mask.sum(1) if mask is not None else torch.full((B,), T)
                first = (lengths.cumsum(0) - lengths).to(flat.device)  # where each row's position 0 is packed
                return layers[-1].forward_first_packed(packed, pk, first).unsqueeze(1)
            if mask is None:
                return packed.view(B, T, C)
            return packed.new_zeros(B * T, C).index_copy_(0, where, packed).view(B, T, C)
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            x = self._checkpointed(layer, x, mask, first_only and i == last)
        return x


class BertLMPredictionHead(nn.Module):
    """BERT's ``cls.predictions``: transform (dense, act, LayerNorm), tied decoder, output bias."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.act = activation(c.hidden_act)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def transform_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return self.transform.LayerNorm(self.act(self.transform.dense(h)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform_hidden(h)) + self.bias


class RobertaLMHead(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def transform_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(F.gelu(self.dense(h)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform_hidden(h)) + self.bias


class BertForMaskedLM(BertPreTrainedModel):
    head_names = ("BertForMaskedLM", "RobertaForMaskedLM")

    def __init__(self, config: BertConfig):
        super().__init__(config)
        if config.is_roberta:
            self.lm_head = RobertaLMHead(config)
        else:
            self.cls = nn.Module()
            self.cls.predictions = BertLMPredictionHead(config)
        init_weights(self, config.initializer_range)
        self.tie_weights()

    def _own_prefixes(self) -> tuple[str, ...]:
        return ("lm_head.",) if self.config.is_roberta else ("cls.predictions.",)

    @property
    def head(self) -> nn.Module:
        return self.lm_head if self.config.is_roberta else self.cls.predictions

    def tie_weights(self) -> None:
        self.head.decoder.weight = self.base.embeddings.word_embeddings.weight

    def tied(self) -> dict[str, str]:
        src = f"{self.base_prefix}.embeddings.word_embeddings.weight"
        return {("lm_head" if self.config.is_roberta else "cls.predictions") + ".decoder.weight": src}

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        num_items_in_batch=None,
        label_smoothing: float | None = None,
        return_logits: bool = True,
        **_: Any,
    ) -> MaskedLMOutput:
        """``return_logits=False`` with labels: chunked loss from the hidden states, ``logits`` None (see GPT)."""
        h = self.encode(input_ids, attention_mask, token_type_ids, position_ids)
        ls = self.config.mt_label_smoothing if label_smoothing is None else label_smoothing
        if labels is not None and not return_logits:
            head = self.head
            h = head.transform_hidden(h)
            loss = linear_cross_entropy(h, head.decoder.weight, labels, head.bias, num_items_in_batch, ls)
            return MaskedLMOutput(loss=loss, logits=None)
        logits = self.head(h)
        loss = None
        if labels is not None:
            loss = token_loss(logits, labels, num_items_in_batch, ls)
        return MaskedLMOutput(loss=loss, logits=logits)


class RobertaClassificationHead(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.out_proj = nn.Linear(c.hidden_size, c.n_labels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.dropout(h[:, 0])
        return self.out_proj(self.dropout(torch.tanh(self.dense(x))))


class BertForSequenceClassification(BertPreTrainedModel):
    head_names = ("BertForSequenceClassification", "RobertaForSequenceClassification")
    pooler = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        if config.is_roberta:
            self.classifier = RobertaClassificationHead(config)
        else:
            p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
            self.dropout = nn.Dropout(p)
            self.classifier = nn.Linear(config.hidden_size, config.n_labels)
        init_weights(self, config.initializer_range)

    def _own_prefixes(self) -> tuple[str, ...]:
        return ("classifier.", "bert.pooler.")

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        num_items_in_batch=None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        # both heads read the first row only (BERT's pooler, RoBERTa's head): the last layer computes just that row
        h = self.encode(input_ids, attention_mask, token_type_ids, position_ids, first_only=True)
        if self.config.is_roberta:
            logits = self.classifier(h)
        else:
            logits = self.classifier(self.dropout(self.base.pooler(h)))
        loss = None
        if labels is not None:
            n = self.config.n_labels
            kind = self.config.problem_type or (
                "regression"
                if n == 1
                else "single_label_classification"
                if labels.dtype in (torch.long, torch.int)
                else "multi_label_classification"
            )
            if kind == "regression":
                loss = F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
            elif kind == "single_label_classification":
                loss = token_loss(logits, labels, num_items_in_batch)
            else:
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return SequenceClassifierOutput(loss=loss, logits=logits)


class BertForTokenClassification(BertPreTrainedModel):
    head_names = ("BertForTokenClassification", "RobertaForTokenClassification")

    def __init__(self, config: BertConfig):
        super().__init__(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.n_labels)
        init_weights(self, config.initializer_range)

    def _own_prefixes(self) -> tuple[str, ...]:
        return ("classifier.",)

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        num_items_in_batch=None,
        skip_padding: bool = False,
        **_: Any,
    ) -> TokenClassifierOutput:
        """``skip_padding``: padded positions are not computed (their logits are the bias; see ``encode``)."""
        h = self.encode(input_ids, attention_mask, token_type_ids, position_ids, skip_padding=skip_padding)
        logits = self.classifier(self.dropout(h))
        loss = token_loss(logits, labels, num_items_in_batch) if labels is not None else None
        return TokenClassifierOutput(loss=loss, logits=logits)


class BertForQuestionAnswering(BertPreTrainedModel):
    head_names = ("BertForQuestionAnswering", "RobertaForQuestionAnswering")

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.n_labels)  # 2, as transformers builds it
        init_weights(self, config.initializer_range)

    def _own_prefixes(self) -> tuple[str, ...]:
        return ("qa_outputs.",)

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        start_positions=None,
        end_positions=None,
        skip_padding: bool = False,
        **_: Any,
    ) -> QuestionAnsweringOutput:
        """``skip_padding``: padded positions are not computed (their logits are the bias; see ``encode``)."""
        h = self.encode(input_ids, attention_mask, token_type_ids, position_ids, skip_padding=skip_padding)
        logits = self.qa_outputs(h)
        start, end = logits.unbind(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            T = start.shape[1]  # answers outside the sequence are ignored, as in transformers
            s = start_positions.view(-1).clamp(0, T)
            e = end_positions.view(-1).clamp(0, T)
            loss = (
                F.cross_entropy(start.float(), s, ignore_index=T) + F.cross_entropy(end.float(), e, ignore_index=T)
            ) / 2
        return QuestionAnsweringOutput(loss=loss, start_logits=start.contiguous(), end_logits=end.contiguous())
