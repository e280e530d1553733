"""Saved conversations: every turn's question and answer object, and the feedback on it.

One SQLite file (by default `<index dir>/conversations.sqlite3`, beside the index it answered
from). The answer of a turn is stored as the JSON text of `Answer.to_dict()` exactly as it was
sent, so a reloaded conversation shows the same words with the same numbered citations, whatever
fields the answer object gains later: nothing here names them. No pickle: JSON columns only.

The schema version is SQLite's `user_version`: an older file is migrated step by step when it is
opened, a file written by a newer version of this code is refused rather than misread. Each operation opens its own connection (WAL journal), so the store
is safe to share between threads and between the server and `qa feedback export`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.errors import (
    IndexCorrupt,
    IndexLocked,
    InvalidQuestion,
    QAError,
    StorageDenied,
    StorageError,
    StorageFull,
    StorageReadOnly,
    UnknownConversation,
    os_storage_error,
    storage_refusal,
)
from qa.pipeline import QA
from qa.settings import Settings
from qa.types import Answer, Citation, ShortAnswer

SCHEMA_VERSION = 3
FILE_NAME = "conversations.sqlite3"
# Earlier questions a follow-up is read with (the retriever uses the last one; more are kept for
# the record). The web chat, conversation turns and chat completions all use this many.
HISTORY_TURNS = 4
VERDICTS = ("up", "down")
# The answer's lists of passages (citations, related, conflicts, ...), whatever it gains later.
CITATION_LISTS = tuple(f.name for f in fields(Answer) if "Citation" in str(f.type))
_TITLE_CHARS = 80
# One schema migration at a time in this process (switching a new file to WAL while another
# connection opens it fails with "database is locked" instead of waiting).
_MIGRATING = threading.Lock()

# Schema changes, each from the version before it (the file's PRAGMA user_version) to the next;
# a file is brought up to SCHEMA_VERSION when it is opened. Only add steps, never edit one.
_MIGRATIONS: dict[int, str] = {
    0: """
CREATE TABLE conversations (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    title   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    question    TEXT NOT NULL,
    history     TEXT NOT NULL,  -- JSON list: the earlier questions the answer was read with
    answer      TEXT NOT NULL,  -- JSON of Answer.to_dict(), byte for byte as first sent
    created     TEXT NOT NULL,
    verdict     TEXT CHECK (verdict IN ('up', 'down')),
    comment     TEXT,
    feedback_at TEXT,
    PRIMARY KEY (conversation_id, n)
);
""",
    # 1 -> 2: secrets that must outlive the process (the web chat's browser-state key).
    1: """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""",
    # 2 -> 3: who a conversation belongs to (a named user of qa.serve.users; '' = the shared
    # tokens). Readers see only their own; None as `viewer` (the admin) sees all.
    2: """
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_owner ON conversations(owner);
""",
}


def answer_json(answer: dict[str, Any]) -> str:
    """The one serialisation of an answer object: compact UTF-8 JSON, keys in their order
    (what Starlette's JSONResponse writes, so a stored answer and a sent one are the same bytes)."""
    return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _encodable(text: str, what: str) -> str:
    """`text`, refused if it holds a lone surrogate (a valid JSON escape, not text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidQuestion(f"{what} contains invalid Unicode (a lone surrogate)") from exc
    return text


_ID = re.compile(r"c_[0-9A-Za-z_-]{1,64}")  # created: c_ + 32 hex digits
# SQLite's INTEGER is 64-bit signed: a turn number outside it is no turn of any conversation.
MAX_TURN = 2**63 - 1


def _check_id(conversation_id: object) -> str:
    """The id if it has the form of one (`c_` and up to 64 ASCII letters, digits, `_`, `-`),
    else `UnknownConversation`: nothing else (a lone surrogate, a NUL, 100 KB) reaches SQLite,
    and the message never echoes it whole."""
    if not isinstance(conversation_id, str) or not _ID.fullmatch(conversation_id):
        shown = repr(conversation_id)[:40] if isinstance(conversation_id, str) else "?"
        raise UnknownConversation(f"unknown conversation id {shown}")
    return conversation_id


def _full(folder: Path) -> bool:
    with contextlib.suppress(OSError):
        stats = os.statvfs(folder)
        return stats.f_bavail * stats.f_frsize < 64 * 1024 or stats.f_favail == 0
    return False


def _read_only(folder: Path) -> bool:
    with contextlib.suppress(OSError):
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    return False


def storage_error(exc: BaseException, folder: Path) -> QAError | None:
    """The typed error of a failed SQLite or file operation on the store (None: not a storage
    condition, a bug to let through). Messages name the store, never its path."""
    where, outcome = "the conversation store", "nothing was saved"
    if isinstance(exc, OSError):
        return os_storage_error(exc, where, outcome)
    if not isinstance(exc, sqlite3.Error):
        return None
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _full(folder)):
        return storage_refusal(StorageFull, where, outcome)
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR) and (
        _read_only(folder)
    ):
        return storage_refusal(StorageReadOnly, where, outcome)
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
        return storage_refusal(StorageDenied, where, outcome)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return IndexLocked(f"{where} is busy; try again")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return IndexCorrupt(f"{where} is damaged ({exc})")
    if isinstance(exc, sqlite3.OperationalError):  # disk I/O error and the like
        return StorageError(f"{where} could not be written ({exc}); {outcome}")
    return None


@contextmanager
def _typed_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        if isinstance(exc, QAError):
            raise
        typed = storage_error(exc, folder)
        if typed is None:
            raise
        raise typed from exc


class ConversationStore:
    """Conversations in one SQLite file; created (with its folder) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationStore:
        return cls(settings.index_dir / FILE_NAME)

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction. A failure of the disk (full, read-only, I/O error) is a typed
        `StorageError` (qa.serve.http: 507 or 503) and rolls everything back: a write is stored
        whole or not at all."""
        if not self._ready:
            self._migrate()
        # Autocommit mode with an explicit BEGIN IMMEDIATE: the write lock is taken before the
        # first read, so two turns added at once cannot both read the same next turn number.
        with _typed_errors(self.path.parent):
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            try:
                db.execute("PRAGMA foreign_keys = ON")
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back
                        db.execute("ROLLBACK")
                    raise
                try:
                    db.execute("COMMIT")
                except sqlite3.Error:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
            finally:
                db.close()

    def _migrate(self) -> None:
        """Create or upgrade the schema, refuse a newer one. Under a process-wide lock and in one
        IMMEDIATE transaction, so that threads or processes opening a file at once migrate it
        once."""
        with _typed_errors(self.path.parent):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with _MIGRATING:
            version = self._create_or_check()
        if version > SCHEMA_VERSION:
            raise QAError(
                f"{self.path}: conversation schema version {version} is newer than this "
                f"qa understands ({SCHEMA_VERSION}); upgrade qa"
            )
        self._ready = True

    def _create_or_check(self) -> int:
        """The file's schema version as found (then brought up to SCHEMA_VERSION)."""
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
            return version
        except sqlite3.OperationalError as exc:  # a full disk, a folder we may not write...
            typed = storage_error(exc, self.path.parent)
            raise typed or QAError(f"cannot open the conversation store ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise QAError(f"{self.path}: not a conversation store ({exc})") from exc
        finally:
            db.close()

    # -- conversations -------------------------------------------------------------------------
    def create(self, owner: str = "") -> dict[str, Any]:
        """A new, empty conversation belonging to `owner` ('' = the shared tokens)."""
        # 128 random bits: an id is also the link that reopens the conversation.
        conversation = {"id": "c_" + secrets.token_hex(16), "created": _now(), "title": ""}
        with self._connect(write=True) as db:
            db.execute(
                "INSERT INTO conversations (id, created, title, owner) VALUES (?, ?, ?, ?)",
                (conversation["id"], conversation["created"], "", owner),
            )
        return {**conversation, "turns": []}

    @staticmethod
    def _visible(db: sqlite3.Connection, conversation_id: str, viewer: str | None) -> bool:
        """Whether the conversation exists for `viewer` (None: everyone's, the admin's view)."""
        row = db.execute(
            "SELECT owner FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return row is not None and (viewer is None or row[0] == viewer)

    def get(self, conversation_id: str, viewer: str | None = None) -> dict[str, Any]:
        """The conversation with every turn, oldest first; `UnknownConversation` if none (or
        if it is not `viewer`'s: another's conversation is not told apart from none)."""
        conversation_id = _check_id(conversation_id)
        with self._connect() as db:
            row = db.execute(
                "SELECT id, created, title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None or not self._visible(db, conversation_id, viewer):
                raise UnknownConversation(f"unknown conversation id {conversation_id!r}")
            turns = db.execute(
                "SELECT n, question, history, answer, created, verdict, comment, feedback_at "
                "FROM turns WHERE conversation_id = ? ORDER BY n",
                (conversation_id,),
            ).fetchall()
        return {
            "id": row[0],
            "created": row[1],
            "title": row[2],
            "turns": [_turn(conversation_id, t) for t in turns],
        }

    def recent(
        self, limit: int = 50, ids: list[str] | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """The most recent conversations that have a turn (only those in `ids`, if given, and
        only `owner`'s, if given), newest first."""
        clauses, params = [], []
        if ids is not None:
            clauses.append(f"c.id IN ({','.join('?' * len(ids))})")
            params = list(ids)
        if owner is not None:
            clauses.append("c.owner = ?")
            params.append(owner)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.created, c.title, COUNT(t.n), MAX(t.created) AS last "
                f"FROM conversations c JOIN turns t ON t.conversation_id = c.id {where} "
                "GROUP BY c.id ORDER BY MAX(t.rowid) DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [
            {"id": r[0], "created": r[1], "title": r[2], "turns": r[3], "updated": r[4]}
            for r in rows
        ]

    def secret(self, name: str) -> str:
        """A random secret kept in the file (created on first use), e.g. the key the web chat
        encrypts its browser-side list of conversations with: it must survive restarts."""
        with self._connect(write=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                (f"secret:{name}", secrets.token_urlsafe(32)),
            )
            return db.execute(
                "SELECT value FROM meta WHERE key = ?", (f"secret:{name}",)
            ).fetchone()[0]

    def history(self, conversation_id: str, viewer: str | None = None) -> list[str]:
        """The questions asked so far, oldest first, for the next follow-up (at most
        HISTORY_TURNS)."""
        turns = self.get(conversation_id, viewer)["turns"]
        return [t["question"] for t in turns][-HISTORY_TURNS:]

    def add_turn(
        self,
        conversation_id: str,
        question: str,
        history: list[str],
        answer: dict[str, Any],
        viewer: str | None = None,
    ) -> dict[str, Any]:
        """Append a turn (to `viewer`'s conversation, if given); returns it as `get` shows it."""
        conversation_id = _check_id(conversation_id)
        created = _now()
        history_text, answer_text = json.dumps(history, ensure_ascii=False), answer_json(answer)
        with self._connect(write=True) as db:
            if not self._visible(db, conversation_id, viewer):
                raise UnknownConversation(f"unknown conversation id {conversation_id!r}")
            n = db.execute(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns (conversation_id, n, question, history, answer, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, n, question, history_text, answer_text, created),
            )
            if n == 1:
                db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ?",
                    (" ".join(question.split())[:_TITLE_CHARS], conversation_id),
                )
        return _turn(
            conversation_id, (n, question, history_text, answer_text, created, None, None, None)
        )

    # -- feedback ------------------------------------------------------------------------------
    def set_feedback(
        self,
        conversation_id: str,
        n: int,
        verdict: str,
        comment: str = "",
        viewer: str | None = None,
    ) -> dict[str, Any]:
        """Record 👍 ("up") or 👎 ("down") and an optional comment on turn `n` (the latest
        verdict replaces an earlier one)."""
        conversation_id = _check_id(conversation_id)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TURN:
            raise UnknownConversation(f"conversation {conversation_id} has no turn {n!r:.30}")
        if verdict not in VERDICTS:
            raise QAError(f"verdict must be 'up' or 'down', not {verdict!r}")
        _encodable(comment, "the comment")
        at = _now()
        with self._connect(write=True) as db:
            if not self._visible(db, conversation_id, viewer):
                raise UnknownConversation(f"unknown conversation id {conversation_id!r}")
            updated = db.execute(
                "UPDATE turns SET verdict = ?, comment = ?, feedback_at = ? "
                "WHERE conversation_id = ? AND n = ?",
                (verdict, comment, at, conversation_id, n),
            ).rowcount
        if not updated:
            self.get(conversation_id)  # an unknown conversation says so
            raise UnknownConversation(f"conversation {conversation_id} has no turn {n}")
        return {"verdict": verdict, "comment": comment, "at": at}

    def rated_turns(self) -> Iterator[dict[str, Any]]:
        """Every turn with a verdict, oldest first: one evaluation case each (see
        `bench.feedback`)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT conversation_id, n, question, history, answer, created, verdict, "
                "comment, feedback_at FROM turns WHERE verdict IS NOT NULL "
                "ORDER BY feedback_at, conversation_id, n"
            ).fetchall()
        for row in rows:
            turn = _turn(row[0], row[1:])
            answer = turn["answer"]
            yield {
                "conversation_id": row[0],
                "turn": turn["n"],
                "question": turn["question"],
                "history": turn["history"],
                "language": answer.get("language", ""),
                "answer": answer,
                "citations": answer.get("citations", []),
                "verdict": turn["feedback"]["verdict"],
                "comment": turn["feedback"]["comment"],
                "rated_at": turn["feedback"]["at"],
            }


def _turn(conversation_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    n, question, history, answer, created, verdict, comment, feedback_at = row
    return {
        "conversation_id": conversation_id,
        "n": n,
        "question": question,
        "history": json.loads(history),
        "created": created,
        "answer": json.loads(answer),
        "feedback": (
            None
            if verdict is None
            else {"verdict": verdict, "comment": comment or "", "at": feedback_at}
        ),
    }


def ask(
    qa: QA,
    store: ConversationStore,
    conversation_id: str | None,
    question: str,
    k: int | None = None,
    *,
    owner: str = "",
    viewer: str | None = None,
    **filters: Any,
) -> tuple[Answer, dict[str, Any]]:
    """Answer the next question of a conversation (None: start one, belonging to `owner`),
    read with its earlier questions (and `filters`: since, until, sources, as `QA.answer`),
    and save the turn; returns the answer and the saved turn. Nothing is saved when the
    question is refused. With `viewer`, only a conversation of theirs is continued."""
    history = store.history(conversation_id, viewer) if conversation_id is not None else []
    text = _encodable(question, "the question")
    answer = qa.answer(text, history=history or None, k=k, **filters)
    if conversation_id is None:
        conversation_id = store.create(owner)["id"]
    return answer, store.add_turn(conversation_id, question, history, answer.to_dict(), viewer)


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The `Answer` a stored answer object describes (to render it again). Keys the dataclasses
    do not have are ignored; the stored JSON stays the record."""
    known = {f.name for f in fields(Citation)}

    def citation(c: dict[str, Any]) -> Citation:
        return Citation(**{k: v for k, v in c.items() if k in known})

    values = {f.name: data[f.name] for f in fields(Answer) if f.name in data}
    for name in CITATION_LISTS:
        values[name] = [citation(c) for c in data.get(name, [])]
    short = data.get("short_answer")
    values["short_answer"] = ShortAnswer(**short) if short else None
    return Answer(**values)
