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

from qa.errors import DocumentError, IndexMismatch, IndexMissing
from qa.index.embed_store import discard_staging, embed_texts, store_delete, store_upsert
from qa.index.embedding import Embedder
from qa.index.store import IndexData, load_index, write_index, writer_lock
from qa.index.stories import find_stories
from qa.index.vectorstore import VectorStore, shared_store
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
    # Texts whose vectors an interrupted earlier run had staged (qa.index.staging): not embedded.
    resumed_texts: int = 0
    # With a vector store: chunk vectors written there by the Ray workers that embedded them,
    # and the Ray nodes that embedded batches.
    stored_by_workers: int = 0
    ray_nodes: list[str] = field(default_factory=list)
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


def layout_manifest(settings: Settings, store: VectorStore | None) -> dict[str, Any]:
    """Where the dense and lexical channels live, beyond the generation's own files: the
    vector store and its index (`describe()`), and BM25 shards when there are several."""
    out: dict[str, Any] = {}
    if store is not None:
        out["vector_store"] = settings.vector_store
        out["vector_index"] = store.describe()
    if settings.lexical_shards > 1:
        out["lexical"] = {"shards": settings.lexical_shards, "by": "document"}
    return out


def check_compatible(manifest: dict[str, Any], embedder: Embedder) -> None:
    """Raise IndexMismatch when the index was built by another embedder (other vector space)."""
    built = manifest.get("embedder", {})
    if built.get("fingerprint") != embedder.fingerprint or built.get("dim") != embedder.dim:
        raise IndexMismatch(
            f"index was built with embedder {built.get('fingerprint')!r} (dim {built.get('dim')}), "
            f"but {embedder.fingerprint!r} (dim {embedder.dim}) is configured; "
            "use the same embedder or rebuild with `qa index --rebuild`"
        )


def build_data(
    documents: list[Document],
    embedder: Embedder,
    settings: Settings,
    previous: IndexData | None = None,
    progress: Progress | None = None,
    store: VectorStore | None = None,
    max_texts: int | None = None,
) -> tuple[IndexData, IndexReport, set[str]]:
    """Chunk and embed `documents`, reusing `previous` vectors for unchanged documents; the
    chunk vectors embedded now also go to `store` as they come (their ids are returned).

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
    chunk_ids: list[str | None] = []  # beside to_embed: its chunk id, None for a sentence
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
        for chunk in doc_chunks:
            chunk_rows.append(len(to_embed))
            to_embed.append(chunk.text)
            chunk_ids.append(chunk.chunk_id)
        for sentence in doc_sentences:
            sentence_rows.append(len(to_embed))
            to_embed.append(sentence.text)
            chunk_ids.append(None)
        chunks.extend(doc_chunks)
        sentences.extend(doc_sentences)
    if previous:
        present = {d.doc_id for d in documents}
        report.removed = sorted(set(previous.documents) - present)
    run = embed_texts(embedder, to_embed, chunk_ids, settings, progress, store)
    fresh = run.vectors
    report.embedded_texts, report.resumed_texts = run.embedded, run.resumed
    report.stored_by_workers, report.ray_nodes = run.stored_by_workers, run.nodes
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
        **layout_manifest(settings, store),
    }
    data = IndexData(
        documents={d.doc_id: d for d in documents},
        chunks=chunks,
        chunk_vectors=chunk_vectors,
        sentences=sentences,
        sentence_vectors=stack(sentence_rows),
        manifest=manifest,
    )
    return data, report, run.stored


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
    writer of `qa.index.corpus_writes` holds it across its whole transaction). Returns when the new
    generation is live; `max_texts` as in `build_data`."""
    started = time.perf_counter()
    previous = load_previous(settings.index_dir, embedder, rebuild)
    store = None
    if settings.vector_store.startswith("milvus://"):  # opened first: a bad URI costs nothing
        store = shared_store(settings.vector_store, embedder.dim)
    data, report, stored = build_data(
        documents, embedder, settings, previous, progress, store, max_texts
    )
    same_store = previous is not None and previous.manifest.get(
        "vector_store"
    ) == data.manifest.get("vector_store")
    # Same texts but new front matter (title, date, source) or path: no vectors change, but
    # the documents must still be re-published or citations keep the old metadata.
    unchanged = not (report.added or report.updated or report.removed)
    layout = ("vector_store", "lexical", "stories")
    if (
        previous is not None
        and unchanged
        and all(previous.manifest.get(k) == data.manifest.get(k) for k in layout)
        and data.documents == previous.documents
    ):
        report.generation = previous.generation
    else:
        stale = None
        if store is not None:
            fresh = set(report.added) | set(report.updated) if same_store else None
            stale = store_upsert(store, data, previous, fresh, stored)
        report.generation = write_index(
            settings.index_dir, data, data.manifest, settings.faiss_factory
        )
        if store is not None:
            store_delete(store, stale or [], data)
    discard_staging(settings.index_dir)
    report.seconds = time.perf_counter() - started
    return report
