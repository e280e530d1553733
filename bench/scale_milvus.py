"""The scale benchmark on a real Milvus server, through the store the pipeline opens.

Each (size, index) row runs on a fresh Milvus 2.3.5 standalone server (`qa.index.milvus_server`,
its own data directory; or on a server passed in, e.g. the tests'): a collection is created by
`open_store("milvus://127.0.0.1:<port>?index=…")`, n vectors are upserted by `store.add` in
batches of `ADD_BATCH` (insert rate), `store.flush()` seals, persists and indexes them (build
time), 200 single queries go through `store.search` (p50/p95, recall@10 against exact FAISS
Flat), the server's RSS and data directory are measured (and before the collection existed, so
that the per-vector cost is the difference); then the server is restarted (stopped by pid,
started on the same data) and timed until the collection answers a query again, its count
checked. Search parameters are the store's defaults (`MILVUS_INDEXES`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from bench.vectors import DIM, K, dir_bytes, latency_ms, timing_row
from qa.index.milvus_server import MilvusServer
from qa.index.vectorstore import open_store

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000,)
ADD_BATCH = 20_000
# How long `store.flush()` may wait for the index to cover every row. At 1M on a loaded 2-core
# machine the index builds of compacted segments took over 15 minutes.
BUILD_WAIT_S = 3600.0
# Index types per size. HNSW is left out at 1M: its build (M 16, efConstruction 200) took ~10x
# IVF's at 100k, which at 1M would take most of an hour on 2 cores.
INDEXES = {10_000: ("FLAT", "HNSW"), 100_000: ("FLAT", "HNSW", "IVF_FLAT")}
LARGE_INDEXES = ("IVF_FLAT",)


def _log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def indexes_for(n: int) -> tuple[str, ...]:
    return INDEXES.get(n, LARGE_INDEXES)


def versions() -> dict[str, str]:
    return {package: version(package) for package in ("milvus", "pymilvus")}


def _fill(store, data: np.ndarray) -> float:
    """Upsert `data` with ids "0".."n-1"; seconds."""
    started = time.perf_counter()
    for start in range(0, len(data), ADD_BATCH):
        stop = min(len(data), start + ADD_BATCH)
        store.add([str(i) for i in range(start, stop)], data[start:stop])
    return time.perf_counter() - started


def _search(store):
    def search(q: np.ndarray) -> np.ndarray:
        ids = [int(i) for i, _ in store.search(q, K)]
        return np.array(ids + [-1] * (K - len(ids)))

    return search


def _restart(server: MilvusServer, uri: str, query: np.ndarray) -> dict:
    """Stop the server by pid and start it on the same data: seconds to stop, to be healthy
    again, and then until the collection answers a query; and the count it then holds."""
    started = time.perf_counter()
    server.stop()
    stopped = time.perf_counter()
    server.start()
    healthy = time.perf_counter()
    store = open_store(uri, DIM)
    try:
        store.search(query, K)
        answered = time.perf_counter()
        count = store.count()
    finally:
        store.close()
    return {
        "stop_s": round(stopped - started, 2),
        "start_s": round(healthy - stopped, 2),
        "answer_s": round(answered - healthy, 2),
        "count": count,
    }


def measure(
    n: int,
    index: str,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    server: MilvusServer | None = None,
    restart: bool = True,
) -> dict:
    """One row (see the module docstring); on `server` if given, else on a fresh one."""
    with tempfile.TemporaryDirectory(prefix="qa-scale-milvus-") as tmp:
        own = server is None
        if server is None:
            server = MilvusServer(Path(tmp), grace=10).start()
        empty = {"rss_empty_bytes": server.rss_bytes(), "disk_empty_bytes": _disk(server)}
        name = f"scale_{n}_{index.lower()}_{time.time_ns()}"
        uri = f"{server.uri}?collection={name}&index={index}"
        try:
            store = open_store(uri, DIM)
            try:
                insert_s = _fill(store, data[:n])
                flushed = time.perf_counter()
                store.flush(timeout=BUILD_WAIT_S)
                build_s = time.perf_counter() - flushed
                indexed = not store.index_pending()
                times, found = latency_ms(_search(store), queries)
                described = store.describe()
            finally:
                store.close()
            row = {
                "index": index,
                "params": {"build": described["build"], "search": described["search"]},
                "insert_s": round(insert_s, 2),
                "insert_per_s": round(n / insert_s),
                "build_s": round(build_s, 2),
                "index_in_use": indexed,
                **timing_row(times, found, truth),
                "rss_bytes": server.rss_bytes(),
                "disk_bytes": _disk(server),
                "disk_parts": {p.name: dir_bytes(p) for p in (server.data_dir / "data").iterdir()},
                **empty,
                "load_avg": [round(x, 2) for x in os.getloadavg()],
                "started_s": round(server.started_s, 2),
            }
            if restart:
                row["restart"] = _restart(server, uri, queries[0])
                if row["restart"]["count"] != n:
                    raise RuntimeError(f"{uri}: {row['restart']} after a restart, not {n:,}")
        finally:
            if own:
                server.stop()
            else:
                _drop(server, name)
    _log(
        f"n={n:,} Milvus {index}: insert {row['insert_per_s']:,}/s, build {row['build_s']:.1f} s, "
        f"p95 {row['p95_ms']:.2f} ms, recall {row['recall@10']:.3f}, "
        f"RSS {row['rss_bytes'] / 2**30:.2f} GiB"
    )
    return row


def _disk(server: MilvusServer) -> int:
    return dir_bytes(server.data_dir / "data")


def _drop(server: MilvusServer, collection: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(f"http://127.0.0.1:{server.port}")
    try:
        client.drop_collection(collection)
    finally:
        client.close()
