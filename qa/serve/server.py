"""`qa serve`: the web chat + HTTP API under uvicorn, configured to refuse rather than stall.

- Tokens (`QA_READ_TOKEN`, `QA_ADMIN_TOKEN`, or `QA_API_KEY` as the admin token) put every door
  behind the gate (qa.serve.gate). Without any, the server listens on loopback only and says
  so; another address without a token needs `--insecure-no-token`.
- Slow clients: request heads must arrive within `settings.read_timeout` (qa.serve.limits),
  bodies too; idle keep-alive connections close after 5 s; headers over 16 KB are refused.
- SIGTERM: uvicorn stops accepting, gives running requests `_GRACE` seconds, then exits (by
  the same signal, as uvicorn does); a corpus write still running in a worker thread is waited
  for first, and finishes or rolls back (qa.ingest.corpus).
- Start-up finishes or rolls back a write that a crash left half-done.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI

from qa.errors import QAError
from qa.pipeline import QA
from qa.serve.gate import Tokens
from qa.serve.limits import http_protocol
from qa.serve.web import EXAMPLES, create_app
from qa.settings import Settings

log = logging.getLogger("qa.serve.server")

_KEEP_ALIVE = 5  # seconds an idle connection stays open
_MAX_HEAD = 16 * 1024  # bytes of request line + headers
_GRACE = 10  # seconds running requests get after SIGTERM


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, tokens: Tokens, insecure_no_token: bool) -> None:
    """Refuse to expose an open server: no token means loopback only, unless asked for."""
    if tokens.enabled:
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


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    insecure_no_token: bool = False,
) -> None:
    """Recover pending writes, build the index if there is none, warm the models up, serve."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    check_bind(host, Tokens.from_settings(settings), insecure_no_token)
    qa = QA(settings)
    for line in qa.recover():
        log.warning("%s", line)
    if not (settings.index_dir / "CURRENT").exists():
        log.info("no index in %s: building it from %s", settings.index_dir, settings.corpus_dir)
        report = qa.index()
        log.info("indexed %d chunks in %.1fs", report.chunks, report.seconds)
    try:
        qa.answer(EXAMPLES[0])  # loads the index and warms the models before the first user
    except QAError as exc:
        log.warning("warm-up failed: %s", exc)
    app = create_app(qa, settings)
    finish_writes_on_shutdown(app, qa)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        http=http_protocol(settings.read_timeout),
        timeout_keep_alive=_KEEP_ALIVE,
        h11_max_incomplete_event_size=_MAX_HEAD,
        timeout_graceful_shutdown=_GRACE,
    )
    log.info("web chat on http://%s:%d/  (API docs: /docs)", host, port)
    uvicorn.Server(config).run()
