"""Bounded work per request: body size and read time on every route, a deadline for headers.

`BodyLimit` wraps the whole app (the JSON API, the Gradio page and its upload routes, anything
mounted later). It reads each request body itself — at most `max_bytes`, within `timeout`
seconds — and replays it to the app, so no route can be made to buffer 100 MB or to wait for a
client that sends one byte a minute. Pure ASGI (not BaseHTTPMiddleware): streaming responses and
disconnect notifications pass through untouched.

A body over the cap is refused (413) before any of it is read — and then, up to `DRAIN_BYTES`,
read into the bin: a client that writes its whole body before it reads (httpx, requests) would
otherwise see its connection reset instead of the 413, since closing a socket with unread data
sends a TCP reset. A client that asked `Expect: 100-continue` (curl) gets the 413 at once and
sends nothing. A declared length over `DRAIN_BYTES` is refused and the connection closed.

`HeadLimit` refuses a request whose head (request line and headers) is over `MAX_HEAD` bytes:
uvicorn's h11 limit only counts a head still incomplete, so one that arrives in a single burst
passed it up to ~120 KB.

uvicorn times out idle keep-alive connections but not a client that never finishes its headers;
`http_protocol(timeout)` is uvicorn's HTTP/1.1 protocol with that deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from qa.serve.gate import ASGIApp, Message, Receive, Send

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
MAX_HEAD = 16 * 1024  # bytes of request line + headers
DRAIN_BYTES = 64 * 1024 * 1024  # read into the bin after a 413, so the client sees it


async def _error(
    send: Send,
    status: int,
    message: str,
    close: bool = False,
    drain: Receive | None = None,
    drain_bytes: int = 0,
    drain_seconds: float = 0.0,
) -> None:
    """A JSON error. With `drain`, the response is sent whole first, then up to `drain_bytes`
    of the request body still coming are read and dropped (within `drain_seconds`) before the
    connection is closed, so that the client reads the error instead of a reset."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # do not wait for (or read) the rest of what the client is sending
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if drain is None or drain_bytes <= 0:
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_discard(drain, drain_bytes), drain_seconds)
    await send({"type": "http.response.body", "body": b""})


async def _discard(receive: Receive, limit: int) -> None:
    """Read and drop the rest of a request body, at most `limit` bytes."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def head_size(scope: Message) -> int:
    """Bytes of the request line and headers as they came (within a few for the separators)."""
    line = len(scope.get("method", "")) + len(scope.get("raw_path") or b"") + 12
    line += len(scope.get("query_string") or b"") + 1
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or [])


class HeadLimit:
    """Refuse (431) a request or WebSocket whose head is over `max_bytes`, however it arrived."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEAD) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or head_size(scope) <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009})
            return
        message = f"the request head is over the limit of {self.max_bytes} bytes"
        await _error(send, 431, message, close=True)


class BodyLimit:
    """Refuse bodies over `max_bytes` (413) or slower than `timeout` seconds (408).

    A declared Content-Length over the cap is refused before a byte is read when it is far over
    (the connection is closed); a near miss (up to twice the cap) is read and dropped so the
    client sees the 413 instead of a reset connection.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        length = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _error(send, 400, "invalid Content-Length header", close=True)
                return
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if not length and not chunked and scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        waits = b"100-continue" in headers.get(b"expect", b"").lower()
        if length is not None and length > self.max_bytes:
            # Refused before a byte is read; the body is then dropped as it comes (not kept),
            # unless the client waits for our go-ahead or announced more than we will drain.
            drain = 0 if waits or length > DRAIN_BYTES else length
            await self._too_large(send, receive, drain)
            return
        try:
            messages = await asyncio.wait_for(self._read(receive, self.max_bytes), self.timeout)
        except TimeoutError:
            await _error(
                send, 408, f"the request body did not arrive within {self.timeout:g} s", True
            )
            return
        if messages is None:
            await self._too_large(send, receive, 0 if waits else DRAIN_BYTES)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> list[Message] | None:
        """The body's messages, or None once more than `limit` bytes arrived."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > limit:
                return None
            if not message.get("more_body", False):
                return messages

    async def _too_large(self, send: Send, receive: Receive, drain: int) -> None:
        message = f"request body is over the limit of {self.max_bytes} bytes"
        await _error(send, 413, message, True, receive, drain, self.timeout)


class _HeadDeadline(H11Protocol):
    """H11Protocol that closes a connection whose next request head is not complete in time."""

    head_timeout = 30.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.head_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # a complete request head was parsed
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def http_protocol(head_timeout: float) -> type[H11Protocol]:
    """uvicorn's `http=` protocol class with a deadline of `head_timeout` s for request heads."""
    return type("HeadDeadlineH11Protocol", (_HeadDeadline,), {"head_timeout": head_timeout})
