"""Vector search at scale: FAISS index types in process, and a real Milvus server beside them.

When should `Settings.faiss_factory` leave exact "Flat", and what does `Settings.vector_store =
"milvus://…"` cost and give? Synthetic clustered 384-d unit vectors (`bench.vectors`) at 10k,
100k and 1M; recall@10 is always against exact `Flat` on the same vectors and queries.

FAISS: every index is built through `qa.index.store.build_faiss` (inner product on unit
vectors), as the pipeline builds it. IVF is trained on the first ≤100k vectors (a random sample:
rows are i.i.d.) and the rest is added afterwards; HNSW and IVF are filled in batches so a build
that overruns its time budget is stopped and reported instead of hanging the whole `make bench`.
Latency is one query at a time on one thread.

Milvus: see `bench.scale_milvus` (a fresh server per row, everything through `open_store`);
its rows are at 100k and 1M (`scale_milvus.SIZES`) and have no time budget.
The tables and the recommendation are written by `bench.scale_report`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence

import faiss
import numpy as np

from bench import scale_milvus
from bench.scale_report import markdown, plot  # noqa: F401 - the benchmark's interface
from bench.vectors import DIM, K, latency_ms, synthetic, timing_row
from qa.index.milvus_server import MilvusServer
from qa.index.store import build_faiss

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)
HNSW_EF_SEARCH = 64  # faiss default is 16; 64 is the usual recall/latency compromise
IVF_NPROBE = 16
TRAIN_MAX = 100_000
BATCH = 100_000
SIZE_BUDGET_S = 480.0  # per size, all FAISS index types: keeps the 1M step near 8 minutes
SEARCH_RESERVE_S = 40.0  # kept back from a build's budget for its 200 timed queries
FLAT_P95_LIMIT_MS = 20.0
EXTRAPOLATE = (1_000_000, 10_000_000, 100_000_000)


def _log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def _factories(n: int) -> dict[str, str]:
    """Index types in build order: HNSW last, it gets whatever the size's budget has left."""
    return {"Flat": "Flat", "IVF": f"IVF{round(4 * math.sqrt(n))},Flat", "HNSW32": "HNSW32"}


def _build(data: np.ndarray, factory: str, budget_s: float) -> tuple[faiss.Index | None, float]:
    """Build via build_faiss on the first batch (the IVF training sample), then add the rest."""
    started = time.perf_counter()
    first = min(len(data), TRAIN_MAX if factory.startswith("IVF") else BATCH)
    index = build_faiss(data[:first], factory)
    for start in range(first, len(data), BATCH):
        if time.perf_counter() - started > budget_s:
            return None, time.perf_counter() - started
        index.add(data[start : start + BATCH])
    return index, time.perf_counter() - started


def _faiss_latency_ms(index: faiss.Index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """`latency_ms` of a FAISS index on one thread."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return latency_ms(lambda q: index.search(q[None, :], K)[1][0], queries)
    finally:
        faiss.omp_set_num_threads(threads)


def _build_cost(kind: str, n: int) -> float:
    """Relative build work, to predict a size's build time from a smaller one's.

    HNSW inserts n points with ~log n hops each; IVF runs 10 k-means iterations over the training
    sample and assigns every vector, each step against nlist = 4·√n centroids; Flat is a copy.
    """
    if kind == "HNSW32":
        return n * math.log(n)
    if kind == "IVF":
        return 4 * math.sqrt(n) * (10 * min(n, TRAIN_MAX) + n)
    return n


def _tune(kind: str, index: faiss.Index, n: int) -> dict:
    """Set the search-time parameter on `index`; return the parameters worth reporting."""
    if kind == "HNSW32":
        faiss.ParameterSpace().set_index_parameter(index, "efSearch", HNSW_EF_SEARCH)
        built = faiss.downcast_index(index).hnsw.efConstruction
        return {"efSearch": HNSW_EF_SEARCH, "efConstruction": built}
    if kind == "IVF":
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", IVF_NPROBE)
        return {"nprobe": IVF_NPROBE, "train_vectors": min(n, TRAIN_MAX)}
    return {}


def _estimate(kind: str, n: int, before: tuple[int, dict]) -> float:
    """Predicted seconds of a build at n from the previous size's; 0 when there is none."""
    size, row = before
    if not row.get("build_s"):
        return 0.0
    return row["build_s"] * _build_cost(kind, n) / _build_cost(kind, size)


def _measure(
    n: int, data: np.ndarray, queries: np.ndarray, budget_s: float, previous: tuple[int, dict]
) -> tuple[dict[str, dict], np.ndarray]:
    """All FAISS index types at size n within `budget_s` seconds, and the exact top-K; `previous`
    = (size, results) of the last size, from which each build's time is predicted so that a
    hopeless one is not started."""
    out: dict[str, dict] = {}
    truth = np.zeros((0, K), np.int64)
    started = time.perf_counter()
    for kind, factory in _factories(n).items():
        reserve = SEARCH_RESERVE_S if kind != "Flat" else 0.0
        left = max(0.0, budget_s - (time.perf_counter() - started) - reserve)
        estimate = _estimate(kind, n, (previous[0], previous[1].get(kind, {})))
        index, seconds = (None, estimate) if estimate > left else _build(data[:n], factory, left)
        if index is None:
            verb = "estimated" if estimate > left else "stopped at"
            out[kind] = {
                "factory": factory,
                "skipped": f"build {verb} {seconds:.0f} s > {left:.0f} s left",
            }
            _log(f"n={n:,} {factory}: skipped, {out[kind]['skipped']}")
            continue
        params = _tune(kind, index, n)
        if kind == "Flat":
            memory, method = n * DIM * 4, "analytic n·d·4"
            truth = index.search(queries, K)[1]  # batch, both threads: the exact answer
        else:
            memory, method = int(faiss.serialize_index(index).nbytes), "serialized"
        times, found = _faiss_latency_ms(index, queries)
        del index
        out[kind] = {
            "factory": factory,
            "params": params,
            "build_s": round(seconds, 2),
            "memory_bytes": memory,
            "memory_method": method,
            "bytes_per_vector": round(memory / n, 1),
            **timing_row(times, found, truth),
        }
        _log(f"n={n:,} {factory}: build {seconds:.1f} s, p95 {out[kind]['p95_ms']:.2f} ms")
    return out, truth


def _fixed_bytes(kind: str, n: int) -> int:
    """Size-independent part of an index: the IVF coarse centroids (nlist x d float32)."""
    return round(4 * math.sqrt(n)) * DIM * 4 if kind == "IVF" else 0


def _extrapolate(results: dict[str, dict], milvus: dict[str, dict]) -> dict[str, dict]:
    """Memory at 1M/10M/100M: the per-vector cost measured at the largest size (FAISS: index
    bytes + IVF centroids; Milvus: server RSS and data directory, minus an empty server's)."""
    out: dict[str, dict] = {}
    for size in sorted(results, key=int, reverse=True):
        for kind, r in results[size].items():
            if kind in out or "skipped" in r:
                continue
            n = int(size)
            per_vector = (r["memory_bytes"] - _fixed_bytes(kind, n)) / n
            out[kind] = {
                "measured_at": n,
                "bytes_per_vector": round(per_vector, 1),
                **{f"{m:_}": round(per_vector * m + _fixed_bytes(kind, m)) for m in EXTRAPOLATE},
            }
    for size in sorted(milvus, key=int, reverse=True):
        for index, r in milvus[size].items():
            for what in ("rss", "disk"):
                key = f"Milvus {index} ({what})"
                if key in out:
                    continue
                per_vector = (r[f"{what}_bytes"] - r[f"{what}_empty_bytes"]) / int(size)
                out[key] = {
                    "measured_at": int(size),
                    "bytes_per_vector": round(per_vector, 1),
                    **{f"{m:_}": round(per_vector * m) for m in EXTRAPOLATE},
                }
    return out


def _switch_point(results: dict[str, dict]) -> int:
    """Vectors at which exact search's p95 reaches the limit: interpolated between the two
    measured sizes that bracket it, else extrapolated linearly (Flat scans all n vectors)."""
    points = sorted((int(s), r["Flat"]["p95_ms"]) for s, r in results.items())
    low = (0, 0.0)
    for n, ms in points:
        if ms >= FLAT_P95_LIMIT_MS:
            share = (FLAT_P95_LIMIT_MS - low[1]) / (ms - low[1])
            return int(round(low[0] + share * (n - low[0]), -3))
        low = (n, ms)
    return int(round(FLAT_P95_LIMIT_MS / max(low[1], 1e-6) * low[0], -3))


def run(
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    budget_s: float = SIZE_BUDGET_S,
    milvus_sizes: Sequence[int] | None = None,
    server: MilvusServer | None = None,
    milvus_indexes: Sequence[str] | None = None,
) -> dict:
    """FAISS Flat / IVF / HNSW32 at each size, and Milvus rows at `milvus_sizes` (each on a
    fresh server, or on `server`; index types by size unless `milvus_indexes`)."""
    sizes = tuple(sorted(sizes or (QUICK_SIZES if quick else SIZES)))
    milvus_sizes = tuple(
        milvus_sizes or (scale_milvus.QUICK_SIZES if quick else scale_milvus.SIZES)
    )
    started = time.perf_counter()
    _log(f"generating {max(sizes):,} x {DIM} clustered unit vectors")
    data, queries = synthetic(max((*sizes, *milvus_sizes)))
    results: dict[str, dict] = {}
    milvus: dict[str, dict] = {}
    previous: tuple[int, dict] = (0, {})
    for n in sorted({*sizes, *milvus_sizes}):
        if n in sizes:
            results[str(n)], truth = _measure(n, data, queries, budget_s, previous)
            previous = (n, results[str(n)])
        else:
            truth = build_faiss(data[:n], "Flat").search(queries, K)[1]
        if n in milvus_sizes:
            milvus[str(n)] = {
                index: scale_milvus.measure(n, index, data, queries, truth, server)
                for index in milvus_indexes or scale_milvus.indexes_for(n)
            }
    return {
        "dim": DIM,
        "queries": len(queries),
        "k": K,
        "sizes": list(sizes),
        "threads_build": faiss.omp_get_max_threads(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "milvus": milvus,
        "milvus_versions": scale_milvus.versions(),
        "extrapolated_memory": _extrapolate(results, milvus),
        "flat_p95_limit_ms": FLAT_P95_LIMIT_MS,
        "flat_switch_at": _switch_point(results),
        "total_s": round(time.perf_counter() - started, 1),
    }
