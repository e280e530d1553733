"""Typed errors. Every failure a user can cause maps to one of these with a one-line message.

The CLI prints `error: <message>` and exits 2; the HTTP layer maps them to 4xx (a full disk to 507, a
read-only or forbidden folder to 503).
"""

from __future__ import annotations

import errno


class QAError(Exception):
    """Base class of every documented error of the package."""


class InvalidQuestion(QAError, ValueError):
    """Empty, whitespace-only or over-long question."""


class DocumentError(QAError, ValueError):
    """A corpus file that cannot be read as an article (not UTF-8, empty, too large)."""


class UnknownDocument(QAError, KeyError):
    """A document id that is not in the index."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown document"


class IndexMissing(QAError, FileNotFoundError):
    """No index has been built at the configured location."""


class IndexCorrupt(QAError):
    """Index files fail their checksums or cannot be parsed."""


class IndexMismatch(QAError):
    """The index was built with another embedder or format than the one configured."""


class UnknownEmbedder(QAError, ValueError):
    """An embedder name that is neither registered nor loadable."""


class IndexLocked(QAError):
    """Another process is writing the index."""


class Forbidden(QAError):
    """The caller's role does not allow this action (e.g. a write with the read token)."""


class StorageError(QAError):
    """The disk refused a write. Raised only after everything was put back: nothing changed."""


class StorageFull(StorageError):
    """No space (or no inodes, or quota) left where the corpus or the index is written."""


class StorageReadOnly(StorageError):
    """The corpus or index folder is on a read-only file system."""


class StorageDenied(StorageError):
    """The process may not write the corpus or index folder (permissions)."""


# One wording for every store that writes to disk (corpus and index, conversations), so that a
# full or read-only disk reads the same whichever write met it.
_REFUSALS: dict[type[StorageError], str] = {
    StorageFull: "no space left on the disk of {where}; {outcome}",
    StorageReadOnly: "{where} is on a read-only file system; {outcome}",
    StorageDenied: "no permission to write {where}; {outcome}",
}
_ERRNO_REFUSALS: dict[int, type[StorageError]] = {
    errno.ENOSPC: StorageFull,
    errno.EDQUOT: StorageFull,
    errno.EROFS: StorageReadOnly,
    errno.EACCES: StorageDenied,
    errno.EPERM: StorageDenied,
}


def storage_refusal(kind: type[StorageError], where: str, outcome: str) -> StorageError:
    """A `kind` error saying `where` refused the write and what became of it (`outcome`)."""
    return kind(_REFUSALS[kind].format(where=where, outcome=outcome))


def os_storage_error(exc: OSError, where: str, outcome: str) -> StorageError | None:
    """The typed error of an OS error met writing `where` (None when its errno is not a storage
    condition: a bug, to let through). `where` names the store's role, never its path."""
    kind = _ERRNO_REFUSALS.get(exc.errno) if exc.errno is not None else None
    return None if kind is None else storage_refusal(kind, where, outcome)


class UnknownConversation(QAError, KeyError):
    """A conversation id (or turn number) that is not in the conversation store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown conversation"


class UnknownModel(QAError, LookupError):
    """A model name, on the OpenAI-compatible door, that is not this knowledge base."""
