"""Streamers for ``model.generate(..., streamer=...)``, as in transformers: text comes out while tokens are made.

``generate`` calls ``streamer.put(ids)`` once with the prompt (decoder-only) or the decoder start token
(encoder-decoder), then once per step with the new token of each row, and ``streamer.end()`` when done; if generation
fails, ``streamer.fail(error)`` is called when the streamer has it (transformers' streamers would block forever).

- ``TextStreamer`` prints text to stdout as soon as it is safe to: a word is printed when it is complete (a space
  follows), when the text so far is only letters/marks/digits/spaces, at a newline, or at a CJK character; never
  half of a multi-byte character. Subclass it and override ``on_finalized_text`` to send the text elsewhere.
- ``TextIteratorStreamer`` puts the same pieces in a queue and is an iterator over them (run ``generate`` in a
  thread); ``timeout`` bounds each wait.
- ``AsyncTextIteratorStreamer``: the same for ``async for`` (create it inside the running event loop).

The pieces, joined, are exactly the decode of all tokens streamed (after the prompt when ``skip_prompt``). The rules
are transformers' own, piece for piece, so a server or a pipeline streams the same chunks either library would.
"""

from __future__ import annotations

import asyncio
import unicodedata
from queue import Queue
from typing import Any


class BaseStreamer:
    """What ``generate`` calls: ``put`` with new token ids, ``end`` when generation is over."""

    def put(self, value: Any) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class TextStreamer(BaseStreamer):
    """Decode tokens as they come and print the text that is safe to show (one row only)."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, **decode_kwargs: Any):
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []
        self.print_len = 0  # characters of decode(token_cache) already handed out
        self.next_tokens_are_prompt = True

    def put(self, value: Any) -> None:
        if len(value.shape) > 1 and value.shape[0] > 1:
            raise ValueError("TextStreamer only supports batch size 1")
        if len(value.shape) > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        pending = text[self.print_len :]
        if text.endswith("\n"):
            # a line is complete: start a new cache from its last token, so the next decode starts cleanly
            printable = pending
            self.token_cache = self.token_cache[-1:]
            self.print_len = len(self.tokenizer.decode(self.token_cache[-1], **self.decode_kwargs))
        elif text and _is_cjk(ord(text[-1])):
            printable = pending  # CJK characters are words of their own
            self.print_len += len(printable)
        elif all(char.isspace() or unicodedata.category(char)[0] in "LMN" for char in pending):
            printable = pending  # letters, marks and digits: nothing a later token could change
            self.print_len += len(printable)
        else:
            printable = text[self.print_len : text.rfind(" ") + 1]  # up to the last space: whole words only
            self.print_len += len(printable)
        self.on_finalized_text(printable)

    def end(self) -> None:
        """Hand out what is left and signal the end of the stream."""
        printable = ""
        if self.token_cache:
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            printable = text[self.print_len :]
            self.token_cache = []
            self.print_len = 0
        self.next_tokens_are_prompt = True
        self.on_finalized_text(printable, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Print the new text; a newline ends the stream."""
        print(text, flush=True, end=None if stream_end else "")


class TextIteratorStreamer(TextStreamer):
    """Text pieces through a queue: ``for piece in streamer`` while ``generate`` runs in another thread.

    ``timeout`` (seconds) bounds each wait (``queue.Empty`` when it passes). An error in ``generate`` is raised by
    the iterator instead of leaving it waiting.
    """

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs: Any):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def fail(self, error: BaseException) -> None:
        self.text_queue.put(_Failure(error), timeout=self.timeout)

    def __iter__(self) -> TextIteratorStreamer:
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if isinstance(value, _Failure):
            raise value.error
        if value == self.stop_signal:
            raise StopIteration
        return value


class AsyncTextIteratorStreamer(TextStreamer):
    """``async for piece in streamer`` while ``generate`` runs in a thread; make it inside the event loop."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs: Any):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: asyncio.Queue = asyncio.Queue()
        self.stop_signal = None
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.loop.call_soon_threadsafe(self.text_queue.put_nowait, text)
        if stream_end:
            self.loop.call_soon_threadsafe(self.text_queue.put_nowait, self.stop_signal)

    def fail(self, error: BaseException) -> None:
        self.loop.call_soon_threadsafe(self.text_queue.put_nowait, _Failure(error))

    def __aiter__(self) -> AsyncTextIteratorStreamer:
        return self

    async def __anext__(self) -> str:
        value = await asyncio.wait_for(self.text_queue.get(), self.timeout)
        if isinstance(value, _Failure):
            raise value.error
        if value == self.stop_signal:
            raise StopAsyncIteration
        return value


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _is_cjk(cp: int) -> bool:
    """A code point of the CJK Unified Ideographs blocks (the ranges transformers and BERT use)."""
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )
