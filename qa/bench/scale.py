"""FAISS index types at scale: when should `Settings.faiss_factory` leave exact "Flat"?

The real corpus is two articles, so this benchmark uses synthetic unit vectors of the embedder's
dimension (384). They are clustered (1000 Gaussian centres, Zipf-like cluster sizes, noise) so
that approximate search faces neighbourhoods like real embeddings instead of uniform noise, on
which every ANN index looks either perfect or useless. Queries are half perturbed database
vectors (near-duplicate questions) and half fresh draws from the same clusters.

Every index is built through `qa.store.build_faiss` (inner product on unit vectors), as the
pipeline builds it. IVF is trained on the first ≤100k vectors (a random sample: rows are i.i.d.)
and the rest is added afterwards; HNSW and IVF are filled in batches so a build that overruns its
time budget is stopped and reported instead of hanging the whole `make bench`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from qa.store import build_faiss

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
EXTRAPOLATE = (1_000_000, 10_000_000)


def _log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def _factories(n: int) -> dict[str, str]:
    """Index types in build order: HNSW last, it gets whatever the size's budget has left."""
    return {"Flat": "Flat", "IVF": f"IVF{round(4 * math.sqrt(n))},Flat", "HNSW32": "HNSW32"}


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


def _latency_ms(index: faiss.Index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Single-query, single-thread latencies (a user waits for one query) and the results."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.search(queries[:5], K)  # warm caches
        times, ids = [], []
        for q in queries:
            started = time.perf_counter()
            _, found = index.search(q[None, :], K)
            times.append((time.perf_counter() - started) * 1000)
            ids.append(found[0])
    finally:
        faiss.omp_set_num_threads(threads)
    return times, np.array(ids)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


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
        before = previous[1].get(kind, {}).get("build_s")
        estimate = before * _build_cost(kind, n) / _build_cost(kind, previous[0]) if before else 0
        index, seconds = _build(data[:n], factory, left) if estimate <= left else (None, 0.0)
        if index is None:
            why = (
                f"estimated {estimate:.0f} s" if estimate > left else f"stopped at {seconds:.0f} s"
            )
            out[kind] = {"factory": factory, "skipped": f"build {why} > {left:.0f} s left"}
            _log(f"n={n:,} {factory}: skipped, {out[kind]['skipped']}")
            continue
        params = _tune(kind, index, n)
        if kind == "Flat":
            memory, method = n * DIM * 4, "analytic n·d·4"
            truth = index.search(queries, K)[1]  # batch, both threads: the exact answer
        else:
            memory, method = int(faiss.serialize_index(index).nbytes), "serialized"
        times, found = _latency_ms(index, queries)
        del index
        out[kind] = {
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
    """Build, time and score Flat / HNSW32 / IVF at each size; JSON-serialisable result."""
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
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "extrapolated_memory": _extrapolate(results),
        "flat_p95_limit_ms": FLAT_P95_LIMIT_MS,
        "flat_switch_at": _switch_point(results),
        "total_s": round(time.perf_counter() - started, 1),
    }


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"


def markdown(result: dict) -> str:
    lines = [
        f"### FAISS index types at scale (synthetic clustered vectors, d={result['dim']})",
        "",
        f"{result['queries']} queries (half near-duplicates of stored vectors, half fresh), "
        f"recall@{result['k']} against exact `Flat`. Latency: one query at a time on one thread; "
        f"builds use {result['threads_build']} threads. HNSW32: efConstruction 40, efSearch "
        f"{HNSW_EF_SEARCH}; IVF: nlist = 4·√n, nprobe {IVF_NPROBE}, trained on ≤{TRAIN_MAX:,} "
        f"vectors. Memory: Flat analytic (n·d·4), others serialized size. "
        f"Load average during the run: {result['load_avg']}.",
        "",
        "| vectors | index | build (s) | memory | bytes/vector | p50 (ms) | p95 (ms) | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, kinds in result["results"].items():
        for r in kinds.values():
            if "skipped" in r:
                lines.append(f"| {int(size):,} | `{r['factory']}` | {r['skipped']} | | | | | |")
                continue
            lines.append(
                f"| {int(size):,} | `{r['factory']}` | {r['build_s']:.1f} | {_gib(r['memory_bytes'])} "
                f"| {r['bytes_per_vector']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
                f"| {r['recall@10']:.3f} |"
            )
    lines += [
        "",
        "Memory arithmetic (per-vector cost measured at the largest size; IVF adds 4·√n "
        "centroids). The running pipeline also keeps a float32 copy of the chunk vectors "
        "(1,536 B/chunk) and the sentence vectors beside the FAISS index.",
        "",
        "| index | measured at | bytes/vector | 1M chunks | 10M chunks |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, e in result["extrapolated_memory"].items():
        lines.append(
            f"| {kind} | {e['measured_at']:,} | {e['bytes_per_vector']:,.0f} "
            f"| {_gib(e['1_000_000'])} | {_gib(e['10_000_000'])} |"
        )
    return "\n".join([*lines, "", *_recommendation(result)]) + "\n"


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
    # Compare the approximate indexes where all of them were measured (the largest such size).
    complete = [
        int(s) for s, r in result["results"].items() if all("skipped" not in x for x in r.values())
    ]
    m = max(complete, default=n)
    ann = {k: r for k, r in result["results"][str(m)].items() if k != "Flat" and "skipped" not in r}
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
    skipped = [r["factory"] for r in rows.values() if "skipped" in r]
    if skipped:
        lines.append(f"Not measured at {n:,} (over the time budget): {', '.join(skipped)}.")
    lines.append(
        "Note: `qa.store.build_faiss` trains IVF on all vectors; this benchmark trained on the "
        f"first {TRAIN_MAX:,}, which a production build at millions of chunks would also need."
    )
    return [lines[0], "", " ".join(lines[1:])]


def plot(result: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ["Flat", "HNSW32", "IVF"]
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
        label = {"IVF": "IVF(4√n),Flat"}.get(kind, kind)
        left.plot(xs, [r["p95_ms"] for _, r in points], "o-", label=f"{label} p95")
        left.plot(xs, [r["p50_ms"] for _, r in points], "x:", color=left.lines[-1].get_color())
        right.plot(xs, [r["recall@10"] for _, r in points], "o-", label=label)
    limit = result["flat_p95_limit_ms"]
    left.axhline(limit, color="grey", lw=0.8, ls="--", label=f"{limit:.0f} ms switch threshold")
    left.set(xscale="log", yscale="log", xlabel="vectors in the index (log)")
    left.set(ylabel="single-query latency (ms, log; ○ p95, × p50)")
    left.set_title("Search latency vs index size (1 thread)")
    right.set(xscale="log", xlabel="vectors in the index (log)", ylabel="recall@10 vs exact")
    right.set_title("Recall@10 vs index size")
    right.set_ylim(min(0.8, right.get_ylim()[0]), 1.01)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "scale.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
