"""Bounded work per request: body size and read time on every route, a deadline for headers.

`BodyLimit` wraps the whole app (the JSON API, the Gradio page and its upload routes, anything
mounted later). It reads each request body itself — at most `max_bytes`, within `timeout`
seconds — and replays it to the app, so no route can be made to buffer 100 MB or to wait for a
client that sends one byte a minute. Pure ASGI (not BaseHTTPMiddleware): streaming responses and
disconnect notifications pass through untouched.

uvicorn times out idle keep-alive connections but not a client that never finishes its headers;
`http_protocol(timeout)` is uvicorn's HTTP/1.1 protocol with that deadline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from qa.serve.gate import ASGIApp, Message, Receive, Send

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def _error(send: Send, status: int, message: str, close: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # do not wait for (or read) the rest of what the client is sending
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
        if length is not None and length > self.max_bytes:
            if length <= 2 * self.max_bytes:
                await self._read(receive, length)
            await self._too_large(send)
            return
        try:
            messages = await asyncio.wait_for(self._read(receive, self.max_bytes), self.timeout)
        except TimeoutError:
            await _error(
                send, 408, f"the request body did not arrive within {self.timeout:g} s", True
            )
            return
        if messages is None:
            await self._too_large(send)
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

    async def _too_large(self, send: Send) -> None:
        await _error(send, 413, f"request body is over the limit of {self.max_bytes} bytes", True)


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
