"""Vector stores behind one small Protocol: in-memory FAISS, Milvus Lite (a file) or a Milvus server.

    open_store("faiss://", 384)                        in-memory exact inner product ("Flat")
    open_store("faiss://?factory=HNSW32", 384)         in-memory HNSW
    open_store("faiss:///var/qa/vectors.npz", 384)     in-memory, saved to that file on close()
    open_store("milvus:///var/qa/vectors.db", 384)     Milvus Lite: in-process, one local file
    open_store("milvus://host:19530", 384)             a Milvus server (same code; untested here)

Ids are chunk ids (`doc_id#n`); scores are inner products of unit vectors (= cosine), best first.
`add` replaces a vector whose id is already stored (an upsert), so re-indexing never duplicates.

The default pipeline does not use this module: each index generation carries its own FAISS file
(`qa.index.store`). Only when `Settings.vector_store` is a `milvus://` URI does `qa.index.build` also write
the chunk vectors here, and `qa.retrieve.hybrid` take its dense candidates from `search`.

The lexical channel at scale: BM25 stays in-process over the chunk texts of the loaded
generation (`qa.retrieve.lexical.BM25`); it needs the texts in memory anyway to cite them, and costs
roughly the size of the texts. Past one machine it would be sharded by document (each shard
owns whole documents, scores its own BM25 with global document frequencies, and the top-N of
each shard are merged), exactly like the dense channel is sharded by Milvus. Milvus can also
serve BM25 itself (a sparse vector field fed by a BM25 "function" over a VARCHAR field), but that
needs a Milvus server >= 2.5 and is not exercised here.

Milvus Lite (milvus-lite 3.2) is a pure-Python implementation of the Milvus API that runs a
gRPC server on a thread of this process: right for tests and one user, not for speed (its FLAT
search loops over the ids in Python; see the scale benchmark). It keeps one `.db` file per process: a second process opening the same file waits or
fails, so share a store between processes (a web server and `qa index`) through a Milvus server.
Within one process `shared_store` hands out one handle per URI.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qa.errors import IndexMismatch, QAError

_MILVUS_BATCH = 1000
_DEFAULT_COLLECTION = "chunks"


class VectorStoreError(QAError):
    """A vector store URI that cannot be opened (bad scheme, missing driver, unreachable)."""


class VectorStore(Protocol):
    """Chunk ids with float32 vectors of a fixed dimension, searched by inner product."""

    uri: str
    dim: int

    def add(self, ids: list[str], vectors: np.ndarray) -> None: ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def delete(self, ids: list[str]) -> None: ...

    def count(self) -> int: ...

    def ids(self) -> list[str]:
        """Every stored id (for repairs: finding strays after an interrupted sync)."""
        ...

    def close(self) -> None: ...


def _check_vectors(ids: list[str], vectors: np.ndarray, dim: int) -> np.ndarray:
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


def _check_query(vector: np.ndarray, dim: int) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != dim:
        raise IndexMismatch(f"query vector of dimension {vector.shape[0]}, the store has {dim}")
    return vector


class FaissStore:
    """In-memory FAISS (any index_factory string), optionally persisted to an .npz on close().

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
        vectors = _check_vectors(ids, vectors, self.dim)
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

        vector = _check_query(vector, self.dim)
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

    def close(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, ids=np.array(self._ids, dtype=str), vectors=self._vectors)
        tmp.replace(self.path)


class MilvusStore:
    """A Milvus collection: VARCHAR primary key (chunk id), FLOAT_VECTOR, metric IP, FLAT index.

    `target` is a local path ending in .db (Milvus Lite, in-process) or an http(s) server URL.
    FLAT keeps results exact, equal to FAISS "Flat"; on a server, `index=HNSW` or `AUTOINDEX`
    (query parameter of the URI) trades exactness for speed at tens of millions of vectors.
    """

    def __init__(
        self,
        uri: str,
        dim: int,
        target: str,
        collection: str = _DEFAULT_COLLECTION,
        index_type: str = "FLAT",
    ):
        try:
            from pymilvus import DataType, MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise VectorStoreError(
                "milvus:// needs pymilvus (and milvus-lite for files): pip install 'qa[milvus]'"
            ) from exc
        self.uri, self.dim, self.collection = uri, dim, collection
        try:
            self._client = MilvusClient(target)
        except Exception as exc:
            raise VectorStoreError(f"cannot open Milvus at {target}: {exc}") from exc
        if self._client.has_collection(collection):
            found = self._stored_dim()
            if found != dim:
                self._client.close()
                raise IndexMismatch(
                    f"{uri}: collection {collection!r} holds vectors of dimension {found}, not {dim}"
                    "; use another collection or file, or drop it"
                )
        else:
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            params = self._client.prepare_index_params()
            params.add_index(field_name="vector", index_type=index_type, metric_type="IP")
            self._client.create_collection(
                collection, schema=schema, index_params=params, consistency_level="Strong"
            )
        self._client.load_collection(collection)

    def _stored_dim(self) -> int | None:
        for field in self._client.describe_collection(self.collection)["fields"]:
            if field["name"] == "vector":
                return int(field["params"]["dim"])
        return None

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = _check_vectors(ids, vectors, self.dim)
        for i in range(0, len(ids), _MILVUS_BATCH):
            rows = [
                {"id": cid, "vector": vec.tolist()}
                for cid, vec in zip(
                    ids[i : i + _MILVUS_BATCH], vectors[i : i + _MILVUS_BATCH], strict=True
                )
            ]
            self._client.upsert(self.collection, rows)
        self._client.flush(self.collection)  # durable, and searched by the fast sealed path

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), _MILVUS_BATCH):
            self._client.delete(self.collection, ids=list(ids[i : i + _MILVUS_BATCH]))
        self._client.flush(self.collection)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        vector = _check_query(vector, self.dim)
        if k <= 0:
            return []
        result = self._client.search(
            self.collection,
            data=[vector.tolist()],
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        return [(str(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def count(self) -> int:
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def ids(self) -> list[str]:
        found: list[str] = []
        iterator = self._client.query_iterator(
            self.collection, batch_size=_MILVUS_BATCH, filter="", output_fields=["id"]
        )
        while batch := iterator.next():
            found += [str(row["id"]) for row in batch]
        iterator.close()
        return found

    def close(self) -> None:
        self._client.close()


def open_store(uri: str, dim: int) -> VectorStore:
    """A store by URI (see the module docstring). A dimension that differs from the stored
    vectors' raises `IndexMismatch`; an unknown scheme raises `VectorStoreError`."""
    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "faiss":
        location = parts.netloc + parts.path
        path = Path(location) if location else None
        return FaissStore(uri, dim, query.get("factory", "Flat"), path)
    if parts.scheme == "milvus":
        location = parts.netloc + parts.path
        if not location:
            raise VectorStoreError(f"{uri}: give a file (milvus:///path/x.db) or host:port")
        if location.endswith(".db"):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            target = str(Path(location).resolve())
        else:
            target = f"{query.get('scheme', 'http')}://{location}"
        return MilvusStore(
            uri,
            dim,
            target,
            query.get("collection", _DEFAULT_COLLECTION),
            query.get("index", "FLAT"),
        )
    raise VectorStoreError(f"unknown vector store {uri!r}: use faiss://... or milvus://...")


_SHARED: dict[tuple[str, int], VectorStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(uri: str, dim: int) -> VectorStore:
    """One open store per (URI, dim) in this process (Milvus Lite allows one opener per file)."""
    with _SHARED_LOCK:
        store = _SHARED.get((uri, dim))
        if store is None:
            store = _SHARED[(uri, dim)] = open_store(uri, dim)
        return store


def close_shared(uri: str | None = None) -> None:
    """Close the shared handles (of one URI, or all)."""
    with _SHARED_LOCK:
        for key in [k for k in _SHARED if uri is None or k[0] == uri]:
            _SHARED.pop(key).close()


atexit.register(close_shared)
