"""Building the index from documents, incrementally.

A document whose text hash and chunking parameters are unchanged keeps its chunks and vectors
from the previous generation; new or edited documents are chunked and embedded; documents that
left the corpus disappear. The result is written as one new generation (see `qa.index.store`).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import DocumentError, IndexMismatch, IndexMissing, QAError
from qa.index.embedding import Embedder
from qa.index.store import IndexData, load_index, write_index, writer_lock
from qa.index.stories import find_stories
from qa.ingest.chunking import SPLITTER_VERSION, chunk_document
from qa.ingest.documents import read_corpus
from qa.settings import Settings
from qa.text import folded_words
from qa.types import Chunk, Document, Sentence

Progress = Callable[[int, int], None]


@dataclass
class IndexReport:
    """What an indexing run did, for the CLI and for tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded_texts: int = 0
    seconds: float = 0.0
    generation: str = ""
    # Pairs of documents that share most of their sentences (syndicated copies, re-posts).
    near_duplicates: list[tuple[str, str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def embedder_manifest(embedder: Embedder) -> dict[str, Any]:
    return {"name": embedder.name, "fingerprint": embedder.fingerprint, "dim": embedder.dim}


def chunking_manifest(settings: Settings) -> dict[str, Any]:
    return {
        "max_chars": settings.chunk_chars,
        "overlap": settings.chunk_overlap,
        "splitter": SPLITTER_VERSION,
    }


def check_compatible(manifest: dict[str, Any], embedder: Embedder) -> None:
    """Raise IndexMismatch when the index was built by another embedder (other vector space)."""
    built = manifest.get("embedder", {})
    if built.get("fingerprint") != embedder.fingerprint or built.get("dim") != embedder.dim:
        raise IndexMismatch(
            f"index was built with embedder {built.get('fingerprint')!r} (dim {built.get('dim')}), "
            f"but {embedder.fingerprint!r} (dim {embedder.dim}) is configured; "
            "use the same embedder or rebuild with `qa index --rebuild`"
        )


def _embed(
    embedder: Embedder, texts: list[str], batch: int, progress: Progress | None
) -> np.ndarray:
    parts = []
    for i in range(0, len(texts), batch):
        parts.append(embedder.embed(texts[i : i + batch], "passage"))
        if progress:
            progress(min(i + batch, len(texts)), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def _embed_parallel(
    embedder: Embedder, texts: list[str], settings: Settings, progress: Progress | None
) -> np.ndarray:
    """`_embed` in `settings.embed_workers` threads (or on Ray), each with its own embedder
    built by name; same batches, same order, same vectors (see `qa.index.parallel`)."""
    from qa.index.parallel import embed_parallel, embed_ray, embedder_factory

    factory = embedder_factory(embedder.name, settings.embed_batch)
    try:
        same = factory().fingerprint == embedder.fingerprint
    except QAError:
        same = False
    if not same:  # a custom embedder that cannot be rebuilt by name: embed serially
        return _embed(embedder, texts, settings.embed_batch, progress)
    workers = max(1, settings.embed_workers)
    if settings.ray_address:
        return embed_ray(
            texts,
            factory,
            embedder.dim,
            settings.ray_address,
            workers,
            settings.embed_batch,
            progress=progress,
        )
    return embed_parallel(
        texts, factory, embedder.dim, workers, settings.embed_batch, progress=progress
    )


def build_data(
    documents: list[Document],
    embedder: Embedder,
    settings: Settings,
    previous: IndexData | None = None,
    progress: Progress | None = None,
    max_texts: int | None = None,
) -> tuple[IndexData, IndexReport]:
    """Chunk and embed `documents`, reusing `previous` vectors for unchanged documents.

    `max_texts` (uploads): a new or edited document may add at most this many chunks + sentences
    and must not repeat itself (`check_upload_size`); checked before anything is embedded.
    """
    report = IndexReport()
    chunking = chunking_manifest(settings)
    reusable: dict[str, Document] = {}
    if previous is not None and previous.manifest.get("chunking") == chunking:
        reusable = previous.documents
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    chunk_rows: list[np.ndarray | int] = []  # a reused vector, or a position in `to_embed`
    sentence_rows: list[np.ndarray | int] = []
    to_embed: list[str] = []
    old_chunks = _rows_by_doc(previous.chunks) if previous else {}
    old_sentences = _rows_by_doc(previous.sentences) if previous else {}
    for doc in documents:
        old = reusable.get(doc.doc_id)
        if old is not None and old.sha256 == doc.sha256:
            report.unchanged.append(doc.doc_id)
            for row in old_chunks[doc.doc_id]:
                chunks.append(previous.chunks[row])
                chunk_rows.append(previous.chunk_vectors[row])
            for row in old_sentences[doc.doc_id]:
                sentences.append(previous.sentences[row])
                sentence_rows.append(previous.sentence_vectors[row])
            continue
        (report.updated if previous and doc.doc_id in previous.documents else report.added).append(
            doc.doc_id
        )
        doc_chunks, doc_sentences = chunk_document(
            doc.text, doc.doc_id, settings.chunk_chars, settings.chunk_overlap
        )
        if max_texts is not None:
            check_upload_size(doc.doc_id, doc_chunks, doc_sentences, max_texts)
        for item, rows in ((doc_chunks, chunk_rows), (doc_sentences, sentence_rows)):
            for record in item:
                rows.append(len(to_embed))
                to_embed.append(record.text)
        chunks.extend(doc_chunks)
        sentences.extend(doc_sentences)
    if previous:
        present = {d.doc_id for d in documents}
        report.removed = sorted(set(previous.documents) - present)
    if settings.embed_workers > 1 or settings.ray_address:
        fresh = _embed_parallel(embedder, to_embed, settings, progress)
    else:
        fresh = _embed(embedder, to_embed, settings.embed_batch, progress)
    report.embedded_texts = len(to_embed)
    report.chunks = len(chunks)
    report.near_duplicates = near_duplicates(sentences)

    def stack(rows: list[np.ndarray | int]) -> np.ndarray:
        if not rows:
            return np.zeros((0, embedder.dim), np.float32)
        return np.stack([fresh[r] if isinstance(r, int) else r for r in rows]).astype(np.float32)

    chunk_vectors = stack(chunk_rows)
    manifest = {
        "embedder": embedder_manifest(embedder),
        "chunking": chunking,
        "documents": {d.doc_id: {"sha256": d.sha256, "path": d.path} for d in documents},
        "near_duplicates": [list(p) for p in report.near_duplicates],
        "stories": find_stories(documents, chunks, chunk_vectors).to_manifest(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
    }
    data = IndexData(
        documents={d.doc_id: d for d in documents},
        chunks=chunks,
        chunk_vectors=chunk_vectors,
        sentences=sentences,
        sentence_vectors=stack(sentence_rows),
        manifest=manifest,
    )
    return data, report


_REPEAT_MIN_SENTENCES = 50
_REPEAT_MIN_DISTINCT = 0.1


def check_upload_size(
    doc_id: str, chunks: list[Chunk], sentences: list[Sentence], max_texts: int
) -> None:
    """Refuse an uploaded article that would occupy the server for minutes: more than
    `max_texts` texts to embed, or a text that mostly repeats itself (one sentence pasted
    thousands of times embeds as thousands of texts and answers nothing)."""
    distinct = len({s.text for s in sentences})
    if len(sentences) >= _REPEAT_MIN_SENTENCES and distinct < _REPEAT_MIN_DISTINCT * len(sentences):
        raise DocumentError(
            f"{doc_id}: the text repeats itself ({distinct} distinct sentences of "
            f"{len(sentences)}); refused"
        )

    texts = len(chunks) + len(sentences)
    if texts > max_texts:
        raise DocumentError(
            f"{doc_id}: {texts} passages and sentences to embed; one upload may add at most "
            f"{max_texts} (split the article, or put it in the corpus folder and run `qa index`)"
        )


def near_duplicates(
    sentences: list[Sentence], threshold: float = 0.8
) -> list[tuple[str, str, float]]:
    """Document pairs whose sentence sets overlap by at least `threshold` of the smaller one.

    Sentences are compared folded and without punctuation, so a copy with another header,
    footer or accents still matches. Cost: one pass over sentences plus the pairs that share one.
    """
    by_doc: dict[str, set[str]] = {}
    holders: dict[str, set[str]] = {}
    for s in sentences:
        key = " ".join(folded_words(s.text))
        if len(key) < 20:  # "Xem thêm." and other boilerplate would pair everything
            continue
        by_doc.setdefault(s.doc_id, set()).add(key)
        holders.setdefault(key, set()).add(s.doc_id)
    shared: dict[tuple[str, str], int] = {}
    for docs in holders.values():
        for a in docs:
            for b in docs:
                if a < b:
                    shared[(a, b)] = shared.get((a, b), 0) + 1
    pairs = []
    for (a, b), count in sorted(shared.items()):
        overlap = count / min(len(by_doc[a]), len(by_doc[b]))
        if overlap >= threshold:
            pairs.append((a, b, round(overlap, 3)))
    return pairs


def _rows_by_doc(records: list[Chunk] | list[Sentence]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        rows.setdefault(record.doc_id, []).append(i)
    return rows


def load_previous(index_dir: Path, embedder: Embedder, rebuild: bool) -> IndexData | None:
    """The current index if it can be reused; None when there is none or `rebuild` is asked."""
    if rebuild:
        return None
    try:
        previous = load_index(index_dir)
    except IndexMissing:
        return None
    check_compatible(previous.manifest, embedder)
    return previous


def index_corpus(
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
    documents: list[Document] | None = None,
) -> IndexReport:
    """Bring the index in `settings.index_dir` up to date with the corpus (or `documents`).

    The corpus is read completely first: one unreadable file stops the run before anything is
    written. With `rebuild`, a damaged or mismatched index is replaced instead of reported.
    """
    if documents is None:
        documents = read_corpus(settings.corpus_dir, settings.max_document_bytes)
    with writer_lock(settings.index_dir):
        return update_index(settings, embedder, documents, rebuild, progress)


def update_index(
    settings: Settings,
    embedder: Embedder,
    documents: list[Document],
    rebuild: bool = False,
    progress: Progress | None = None,
    max_texts: int | None = None,
) -> IndexReport:
    """`index_corpus` of exactly `documents`, for a caller that holds `writer_lock` (the corpus
    writer of `qa.ingest.corpus` holds it across its whole transaction). Returns when the new
    generation is live; `max_texts` as in `build_data`."""
    started = time.perf_counter()
    previous = load_previous(settings.index_dir, embedder, rebuild)
    data, report = build_data(documents, embedder, settings, previous, progress, max_texts)
    external = settings.vector_store.startswith("milvus://")
    if external:
        data.manifest["vector_store"] = settings.vector_store
    same_store = previous is not None and previous.manifest.get(
        "vector_store"
    ) == data.manifest.get("vector_store")
    # Same texts but new front matter (title, date, source) or path: no vectors change, but
    # the documents must still be re-published or citations keep the old metadata.
    unchanged = not (report.added or report.updated or report.removed)
    same_stories = (
        data.manifest["stories"] == previous.manifest.get("stories") if previous else False
    )
    if same_store and unchanged and data.documents == previous.documents and same_stories:
        report.generation = previous.generation
    else:
        stale = _store_upsert(settings, data, previous, report, same_store) if external else None
        report.generation = write_index(
            settings.index_dir, data, data.manifest, settings.faiss_factory
        )
        if stale is not None:
            _store_delete(stale, data)
    report.seconds = time.perf_counter() - started
    return report


def _store_upsert(
    settings: Settings,
    data: IndexData,
    previous: IndexData | None,
    report: IndexReport,
    same_store: bool,
) -> tuple[Any, list[str]]:
    """Write the new generation's chunk vectors to the external store, before it goes live.

    Incremental when the previous generation used the same store: only chunks of added or
    edited documents are written (an upsert by chunk id, so an edit replaces and a retry never
    duplicates). Ids that leave the index are deleted by `_store_delete` after the swap, so
    readers of the old generation keep their candidates until then.
    """
    from qa.index.vectorstore import shared_store

    store = shared_store(settings.vector_store, data.chunk_vectors.shape[1])
    if same_store:
        fresh = set(report.added) | set(report.updated)
        rows = [i for i, c in enumerate(data.chunks) if c.doc_id in fresh]
    else:
        rows = list(range(len(data.chunks)))
    store.add([data.chunks[i].chunk_id for i in rows], data.chunk_vectors[rows])
    kept = {c.chunk_id for c in data.chunks}
    stale = sorted({c.chunk_id for c in previous.chunks} - kept) if previous else []
    return store, stale


def _store_delete(stale: tuple[Any, list[str]], data: IndexData) -> None:
    """Delete ids the new generation no longer has; repair strays left by an interrupted run."""
    store, ids = stale
    store.delete(ids)
    if store.count() != len(data.chunks):
        kept = {c.chunk_id for c in data.chunks}
        store.delete([i for i in store.ids() if i not in kept])
    if store.count() != len(data.chunks):  # vectors missing (store emptied by hand): rewrite
        store.add([c.chunk_id for c in data.chunks], data.chunk_vectors)
