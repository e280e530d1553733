"""FAISS index types at scale: when should `Settings.faiss_factory` leave exact "Flat"?

The real corpus is two articles, so this benchmark uses synthetic unit vectors of the embedder's
dimension (384). They are clustered (1000 Gaussian centres, Zipf-like cluster sizes, noise) so
that approximate search faces neighbourhoods like real embeddings instead of uniform noise, on
which every ANN index looks either perfect or useless. Queries are half perturbed database
vectors (near-duplicate questions) and half fresh draws from the same clusters.

Every FAISS index is built through `qa.index.store.build_faiss` (inner product on unit vectors), as
the pipeline builds it. IVF is trained on the first ≤100k vectors (a random sample: rows are
i.i.d.) and the rest is added afterwards; HNSW and IVF are filled in batches so a build that
overruns its time budget is stopped and reported instead of hanging the whole `make bench`.

Milvus Lite is measured through `qa.index.vectorstore.open_store("milvus:///…/scale.db")`, the store
`Settings.vector_store` opens: upserts by string id in batches, then the store is closed the way
a `qa index` process ends (its memtable flushed to segments, background compaction finished),
reopened the way `qa serve` opens it, and queried one vector at a time. Its memory is its size on
disk. Its per-query time grows with n, so at large sizes it answers fewer of the queries (an even
spread over both halves), as many as fit the search reserve, at least `MILVUS_MIN_QUERIES`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np

from qa.bench import pyplot, save
from qa.index.store import build_faiss

DIM = 384
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)
N_QUERIES = 200
K = 10
HNSW_EF_SEARCH = 64  # faiss default is 16; 64 is the usual recall/latency compromise
IVF_NPROBE = 16
TRAIN_MAX = 100_000
BATCH = 100_000
SIZE_BUDGET_S = 480.0  # per size, all index types: keeps the 1M step near 8 minutes on 2 cores
SEARCH_RESERVE_S = 40.0  # kept back from a build's budget for its 200 timed queries
FLAT_P95_LIMIT_MS = 20.0
MILVUS = "MilvusLite"
# Vectors per `store.add` (which upserts 1000 at a time); the budget is checked between calls.
MILVUS_BATCH = 20_000
MILVUS_MIN_QUERIES = 20  # at large sizes Milvus Lite answers fewer queries, never fewer than this
EXTRAPOLATE = (1_000_000, 10_000_000)


def _log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def _factories(n: int) -> dict[str, str]:
    """Index types in build order: HNSW last, it gets whatever the size's budget has left."""
    return {
        "Flat": "Flat",
        "IVF": f"IVF{round(4 * math.sqrt(n))},Flat",
        MILVUS: "Milvus Lite FLAT",
        "HNSW32": "HNSW32",
    }


def synthetic(n: int, n_queries: int = N_QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(database (n, 384), queries) of clustered unit vectors; prefixes are valid smaller sets."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, 1001) ** 0.7  # a few big stories, a long tail of small ones
    weights /= weights.sum()
    sigma = 0.05  # nearest neighbour cosine ≈ 0.74, 10th ≈ 0.52; random pairs ≈ 0

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, DIM), np.float32)
        for start in range(0, count, BATCH):  # float32 in slices: 1M x 384 would be 3 GB in f64
            m = min(BATCH, count - start)
            x = centres[rng.choice(1000, size=m, p=weights)]
            x += sigma * rng.standard_normal((m, DIM), dtype=np.float32)
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    data = draw(n)
    half = n_queries // 2
    near = data[rng.choice(min(n, 10_000), size=half, replace=False)]
    near = near + 0.5 * sigma * rng.standard_normal(near.shape, dtype=np.float32)
    queries = np.concatenate(
        [near / np.linalg.norm(near, axis=1, keepdims=True), draw(n_queries - half)]
    )
    return data, queries


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


def _latency_ms(
    search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, warm: int = 3
) -> tuple[list[float], np.ndarray]:
    """Single-query latencies (a user waits for one query) and the found ids, `search(q)` being
    one query's top-K ids; the first `warm` queries are run once untimed to warm caches."""
    for q in queries[:warm]:
        search(q)
    times, ids = [], []
    for q in queries:
        started = time.perf_counter()
        found = search(q)
        times.append((time.perf_counter() - started) * 1000)
        ids.append(found)
    return times, np.array(ids)


def _faiss_latency_ms(index: faiss.Index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """`_latency_ms` of a FAISS index on one thread."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return _latency_ms(lambda q: index.search(q[None, :], K)[1][0], queries)
    finally:
        faiss.omp_set_num_threads(threads)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


def _build_cost(kind: str, n: int) -> float:
    """Relative build work, to predict a size's build time from a smaller one's.

    HNSW inserts n points with ~log n hops each; IVF runs 10 k-means iterations over the training
    sample and assigns every vector, each step against nlist = 4·√n centroids; Flat is a copy;
    Milvus Lite writes every vector to its log, a segment file and an index file.
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


def _row(
    factory: str,
    params: dict,
    seconds: float,
    memory: int,
    method: str,
    n: int,
    times: list[float],
    found: np.ndarray,
    truth: np.ndarray,
) -> dict:
    return {
        "factory": factory,
        "params": params,
        "build_s": round(seconds, 2),
        "memory_bytes": memory,
        "memory_method": method,
        "bytes_per_vector": round(memory / n, 1),
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
        "recall@10": round(_recall(found, truth), 4),
    }


def _milvus_missing() -> str | None:
    """Why Milvus Lite cannot be measured here, or None."""
    for module, package in (("pymilvus", "pymilvus"), ("milvus_lite", "milvus-lite")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'qa[milvus]')"
    return None


def _milvus_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {package: version(package) for package in ("pymilvus", "milvus-lite")}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _release(db: Path) -> None:
    """Stop the in-process Milvus Lite server of `db`, as the end of a process does.

    `MilvusStore.close()` closes the pymilvus client, but milvus-lite keeps serving the file (and
    holding its vectors in memory) until the process exits. Its shutdown flushes the memtable to
    segment files and waits for background compaction; a benchmark that opens several stores in
    one process must do it explicitly.
    """
    from milvus_lite import server_manager_instance

    server_manager_instance.release_server(str(db))


def _milvus_queries(n: int, before: tuple[int, dict]) -> int:
    """How many queries fit the search reserve at n, from the previous size's time per query."""
    row = before[1]
    if not row.get("queries"):
        return N_QUERIES
    per_query = row["search_s"] / row["queries"] * n / before[0]
    return int(min(N_QUERIES, max(MILVUS_MIN_QUERIES, SEARCH_RESERVE_S // per_query)))


def _estimate(kind: str, n: int, before: tuple[int, dict]) -> float:
    """Predicted seconds of a build at n from the previous size's; 0 when there is none.

    For Milvus Lite also the reopen, and the search time beyond the reserve (its queries are
    slow enough to matter; the FAISS ones are not)."""
    size, row = before
    if not row.get("build_s"):
        return 0.0
    scale = _build_cost(kind, n) / _build_cost(kind, size)
    if kind != MILVUS:
        return row["build_s"] * scale
    queries = _milvus_queries(n, before)
    search = row["search_s"] / row["queries"] * n / size * queries
    return (row["build_s"] + row["load_s"]) * scale + max(0.0, search - SEARCH_RESERVE_S)


def _measure_milvus(
    n: int,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    budget_s: float,
    before: tuple[int, dict],
) -> dict:
    """Milvus Lite at size n (see the module docstring); `{"skipped": why}` on an overrun."""
    from qa.index.vectorstore import open_store

    factory = _factories(n)[MILVUS]
    with tempfile.TemporaryDirectory(prefix="qa-scale-") as tmp:
        db = Path(tmp).resolve() / "scale.db"
        uri = f"milvus://{db}"
        started = time.perf_counter()
        store = open_store(uri, DIM)
        try:
            for start in range(0, n, MILVUS_BATCH):
                if time.perf_counter() - started > budget_s:
                    seconds = time.perf_counter() - started
                    why = f"stopped at {seconds:.0f} s ({start:,} of {n:,} inserted)"
                    return {"factory": factory, "skipped": f"build {why} > {budget_s:.0f} s left"}
                stop = min(n, start + MILVUS_BATCH)
                store.add([str(i) for i in range(start, stop)], data[start:stop])
        finally:
            store.close()
            _release(db)
        seconds = time.perf_counter() - started
        disk = _dir_bytes(db)
        started = time.perf_counter()
        store = open_store(uri, DIM)
        load = time.perf_counter() - started
        used = _milvus_queries(n, before)
        chosen = np.arange(0, len(queries), math.ceil(len(queries) / used))

        def search(q: np.ndarray) -> np.ndarray:
            ids = [int(i) for i, _ in store.search(q, K)]
            return np.array(ids + [-1] * (K - len(ids)))

        try:
            searched = time.perf_counter()
            times, found = _latency_ms(search, queries[chosen], warm=2)
            search_s = time.perf_counter() - searched
            count = store.count()
        finally:
            store.close()
            _release(db)
    if count != n:
        raise RuntimeError(f"Milvus Lite holds {count:,} vectors after inserting {n:,}")
    row = _row(
        factory,
        {"index": "FLAT", "metric": "IP"},
        seconds,
        disk,
        "on disk (.db directory after close)",
        n,
        times,
        found,
        truth[chosen],
    )
    return {**row, "load_s": round(load, 2), "queries": len(chosen), "search_s": round(search_s, 2)}


def _measure(
    n: int, data: np.ndarray, queries: np.ndarray, budget_s: float, previous: tuple[int, dict]
) -> dict[str, dict]:
    """All index types at size n within `budget_s` seconds; `previous` = (size, results) of the
    last size, from which each build's time is predicted so a hopeless one is not started."""
    out: dict[str, dict] = {}
    truth = None
    started = time.perf_counter()
    for kind, factory in _factories(n).items():
        reserve = SEARCH_RESERVE_S if truth is not None else 0.0
        left = max(0.0, budget_s - (time.perf_counter() - started) - reserve)
        before = (previous[0], previous[1].get(kind, {}))
        estimate = _estimate(kind, n, before)
        skipped = _milvus_missing() if kind == MILVUS else None
        if not skipped and estimate > left:
            skipped = f"build estimated {estimate:.0f} s > {left:.0f} s left"
        if skipped:
            out[kind] = {"factory": factory, "skipped": skipped}
            _log(f"n={n:,} {factory}: skipped, {skipped}")
            continue
        if kind == MILVUS:
            out[kind] = r = _measure_milvus(n, data, queries, truth, left, before)
            _log(
                f"n={n:,} {factory}: skipped, {r['skipped']}"
                if "skipped" in r
                else f"n={n:,} {factory}: build {r['build_s']:.1f} s, reopen {r['load_s']:.1f} s, "
                f"p95 {r['p95_ms']:.2f} ms over {r['queries']} queries"
            )
            continue
        index, seconds = _build(data[:n], factory, left)
        if index is None:
            skipped = f"build stopped at {seconds:.0f} s > {left:.0f} s left"
            out[kind] = {"factory": factory, "skipped": skipped}
            _log(f"n={n:,} {factory}: skipped, {skipped}")
            continue
        params = _tune(kind, index, n)
        if kind == "Flat":
            memory, method = n * DIM * 4, "analytic n·d·4"
            truth = index.search(queries, K)[1]  # batch, both threads: the exact answer
        else:
            memory, method = int(faiss.serialize_index(index).nbytes), "serialized"
        times, found = _faiss_latency_ms(index, queries)
        del index
        out[kind] = _row(factory, params, seconds, memory, method, n, times, found, truth)
        _log(f"n={n:,} {factory}: build {seconds:.1f} s, p95 {out[kind]['p95_ms']:.2f} ms")
    return out


def _fixed_bytes(kind: str, n: int) -> int:
    """Size-independent part of an index: the IVF coarse centroids (nlist x d float32)."""
    return round(4 * math.sqrt(n)) * DIM * 4 if kind == "IVF" else 0


def _extrapolate(results: dict[str, dict]) -> dict[str, dict]:
    """Memory at 1M/10M: measured per-vector cost at the largest size (+ IVF centroids)."""
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
    quick: bool = False, sizes: Sequence[int] | None = None, budget_s: float = SIZE_BUDGET_S
) -> dict:
    """Build, time and score Flat / IVF / Milvus Lite / HNSW32 at each size; JSON-serialisable."""
    sizes = tuple(sorted(sizes or (QUICK_SIZES if quick else SIZES)))
    started = time.perf_counter()
    _log(f"generating {max(sizes):,} x {DIM} clustered unit vectors")
    data, queries = synthetic(max(sizes))
    results: dict[str, dict] = {}
    previous: tuple[int, dict] = (0, {})
    for n in sizes:
        results[str(n)] = _measure(n, data, queries, budget_s, previous)
        previous = (n, results[str(n)])
    return {
        "dim": DIM,
        "queries": len(queries),
        "k": K,
        "sizes": list(sizes),
        "threads_build": faiss.omp_get_max_threads(),
        "milvus": {} if _milvus_missing() else _milvus_versions(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "extrapolated_memory": _extrapolate(results),
        "flat_p95_limit_ms": FLAT_P95_LIMIT_MS,
        "flat_switch_at": _switch_point(results),
        "total_s": round(time.perf_counter() - started, 1),
    }


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"


def _milvus_note(result: dict) -> list[str]:
    """How Milvus Lite was measured, and its per-size query counts and reopen times."""
    rows = {
        int(size): kinds[MILVUS]
        for size, kinds in result["results"].items()
        if "skipped" not in kinds.get(MILVUS, {"skipped": ""})
    }
    if not rows:
        return []
    versions = ", ".join(f"{p} {v}" for p, v in result.get("milvus", {}).items())
    per_size = "; ".join(
        f"{n:,}: {r['queries']} queries, reopen {r['load_s']:.1f} s" for n, r in rows.items()
    )
    return [
        "",
        f'Milvus Lite ({versions}) through `qa.index.vectorstore.open_store("milvus:///…/scale.db")`, '
        "the store `Settings.vector_store` opens: collection with metric IP and index FLAT. Build = "
        "open + `store.add` (upserts of 1,000 string ids) + close, which flushes the memtable to "
        "segment files and finishes background compaction like the end of a `qa index` process; "
        "memory = the `.db` directory on disk. The store is then reopened (as `qa serve` would) "
        "and queried one vector at a time over its in-process gRPC server; its engine is pure "
        "Python with numpy brute force per segment (FLAT is exact), and neither its threads nor "
        "numpy's BLAS threads are pinned to one. Queries and reopen time per size: "
        f"{per_size} (fewer queries where they would not fit the search reserve: an even "
        "spread over both halves).",
    ]


def markdown(result: dict) -> str:
    lines = [
        f"### Vector indexes at scale: FAISS and Milvus Lite (synthetic clustered vectors, "
        f"d={result['dim']})",
        "",
        f"{result['queries']} queries (half near-duplicates of stored vectors, half fresh), "
        f"recall@{result['k']} against exact `Flat`. Latency: one query at a time on one thread; "
        f"builds use {result['threads_build']} threads. HNSW32: efConstruction 40, efSearch "
        f"{HNSW_EF_SEARCH}; IVF: nlist = 4·√n, nprobe {IVF_NPROBE}, trained on ≤{TRAIN_MAX:,} "
        f"vectors. Memory: Flat analytic (n·d·4), other FAISS indexes serialized size, Milvus "
        f"Lite on disk. Load average during the run: {result['load_avg']}.",
        *_milvus_note(result),
        "",
        "| vectors | index | build (s) | memory | bytes/vector | p50 (ms) | p95 (ms) | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, kinds in result["results"].items():
        for r in kinds.values():
            if "skipped" in r:
                lines.append(f"| {int(size):,} | `{r['factory']}` | {r['skipped']} | | | | | |")
                continue
            disk = " on disk" if r["memory_method"].startswith("on disk") else ""
            lines.append(
                f"| {int(size):,} | `{r['factory']}` | {r['build_s']:.1f} "
                f"| {_gib(r['memory_bytes'])}{disk} | {r['bytes_per_vector']:,.0f} "
                f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['recall@10']:.3f} |"
            )
    lines += [
        "",
        "Memory arithmetic (per-vector cost measured at the largest size; IVF adds 4·√n "
        "centroids; Milvus Lite: on disk). The running pipeline also keeps a float32 copy of the "
        "chunk vectors (1,536 B/chunk) and the sentence vectors beside the FAISS index.",
        "",
        "| index | measured at | bytes/vector | 1M chunks | 10M chunks |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, e in result["extrapolated_memory"].items():
        name = f"{kind} (on disk)" if kind == MILVUS else kind
        lines.append(
            f"| {name} | {e['measured_at']:,} | {e['bytes_per_vector']:,.0f} "
            f"| {_gib(e['1_000_000'])} | {_gib(e['10_000_000'])} |"
        )
    return "\n".join([*lines, "", *_recommendation(result)]) + "\n"


def _milvus_advice(result: dict) -> str | None:
    """Milvus Lite against FAISS Flat at the largest size where it was measured."""
    measured = [
        int(s)
        for s, r in result["results"].items()
        if "skipped" not in r.get(MILVUS, {"skipped": ""})
    ]
    if not measured:
        return None
    m = max(measured)
    r, flat = result["results"][str(m)][MILVUS], result["results"][str(m)]["Flat"]
    ratio = r["p50_ms"] / max(flat["p50_ms"], 1e-6)
    return (
        f'Milvus Lite (`Settings.vector_store = "milvus:///….db"`, FLAT) at {m:,}: recall@10 '
        f"{r['recall@10']:.3f}, p50/p95 {r['p50_ms']:.1f}/{r['p95_ms']:.1f} ms "
        f"({ratio:.1f}× FAISS Flat's p50 of {flat['p50_ms']:.1f} ms), build {r['build_s']:.0f} s "
        f"({m / max(r['build_s'], 1e-6):,.0f} vectors/s), reopen {r['load_s']:.1f} s, "
        f"{r['bytes_per_vector']:,.0f} bytes/vector on disk; it is not a `faiss_factory` "
        "option but the persistent store chunks are upserted into by id (see docs/scale.md)."
    )


def _recommendation(result: dict) -> list[str]:
    """Where to leave Flat, and for what, read off the largest measured size."""
    n = max(result["sizes"])
    rows = result["results"][str(n)]
    flat, switch = rows["Flat"], result["flat_switch_at"]
    lines = [
        f"**Recommendation.** Exact `Flat` answers in {flat['p95_ms']:.1f} ms (p95) at {n:,} "
        f"vectors and grows linearly with n; it reaches {result['flat_p95_limit_ms']:.0f} ms at "
        f"about {switch:,} chunks on this machine (interpolated between measured sizes). Keep "
        "`Flat` below that: exact, nothing to train, cheapest to build and update."
    ]
    # Compare the approximate FAISS indexes where all of them were measured (the largest such
    # size); Milvus Lite is a store, not a `faiss_factory`, and is compared on its own below.
    complete = [
        int(s)
        for s, r in result["results"].items()
        if all("skipped" not in x for k, x in r.items() if k != MILVUS)
    ]
    m = max(complete, default=n)
    ann = {
        k: r
        for k, r in result["results"][str(m)].items()
        if k not in ("Flat", MILVUS) and "skipped" not in r
    }
    flat_m = result["results"][str(m)]["Flat"]
    ranked = sorted(ann, key=lambda k: (-ann[k]["recall@10"], ann[k]["p50_ms"]))
    for i, kind in enumerate(ranked):
        r = ann[kind]
        name = "IVF{4·√n},Flat" if kind == "IVF" else kind
        facts = (
            f"at {m:,}: recall@10 {r['recall@10']:.3f}, p50/p95 {r['p50_ms']:.2f}/{r['p95_ms']:.2f} "
            f"ms vs Flat's {flat_m['p50_ms']:.1f}/{flat_m['p95_ms']:.1f}, build {r['build_s']:.0f} s, "
            f"{r['bytes_per_vector']:,.0f} bytes/vector"
        )
        if i == 0:
            lines.append(f"Above it, set `Settings.faiss_factory` to `{name}` ({facts}).")
            continue
        best = ann[ranked[0]]
        cheaper = r["build_s"] < best["build_s"] or r["bytes_per_vector"] < best["bytes_per_vector"]
        saving = "in exchange for a cheaper build or less memory" if cheaper else "and no saving"
        lines.append(f"`{name}` has lower recall {saving} ({facts}).")
    if advice := _milvus_advice(result):
        lines.append(advice)
    skipped = [f"`{r['factory']}` ({r['skipped']})" for r in rows.values() if "skipped" in r]
    if skipped:
        lines.append(f"Not measured at {n:,}: {'; '.join(skipped)}.")
    lines.append(
        "Note: `qa.index.store.build_faiss` trains IVF on all vectors; this benchmark trained on the "
        f"first {TRAIN_MAX:,}, which a production build at millions of chunks would also need."
    )
    return [lines[0], "", " ".join(lines[1:])]


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()

    kinds = ["Flat", "IVF", MILVUS, "HNSW32"]
    labels = {"IVF": "IVF(4√n),Flat", MILVUS: "Milvus Lite (FLAT)"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind in kinds:
        points = [
            (int(s), r[kind])
            for s, r in result["results"].items()
            if kind in r and "skipped" not in r[kind]
        ]
        if not points:
            continue
        xs = [n for n, _ in points]
        label = labels.get(kind, kind)
        style = {"marker": "s", "mfc": "none"} if kind == MILVUS else {"marker": "o"}  # on Flat
        left.plot(xs, [r["p95_ms"] for _, r in points], "-", label=f"{label} p95", **style)
        left.plot(xs, [r["p50_ms"] for _, r in points], "x:", color=left.lines[-1].get_color())
        right.plot(xs, [r["recall@10"] for _, r in points], "-", label=label, **style)
    limit = result["flat_p95_limit_ms"]
    left.axhline(limit, color="grey", lw=0.8, ls="--", label=f"{limit:.0f} ms switch threshold")
    left.set(xscale="log", yscale="log", xlabel="vectors in the index (log)")
    left.set(ylabel="single-query latency (ms, log; ○ p95, × p50)")
    left.set_title("Search latency vs index size (one query at a time)")
    right.set(xscale="log", xlabel="vectors in the index (log)", ylabel="recall@10 vs exact")
    right.set_title("Recall@10 vs index size")
    right.set_ylim(min(0.8, right.get_ylim()[0]), 1.01)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(fig, out_dir / "scale.png")
