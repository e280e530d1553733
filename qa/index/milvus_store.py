"""A collection on a Milvus server as a `qa.index.vectorstore.VectorStore`.

Consistency. Searches use "Session": a client sees its own writes (pymilvus sends the
timestamp of its last upsert as the guarantee; `delete` ends with a Strong read, as the 2.3
server returns no timestamp for deletes), and a client that never wrote (`qa serve`)
searches whatever the query node holds, without waiting. The "Strong" level the store used
before made every search wait for the next time tick (~200 ms: p50 202.7 ms at 100k). `count`
and `ids` are maintenance reads (repairs after an interrupted sync) and stay "Strong". New
collections are created with the default level "Bounded" for other clients of the same data.
A reader in another process sees a writer's vectors after `flush` (which ends with a Strong
read, so the query node has caught up) — `qa index` flushes before it publishes a generation.

Index types (`MILVUS_INDEXES`, chosen by URI options): FLAT (exact, the default), HNSW and IVF
with their build parameters fixed when the collection is created (recorded in its description
and in the index manifest) and search parameters per query. Measured on the server at 100k and
1M vectors in the scale benchmark (docs/scale.md).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.errors import IndexMismatch
from qa.index.vectorstore import VectorStoreError, check_query, check_vectors

_MILVUS_BATCH = 1000
_log = logging.getLogger(__name__)
_INDEX_WAIT_S = 900.0


# index type -> (build parameters, search parameters) with their defaults. Measured on the
# server at 100k clustered 384-d vectors (docs/scale.md): HNSW recall@10 0.99, IVF_FLAT 0.99.
MILVUS_INDEXES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "FLAT": ({}, {}),
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 64}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 16}),
    "IVF_SQ8": ({"nlist": 1024}, {"nprobe": 16}),
}
_URI_OPTIONS = {"collection", "index", "scheme"}


@dataclass(frozen=True)
class IndexSpec:
    """A Milvus vector index: its type, build parameters (fixed when the collection is
    created) and search parameters (per query; may change between opens)."""

    index_type: str = "FLAT"
    build: dict[str, int] = field(default_factory=dict)
    search: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> IndexSpec:
        """From URI query options (`index=HNSW&M=32&ef=128`); defaults from `MILVUS_INDEXES`.
        Unknown index types or parameters raise `VectorStoreError` before anything is created."""
        index_type = options.get("index", "FLAT").upper()
        if index_type not in MILVUS_INDEXES:
            raise VectorStoreError(f"index={index_type}: use one of {', '.join(MILVUS_INDEXES)}")
        build, search = (dict(d) for d in MILVUS_INDEXES[index_type])
        for key, raw in options.items():
            if key in _URI_OPTIONS:
                continue
            target = build if key in build else search if key in search else None
            if target is None:
                allowed = sorted({*build, *search, *_URI_OPTIONS})
                raise VectorStoreError(
                    f"unknown option {key!r} for index {index_type}: use {', '.join(allowed)}"
                )
            try:
                target[key] = int(raw)
            except ValueError as exc:
                raise VectorStoreError(f"{key}={raw!r} is not an integer") from exc
        return cls(index_type, build, search)

    def to_dict(self) -> dict[str, Any]:
        return {"index_type": self.index_type, "build": self.build, "search": self.search}


class MilvusStore:
    """A collection on a Milvus server: VARCHAR primary key (chunk id), FLOAT_VECTOR, metric IP,
    the index of `spec`. Opening an existing collection checks its dimension and index; a
    collection this open created is dropped again if the open fails."""

    def __init__(
        self,
        uri: str,
        dim: int,
        target: str,
        collection: str = "chunks",
        spec: IndexSpec | None = None,
    ):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise VectorStoreError("milvus:// needs pymilvus: pip install 'qa[milvus]'") from exc
        self.uri, self.dim, self.collection = uri, dim, collection
        self.spec = spec or IndexSpec()
        self._dirty = False
        try:
            self._client = MilvusClient(target, timeout=30)
        except Exception as exc:
            raise VectorStoreError(f"cannot reach Milvus at {target}: {exc}") from exc
        created = False
        try:
            if self._client.has_collection(collection):
                self._check_existing()
            else:
                created = True
                self._create()
            self._client.load_collection(collection)
        except Exception as exc:
            if created:  # never leave a collection without its index behind
                self._client.drop_collection(collection)
            self._client.close()
            if isinstance(exc, IndexMismatch):
                raise
            raise VectorStoreError(f"cannot open {uri}: {exc}") from exc

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(
            auto_id=False,
            enable_dynamic_field=False,
            description=json.dumps({"qa": "chunk vectors", **self.spec.to_dict()}),
        )
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        self._client.create_collection(self.collection, schema=schema, consistency_level="Bounded")
        self._create_index()

    def _create_index(self) -> None:
        params = self._client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_name="vector",
            index_type=self.spec.index_type,
            metric_type="IP",
            params=self.spec.build,
        )
        self._client.create_index(self.collection, params)

    def _check_existing(self) -> None:
        """Same dimension and index as asked, else IndexMismatch; an index missing (left by a
        failed open of an older version) is created."""
        fields = self._client.describe_collection(self.collection)["fields"]
        found = next((int(f["params"]["dim"]) for f in fields if f["name"] == "vector"), None)
        if found != self.dim:
            raise IndexMismatch(
                f"{self.uri}: collection {self.collection!r} holds vectors of dimension {found}, "
                f"not {self.dim}; use another collection or drop it"
            )
        names = self._client.list_indexes(self.collection, field_name="vector")
        if not names:
            self._create_index()
            return
        info = self._client.describe_index(self.collection, names[0])  # params inline
        kind = str(info.get("index_type"))
        known = MILVUS_INDEXES.get(kind, ({}, {}))[0]
        stored = IndexSpec(kind, {k: int(info[k]) for k in known if k in info})
        if (stored.index_type, stored.build) != (self.spec.index_type, self.spec.build):
            raise IndexMismatch(
                f"{self.uri}: collection {self.collection!r} has index {stored.index_type} "
                f"{stored.build}, not {self.spec.index_type} {self.spec.build}; use the same "
                "index options, another collection, or drop it"
            )

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        for i in range(0, len(ids), _MILVUS_BATCH):
            rows = [
                {"id": cid, "vector": vec}
                for cid, vec in zip(
                    ids[i : i + _MILVUS_BATCH],
                    vectors[i : i + _MILVUS_BATCH].tolist(),
                    strict=True,
                )
            ]
            self._client.upsert(self.collection, rows)
        self._dirty = self._dirty or bool(ids)

    def delete(self, ids: list[str]) -> None:
        """Delete by id, then a Strong read: a 2.3 server returns no timestamp for deletes, so
        "Session" alone would not make this client see them (deletes are rare: syncs, repairs)."""
        for i in range(0, len(ids), _MILVUS_BATCH):
            self._client.delete(self.collection, ids=list(ids[i : i + _MILVUS_BATCH]))
        if ids:
            self._dirty = True
            self.count()

    def flush(self, timeout: float = _INDEX_WAIT_S) -> None:
        """Seal and persist the segments, wait until the index is built and the query node
        serves the indexed segments (until then an approximate index answers through a
        temporary one: HNSW recall@10 0.90 instead of 0.97 at 10k), then a Strong read: every
        reader sees the data afterwards."""
        self._client.flush(self.collection)
        deadline = time.monotonic() + timeout
        while self.index_pending():
            if time.monotonic() > deadline:  # durable and searchable already: do not fail
                _log.warning("%s: the index is not in use after %.0f s", self.uri, timeout)
                break
            time.sleep(0.5)
        self.count()
        self._dirty = False

    def index_pending(self) -> bool:
        """Whether some rows are not yet searched through the collection's index (being built,
        or built but not yet served: compaction of new segments keeps this going for a while
        after large loads)."""
        info = self._client.describe_index(self.collection, "vector")
        if info.get("pending_index_rows") or info.get("state") == "InProgress":
            return True
        if self.spec.index_type == "FLAT":  # exact: searched without an index file
            return False
        loaded = self._client.list_loaded_segments(self.collection)
        served = sum(seg.num_rows for seg in loaded if seg.index_name)
        return served < int(info.get("indexed_rows") or 0)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        vector = check_query(vector, self.dim)
        if k <= 0:
            return []
        params = dict(self.spec.search)
        if "ef" in params:  # HNSW needs ef >= k
            params["ef"] = max(params["ef"], k)
        result = self._client.search(
            self.collection,
            data=[vector.tolist()],
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "IP", "params": params},
            consistency_level="Session",
        )
        return [(str(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def count(self) -> int:
        rows = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def ids(self) -> list[str]:
        self.count()  # a Strong read first: the iterator then sees every write made before
        found: list[str] = []
        iterator = self._client.query_iterator(
            self.collection, batch_size=_MILVUS_BATCH, filter="", output_fields=["id"]
        )
        while batch := iterator.next():
            found += [str(row["id"]) for row in batch]
        iterator.close()
        return found

    def describe(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "collection": self.collection,
            "metric": "IP",
            "consistency": "Session",
            **self.spec.to_dict(),
        }

    def close(self) -> None:
        try:
            if self._dirty:
                self.flush()
        finally:
            self._client.close()
