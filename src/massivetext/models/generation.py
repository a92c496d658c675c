"""Generation shared by decoders and encoder-decoders: greedy, sampling (temperature, top-k, top-p), repetition
penalty, beam search (length penalty, early stopping), EOS and stop strings, left padding, a static KV cache,
and streaming through a per-token callback, a streamer (``models/streamers.py``), or an iterator of token ids.

A model provides three hooks: ``_gen_start(input_ids, attention_mask, max_len, expand)`` (allocate the cache; an
encoder-decoder also encodes and repeats its states ``expand`` times), ``_gen_step(tokens, state, start,
position_ids, key_mask)`` (logits for the last new token) and ``_gen_reorder(state, index)`` (beam search).
Beam search follows transformers' vectorized algorithm step for step, so both give the same beams.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from massivetext.errors import ConfigError


def _positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


class LogitsProcessor:
    """The HF processors MassiveText supports, in transformers' order, on float32 scores (B, V)."""

    def __init__(self, repetition_penalty, bad_token_ids, min_len, eos, forced_eos, max_len):
        self.rep = repetition_penalty if repetition_penalty and repetition_penalty != 1.0 else None
        self.bad = bad_token_ids or None
        self.min_len, self.eos, self.forced_eos, self.max_len = min_len, eos, forced_eos, max_len

    @property
    def active(self) -> bool:
        return bool(self.rep or self.bad or (self.min_len and self.eos) or self.forced_eos is not None)

    def __call__(self, seqs: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cur = seqs.shape[1]
        if self.rep:
            s = scores.gather(1, seqs)
            s = torch.where(s < 0, s * self.rep, s / self.rep)
            scores = scores.scatter(1, seqs, s)
        if self.bad:
            scores[:, self.bad] = -float("inf")
        if self.min_len and self.eos and cur < self.min_len:
            scores[:, self.eos] = -float("inf")
        if self.forced_eos is not None and cur == self.max_len - 1:
            scores = torch.full_like(scores, -float("inf"))
            scores[:, self.forced_eos] = 0
        return scores


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
                prompt_pos = _positions_from_mask(mask)
            state = self._gen_start(prompt, None, max_len, 1)
        stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
        if stops and tokenizer is None:
            raise ConfigError("stop_strings needs the tokenizer (pass tokenizer=...)")
        if streamer is not None:
            streamer.put(prompt.cpu())
        run = dict(
            state=state,
            prompt=prompt,
            key_full=key_full,
            prompt_pos=prompt_pos,
            max_len=max_len,
            proc=proc,
            eos=eos_list,
            pad=pad,
            callback=callback,
            streamer=streamer,
        )
        if num_beams > 1:
            out = self._beam_search(
                **run,
                batch=B,
                num_beams=num_beams,
                n_return=num_return_sequences,
                length_penalty=float(self._gen_default("length_penalty", length_penalty, 1.0)),
                early_stopping=self._gen_default("early_stopping", early_stopping, False),
            )
        else:
            sampling = (
                float(self._gen_default("temperature", temperature, 1.0)),
                self._gen_default("top_k", top_k, 50),
                self._gen_default("top_p", top_p, 1.0),
            )
            out = self._decode_loop(
                **run, sampling=sampling if do_sample else None, stops=stops, tokenizer=tokenizer, generator=generator
            )
        if streamer is not None:
            streamer.end()
        return out

    def _decode_loop(
        self,
        state,
        prompt,
        key_full,
        prompt_pos,
        max_len,
        proc,
        eos,
        pad,
        callback,
        streamer,
        sampling,
        stops,
        tokenizer,
        generator,
    ) -> torch.Tensor:
        """Greedy or sampling: one token per row per step, no Python work per token beyond a few tensor ops."""
        R, P = prompt.shape
        device = prompt.device
        seqs = torch.full((R, max_len), pad if pad is not None else 0, dtype=torch.long, device=device)
        seqs[:, :P] = prompt
        eos_t = torch.tensor(eos, device=device) if eos else None
        unfinished = torch.ones(R, dtype=torch.bool, device=device)
        pos = prompt_pos
        logits = self._gen_step(prompt, state, 0, pos, None if key_full is None else key_full[:, :P])
        if pos is not None:
            pos = pos[:, -1:] + 1
        cur = P
        while True:
            scores = logits.float()
            if proc.active:
                scores = proc(seqs[:, :cur], scores)
            if sampling is not None:
                probs = _warp(scores, *sampling).softmax(-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                nxt = scores.argmax(-1)
            if eos_t is not None:
                nxt = torch.where(unfinished, nxt, pad)
            seqs[:, cur] = nxt
            cur += 1
            if callback is not None:
                callback(nxt)
            if streamer is not None:
                streamer.put(nxt.cpu())
            if eos_t is not None:
                unfinished &= ~torch.isin(nxt, eos_t)
            if stops:
                unfinished &= _stop_string_hits(seqs[:, P:cur], stops, tokenizer).logical_not().to(device)
                if eos_t is None:
                    eos_t = torch.tensor([], dtype=torch.long, device=device)  # from now on fill finished rows
                    pad = 0 if pad is None else pad
            if cur >= max_len or ((eos_t is not None) and not bool(unfinished.any())):
                return seqs[:, :cur]
            key = None if key_full is None else key_full[:, :cur]
            logits = self._gen_step(nxt[:, None], state, cur - 1, pos, key)
            if pos is not None:
                pos = pos + 1

    def _beam_search(
        self,
        state,
        prompt,
        key_full,
        prompt_pos,
        max_len,
        proc,
        eos,
        pad,
        callback,
        streamer,
        batch,
        num_beams,
        n_return,
        length_penalty,
        early_stopping,
    ) -> torch.Tensor:
        """transformers' vectorized beam search (generation/utils.py ``_beam_search``), same scores and ties."""
        B, nb = batch, num_beams
        R, P = prompt.shape
        device = prompt.device
        keep = max(2, 1 + len(eos)) * nb
        top_mask = torch.cat([torch.ones(nb, dtype=torch.bool), torch.zeros(keep - nb, dtype=torch.bool)]).to(device)
        # transformers' expression, quirks included (a pad id of 0 falls through to the EOS id)
        fill = (pad or eos[0]) if eos else -1
        running = torch.full((B, nb, max_len), fill, dtype=torch.long, device=device)
        running[:, :, :P] = prompt.view(B, nb, P)
        sequences = running.clone()
        running_scores = torch.zeros(B, nb, device=device)
        running_scores[:, 1:] = -1e9
        beam_scores = torch.full((B, nb), -1e9, device=device)
        is_fin = torch.zeros(B, nb, dtype=torch.bool, device=device)
        heur = torch.ones(B, 1, dtype=torch.bool, device=device)
        running_bi = torch.full((B, nb, max_len - P), -1, dtype=torch.int32, device=device)
        beam_hist = running_bi.clone()
        eos_t = torch.tensor(eos, device=device) if eos else None
        offset = torch.arange(B, device=device).view(-1, 1) * nb
        pos = prompt_pos
        logits = self._gen_step(prompt, state, 0, pos, None if key_full is None else key_full[:, :P])
        if pos is not None:
            pos = pos[:, -1:] + 1
        cur = P
        while True:
            log_probs = F.log_softmax(logits.float(), dim=-1)
            if proc.active:
                log_probs = proc(running.view(R, max_len)[:, :cur], log_probs)
            V = log_probs.shape[-1]
            acc = (log_probs.view(B, nb, V) + running_scores[:, :, None]).view(B, nb * V)
            topk_lp, topk_idx = torch.topk(acc, k=keep)
            topk_beam = topk_idx // V
            topk_bi = torch.take_along_dim(running_bi, topk_beam[..., None], dim=1)
            topk_seq = torch.take_along_dim(running, topk_beam[..., None], dim=1)
            topk_seq[:, :, cur] = topk_idx % V
            topk_bi[:, :, cur - P] = (topk_beam + offset).to(torch.int32)
            if cur + 1 >= max_len:
                hits = torch.ones(B, keep, dtype=torch.bool, device=device)
            elif eos_t is not None:
                hits = torch.isin(topk_seq[:, :, cur], eos_t)
            else:
                hits = torch.zeros(B, keep, dtype=torch.bool, device=device)
            # the best num_beams unfinished continuations run on
            trl = topk_lp + hits.to(torch.float32) * -1.0e9
            nidx = torch.topk(trl, k=nb)[1]
            running = torch.take_along_dim(topk_seq, nidx[..., None], dim=1)
            running_scores = torch.take_along_dim(trl, nidx, dim=1)
            running_bi = torch.take_along_dim(topk_bi, nidx[..., None], dim=1)
            # finished ones among the top num_beams join the hypotheses if they beat the worst kept one
            just = hits & top_mask[None, :]
            fl = topk_lp / ((cur + 1 - P) ** length_penalty)
            full = torch.all(is_fin, dim=-1, keepdim=True) & (early_stopping is True)
            fl = fl + full.to(torch.float32) * -1.0e9
            fl = fl + (~heur).to(torch.float32) * -1.0e9
            fl = fl + (~just) * -1.0e9
            m_idx = torch.topk(torch.cat([beam_scores, fl], 1), k=nb)[1]
            sequences = torch.take_along_dim(torch.cat([sequences, topk_seq], 1), m_idx[..., None], dim=1)
            beam_scores = torch.take_along_dim(torch.cat([beam_scores, fl], 1), m_idx, dim=1)
            beam_hist = torch.take_along_dim(torch.cat([beam_hist, topk_bi], 1), m_idx[..., None], dim=1)
            is_fin = torch.take_along_dim(torch.cat([is_fin, just], 1), m_idx, dim=1)
            self._gen_reorder(state, running_bi[..., cur - P].reshape(-1).long())
            cur += 1
            if early_stopping == "never" and length_penalty > 0.0:
                best_len = max_len - P
            else:
                best_len = cur - P
            best_running = running_scores[:, :1] / (best_len**length_penalty)
            worst_fin = torch.where(is_fin, torch.min(beam_scores, dim=1, keepdim=True)[0], -1.0e9)
            heur = heur & torch.any(best_running > worst_fin, dim=-1, keepdim=True)
            go_on = bool(heur.any()) and not (bool(is_fin.all()) and early_stopping is True) and not bool(hits.all())
            if not go_on:
                break
            tokens = running[:, :, cur - 1].reshape(R, 1)
            if callback is not None:
                callback(tokens[:, 0])
            key = None if key_full is None else key_full[:, :cur]
            logits = self._gen_step(tokens, state, cur - 1, pos, key)
            if pos is not None:
                pos = pos + 1
        sequences = sequences[:, :n_return].reshape(B * n_return, max_len)
        beam_hist = beam_hist[:, :n_return].reshape(B * n_return, -1)
        gen_len = int((beam_hist + 1).bool().sum(1).max())
        out = sequences[:, : P + gen_len]
        if streamer is not None:
            streamer.put(out[:, P:].cpu())
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
