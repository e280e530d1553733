"""A GGUF model run in-process by llama.cpp (the prebuilt `xllamacpp` wheel): `llamacpp:<path.gguf>`.

The way to run a GGUF here: llama.cpp computes with the quantised weights, where transformers'
GGUF loader de-quantises them to float32 first (about 6x fewer tokens per CPU-second, and a load
of a minute instead of seconds, for Gemma 3 270M on this machine; `make bench`, generation).

* One thread by default (`Settings.generator_threads`): on a busy 2-core machine one thread beat
  two, and the other core stays free for retrieval and other requests.
* The model loads on first use, once; a failed load is remembered and not retried per question.
* Greedy decoding. A GGUF with a chat template (`tokenizer.chat_template`) gets the chat
  messages; one without it (a base model) gets the plain prompt and continues its answer start,
  one line, as with the transformers backend.
* The timeout bounds the whole answer: llama.cpp hands over tokens as it makes them, and the
  request is cancelled once the deadline has passed (prompt processing, a few seconds at most
  within the context size, is not interrupted).
* `stream` yields text pieces as they are made; `last_timings` keeps llama.cpp's own counts of
  the last request (prompt/predicted tokens and milliseconds) for the benchmark.
"""

from __future__ import annotations

import mmap
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.answering.backends.base import (
    PLAIN_STOP,
    GeneratorError,
    Message,
    answer_pieces,
    answer_start,
    plain_answer,
    plain_prompt,
)

# GGUF metadata value types (gguf spec): fixed sizes, string = u64 length + bytes, array = item
# type (u32) + count (u64) + items.
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def gguf_string(path: Path, key: str) -> str | None:
    """The string value of metadata `key` in a GGUF file's header, None when it has none.

    Reads the header only: the `gguf` package's reader also maps every tensor, which takes
    seconds for a 262k-token vocabulary."""
    wanted = key.encode()
    try:
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m[:4] != b"GGUF":
                raise GeneratorError(f"{path} is not a GGUF file")
            (count,) = struct.unpack_from("<Q", m, 16)

            def skip(kind: int, at: int) -> int:
                if kind in _GGUF_SIZES:
                    return at + _GGUF_SIZES[kind]
                if kind == _GGUF_STRING:
                    return at + 8 + struct.unpack_from("<Q", m, at)[0]
                if kind != _GGUF_ARRAY:
                    raise GeneratorError(f"{path}: unknown GGUF value type {kind}")
                item, n = struct.unpack_from("<IQ", m, at)
                at += 12
                if item in _GGUF_SIZES:
                    return at + n * _GGUF_SIZES[item]
                for _ in range(n):
                    at = skip(item, at)
                return at

            at = 24
            for _ in range(count):
                (length,) = struct.unpack_from("<Q", m, at)
                name = m[at + 8 : at + 8 + length]
                (kind,) = struct.unpack_from("<I", m, at + 8 + length)
                at += 12 + length
                if name == wanted and kind == _GGUF_STRING:
                    (size,) = struct.unpack_from("<Q", m, at)
                    return m[at + 8 : at + 8 + size].decode("utf-8")
                at = skip(kind, at)
    except (OSError, ValueError, struct.error) as exc:
        raise GeneratorError(f"cannot read the GGUF header of {path}: {exc}") from exc
    return None


class LlamaCppGenerator:
    """A GGUF file on the CPU through llama.cpp, greedy decoding (see the module docstring)."""

    def __init__(
        self, path: str, timeout: float = 30.0, threads: int = 1, context: int = 4096
    ) -> None:
        self.path = Path(path).expanduser()
        self.name = f"llamacpp:{self.path.name}"
        self.timeout = timeout
        self.threads = threads
        self.context = context
        self.last_timings: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._chat = False
        self._error: GeneratorError | None = None

    def load(self) -> None:
        """Load the model now rather than on the first question (raises GeneratorError)."""
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._server is not None:
                return self._server
            if self._error is not None:  # do not pay a failing load on every question
                raise self._error
            try:
                self._server = self._start()
            except GeneratorError as exc:
                self._error = exc
                raise
            return self._server

    def _start(self) -> Any:
        if not self.path.is_file():
            raise GeneratorError(f"no GGUF file at {self.path}")
        self._chat = bool(gguf_string(self.path, "tokenizer.chat_template"))
        try:
            import xllamacpp
        except ImportError as exc:
            raise GeneratorError(
                f"{self.name}: the xllamacpp package is not installed (pip install 'qa[llamacpp]')"
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_ctx = self.context
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.warmup = False
        params.cache_ram_mib = 0  # the slot's own prompt cache is enough for one user at a time
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        try:
            return xllamacpp.Server(params)
        except Exception as exc:
            raise GeneratorError(f"cannot load {self.path}: {type(exc).__name__}: {exc}") from exc

    def _request(
        self, messages: list[Message], max_tokens: int, on_piece: Callable[[str], bool]
    ) -> str | None:
        """Run one streamed request, handing each text piece to `on_piece` (True: stop). Returns
        the plain prompt's answer start, or None when the chat template was used."""
        server = self._load()
        deadline = time.monotonic() + self.timeout
        options = {"max_tokens": max_tokens, "temperature": 0, "stream": True}
        start = None if self._chat else answer_start(messages)
        failure: list[str] = []
        timed_out = False

        def receive(event: dict[str, Any]) -> bool:
            nonlocal timed_out
            if "error" in event:
                error = event["error"]
                failure.append(
                    error.get("message", str(error)) if isinstance(error, dict) else error
                )
                return True
            self.last_timings = event.get("timings") or self.last_timings
            choice = (event.get("choices") or [{}])[0]
            piece = (
                choice.get("text")
                if start is not None
                else (choice.get("delta") or {}).get("content")
            )
            if piece and on_piece(piece):
                return True
            timed_out = time.monotonic() > deadline and not choice.get("finish_reason")
            return timed_out

        self.last_timings = {}
        if start is None:
            server.handle_chat_completions({**options, "messages": messages}, receive)
        else:
            prompt = plain_prompt(messages)
            server.handle_completions({**options, "prompt": prompt, "stop": [PLAIN_STOP]}, receive)
        if failure:
            raise GeneratorError(f"{self.name}: {failure[0]}")
        if timed_out:
            raise GeneratorError(f"{self.name}: no answer within {self.timeout:g}s")
        return start

    def generate(self, messages: list[Message], max_tokens: int) -> str:
        pieces: list[str] = []

        def keep(piece: str) -> bool:
            pieces.append(piece)
            return False

        start = self._request(messages, max_tokens, keep)
        return plain_answer("".join(pieces), start)

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        """Pieces of the answer as llama.cpp makes them; closing the iterator early cancels the
        request. Errors (load, timeout, context too small) are raised from the iterator."""
        self._load()  # a load error is raised here, before the worker starts
        pieces: queue.Queue[str | BaseException | None] = queue.Queue()
        cancel = threading.Event()

        def hand_over(piece: str) -> bool:
            pieces.put(piece)
            return cancel.is_set()

        def run() -> None:
            try:
                self._request(messages, max_tokens, hand_over)
            except BaseException as exc:  # surfaced to the consumer below
                pieces.put(exc)
            pieces.put(None)

        def arrived() -> Iterator[str]:
            while (item := pieces.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item

        worker = threading.Thread(target=run, name="llamacpp-stream", daemon=True)
        worker.start()
        try:
            yield from answer_pieces(arrived(), None if self._chat else answer_start(messages))
        finally:
            cancel.set()
            worker.join()
