"""Generation shared by decoders and encoder-decoders: greedy, sampling (temperature, top-k, top-p), repetition
penalty, beam search (length penalty, early stopping), EOS and stop strings, left padding, a static KV cache,
and streaming through a per-token callback, a streamer (``models/streamers.py``), or an iterator of token ids.

A model provides three hooks: ``_gen_start(input_ids, attention_mask, max_len, expand)`` (allocate the cache; an
encoder-decoder also encodes and repeats its states ``expand`` times), ``_gen_step(tokens, state, start,
position_ids, key_mask)`` (logits for the last new token) and ``_gen_reorder(state, index)`` (beam search).
Beam search follows transformers' vectorized algorithm step for step, so both give the same beams. A model may
declare what its hooks can do, for speed: ``_gen_drops_rows`` (``_gen_reorder`` takes a shorter index: inputs that
are done leave the batch), ``_gen_first_step_once`` (``_gen_step`` takes one row per input at the first step, when
an input's beams are still equal) and ``_gen_reorder_takes_tokens`` (``_gen_reorder`` also gets the old beams' ids).
The step whose scores are forced to EOS (the last one) runs no model step.
``generate`` resolves the options once into a ``DecodeRun`` (plus ``Sampling`` or ``BeamSettings``) for the loops.
``positions_from_mask`` is the one helper for position ids under left padding.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from massivetext.errors import ConfigError


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """HF's position ids under left padding: count of real tokens so far - 1 (pads get 1, never attended)."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 1)


class LogitsProcessor:
    """The HF processors MassiveText supports, in transformers' order, on float32 scores (B, V)."""

    def __init__(self, repetition_penalty, bad_token_ids, min_len, eos, forced_eos, max_len, no_repeat_ngram=0):
        self.rep = repetition_penalty if repetition_penalty and repetition_penalty != 1.0 else None
        self.ngram = int(no_repeat_ngram or 0)
        self.bad = bad_token_ids or None
        self.min_len, self.eos, self.forced_eos, self.max_len = min_len, eos, forced_eos, max_len

    def forces(self, cur: int) -> bool:
        """True when the step that makes token ``cur`` is forced to EOS whatever the logits (the last one)."""
        return self.forced_eos is not None and cur == self.max_len - 1

    @property
    def active(self) -> bool:
        return bool(self.rep or self.ngram or self.bad or (self.min_len and self.eos) or self.forced_eos is not None)

    def __call__(self, seqs: torch.Tensor, scores: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """``real`` (R, cur), True for real tokens, False for left pads: transformers run one prompt at a time sees
        no pads, so pads must neither be penalised nor form n-grams (None: every position is real)."""
        cur = seqs.shape[1]
        if self.rep:
            # a pad position points at the row's last token (always real): scattering one value twice is harmless
            ids = seqs if real is None else torch.where(real, seqs, seqs[:, -1:])
            s = scores.gather(1, ids)
            s = torch.where(s < 0, s * self.rep, s / self.rep)
            scores = scores.scatter(1, ids, s)
        if self.ngram and cur >= self.ngram:  # fewer tokens hold no complete n-gram yet
            scores = ban_repeated_ngrams(seqs, scores, self.ngram, real)
        if self.bad:
            scores[:, self.bad] = -float("inf")
        if self.min_len and self.eos and cur < self.min_len:
            scores[:, self.eos] = -float("inf")
        if self.forced_eos is not None and cur == self.max_len - 1:
            scores = torch.full_like(scores, -float("inf"))
            scores[:, self.forced_eos] = 0
        return scores


def ban_repeated_ngrams(
    seqs: torch.Tensor, scores: torch.Tensor, n: int, real: torch.Tensor | None = None
) -> torch.Tensor:
    """transformers' NoRepeatNGramLogitsProcessor, vectorized over rows: a token that would complete an n-gram
    already present in the row's sequence (prompt or decoder start included) gets -inf. With ``real`` (False at
    left pads) only n-grams of real tokens count, and a row with fewer than n real tokens bans nothing."""
    R, cur = seqs.shape
    grams = seqs.unfold(1, n, 1)  # (R, cur - n + 1, n) every n-gram so far
    tail = seqs[:, cur - n + 1 :]  # (R, n - 1) the n-1 tokens an n-th would follow
    hit = (grams[:, :, :-1] == tail[:, None, :]).all(-1)  # (R, windows)
    if real is not None:
        hit &= real.unfold(1, n, 1).all(-1)  # left pads: n real tokens end the row, so the tail is real too
    rows, at = hit.nonzero(as_tuple=True)
    scores = scores.clone()
    scores[rows, grams[rows, at, -1]] = -float("inf")
    return scores


def row_topk(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(x, k)`` over the last dim of a (rows, V) CPU tensor with a large V and a small k (beam search's
    2 * num_beams of a vocabulary), in well under half the time: torch.topk first copies every element into a
    (value, index) list. Here a row's first 64 * (V // 64) columns form chunks of 8 (chunk j: columns j + i * n1)
    and groups of 8 chunks; a vectorized ``amax`` gives each chunk's and each group's best value. The k best
    elements of a row lie in the k groups with the best maxima, and there in the k chunks with the best maxima, so
    torch.topk runs only on the group maxima, on 8k chunk maxima and on the 8k columns of the k best chunks (plus
    the V % 64 columns left over). Same values and indices as torch.topk, up to the order of exactly equal values.
    """
    R, V = x.shape
    n1 = V // 64 * 8  # level-one chunks: chunk j holds columns j + i * n1, i < 8
    n2 = n1 // 8  # level-two groups: group g holds chunks g + i * n2, i < 8
    if x.device.type != "cpu" or n2 < 4 * k or not x.is_contiguous():
        return torch.topk(x, k)
    main = x[:, : 8 * n1]
    m1 = main.view(R, 8, n1).amax(1)  # (R, n1)
    m2 = m1.view(R, 8, n2).amax(1)  # (R, n2)
    eight = torch.arange(8, device=x.device)
    groups = (torch.topk(m2, k)[1][:, :, None] + eight * n2).view(R, 8 * k)  # the chunks of the k best groups
    chunks = groups.gather(1, torch.topk(m1.gather(1, groups), k)[1])  # (R, k) the k best chunks
    cols = (chunks[:, :, None] + eight * n1).view(R, 8 * k)
    if V > 8 * n1:
        tail = torch.arange(8 * n1, V, device=x.device)
        cols = torch.cat([cols, tail.expand(R, -1)], 1)
    values, at = torch.topk(x.gather(1, cols), k)
    return values, cols.gather(1, at)


def _warp(scores: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """HF's sampling warpers: temperature, then top-k, then top-p (nucleus, at least one token kept)."""
    if temperature and temperature != 1.0:
        scores = scores / temperature
    if top_k and top_k > 0:
        k = min(top_k, scores.shape[-1])
        kth = torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        remove = cum <= (1 - top_p)
        remove[..., -1:] = False
        scores = scores.masked_fill(remove.scatter(1, sorted_idx, remove), -float("inf"))
    return scores


@dataclass
class DecodeRun:
    """What ``generate`` hands either decoding loop. R rows = batch x (beams or samples per input); P = prompt length
    (1 for an encoder-decoder: its decoder start token)."""

    state: dict[str, Any]  # the model's generation state: KV cache, encoder keys/values, ...
    prompt: torch.Tensor  # (R, P) ids the decoder starts from
    key_mask: torch.Tensor | None  # (R, max_len) 1 for keys to attend to; None when nothing is padded
    prompt_positions: torch.Tensor | None  # (R, P) position ids under left padding; None: 0..P-1
    max_len: int  # P + max_new_tokens
    processor: LogitsProcessor
    eos: list[int]
    pad: int | None  # fills finished rows
    callback: Callable[[torch.Tensor], Any] | None  # called with each step's (R,) new tokens
    streamer: Any  # put()/end() as in models/streamers.py


@dataclass
class Sampling:
    """Multinomial sampling after transformers' warpers (greedy decoding when ``generate`` has none)."""

    temperature: float
    top_k: int | None
    top_p: float | None
    generator: torch.Generator | None


@dataclass
class BeamSettings:
    batch: int  # inputs; the run has batch * num_beams rows
    num_beams: int
    num_return: int  # best hypotheses returned per input
    length_penalty: float  # a finished hypothesis scores sum(log p) / generated_length ** length_penalty
    early_stopping: bool | str  # True, False (transformers' heuristic) or "never"


def _tells_the_streamer_of_errors(generate: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A streamer read from another thread would wait forever for a generation that failed: hand it the error."""

    @functools.wraps(generate)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            return generate(self, *args, **kwargs)
        except BaseException as e:
            fail = getattr(kwargs.get("streamer"), "fail", None)
            if fail is not None:
                fail(e)
            raise

    return wrapper


class GenerationMixin:
    can_generate = True
    is_encoder_decoder = False

    def _gen_default(self, name: str, value: Any, fallback: Any = None) -> Any:
        if value is not None:
            return value
        gen = getattr(self, "generation_config", None) or {}
        if gen.get(name) is not None:
            return gen[name]
        v = self.config.get(name)
        return fallback if v is None else v

    @_tells_the_streamer_of_errors
    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int | None = None,
        max_length: int | None = None,
        min_new_tokens: int = 0,
        do_sample: bool | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float | None = None,
        no_repeat_ngram_size: int | None = None,
        num_beams: int | None = None,
        length_penalty: float | None = None,
        early_stopping: bool | str | None = None,
        num_return_sequences: int = 1,
        eos_token_id: int | list[int] | None = None,
        pad_token_id: int | None = None,
        decoder_start_token_id: int | None = None,
        forced_eos_token_id: int | None = None,
        bad_words_ids: list[list[int]] | None = None,
        stop_strings: str | list[str] | None = None,
        tokenizer: Any = None,
        streamer: Any = None,
        callback: Callable[[torch.Tensor], Any] | None = None,
        generator: torch.Generator | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Token ids (B * num_return_sequences, length): the prompt (decoder-only) or the decoder start token
        (encoder-decoder) followed by the new tokens; finished rows are filled with ``pad_token_id``."""
        if input_ids.dim() == 1:
            input_ids = input_ids.unsqueeze(0)
        device = self.device
        input_ids = input_ids.to(device)
        if attention_mask is not None:
            attention_mask = attention_mask.to(device)
        do_sample = bool(self._gen_default("do_sample", do_sample, False))
        num_beams = int(self._gen_default("num_beams", num_beams, 1))
        eos = self._gen_default("eos_token_id", eos_token_id)
        eos_list = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        pad = self._gen_default("pad_token_id", pad_token_id)
        if pad is None and eos_list:
            pad = eos_list[0]
        B = input_ids.shape[0]
        if self.is_encoder_decoder:
            start_id = self._gen_default("decoder_start_token_id", decoder_start_token_id)
            if start_id is None:
                raise ConfigError("an encoder-decoder needs decoder_start_token_id to generate")
            P = 1
        else:
            P = input_ids.shape[1]
        if max_new_tokens is None:
            max_length = self._gen_default("max_length", max_length, 20)
            max_new_tokens = max(1, max_length - P)
        max_len = P + max_new_tokens
        bad = [w[0] for w in (self._gen_default("bad_words_ids", bad_words_ids) or []) if len(w) == 1]
        forced = self._gen_default("forced_eos_token_id", forced_eos_token_id)
        proc = LogitsProcessor(
            self._gen_default("repetition_penalty", repetition_penalty, 1.0),
            bad,
            P + min_new_tokens,
            eos_list,
            forced,
            max_len,
            int(self._gen_default("no_repeat_ngram_size", no_repeat_ngram_size, 0) or 0),
        )
        n_rows = num_beams if num_beams > 1 else (num_return_sequences if do_sample else 1)
        # decoder-only: the prompt is the (expanded) input; encoder-decoder: encode once, expand the states
        if self.is_encoder_decoder:
            state = self._gen_start(input_ids, attention_mask, max_len, n_rows)
            prompt = torch.full((B * n_rows, 1), start_id, dtype=torch.long, device=device)
            key_full = prompt_pos = None
        else:
            prompt = input_ids.repeat_interleave(n_rows, 0) if n_rows > 1 else input_ids
            key_full = prompt_pos = None
            if attention_mask is not None and not bool(attention_mask.all()):
                mask = attention_mask.repeat_interleave(n_rows, 0) if n_rows > 1 else attention_mask
                key_full = torch.cat([mask, mask.new_ones(mask.shape[0], max_new_tokens)], 1)
                prompt_pos = positions_from_mask(mask)
            state = self._gen_start(prompt, None, max_len, 1)
        stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
        if stops and tokenizer is None:
            raise ConfigError("stop_strings needs the tokenizer (pass tokenizer=...)")
        if streamer is not None:  # the inputs' prompts, once each (not once per beam or sample)
            streamer.put((prompt[::n_rows] if n_rows > 1 else prompt).cpu())
        run = DecodeRun(state, prompt, key_full, prompt_pos, max_len, proc, eos_list, pad, callback, streamer)
        if num_beams > 1:
            beams = BeamSettings(
                batch=B,
                num_beams=num_beams,
                num_return=num_return_sequences,
                length_penalty=float(self._gen_default("length_penalty", length_penalty, 1.0)),
                early_stopping=self._gen_default("early_stopping", early_stopping, False),
            )
            out = self._beam_search(run, beams)
        else:
            sampling = None
            if do_sample:
                sampling = Sampling(
                    float(self._gen_default("temperature", temperature, 1.0)),
                    self._gen_default("top_k", top_k, 50),
                    self._gen_default("top_p", top_p, 1.0),
                    generator,
                )
            out = self._decode_loop(run, sampling, stops, tokenizer)
        if streamer is not None:
            streamer.end()
        return out

    def _decode_loop(self, run: DecodeRun, sampling: Sampling | None, stops: list[str], tokenizer: Any) -> torch.Tensor:
        """Greedy or sampling: one token per row per step, no Python work per token beyond a few tensor ops."""
        R, P = run.prompt.shape
        device = run.prompt.device
        pad, max_len, key_mask = run.pad, run.max_len, run.key_mask
        seqs = torch.full((R, max_len), pad if pad is not None else 0, dtype=torch.long, device=device)
        seqs[:, :P] = run.prompt
        eos_t = torch.tensor(run.eos, device=device) if run.eos else None
        unfinished = torch.ones(R, dtype=torch.bool, device=device)
        pos = run.prompt_positions
        logits = self._gen_step(run.prompt, run.state, 0, pos, None if key_mask is None else key_mask[:, :P])
        if pos is not None:
            pos = pos[:, -1:] + 1
        cur = P
        while True:
            scores = logits.float()
            if run.processor.active:
                real = None if key_mask is None else key_mask[:, :cur].bool()
                scores = run.processor(seqs[:, :cur], scores, real)
            if sampling is not None:
                probs = _warp(scores, sampling.temperature, sampling.top_k, sampling.top_p).softmax(-1)
                nxt = torch.multinomial(probs, 1, generator=sampling.generator).squeeze(1)
            else:
                nxt = scores.argmax(-1)
            if eos_t is not None:
                nxt = torch.where(unfinished, nxt, pad)
            seqs[:, cur] = nxt
            cur += 1
            if run.callback is not None:
                run.callback(nxt)
            if run.streamer is not None:
                run.streamer.put(nxt.cpu())
            if eos_t is not None:
                unfinished &= ~torch.isin(nxt, eos_t)
            if stops:
                unfinished &= _stop_string_hits(seqs[:, P:cur], stops, tokenizer).logical_not().to(device)
                if eos_t is None:
                    eos_t = torch.tensor([], dtype=torch.long, device=device)  # from now on fill finished rows
                    pad = 0 if pad is None else pad
            if cur >= max_len or ((eos_t is not None) and not bool(unfinished.any())):
                return seqs[:, :cur]
            key = None if key_mask is None else key_mask[:, :cur]
            logits = self._gen_step(nxt[:, None], run.state, cur - 1, pos, key)
            if pos is not None:
                pos = pos + 1

    def _beam_search(self, run: DecodeRun, beams: BeamSettings) -> torch.Tensor:
        """transformers' vectorized beam search (generation/utils.py ``_beam_search``), same scores and ties.

        Shapes: B inputs, K = num_beams, C = candidates kept per step (2K, or more with several EOS ids), V the
        vocabulary, L = max_len. Each step scores all K*V continuations, keeps the top C; the best K that do not end
        run on, and those that end (among the top K) compete for the K finished slots of their input.
        """
        B, K = beams.batch, beams.num_beams
        R, P = run.prompt.shape  # R = B * K
        L, eos, state = run.max_len, run.eos, run.state
        device = run.prompt.device
        C = max(2, 1 + len(eos)) * K
        # (C,) only the top K candidates may become finished hypotheses
        in_top_k = torch.cat([torch.ones(K, dtype=torch.bool), torch.zeros(C - K, dtype=torch.bool)]).to(device)
        # transformers' expression, quirks included (a pad id of 0 falls through to the EOS id)
        fill = (run.pad or eos[0]) if eos else -1
        running_seqs = torch.full((B, K, L), fill, dtype=torch.long, device=device)
        running_seqs[:, :, :P] = run.prompt.view(B, K, P)
        finished_seqs = running_seqs.clone()  # (B, K, L)
        running_scores = torch.zeros(B, K, device=device)  # (B, K) sum of log-probs
        running_scores[:, 1:] = -1e9  # all beams start equal: only the first may expand at step one
        finished_scores = torch.full((B, K), -1e9, device=device)  # length-penalised; -1e9 = empty slot
        finished_is_set = torch.zeros(B, K, dtype=torch.bool, device=device)
        may_improve = torch.ones(B, 1, dtype=torch.bool, device=device)  # can a running beam still beat a finished?
        # (B, K, L - P) the row (b * K + beam) each generated token was appended to, -1 where none yet
        running_beam_indices = torch.full((B, K, L - P), -1, dtype=torch.int32, device=device)
        finished_beam_indices = running_beam_indices.clone()
        eos_t = torch.tensor(eos, device=device) if eos else None
        row_offset = torch.arange(B, device=device).view(-1, 1) * K  # (B, 1) first row of each input
        key_mask, pos = run.key_mask, run.prompt_positions
        # results by original input; ``alive`` lists the inputs still in the batch (see "done" below)
        out_seqs, out_beam_indices = finished_seqs.clone(), finished_beam_indices.clone()
        alive = torch.arange(B, device=device)
        drop_rows = getattr(self, "_gen_drops_rows", False) and run.callback is None  # callbacks expect R rows
        # the K beams of an input start equal: a model that can computes the first step once per input
        once = K > 1 and getattr(self, "_gen_first_step_once", False)
        takes_tokens = getattr(self, "_gen_reorder_takes_tokens", False)
        first, first_mask = (run.prompt[::K] if once else run.prompt), None
        if key_mask is not None:
            first_mask = key_mask[::K, :P] if once else key_mask[:, :P]
        logits = self._gen_step(first, state, 0, None if pos is None else pos[:: K if once else 1], first_mask)
        if once:
            logits = logits.repeat_interleave(K, 0)
        if pos is not None:
            pos = pos[:, -1:] + 1
        cur = P
        V = logits.shape[-1]
        while True:
            if logits is None:  # a step forced to EOS (the last): the processor below sets every score
                log_probs = running_scores.new_zeros(R, V)
            else:
                log_probs = F.log_softmax(logits.float(), dim=-1)  # (R, V)
            if run.processor.active:
                real = None if key_mask is None else key_mask[:, :cur].bool()
                log_probs = run.processor(running_seqs.view(R, L)[:, :cur], log_probs, real)
            # transformers takes the top C of all K * V (log-prob + beam score) continuations of an input. Adding a
            # beam's score keeps the order of its row, so each row's top C hold them: the top C of those K * C
            top_lp, top_tok = row_topk(log_probs, min(C, V))  # (R, c)
            c = top_lp.shape[-1]
            totals = (top_lp.view(B, K, c) + running_scores[:, :, None]).view(B, K * c)
            cand_scores, pick = torch.topk(totals, k=C)  # (B, C)
            cand_beam = pick // c  # (B, C) which running beam each candidate extends
            cand_beam_indices = torch.take_along_dim(running_beam_indices, cand_beam[..., None], dim=1)
            prev_seqs = running_seqs
            cand_seqs = torch.take_along_dim(running_seqs, cand_beam[..., None], dim=1)  # (B, C, L)
            cand_seqs[:, :, cur] = top_tok.view(B, K * c).gather(1, pick)
            cand_beam_indices[:, :, cur - P] = (cand_beam + row_offset).to(torch.int32)
            if cur + 1 >= L:
                cand_ends = torch.ones(B, C, dtype=torch.bool, device=device)  # the last step ends everything
            elif eos_t is not None:
                cand_ends = torch.isin(cand_seqs[:, :, cur], eos_t)
            else:
                cand_ends = torch.zeros(B, C, dtype=torch.bool, device=device)
            # the best K candidates that do not end run on
            cand_running_scores = cand_scores + cand_ends.to(torch.float32) * -1.0e9
            next_running = torch.topk(cand_running_scores, k=K)[1]  # (B, K)
            running_seqs = torch.take_along_dim(cand_seqs, next_running[..., None], dim=1)
            running_scores = torch.take_along_dim(cand_running_scores, next_running, dim=1)
            running_beam_indices = torch.take_along_dim(cand_beam_indices, next_running[..., None], dim=1)
            # those that end among the top K join the finished hypotheses if they beat the worst kept one
            cand_finishes = cand_ends & in_top_k[None, :]
            cand_finished_scores = cand_scores / ((cur + 1 - P) ** beams.length_penalty)
            input_done = torch.all(finished_is_set, dim=-1, keepdim=True) & (beams.early_stopping is True)
            cand_finished_scores = cand_finished_scores + input_done.to(torch.float32) * -1.0e9
            cand_finished_scores = cand_finished_scores + (~may_improve).to(torch.float32) * -1.0e9
            cand_finished_scores = cand_finished_scores + (~cand_finishes) * -1.0e9
            all_scores = torch.cat([finished_scores, cand_finished_scores], 1)  # (B, K + C)
            keep = torch.topk(all_scores, k=K)[1]  # (B, K)
            finished_seqs = torch.take_along_dim(torch.cat([finished_seqs, cand_seqs], 1), keep[..., None], dim=1)
            finished_scores = torch.take_along_dim(all_scores, keep, dim=1)
            finished_beam_indices = torch.take_along_dim(
                torch.cat([finished_beam_indices, cand_beam_indices], 1), keep[..., None], dim=1
            )
            finished_is_set = torch.take_along_dim(torch.cat([finished_is_set, cand_finishes], 1), keep, dim=1)
            parents = running_beam_indices[..., cur - P]  # (B, K) the row each running beam continues
            cur += 1
            # transformers' early-stop heuristic: the best running beam, at the best length it could reach, against
            # the worst finished hypothesis
            if beams.early_stopping == "never" and beams.length_penalty > 0.0:
                best_len = L - P
            else:
                best_len = cur - P
            best_running = running_scores[:, :1] / (best_len**beams.length_penalty)  # (B, 1)
            worst_finished = torch.where(
                finished_is_set, torch.min(finished_scores, dim=1, keepdim=True)[0], -1.0e9
            )  # (B, K)
            may_improve = may_improve & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
            # an input is done once its finished hypotheses can no longer change: none can beat them (or, with
            # early_stopping=True, all K are set). transformers runs on until every input is done; the results are
            # the same either way, so done inputs leave the batch (their rows stop costing model time)
            done = ~may_improve[:, 0]
            if beams.early_stopping is True:
                done |= finished_is_set.all(-1)
            n_done = int(done.sum())
            if n_done == done.numel() or bool(cand_ends.all()):
                break
            if n_done and drop_rows:
                stay = (~done).nonzero().squeeze(1)
                gone = alive[done]
                out_seqs[gone], out_beam_indices[gone] = finished_seqs[done], finished_beam_indices[done]
                alive = alive[stay]
                running_seqs, finished_seqs = running_seqs[stay], finished_seqs[stay]
                running_scores, finished_scores = running_scores[stay], finished_scores[stay]
                finished_is_set, may_improve = finished_is_set[stay], may_improve[stay]
                running_beam_indices, finished_beam_indices = running_beam_indices[stay], finished_beam_indices[stay]
                rows = (stay[:, None] * K + torch.arange(K, device=device)).reshape(-1)
                key_mask = None if key_mask is None else key_mask[rows]
                pos = None if pos is None else pos[rows]
                parents = parents[stay]
                B, R = stay.numel(), stay.numel() * K
                row_offset = torch.arange(B, device=device).view(-1, 1) * K
            if takes_tokens:  # the old beams' ids: what each row of the cache was computed from
                self._gen_reorder(state, parents.reshape(-1).long(), tokens=prev_seqs.view(-1, L))
            else:
                self._gen_reorder(state, parents.reshape(-1).long())
            tokens = running_seqs[:, :, cur - 1].reshape(R, 1)
            if run.callback is not None:
                run.callback(tokens[:, 0])
            key = None if key_mask is None else key_mask[:, :cur]
            # the last step's scores are forced to EOS whatever the model says: the model step is skipped
            logits = None if run.processor.forces(cur) else self._gen_step(tokens, state, cur - 1, pos, key)
            if pos is not None:
                pos = pos + 1
        out_seqs[alive], out_beam_indices[alive] = finished_seqs, finished_beam_indices
        B = beams.batch
        finished_seqs, finished_beam_indices = out_seqs, out_beam_indices
        n = beams.num_return
        sequences = finished_seqs[:, :n].reshape(B * n, L)
        beam_indices = finished_beam_indices[:, :n].reshape(B * n, -1)
        generated = int((beam_indices + 1).bool().sum(1).max())  # the longest returned hypothesis
        out = sequences[:, : P + generated]
        if run.streamer is not None:
            run.streamer.put(out[:, P:].cpu())
        return out

    def stream(self, input_ids: torch.Tensor, **kwargs: Any) -> Iterator[torch.Tensor]:
        """Yield each step's new tokens (B,) as they are made (generation runs in a background thread)."""
        q: queue.Queue = queue.Queue()
        done = object()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["out"] = self.generate(input_ids, callback=lambda t: q.put(t.cpu()), **kwargs)
            except BaseException as e:  # re-raised in the consumer
                box["error"] = e
            finally:
                q.put(done)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while (item := q.get()) is not done:
            yield item
        thread.join()
        if "error" in box:
            raise box["error"]


def _stop_string_hits(generated: torch.Tensor, stops: list[str], tokenizer: Any) -> torch.Tensor:
    """True for rows whose generated text contains a stop string (decoded from the new tokens only)."""
    rows = generated.tolist()
    texts = [tokenizer.decode(r) for r in rows]
    return torch.tensor([any(s in t for s in stops) for t in texts], dtype=torch.bool)
