"""Vector stores behind one small Protocol: in-memory FAISS, or a Milvus server.

    open_store("faiss://", 384)                          in-memory exact inner product ("Flat")
    open_store("faiss://?factory=HNSW32", 384)           in-memory HNSW
    open_store("faiss:///var/qa/vectors.npz", 384)       in-memory, saved to that file on flush/close
    open_store("milvus://127.0.0.1:19530", 384)          a Milvus server, exact (FLAT)
    open_store("milvus://host:19530?index=HNSW", 384)    HNSW, M 16, efConstruction 200, ef 64
    open_store("milvus://host:19530?index=IVF_FLAT&nlist=4096&nprobe=32", 384)

Ids are chunk ids (`doc_id#n`); scores are inner products of unit vectors (= cosine), best first.
`add` replaces a vector whose id is already stored (an upsert), so re-indexing never duplicates;
`flush` makes everything added so far durable (and, on Milvus, indexed and visible to every
reader). `describe` is what the index manifest records about the store.

The default pipeline does not use this module: each index generation carries its own FAISS file
(`qa.index.store`). Only when `Settings.vector_store` is a `milvus://` URI does `qa.index.build`
also write the chunk vectors here, and `qa.retrieve.hybrid` take its dense candidates from it.

On a Milvus server (`qa.index.milvus_store`) searches use "Session" consistency (a writer
sees its own writes, a reader never waits for a time tick) and `flush` makes the data visible to
every reader.

Milvus Lite (`milvus:///path.db`, the `milvus-lite` package) is no longer supported: on this
platform it is a pure-Python emulation of the Milvus API (FLAT p95 ~1 s at 1M vectors) that
never showed the server's behaviour (two bugs of this store passed on it: every search
waiting ~200 ms for a time tick, HNSW/IVF opened without their parameters). A local file is
`faiss:///path.npz`; a real server runs offline with `make milvus` (`qa.index.milvus_server`).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qa.errors import IndexMismatch, QAError

_DEFAULT_COLLECTION = "chunks"
T = TypeVar("T")


class VectorStoreError(QAError):
    """A vector store URI that cannot be opened (bad scheme or option, driver, unreachable)."""


class VectorStore(Protocol):
    """Chunk ids with float32 vectors of a fixed dimension, searched by inner product."""

    uri: str
    dim: int

    def add(self, ids: list[str], vectors: np.ndarray) -> None: ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def delete(self, ids: list[str]) -> None: ...

    def flush(self) -> None:
        """Make every add/delete so far durable and visible to every reader."""
        ...

    def count(self) -> int: ...

    def ids(self) -> list[str]:
        """Every stored id (for repairs: finding strays after an interrupted sync)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the index manifest records: the URI and the index with its parameters."""
        ...

    def close(self) -> None: ...


def check_vectors(ids: list[str], vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1 and len(ids) == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise IndexMismatch(f"vectors of shape {vectors.shape} given to a store of dimension {dim}")
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate ids in one add()")
    return np.ascontiguousarray(vectors)


def check_query(vector: np.ndarray, dim: int) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != dim:
        raise IndexMismatch(f"query vector of dimension {vector.shape[0]}, the store has {dim}")
    return vector


class FaissStore:
    """In-memory FAISS (any index_factory string), optionally persisted to an .npz.

    Vectors are kept by id; the FAISS index is rebuilt lazily after changes, which keeps delete
    simple for index types without `remove_ids` (HNSW). Fine up to a few million vectors.
    """

    def __init__(self, uri: str, dim: int, factory: str = "Flat", path: Path | None = None):
        self.uri, self.dim, self.factory, self.path = uri, dim, factory, path
        self._ids: list[str] = []
        self._vectors = np.zeros((0, dim), np.float32)
        self._index = None
        self._lock = threading.Lock()
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as saved:
                vectors, ids = saved["vectors"], saved["ids"]
            if vectors.shape[1] != dim:
                raise IndexMismatch(f"{path}: vectors of dimension {vectors.shape[1]}, not {dim}")
            self._ids, self._vectors = [str(i) for i in ids], vectors.astype(np.float32)

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        with self._lock:
            new = set(ids)
            keep = [i for i, x in enumerate(self._ids) if x not in new]
            self._ids = [self._ids[i] for i in keep] + list(ids)
            self._vectors = np.concatenate([self._vectors[keep], vectors])
            self._index = None

    def delete(self, ids: list[str]) -> None:
        gone = set(ids)
        with self._lock:
            keep = [i for i, x in enumerate(self._ids) if x not in gone]
            self._ids = [self._ids[i] for i in keep]
            self._vectors = self._vectors[keep]
            self._index = None

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        from qa.index.store import build_faiss

        vector = check_query(vector, self.dim)
        with self._lock:
            if not self._ids or k <= 0:
                return []
            if self._index is None:
                self._index = build_faiss(self._vectors, self.factory)
            scores, rows = self._index.search(vector[None, :], min(k, len(self._ids)))
            ids = self._ids
        return [(ids[r], float(s)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]

    def count(self) -> int:
        return len(self._ids)

    def ids(self) -> list[str]:
        return list(self._ids)

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "index_type": self.factory}

    def flush(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        with self._lock:
            np.savez(tmp, ids=np.array(self._ids, dtype=str), vectors=self._vectors)
        tmp.replace(self.path)

    def close(self) -> None:
        self.flush()


def retrying(call: Callable[[], T], seconds: float) -> T:
    """`call()`, retried with backoff (0.5 s doubling to 8 s) for up to `seconds` while it fails
    with anything but a contract error (IndexMismatch, ValueError): a restarting server answers
    again within that time, a wrong request never will. Upserts by id make retries harmless."""
    deadline, pause = time.monotonic() + seconds, 0.5
    while True:
        try:
            return call()
        except (IndexMismatch, ValueError):
            raise
        except Exception:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 8.0)


def open_store(uri: str, dim: int) -> VectorStore:
    """A store by URI (see the module docstring). A dimension or index that differs from the
    stored one raises `IndexMismatch`; an unknown scheme or option raises `VectorStoreError`."""
    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    location = parts.netloc + parts.path
    if parts.scheme == "faiss":
        path = Path(location) if location else None
        return FaissStore(uri, dim, query.get("factory", "Flat"), path)
    if parts.scheme == "milvus":
        from qa.index.milvus_store import IndexSpec, MilvusStore

        if location.endswith(".db"):
            raise VectorStoreError(
                f"{uri}: Milvus Lite files are not supported (a Python emulation of Milvus); "
                "use faiss:///path.npz for a local file or a Milvus server (make milvus)"
            )
        if not parts.netloc or parts.path.strip("/"):
            raise VectorStoreError(f"{uri}: give the server as milvus://host:port")
        spec = IndexSpec.from_options(query)
        target = f"{query.get('scheme', 'http')}://{parts.netloc}"
        return MilvusStore(uri, dim, target, query.get("collection", _DEFAULT_COLLECTION), spec)
    raise VectorStoreError(f"unknown vector store {uri!r}: use faiss://... or milvus://...")


_SHARED: dict[tuple[str, int], VectorStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(uri: str, dim: int) -> VectorStore:
    """One open store per (URI, dim) in this process (one connection, one session)."""
    with _SHARED_LOCK:
        store = _SHARED.get((uri, dim))
        if store is None:
            store = _SHARED[(uri, dim)] = open_store(uri, dim)
        return store


def close_shared(uri: str | None = None) -> None:
    """Close the shared handles (of the URIs that start with `uri`, or all)."""
    with _SHARED_LOCK:
        for key in [k for k in _SHARED if uri is None or k[0].startswith(uri)]:
            _SHARED.pop(key).close()


atexit.register(close_shared)
