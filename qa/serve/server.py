"""`qa serve`: the web chat + HTTP API under uvicorn, configured to refuse rather than stall.

- Tokens (`QA_READ_TOKEN`, `QA_ADMIN_TOKEN`, or `QA_API_KEY` as the admin token) put every door
  behind the gate (qa.serve.gate). Without any, the server listens on loopback only and says
  so; another address without a token needs `--insecure-no-token`.
- Slow clients: request heads must arrive within `settings.read_timeout` (qa.serve.limits),
  bodies too; idle keep-alive connections close after 5 s; headers over 16 KB are refused.
- SIGTERM: uvicorn stops accepting, gives running requests `_GRACE` seconds, then exits (by
  the same signal, as uvicorn does); a corpus write still running in a worker thread is waited
  for first, and finishes or rolls back (qa.index.corpus_writes).
- Start-up finishes or rolls back a write that a crash left half-done.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI

from qa.errors import QAError
from qa.index.store import read_manifest
from qa.pipeline import QA
from qa.serve.gate import Tokens
from qa.serve.limits import MAX_HEAD, http_protocol
from qa.serve.users import users_path
from qa.settings import Settings

log = logging.getLogger("qa.serve.server")

_KEEP_ALIVE = 5  # seconds an idle connection stays open
_GRACE = 10  # seconds running requests get after SIGTERM


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, tokens: Tokens, insecure_no_token: bool, users: bool = False) -> None:
    """Refuse to expose an open server: no token (and no users file) means loopback only,
    unless asked for."""
    if tokens.enabled or users:
        return
    if is_loopback(host):
        log.warning(
            "no token set (QA_READ_TOKEN / QA_ADMIN_TOKEN): anyone on this machine can read and "
            "change the articles; listening on loopback (%s) only",
            host,
        )
        return
    if not insecure_no_token:
        raise QAError(
            f"refusing to listen on {host} without a token: set QA_READ_TOKEN and "
            "QA_ADMIN_TOKEN (or QA_API_KEY), or pass --insecure-no-token"
        )
    log.warning("no token set and listening on %s: anyone who can reach it is admin", host)


def finish_writes_on_shutdown(app: FastAPI, qa: QA) -> None:
    """Make the app's shutdown wait for a corpus write still running in a worker thread, so
    that SIGTERM never cuts one short (uvicorn re-raises the signal once shutdown is done)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        await anyio.to_thread.run_sync(qa.wait_for_writes)

    app.router.lifespan_context = lifespan


class _Server(uvicorn.Server):
    """uvicorn that says where it listens once the socket accepts connections, not before."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready()


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _load(qa: QA, settings: Settings, say: Callable[[str], None]) -> None:
    """Model, index (built if missing) and one answer, each step said as it starts."""
    from qa.serve.web import EXAMPLES

    started = time.perf_counter()
    say(f"loading the embedder {settings.embedder}")
    _ = qa.embedder.dim
    if not (settings.index_dir / "CURRENT").exists():
        say(f"no index in {settings.index_dir.resolve()}: building it from {settings.corpus_dir}")
        report = qa.index()
        say(f"indexed {report.chunks} chunks in {report.seconds:.1f} s")
    say(f"loading the index {settings.index_dir.resolve()}")
    try:
        docs = qa.documents()
        counts = read_manifest(settings.index_dir)[1].get("counts", {})
        say(
            f"index loaded: {len(docs)} articles, {counts.get('chunks', '?')} chunks; "
            "warming up (one answer)"
        )
        qa.answer(EXAMPLES[0])  # calibration, glossary, background vectors before the first user
    except QAError as exc:  # the server still starts: /healthz says 503 and why
        say(f"warning: {exc}")
    say(f"ready to answer ({time.perf_counter() - started:.1f} s); building the web page")


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and not yet listening: a taken port is an error now, before
    the slow start, and connections are refused (not left hanging) until the server is ready."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise QAError(f"cannot serve on host {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "another program is using it" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise QAError(
            f"port {port} on {host} is not free ({why}): choose another with --port N, "
            "QA_PORT=N or make run PORT=N"
        ) from exc
    return sock


def open_socket(settings: Settings, host: str, insecure_no_token: bool = False) -> socket.socket:
    """What `qa serve` checks before its slow start: the port, bound and not yet listening
    (`bind_port`; a taken port is then the only line printed), and the listen policy
    (`check_bind`, which may warn)."""
    sock = bind_port(host, settings.port)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        has_users = users_path(settings).exists()
        check_bind(host, Tokens.from_settings(settings), insecure_no_token, has_users)
    except QAError:
        sock.close()
        raise
    return sock


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """How `qa serve` runs uvicorn: head deadline, keep-alive, head size, shutdown grace."""
    return uvicorn.Config(
        app,
        **{
            "log_level": "info",
            "http": http_protocol(settings.read_timeout),
            "timeout_keep_alive": _KEEP_ALIVE,
            "h11_max_incomplete_event_size": MAX_HEAD,
            "timeout_graceful_shutdown": _GRACE,
            **options,
        },
    )


def serve(settings: Settings, sock: socket.socket, say: Callable[[str], None] = log.info) -> None:
    """Recover pending writes, build the index if there is none, warm the models up, then serve
    on `sock` (from `open_socket`), saying each step; the URL is said once the socket accepts."""
    started = time.perf_counter()
    from qa.serve.web import create_app  # Gradio: seconds to import, after the checks above

    say(f"web stack loaded ({time.perf_counter() - started:.1f} s)")
    qa = QA(settings)
    for line in qa.recover():
        log.warning("%s", line)
    _load(qa, settings, say)
    host = sock.getsockname()[0]
    app = create_app(qa, settings, host=host)  # host: the MCP transport's DNS-rebinding check
    finish_writes_on_shutdown(app, qa)
    config = uvicorn_config(app, settings)
    url = _url(sock)
    _Server(
        config, partial(say, f"listening on {url} (web chat; API {url}v1, docs {url}docs)")
    ).run(sockets=[sock])
