"""The on-disk index: a directory of generations, each written whole, plus a CURRENT pointer.

    index/
      CURRENT                 name of the live generation (replaced atomically by rename)
      .lock                   held by the one writer (flock)
      gen-<time>-<pid>/
        manifest.json         format version, embedder, chunking, faiss, per-doc and per-file sha256
        documents.jsonl       one Document per line (full NFC text: citations resolve offline)
        chunks.jsonl          one Chunk per line; line number == FAISS id
        chunks.faiss          FAISS index of chunk vectors (inner product on unit vectors)
        sentences.jsonl       one {doc_id, start, end} per line; line number == row of sentences.npy
        sentences.npy         float32 (n_sentences, dim) sentence vectors (np.save, no pickle)

A writer builds a new generation in a temporary folder, fsyncs it, renames it into place and only
then swaps CURRENT, so a crash at any point leaves the old or the new index, never a mix; readers
that opened the old generation keep a consistent view. Checksums catch later damage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.errors import IndexCorrupt, IndexLocked, IndexMismatch, IndexMissing
from qa.types import Chunk, Document, Sentence

FORMAT_VERSION = 1
_FILES = ("documents.jsonl", "chunks.jsonl", "chunks.faiss", "sentences.jsonl", "sentences.npy")
_KEEP_GENERATIONS = 2
_LOAD_ATTEMPTS = 5  # reloads when writers replace the generation a reader is loading


@dataclass
class IndexData:
    """Everything a generation holds, in memory. Vectors are float32 and L2-normalised."""

    documents: dict[str, Document]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray  # (n_chunks, dim)
    sentences: list[Sentence]
    sentence_vectors: np.ndarray  # (n_sentences, dim)
    manifest: dict[str, Any]
    generation: str = ""
    faiss_index: Any = None  # built from chunk_vectors when None

    def search_index(self) -> faiss.Index:
        """The FAISS index over chunk vectors (built on first use for in-memory data)."""
        if self.faiss_index is None:
            factory = self.manifest.get("faiss", {}).get("factory", "Flat")
            self.faiss_index = build_faiss(self.chunk_vectors, factory)
        return self.faiss_index


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries: renames, new files) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class _Writer:
    """A file seen by numpy as a plain stream (written in chunks through Python)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        return self.handle.write(data)


def build_faiss(vectors: np.ndarray, factory: str = "Flat") -> faiss.Index:
    """An inner-product FAISS index over unit vectors (= cosine). `factory` e.g. "Flat", "HNSW32"."""
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if len(vectors):
        if not index.is_trained:
            index.train(vectors)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Serialise writers: a second `qa index` fails fast instead of racing the first.

    The holder is the only writer, so what an earlier writer left half-written when it was
    killed (a `.tmp-gen-*` folder, `CURRENT.tmp`) is removed as soon as the lock is taken.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexLocked(
                f"{index_dir}: another process is writing this index; try again"
            ) from exc
        try:
            _remove_temporaries(index_dir)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_temporaries(index_dir: Path) -> None:
    for path in index_dir.glob(".tmp-gen-*"):
        shutil.rmtree(path, ignore_errors=True)
    (index_dir / "CURRENT.tmp").unlink(missing_ok=True)


def current_generation(index_dir: Path) -> str | None:
    """Name of the live generation, or None if no index was ever written here."""
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def write_index(
    index_dir: Path, data: IndexData, manifest: dict[str, Any], factory: str = "Flat"
) -> str:
    """Write `data` as a new generation and make it current. Call under `writer_lock`.

    A failure before the swap (a full disk, say) removes what it wrote and leaves the old
    generation live; after the swap, the new one is live and only the clean-up is left.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    tmp = index_dir / f".tmp-{name}"
    try:
        _write_generation(index_dir, tmp, name, data, manifest, factory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if current_generation(index_dir) != name:
            shutil.rmtree(index_dir / name, ignore_errors=True)
        (index_dir / "CURRENT.tmp").unlink(missing_ok=True)
        raise
    _collect_garbage(index_dir, keep=name)
    return name


def _write_generation(
    index_dir: Path,
    tmp: Path,
    name: str,
    data: IndexData,
    manifest: dict[str, Any],
    factory: str,
) -> None:
    tmp.mkdir()
    _write_jsonl(tmp / "documents.jsonl", [d.to_dict() for d in data.documents.values()])
    _write_jsonl(tmp / "chunks.jsonl", [c.to_dict() for c in data.chunks])
    _write_jsonl(
        tmp / "sentences.jsonl",
        [{"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in data.sentences],
    )
    # Both binaries go through Python's file objects: a full disk is then an OSError with its
    # errno (ENOSPC), which callers turn into a typed error; FAISS's own writer and numpy's
    # tofile report it as a bare message.
    with (tmp / "chunks.faiss").open("wb") as handle:
        index = build_faiss(data.chunk_vectors, factory)
        faiss.write_index(index, faiss.PyCallbackIOWriter(handle.write))
    with (tmp / "sentences.npy").open("wb") as handle:
        vectors = np.ascontiguousarray(data.sentence_vectors, dtype=np.float32)
        np.save(_Writer(handle), vectors, allow_pickle=False)
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "faiss": {"factory": factory, "metric": "inner_product", "ntotal": len(data.chunks)},
        "counts": {
            "documents": len(data.documents),
            "chunks": len(data.chunks),
            "sentences": len(data.sentences),
        },
        "files": {f: _sha256(tmp / f) for f in _FILES},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    for path in tmp.iterdir():
        fsync_path(path)
    fsync_path(tmp)
    final = index_dir / name
    os.rename(tmp, final)
    pointer = index_dir / "CURRENT.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    fsync_path(pointer)
    os.replace(pointer, index_dir / "CURRENT")
    fsync_path(index_dir)


def _collect_garbage(index_dir: Path, keep: str) -> None:
    """Remove abandoned temp folders and all but the newest generations."""
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    stale = [p for p in generations if p.name != keep][
        : max(0, len(generations) - _KEEP_GENERATIONS)
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    _remove_temporaries(index_dir)


def read_manifest(index_dir: Path) -> tuple[str, dict[str, Any]]:
    """(generation, manifest) of the live index, or IndexMissing / IndexCorrupt."""
    name = current_generation(index_dir)
    if name is None:
        raise IndexMissing(
            f"no index in {Path(index_dir).resolve()}: build one with `qa index`, or point at "
            "an existing one with --index DIR or QA_INDEX=DIR"
        )
    path = index_dir / name / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path} is missing; rebuild with `qa index --rebuild`") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{path} is not valid JSON; rebuild with `qa index --rebuild`") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"{index_dir}: index format {manifest.get('format_version')} is not {FORMAT_VERSION}; "
            "rebuild with `qa index --rebuild`"
        )
    return name, manifest


def verify_files(index_dir: Path, name: str, manifest: dict[str, Any]) -> list[str]:
    """Names of the generation's files whose checksum does not match (or that are missing)."""
    bad = []
    for filename, expected in manifest.get("files", {}).items():
        try:
            if _sha256(index_dir / name / filename) != expected:
                bad.append(filename)
        except OSError:  # missing, a folder, unreadable
            bad.append(filename)
    return bad


def load_index(index_dir: Path) -> IndexData:
    """Load and verify the live generation; every inconsistency is a typed error.

    A writer keeps only the newest generations, so a slow reader can find the one it started
    reading deleted under it. That is not damage: if CURRENT has moved meanwhile, load again.
    """
    for _ in range(_LOAD_ATTEMPTS):
        name = current_generation(index_dir)
        try:
            return _load_live(index_dir)
        except IndexCorrupt:
            if current_generation(index_dir) == name:
                raise
    raise IndexCorrupt(
        f"{index_dir}: the index changed {_LOAD_ATTEMPTS} times while it was being loaded; "
        "try again when writes are rarer"
    )


def _load_live(index_dir: Path) -> IndexData:
    name, manifest = read_manifest(index_dir)
    bad = verify_files(index_dir, name, manifest)
    if bad:
        raise IndexCorrupt(
            f"{index_dir}: damaged index files {', '.join(bad)}; rebuild with `qa index --rebuild`"
        )
    folder = index_dir / name
    try:
        documents = {
            row["doc_id"]: Document(**row) for row in _read_jsonl(folder / "documents.jsonl")
        }
        chunks = [Chunk.from_dict(row) for row in _read_jsonl(folder / "chunks.jsonl")]
        sentences = [
            Sentence(
                r["doc_id"],
                r["start"],
                r["end"],
                documents[r["doc_id"]].text[r["start"] : r["end"]],
            )
            for r in _read_jsonl(folder / "sentences.jsonl")
        ]
        index = faiss.read_index(str(folder / "chunks.faiss"))
        chunk_vectors = (
            index.reconstruct_n(0, index.ntotal)
            if index.ntotal
            else np.zeros((0, index.d), np.float32)
        )
        sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise IndexCorrupt(
            f"{index_dir}: cannot parse index ({exc}); rebuild with `qa index --rebuild`"
        ) from exc
    if len(chunks) != len(chunk_vectors) or len(sentences) != len(sentence_vectors):
        raise IndexCorrupt(
            f"{index_dir}: records and vectors disagree; rebuild with `qa index --rebuild`"
        )
    return IndexData(
        documents, chunks, chunk_vectors, sentences, sentence_vectors, manifest, name, index
    )
