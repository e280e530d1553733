"""The write path of `qa index` at scale: embed what changed, resumably and in parallel, and
keep an external vector store in step with the published generations.

Embedding (`embed_texts`). Texts staged by an interrupted earlier run are read back, never
embedded twice (`qa.index.staging`); the rest is cut into the serial path's batches and embedded
serially, in threads or on Ray actors (`qa.index.parallel`). Each batch is staged on disk as
soon as it exists, and the vectors of its chunks go to the vector store right away: from the
Ray worker that embedded them (several writers; a worker that cannot reach the store within
`STORE_WAIT_S` hands the batch back), else from the driver. Writes are upserts by chunk id and
are retried while the server restarts, so retries and re-runs never duplicate anything.

The store (`store_upsert`, `store_delete`), around the generation swap:
1. before the swap, the chunks of added or edited documents not written yet (all chunks when
   the previous generation used no or another store), then a flush: durable, indexed, visible;
2. the new generation is written with the store in its manifest, `CURRENT` swaps;
3. after the swap, ids that left the index are deleted; if the store's count still differs
   from the generation's (an interrupted earlier run), stray ids are deleted and missing ones
   rewritten. So after any sequence of crashes and re-runs the store holds exactly the live
   chunk ids with the generation's vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.errors import QAError
from qa.index.embedding import Embedder
from qa.index.parallel import (
    Embedded,
    OnBatch,
    StoreTarget,
    embed_parallel,
    embed_ray,
    embedder_factory,
)
from qa.index.staging import Staging, text_key
from qa.index.store import IndexData
from qa.index.vectorstore import VectorStore, retrying
from qa.settings import Settings

Progress = Callable[[int, int], None]
# How long a store write is retried (a server restart took 3-17 s here) before the run fails.
STORE_WAIT_S = 120.0


@dataclass
class Embedding:
    """What `embed_texts` did: the vectors (input order), how many texts it embedded and how
    many it took from the staging, and the chunk ids already written to the store."""

    vectors: np.ndarray
    embedded: int = 0
    resumed: int = 0
    stored: set[str] = field(default_factory=set)
    stored_by_workers: int = 0
    nodes: list[str] = field(default_factory=list)


def _embed(
    embedder: Embedder,
    texts: list[str],
    batch: int,
    progress: Progress | None,
    on_batch: OnBatch | None = None,
) -> np.ndarray:
    parts = []
    for i in range(0, len(texts), batch):
        parts.append(embedder.embed(texts[i : i + batch], "passage"))
        if on_batch:
            on_batch(i, Embedded(parts[-1]))
        if progress:
            progress(min(i + batch, len(texts)), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def _embed_parallel(
    embedder: Embedder,
    texts: list[str],
    settings: Settings,
    progress: Progress | None,
    on_batch: OnBatch,
    store: StoreTarget | None,
) -> np.ndarray:
    """`_embed` in `settings.embed_workers` threads (or on Ray), each with its own embedder
    built by name; same batches, same order, same vectors (see `qa.index.parallel`)."""
    factory = embedder_factory(embedder.name, settings.embed_batch)
    try:
        same = factory().fingerprint == embedder.fingerprint
    except QAError:
        same = False
    if not same:  # a custom embedder that cannot be rebuilt by name: embed serially
        return _embed(embedder, texts, settings.embed_batch, progress, on_batch)
    workers, batch = max(1, settings.embed_workers), settings.embed_batch
    if settings.ray_address:
        return embed_ray(
            texts,
            factory,
            embedder.dim,
            settings.ray_address,
            workers,
            batch,
            progress=progress,
            on_batch=on_batch,
            store=store,
        )
    return embed_parallel(
        texts, factory, embedder.dim, workers, batch, progress=progress, on_batch=on_batch
    )


def embed_texts(
    embedder: Embedder,
    texts: list[str],
    chunk_ids: list[str | None],
    settings: Settings,
    progress: Progress | None = None,
    store: VectorStore | None = None,
) -> Embedding:
    """Vectors of `texts`, staged batch by batch in `settings.index_dir`; the vectors of texts
    with a `chunk_ids[i]` (chunks, not sentences) are also upserted into `store`."""
    staging = Staging(settings.index_dir, embedder.fingerprint, embedder.dim)
    staged = staging.load()
    out = np.zeros((len(texts), embedder.dim), np.float32)
    todo = []
    for i, text in enumerate(texts):
        if (vector := staged.get(text_key(text))) is not None:
            out[i] = vector
        else:
            todo.append(i)
    todo_texts = [texts[i] for i in todo]
    todo_ids = [chunk_ids[i] for i in todo]
    run = Embedding(out, embedded=len(todo), resumed=len(texts) - len(todo))
    nodes: set[str] = set()

    def on_batch(start: int, result: Embedded) -> None:
        staging.add(todo_texts[start : start + len(result.vectors)], result.vectors)
        ids = todo_ids[start : start + len(result.vectors)]
        rows = [j for j, x in enumerate(ids) if x]
        if store is not None and rows:
            chosen = [str(ids[j]) for j in rows]
            if result.stored:
                run.stored_by_workers += len(rows)
            else:
                retrying(lambda: store.add(chosen, result.vectors[rows]), STORE_WAIT_S)
            run.stored.update(chosen)
        if result.node:
            nodes.add(result.node)

    target = StoreTarget(store.uri, todo_ids, STORE_WAIT_S) if store is not None else None
    if settings.embed_workers > 1 or settings.ray_address:
        fresh = _embed_parallel(embedder, todo_texts, settings, progress, on_batch, target)
    else:
        fresh = _embed(embedder, todo_texts, settings.embed_batch, progress, on_batch)
    if todo:
        out[todo] = fresh
    run.nodes = sorted(nodes)
    return run


def discard_staging(index_dir: Path) -> None:
    """Remove the staged vectors once a run has published (or found nothing to publish)."""
    Staging(index_dir, "", 0).clear()


def store_upsert(
    store: VectorStore,
    data: IndexData,
    previous: IndexData | None,
    fresh: set[str] | None,
    stored: set[str],
) -> list[str]:
    """Step 1 (module docstring): write the chunks of the `fresh` documents (None: all) that are
    not `stored` yet, flush; return the ids the new generation drops, to delete after the swap."""
    rows = [
        i
        for i, c in enumerate(data.chunks)
        if (fresh is None or c.doc_id in fresh) and c.chunk_id not in stored
    ]
    ids = [data.chunks[i].chunk_id for i in rows]
    retrying(lambda: store.add(ids, data.chunk_vectors[rows]), STORE_WAIT_S)
    retrying(store.flush, STORE_WAIT_S)
    kept = {c.chunk_id for c in data.chunks}
    return sorted({c.chunk_id for c in previous.chunks} - kept) if previous else []


def store_delete(store: VectorStore, stale: list[str], data: IndexData) -> None:
    """Step 3: delete ids the new generation no longer has; repair strays and gaps left by an
    interrupted run."""
    retrying(lambda: store.delete(stale), STORE_WAIT_S)
    changed = bool(stale)
    if retrying(store.count, STORE_WAIT_S) != len(data.chunks):
        kept = {c.chunk_id for c in data.chunks}
        strays = [i for i in retrying(store.ids, STORE_WAIT_S) if i not in kept]
        retrying(lambda: store.delete(strays), STORE_WAIT_S)
        changed = True
    if retrying(store.count, STORE_WAIT_S) != len(data.chunks):  # vectors missing: rewrite
        ids = [c.chunk_id for c in data.chunks]
        retrying(lambda: store.add(ids, data.chunk_vectors), STORE_WAIT_S)
        changed = True
    if changed:
        retrying(store.flush, STORE_WAIT_S)
