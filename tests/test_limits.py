"""Request heads and bodies over the limits, however they arrive (qa.serve.limits), on a server
configured as `qa serve` runs it (qa.serve.server.uvicorn_config): heads over 16 KB are refused
in one burst as in pieces, and a body over the cap gets its 413 before it is read — from httpx
(which writes the whole body before it reads: it used to see a reset) as from raw sockets.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from conftest import HashEmbedder, free_port, small_corpus

from qa import QA, Settings
from qa.serve.http import create_api
from qa.serve.limits import DRAIN_BYTES, MAX_HEAD
from qa.serve.server import uvicorn_config

ADMIN = "admin-token-for-limits"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("limits")
    corpus = small_corpus(root / "corpus")
    settings = Settings(
        corpus_dir=corpus, index_dir=root / "index", admin_token=ADMIN, read_timeout=5
    )
    qa = QA(settings, embedder=HashEmbedder())
    qa.index()
    port = free_port()
    config = uvicorn_config(
        create_api(qa, settings), settings, host="127.0.0.1", port=port, log_level="warning"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not runner.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{port}", port=port, cap=settings.max_document_bytes
    )
    runner.should_exit = True
    thread.join(timeout=15)


def raw(server, pieces: list[bytes], pause: float = 0.0, wait: float = 15.0) -> bytes:
    """Send `pieces` (with `pause` between them), then read what comes back until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        with contextlib.suppress(OSError):
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(pause)
        reply = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                reply += chunk
    return reply


def status(reply: bytes) -> int | None:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else None


def head(path: str = "/v1/documents", extra: str = "", length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Authorization: Bearer {ADMIN}"]
    lines.append("Content-Type: application/json")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


@pytest.mark.parametrize("size", [MAX_HEAD + 1024, 64 * 1024, 120 * 1024])
def test_heads_over_the_limit_are_refused_in_one_burst_or_in_pieces(server, size):
    filler = f"X-Filler: {'a' * size}\r\n"
    whole = head("/v1/search", filler, 2) + b"{}"
    burst = raw(server, [whole])
    assert status(burst) in (400, 431), burst[:200]
    pieces = [whole[i : i + 4096] for i in range(0, len(whole), 4096)]
    slow = raw(server, pieces, pause=0.01)
    assert status(slow) in (400, 431), slow[:200]
    many = "".join(f"X-H{i}: {'b' * 100}\r\n" for i in range(size // 110))
    burst = raw(server, [head("/v1/search", many, 2) + b"{}"])
    assert status(burst) in (400, 431), burst[:200]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/healthz", headers={"X-Filler": "a" * size})
        assert response.status_code in (400, 431)


def test_a_head_under_the_limit_still_works(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/healthz", headers={"X-Filler": "a" * (MAX_HEAD - 2048)})
        assert response.status_code == 200


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/answer", "/v1/feedback", "/login"])
def test_httpx_sending_a_big_body_reads_the_413(server, path):
    """httpx writes all 50 MB before it reads: the server drops them and answers 413."""
    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
        response = client.post(path, content=b"x" * (50 * MB), headers=headers)
        assert response.status_code == 413, response.text
        assert "limit" in response.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, refused once over the cap
            for _ in range(20):
                yield b"y" * MB

        response = client.post(path, content=chunks(), headers=headers)
        assert response.status_code == 413, response.text
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/answer"])
def test_the_standard_library_client_reads_the_413(server, path):
    """http.client (under urllib and many scripts) raises on a reset while it writes, and never
    reads the answer: before the drain, a 50 MB body got ConnectionResetError here."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
        connection.request("POST", path, body=b"x" * (50 * MB), headers=headers)
        response = connection.getresponse()
        assert response.status == 413
        assert "limit" in json.loads(response.read())["error"]
    finally:
        connection.close()


def test_raw_sockets_get_the_413_in_one_burst_and_in_pieces(server):
    body = b"z" * (3 * server.cap)
    burst = raw(server, [head(length=len(body)) + body])
    assert status(burst) == 413, burst[:200]
    pieces = [head(length=len(body))] + [body[i : i + 65536] for i in range(0, len(body), 65536)]
    slow = raw(server, pieces, pause=0.001)
    assert status(slow) == 413, slow[:200]
    # a client that waits for "100 Continue" gets the 413 at once, and sends nothing
    started = time.monotonic()
    waiting = raw(server, [head(extra="Expect: 100-continue\r\n", length=len(body))])
    assert status(waiting) == 413 and time.monotonic() - started < 5, waiting[:200]
    # over what is drained: refused, and the server does not take the 100 MB
    sent = 0
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
        contextlib.suppress(OSError),
    ):
        sock.sendall(head(length=2 * DRAIN_BYTES))
        while sent < 2 * DRAIN_BYTES:
            sock.sendall(b"x" * 65536)
            sent += 65536
    assert sent < DRAIN_BYTES // 2, sent
