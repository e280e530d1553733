"""Streaming answers: the events every streaming door sends, and work that stops with its client.

An answer streams as three kinds of events, in this order:

* `citations` — `{"citations": [...], "related": [...], "conflicts": [...]}` (every list of
  passages of the answer object), the numbered passages with their offsets, before any text, so
  a client can draw the sources while the words arrive;
* `delta` — `{"text": ...}`, pieces of `answer.answer` whose concatenation is the whole text: an
  extractive answer sentence by sentence (each piece ends with its `[n]` markers), a generated
  one word-token by word-token;
* `done` — `answer.to_dict()`, the same object the non-streamed door returns.

The answer is composed before the first event: the extractive answer is quoted sentences chosen
after ranking all of them, and a generated answer is shown only after `qa.answering.grounding`
has read all of it (a half-checked answer must not reach the screen). What streaming buys is that
citations come first and long answers render progressively — and that the work stops when the
client leaves: `compute` watches the connection while the answer is being made and, if the client
disconnects, sets a cancel flag that `StoppableGenerator` checks between tokens, closing the
backend's token stream (the transformers backend stops decoding, the HTTP backend drops its
connection). The extractive stage itself (≈0.3 s) is not interrupted; nothing runs after it.

`sse()` frames events for HTTP (Server-Sent Events); the web chat and `qa ask --stream`
iterate `answer_events` directly.

Plain text out (`plain_text`, `plain_answer`): the answer's text quotes articles, and an article
may hold markup — `<script>`, `<img onerror=…>`, `[x](javascript:…)`, terminal escapes. Every door
that sends the answer as text (these events, `/v1/answer`, the OpenAI-compatible and MCP
content, the CLI) sends it plain: tags and control characters removed, Markdown links and images
kept only with an http(s) target. The citations' `quote`s stay exact (`text[start:end]`): they
are data, and a client that shows one as markup must escape it like any other data.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import StreamingResponse

from qa.answering.backends import Generator, Message
from qa.conversations import CITATION_LISTS
from qa.pipeline import QA
from qa.types import Answer

T = TypeVar("T")
Event = tuple[str, dict[str, Any]]

# A sentence and the [n] markers that end it (a marker opening a line, as in a dated note
# "[1] tính đến 31/10/2023", belongs to the text after it), or the rest of the text.
_SENTENCE = re.compile(r".*?\S\s*(?:\[\d+\])+\s*|.+$", re.S)
_TOKEN = re.compile(r"\s*\S+|\s+$")
_POLL_SECONDS = 0.1
# No caching, and no buffering by a reverse proxy (nginx), so events arrive as they are sent.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "qa_answer_cancel", default=None
)


# -- plain text --------------------------------------------------------------------------------
# An HTML tag, comment, doctype or processing instruction (what a Markdown renderer passes on as
# HTML), an autolink `<scheme:...>` included.
_TAG = re.compile(r"<\s*[/!?]?\s*[A-Za-z][^<>]*>|<!--.*?-->|<![^<>]*>|<\?[^<>]*>", re.S)
_TAG_START = re.compile(r"<(?=\s*[/!?A-Za-z])")
# C0/C1 controls but tab and newline (terminal escapes start with ESC or CSI), DEL, and the
# bidirectional overrides that reorder what a terminal or page shows.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Markdown links and images `[text](target ...)` and reference definitions `[x]: target`.
_LINK = re.compile(r"(!?\[[^\]\n]*\])\(\s*<?([^)\s>]*)>?([^)]*)\)")
_REFERENCE = re.compile(r"^(\s{0,3}\[[^\]\n]+\]):[ \t]*<?(\S*?)>?(?=\s|$)", re.M)
_WEB = re.compile(r"https?://[^\s/?#]+", re.I)


def _link(match: re.Match[str]) -> str:
    label, target = match.group(1), match.group(2)
    if _WEB.match(target):
        return match.group(0)
    return label  # the text stays, the link (javascript:, data:, a relative path) goes


def _reference(match: re.Match[str]) -> str:
    if _WEB.match(match.group(2)):
        return match.group(0)
    return match.group(1)


def plain_text(text: str) -> str:
    """`text` with no markup a client could run or follow: HTML tags and comments removed (to
    a fixed point: `<scr<b>ipt>` does not become a tag), any `<` left before a tag-like name
    escaped, control characters and bidi overrides removed, Markdown links, images and link
    definitions kept only when they lead to an http(s) URL (else only their text is kept)."""
    text = _CONTROLS.sub("", text)
    while True:
        stripped = _TAG.sub("", text)
        if stripped == text:
            break
        text = stripped
    text = _TAG_START.sub("&lt;", text)
    text = _LINK.sub(_link, text)
    return _REFERENCE.sub(_reference, text)


def plain_url(url: str) -> str:
    """`url` if it is an http(s) URL without spaces or markup characters, else ""."""
    return url if _WEB.match(url or "") and not re.search(r"[\s<>()\[\]\"'`]", url) else ""


def plain_answer(answer: Answer, citations: bool = False) -> Answer:
    """The answer with its text plain (`plain_text`); with `citations`, each citation's quote,
    title and outlet too (for a terminal: the CLI's text output, not JSON)."""
    plain = dataclasses.replace(answer, answer=plain_text(answer.answer))
    if not citations:
        return plain

    def clean(c: Any) -> Any:
        fields = {k: plain_text(getattr(c, k)) for k in ("quote", "title", "source")}
        return dataclasses.replace(c, **fields, url=plain_url(c.url))

    lists = {name: [clean(c) for c in getattr(answer, name)] for name in CITATION_LISTS}
    return dataclasses.replace(plain, **lists)


# -- events ------------------------------------------------------------------------------------
def answer_deltas(answer: Answer) -> list[str]:
    """`answer.answer` cut into the pieces a stream sends; `"".join(...) == answer.answer`."""
    text = answer.answer
    if not text:
        return []
    pattern = _SENTENCE if answer.mode == "extractive" else _TOKEN
    return [piece for piece in pattern.findall(text) if piece]


def answer_events(answer: Answer) -> Iterator[Event]:
    """`citations`, then one `delta` per piece, then `done` with the whole answer object (its
    text plain: `plain_answer`)."""
    answer = plain_answer(answer)
    whole = answer.to_dict()
    yield "citations", {name: whole[name] for name in CITATION_LISTS}
    for piece in answer_deltas(answer):
        yield "delta", {"text": piece}
    yield "done", whole


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event: `event:` line, one-line JSON `data:`, blank line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# -- work that stops when the client leaves ---------------------------------------------------
class Cancelled(Exception):
    """The client that asked has gone: stop generating."""


class StoppableGenerator:
    """Wraps a `Generator` so that a generation started for a client that has since
    disconnected stops at its next token.

    `generate` reads the backend's token stream and checks the cancel flag of the request it runs
    for (a context variable set by `compute`) between tokens; outside `compute` it is the
    backend's own `generate`. The grounding guard turns `Cancelled` into the extractive fallback,
    so the answer call returns promptly and nothing is left running.
    """

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name

    def generate(self, messages: list[Message], max_tokens: int) -> str:
        cancel = _CANCEL.get()
        if cancel is None:
            return self.inner.generate(messages, max_tokens)
        pieces: list[str] = []
        tokens = self.inner.stream(messages, max_tokens)
        try:
            for piece in tokens:
                if cancel.is_set():
                    raise Cancelled("the client disconnected")
                pieces.append(piece)
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()  # stops the backend: decoding thread / HTTP stream
        return "".join(pieces)

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        return self.inner.stream(messages, max_tokens)


def make_stoppable(qa: QA) -> QA:
    """Let `compute` stop `qa`'s generator (idempotent; a QA without generator is unchanged)."""
    generator = getattr(qa, "generator", None)
    if generator is not None and not isinstance(generator, StoppableGenerator):
        qa.generator = StoppableGenerator(generator)
    return qa


class ClientGone(Exception):
    """Raised by `compute` when the client disconnected before the work was done."""


async def compute(request: Request, work: Callable[[], T]) -> T:
    """Run `work` in a worker thread while watching the client's connection.

    If the client disconnects first, the cancel flag is set (see `StoppableGenerator`), the
    thread is abandoned to finish what it cannot stop, and `ClientGone` is raised so no response
    is written. Exceptions of `work` propagate unchanged.
    """
    cancel = threading.Event()

    def run() -> T:
        _CANCEL.set(cancel)  # this thread's own context copy
        return work()

    task = asyncio.ensure_future(anyio.to_thread.run_sync(run, abandon_on_cancel=True))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone()
    finally:
        cancel.set()  # a no-op once the work is done
        task.cancel()


def event_response(events: Iterable[Event]) -> StreamingResponse:
    """A `text/event-stream` response sending `events` (already computed: nothing blocks)."""

    async def body() -> AsyncIterator[str]:
        for event, data in events:
            yield sse(event, data)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
