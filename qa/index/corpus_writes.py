"""Writing the corpus folder together with the index: an article file and its index entry change
together or not at all, even if the process is killed or the disk fills up.

A write (add or replace articles, remove one) is a transaction under the index's writer lock,
journaled in `<corpus>/.qa-journal/<id>/` (a dot folder: `read_corpus` never reads it):

1. **prepare** — the new bytes are written beside the corpus (`<id>/<n>.new`, fsynced), then
   `journal.json` records the intent: each file to put (its place, doc id, text hash) and each
   file to delete. The corpus itself is untouched, so a full disk here changes nothing.
2. **commit** — the index generation of the intended corpus is written and published (CURRENT
   swapped, see `qa.index.store`). That swap is the commit point.
3. **apply** — staged files are renamed over the old ones (`os.replace`: atomic, needs no free
   space), deleted files are unlinked, the journal is removed.

Previous bytes are never overwritten before the commit. After a crash, `recover` (run by every
writer, when a server starts and by `qa verify --repair`) looks at each journal left behind: if
the live index holds what the journal intended, the commit happened and step 3 is finished;
otherwise nothing in the corpus changed yet and the staged files are dropped.

OS errors become typed errors (`StorageFull`, `StorageReadOnly`, `StorageDenied`) after what was
written so far is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qa.errors import (
    QAError,
    StorageError,
    os_storage_error,
)
from qa.index.build import IndexReport, Progress, update_index
from qa.index.embed_store import discard_staging
from qa.index.embedding import Embedder
from qa.index.store import fsync_path, read_manifest, writer_lock
from qa.ingest.documents import read_corpus
from qa.settings import Settings
from qa.types import Document

log = logging.getLogger("qa.index.corpus_writes")

JOURNAL_DIR = ".qa-journal"
_JOURNAL = "journal.json"


# -- typed storage errors ----------------------------------------------------------------------
def _where(path: object, settings: Settings) -> str:
    if isinstance(path, (str, bytes, os.PathLike)):
        target = Path(os.fsdecode(path)).absolute()
        for folder, label in ((settings.index_dir, "index"), (settings.corpus_dir, "corpus")):
            if target.is_relative_to(folder.absolute()):
                return f"the {label} folder"
    return "the corpus or index folder"


def storage_error(exc: OSError, settings: Settings, changed: bool = False) -> StorageError | None:
    """The typed error for an OS error of a write (None when it is not a storage condition).
    Messages name the folder's role, never its path on the server."""
    where = _where(exc.filename, settings)
    outcome = "the index and the corpus agree" if changed else "nothing was changed"
    return os_storage_error(exc, where, outcome)


@contextlib.contextmanager
def storage_errors(settings: Settings) -> Iterator[None]:
    """Turn ENOSPC / EROFS / EACCES of the enclosed writes into typed errors."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, QAError):  # IndexMissing is also a FileNotFoundError
            raise
        typed = storage_error(exc, settings, getattr(exc, "qa_committed", False))
        if typed is None:
            raise
        raise typed from exc


# -- the transaction ---------------------------------------------------------------------------
@dataclass
class _Transaction:
    """One journaled write: `puts` and `deletes` are paths relative to the corpus folder."""

    corpus: Path
    folder: Path
    puts: list[dict[str, str]] = field(default_factory=list)
    deletes: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def begin(cls, corpus: Path) -> _Transaction:
        folder = corpus / JOURNAL_DIR / f"{time.time_ns()}-{os.getpid()}"
        folder.mkdir(parents=True)
        return cls(corpus, folder)

    def stage(self, final: Path, data: bytes, document: Document) -> None:
        staged = self.folder / f"{len(self.puts)}.new"
        with staged.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self.puts.append(
            {
                "name": final.relative_to(self.corpus).as_posix(),
                "doc_id": document.doc_id,
                "sha256": document.sha256,
                "staged": staged.name,
            }
        )

    def delete(self, path: Path, doc_id: str) -> None:
        self.deletes.append({"name": path.relative_to(self.corpus).as_posix(), "doc_id": doc_id})

    def prepare(self) -> None:
        """Record the intent; from here on a crash is resolved by `recover`."""
        tmp = self.folder / f"{_JOURNAL}.tmp"
        tmp.write_text(json.dumps({"version": 1, "puts": self.puts, "deletes": self.deletes}))
        fsync_path(tmp)
        os.replace(tmp, self.folder / _JOURNAL)
        fsync_path(self.folder)

    def apply(self) -> None:
        """Step 3 (idempotent: a second run after a crash in the middle finishes the job)."""
        touched = set()
        for put in self.puts:
            staged, final = self.folder / put["staged"], self._inside(put["name"])
            if staged.exists():
                os.replace(staged, final)
            touched.add(final.parent)
        for delete in self.deletes:
            path = self._inside(delete["name"])
            path.unlink(missing_ok=True)
            touched.add(path.parent)
        for folder in touched:
            fsync_path(folder)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: another journal is pending
            self.folder.parent.rmdir()

    def _inside(self, name: str) -> Path:
        path = (self.corpus / name).resolve()
        if not path.is_relative_to(self.corpus.resolve()):
            raise QAError(f"journal entry outside the corpus folder: {name!r}")
        return self.corpus / name

    def committed(self, index_dir: Path) -> bool:
        """True when the live index already holds what this transaction intended."""
        try:
            _, manifest = read_manifest(index_dir)
        except QAError:  # no index, or one that cannot be read: it holds nothing of ours
            return False
        indexed: dict[str, Any] = manifest.get("documents", {})
        put_ids = set()
        for put in self.puts:
            entry = indexed.get(put["doc_id"])
            if entry is None or entry.get("sha256") != put["sha256"]:
                return False
            if Path(entry.get("path", "")).name != Path(put["name"]).name:
                return False
            put_ids.add(put["doc_id"])
        return all(d["doc_id"] in put_ids or d["doc_id"] not in indexed for d in self.deletes)

    def describe(self) -> str:
        parts = [f"add {p['doc_id']}" for p in self.puts]
        put_ids = {p["doc_id"] for p in self.puts}
        parts += [f"remove {d['doc_id']}" for d in self.deletes if d["doc_id"] not in put_ids]
        return ", ".join(parts) or "nothing"

    @classmethod
    def load(cls, corpus: Path, folder: Path) -> _Transaction | None:
        """The prepared transaction in `folder`, or None when it never got to `prepare`."""
        try:
            journal = json.loads((folder / _JOURNAL).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return cls(corpus, folder, journal["puts"], journal["deletes"])


def _resolve(settings: Settings, txn: _Transaction) -> bool:
    """Finish (True) or roll back (False) `txn` after a failure or a crash."""
    if txn.committed(settings.index_dir):
        txn.apply()
        return True
    txn.discard()
    return False


def _recover_locked(settings: Settings) -> list[str]:
    root = settings.corpus_dir / JOURNAL_DIR
    done = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        txn = _Transaction.load(settings.corpus_dir, folder)
        if txn is None:  # killed while staging: the corpus was not touched
            _Transaction(settings.corpus_dir, folder).discard()
            done.append("rolled back an unfinished write that had not started")
        elif _resolve(settings, txn):
            done.append(f"finished an interrupted write ({txn.describe()})")
        else:
            done.append(f"rolled back an interrupted write ({txn.describe()})")
    with contextlib.suppress(OSError):  # killed between the last journal and its folder
        root.rmdir()
    return done


def pending(settings: Settings) -> bool:
    """True when a journal folder is left in the corpus folder (cheap: one `stat`)."""
    return (settings.corpus_dir / JOURNAL_DIR).is_dir()


def recover(settings: Settings) -> list[str]:
    """Finish or roll back every write a crash left half-done; one line per transaction."""
    if not pending(settings):
        return []
    with storage_errors(settings), writer_lock(settings.index_dir):
        return _recover_locked(settings)


def reindex(
    settings: Settings, embedder: Embedder, rebuild: bool = False, progress: Progress | None = None
) -> IndexReport:
    """`qa index`: recover pending writes, then bring the index up to date with the folder."""
    with storage_errors(settings), writer_lock(settings.index_dir):
        _recover_locked(settings)
        documents = read_corpus(settings.corpus_dir, settings.max_document_bytes)
        return update_index(settings, embedder, documents, rebuild, progress)


def write(
    settings: Settings,
    embedder: Embedder,
    puts: Sequence[tuple[str, bytes, Document]] = (),
    deletes: Sequence[str] = (),
    max_texts: int | None = None,
) -> IndexReport:
    """Put articles (`(suffix, raw bytes, parsed document)`) and delete articles (doc ids) in
    one transaction; returns when corpus and index both hold the result."""
    corpus = settings.corpus_dir
    with storage_errors(settings), writer_lock(settings.index_dir):
        _recover_locked(settings)
        corpus.mkdir(parents=True, exist_ok=True)
        current = {d.doc_id: d for d in read_corpus(corpus, settings.max_document_bytes)}
        intended = dict(current)
        txn = _Transaction.begin(corpus)
        try:
            for suffix, data, document in puts:
                old = Path(current[document.doc_id].path) if document.doc_id in current else None
                final = (old.parent if old else corpus) / f"{document.doc_id}{suffix}"
                txn.stage(final, data, document)
                if old is not None and old != final:
                    txn.delete(old, document.doc_id)
                intended[document.doc_id] = replace(document, path=str(final))
            for doc_id in deletes:
                if doc_id in current:
                    txn.delete(Path(current[doc_id].path), doc_id)
                intended.pop(doc_id, None)
            txn.prepare()
        except BaseException:
            txn.discard()
            raise
        documents = sorted(intended.values(), key=lambda d: d.path)
        try:
            report = update_index(settings, embedder, documents, max_texts=max_texts)
        except BaseException as exc:
            # An upload's staged vectors are not worth resuming; they would be the one file a
            # failed write leaves behind (on a full disk: an empty one).
            discard_staging(settings.index_dir)
            if _resolve(settings, txn):
                exc.qa_committed = True  # type: ignore[attr-defined]
                log.warning("the index was published before this error; the corpus follows it")
            raise
        txn.apply()
        return report
