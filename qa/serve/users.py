"""Named users: each person logs in with their own token; the server keeps only its hash.

An optional JSON file (`QA_USERS_FILE`, by default `users.json` in the index folder), written by
`qa users add/remove/list` and read by `qa serve`, which re-reads it when it changes (so removing
a user takes effect on the next request, their sessions included):

    {"secret": "<random, keys the session cookies>",
     "users": [{"name": "lan", "role": "read", "key": "<8 hex>", "salt": "<hex>",
                "hash": "<hex>", "created": "2026-12-07T07:00:00Z"}]}

A token is `qa_<key>_<secret part>`: `key` finds the user without trying every hash, then the
whole token is checked against `hash = scrypt(token, salt)` (stdlib `hashlib.scrypt`, n=2**14,
r=8, p=1). A token that passed once is remembered (by its SHA-256) until the file changes, so a
request costs one scrypt per token and process, not one per request. The file is written
atomically with mode 0600. Removing a user and adding the name again gives a new key: sessions
signed for the old one end.

Roles are the gate's (qa.serve.gate): `read` (ask, read, keep one's own conversations and
ratings) and `admin` (everything, everyone's conversations). The two shared tokens
(`QA_READ_TOKEN`, `QA_ADMIN_TOKEN`) keep working beside the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.settings import Settings

FILE_NAME = "users.json"
ROLES = ("read", "admin")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_TOKEN = re.compile(r"qa_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    key: str
    salt: str
    hash: str
    created: str = ""


def users_path(settings: Settings) -> Path:
    """Where the users file is: `settings.users_file`, else `users.json` in the index folder."""
    given = getattr(settings, "users_file", "")
    return Path(given) if given else settings.index_dir / FILE_NAME


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise QAError(f"invalid user name {name!r}: 1-32 lowercase letters, digits, '_', '.', '-'")
    return name


def _digest(token: str, salt: bytes) -> str:
    return hashlib.scrypt(token.encode("utf-8", "surrogatepass"), salt=salt, **_SCRYPT).hex()


class Users:
    """The users file, re-read whenever it changed on disk (size, mtime or inode)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}
        self._secret = ""
        self._verified: dict[str, str] = {}  # sha256(token) -> user name, until the file changes

    @classmethod
    def for_settings(cls, settings: Settings) -> Users:
        return cls(users_path(settings))

    # -- reading ---------------------------------------------------------------------------------
    def _refresh(self) -> None:
        try:
            info = os.stat(self.path)
            stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        users: dict[str, User] = {}
        secret = ""
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                secret = str(data.get("secret", ""))
                for entry in data.get("users", []):
                    user = User(**{k: str(entry[k]) for k in User.__dataclass_fields__})
                    if user.role in ROLES and _NAME.fullmatch(user.name):
                        users[user.name] = user
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise QAError(f"cannot read the users file ({exc.__class__.__name__})") from exc
        self._users, self._secret, self._stamp = users, secret, stamp
        self._verified = {}

    def current(self) -> dict[str, User]:
        """Name -> user, as the file says now."""
        with self._lock:
            self._refresh()
            return dict(self._users)

    @property
    def enabled(self) -> bool:
        return bool(self.current())

    def secret(self) -> str:
        with self._lock:
            self._refresh()
            return self._secret

    def authenticate(self, token: str) -> User | None:
        """The user whose token this is, else None (constant-time comparison of the hash)."""
        match = _TOKEN.fullmatch(token or "")
        if not match:
            return None
        seen = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            self._refresh()
            known = self._verified.get(seen)
            if known is not None:
                return self._users.get(known)
            user = next((u for u in self._users.values() if u.key == match.group(1)), None)
        if user is None:
            return None
        if not hmac.compare_digest(_digest(token, bytes.fromhex(user.salt)), user.hash):
            return None
        with self._lock:
            if self._users.get(user.name) == user:
                self._verified[seen] = user.name
        return user

    def session_user(self, name: str, key: str) -> User | None:
        """The user a session names, if it still exists with the same key."""
        user = self.current().get(name)
        return user if user is not None and hmac.compare_digest(user.key, key) else None

    # -- writing (qa users ...) ----------------------------------------------------------------
    def _write(self, users: dict[str, User], secret: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"secret": secret, "users": [asdict(u) for u in users.values()]}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                json.dump(data, handle, ensure_ascii=False, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def add(self, name: str, role: str) -> str:
        """Add (or replace: a new token, old sessions end) a user; returns their token, which
        is shown once and not stored."""
        check_name(name)
        if role not in ROLES:
            raise QAError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        users = self.current()
        secret = self.secret() or secrets.token_urlsafe(32)
        keys = {u.key for u in users.values()}
        key = secrets.token_hex(4)
        while key in keys:
            key = secrets.token_hex(4)
        token = f"qa_{key}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_bytes(16)
        created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        users[name] = User(name, role, key, salt.hex(), _digest(token, salt), created)
        self._write(users, secret)
        return token

    def remove(self, name: str) -> bool:
        """Remove a user (their token and sessions stop working); False if there was none."""
        users = self.current()
        if name not in users:
            return False
        del users[name]
        self._write(users, self.secret())
        return True

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"name": u.name, "role": u.role, "created": u.created}
            for u in sorted(self.current().values(), key=lambda u: u.name)
        ]
