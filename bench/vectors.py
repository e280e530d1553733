"""The measuring kit of the scale benchmark: synthetic vectors, single-query latency, recall.

The real corpus is two articles, so the scale benchmark uses synthetic unit vectors of the
embedder's dimension (384). They are clustered (1000 Gaussian centres, Zipf-like cluster sizes,
noise) so that approximate search faces neighbourhoods like real embeddings instead of uniform
noise, on which every ANN index looks either perfect or useless. Queries are half perturbed
database vectors (near-duplicate questions) and half fresh draws from the same clusters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DIM = 384
N_QUERIES = 200
K = 10
BATCH = 100_000


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


def latency_ms(
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


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top-K found, over the queries."""
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


def timing_row(times: list[float], found: np.ndarray, truth: np.ndarray) -> dict:
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
        "recall@10": round(recall(found, truth), 4),
    }


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"
