"""One gate for every door: a pure ASGI middleware in front of the whole app.

The contract, for everyone who adds a route, a mount or a whole protocol (MCP, OpenAI-compatible,
streaming...) to the app `qa serve` runs:

- **New routes are read-protected by default.** When a token is configured, every request needs
  at least the *read* role; only `PUBLIC_PATHS` (health check, login, logout) are open. There is
  nothing to do for a read-only door: the gate wraps the whole app, mounts included.
- **Add admin routes to `ADMIN_ROUTES`** (method + path pattern): adding, replacing or removing
  articles, re-indexing, putting files on the server.
- **One route carrying several actions** (Gradio's queue calls handlers by number, an MCP server
  multiplexes tools) cannot be told apart by path: such a handler calls `require_admin(request)`
  (or compares `request_role(request)`) itself. The gate stores the caller's role in the ASGI
  scope's state, where `request.state` (Starlette, FastAPI) and `gr.Request` find it.
- Callers prove a role with `Authorization: Bearer <token>` (API clients) or with the session
  cookie that `/login` sets for browsers (signed, HttpOnly, SameSite=Lax, carrying the role).
  A cookie-authenticated write whose `Origin` is another site is refused.
- Without any token everyone has the admin role; `qa serve` then binds to loopback only.
- Named users (qa.serve.users) log in with their own token; the gate puts the user's name in
  the scope's state too (`request_user`), and conversations and feedback belong to that name
  (qa.serve.conversation_api). A session of a user removed from the users file ends at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import IntEnum
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from qa.errors import Forbidden, QAError
from qa.serve.users import User, Users
from qa.settings import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


class Role(IntEnum):
    NONE = 0
    READ = 1
    ADMIN = 2


LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
FAVICON_PATH = "/favicon.ico"
PUBLIC_PATHS = frozenset({"/healthz", LOGIN_PATH, LOGOUT_PATH, FAVICON_PATH})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (_WRITES, re.compile(r"/v1/documents(/.*)?")),  # add, replace, remove articles
    (_WRITES, re.compile(r"/v1/index(/.*)?")),  # re-index
    # (GET /v1/conversations, the list, is checked by its handler: everyone's for the admin, a
    # named user's own for them, refused to the shared read token; qa.serve.conversation_api.)
    # Files into Gradio's upload folder; the page's upload/remove handlers check the role too.
    (frozenset({"POST"}), re.compile(r"/gradio_api/(upload|process_recording|stream/.*)/?")),
)
COOKIE = "qa_session"
_STATE_KEY = "qa_role"
_USER_KEY = "qa_user"
_LOGIN_BODY_LIMIT = 4096


@dataclass(frozen=True)
class Tokens:
    """The configured tokens; `enabled` is False when neither is set (open, loopback-only)."""

    read: str = ""
    admin: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, admin: str | None = None) -> Tokens:
        """Tokens of `settings`; `admin` (when not None) replaces the admin token ("" = none)."""
        return cls(settings.read_token, settings.admin_token if admin is None else admin)

    @property
    def enabled(self) -> bool:
        return bool(self.read or self.admin)

    def role_for(self, token: str) -> Role:
        given = token.encode("utf-8", "surrogatepass")
        for role, expected in ((Role.ADMIN, self.admin), (Role.READ, self.read)):
            if expected and secrets.compare_digest(given, expected.encode("utf-8")):
                return role
        return Role.NONE


class Sessions:
    """Signed session values `<role>[:<user>:<key>].<expiry>.<hmac>`; the key derives from the
    tokens and the users file's secret, so changing a token ends every session signed with it;
    a named user's session names the user's key, which `Gate` checks against the users file."""

    def __init__(self, tokens: Tokens, max_age: float, secret: str = "") -> None:
        material = f"qa-session-v1\0{tokens.read}\0{tokens.admin}".encode()
        if secret:
            material += f"\0users\0{secret}".encode()
        self._key = hashlib.sha256(material).digest()
        self.max_age = int(max_age)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, role: Role, user: User | None = None) -> str:
        who = role.name.lower() + (f":{user.name}:{user.key}" if user else "")
        payload = f"{who}.{int(time.time()) + self.max_age}"
        return f"{payload}.{self._sign(payload)}"

    def principal(self, value: str) -> tuple[Role, str | None, str | None]:
        """(role, user name, user key) of a valid session value; (NONE, None, None) else."""
        who, _, rest = value.partition(".")
        expiry, _, signature = rest.partition(".")
        if not hmac.compare_digest(signature, self._sign(f"{who}.{expiry}")):
            return Role.NONE, None, None
        if not expiry.isdigit() or int(expiry) < time.time():
            return Role.NONE, None, None
        name, _, rest = who.partition(":")
        user, _, key = rest.partition(":")
        role = {"read": Role.READ, "admin": Role.ADMIN}.get(name, Role.NONE)
        return role, user or None, key or None

    def role(self, value: str) -> Role:
        return self.principal(value)[0]


def needs_admin(method: str, path: str) -> bool:
    """True when `ADMIN_ROUTES` reserves this method and path for the admin role."""
    return any(method in methods and rule.fullmatch(path) for methods, rule in ADMIN_ROUTES)


def request_role(request: Any) -> Role:
    """The role the gate gave this request (a Starlette/FastAPI `Request` or a `gr.Request`).

    A request that did not pass through the gate has no role: code that runs it elsewhere gets
    the most restrictive answer, not the most permissive one.
    """
    state = getattr(request, "state", None)
    role = getattr(state, _STATE_KEY, None)
    return role if isinstance(role, Role) else Role.NONE


def request_user(request: Any) -> str | None:
    """The named user of this request (qa.serve.users), None for the shared tokens."""
    state = getattr(request, "state", None)
    user = getattr(state, _USER_KEY, None)
    return user if isinstance(user, str) else None


def require_admin(request: Any, action: str) -> None:
    """Raise `Forbidden` unless the request carries the admin role (for multiplexed doors)."""
    if request_role(request) < Role.ADMIN:
        raise Forbidden(f"{action} needs the admin token")


def _headers(scope: Message) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _header_value(value: str) -> bytes:
    """A header value as bytes that are always valid on the wire: printable ASCII, anything else
    percent-encoded (a Location built from a client's path may hold any character)."""
    return quote(value, safe="".join(map(chr, range(0x20, 0x7F)))).encode("ascii")


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, headers: list[tuple[str, str]]
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.encode("ascii"), _header_value(v)) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _json_error(
    send: Send, status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    await _respond(send, status, body, "application/json", headers or [])


class Gate:
    """ASGI middleware: authenticate, authorise by `ADMIN_ROUTES`, serve /login and /logout."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Tokens,
        session_hours: float = 12.0,
        users: Users | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.users = users
        self.session_hours = session_hours
        self._has_users = False
        self._sessions: tuple[str, Sessions] | None = None

    @property
    def enabled(self) -> bool:
        """Whether callers must prove a role: a token is set, or a users file exists (once
        seen, for good: emptying or deleting the file does not open the server)."""
        if not self._has_users and self.users is not None:
            self._has_users = self.users.path.exists()
        return self.tokens.enabled or self._has_users

    @property
    def sessions(self) -> Sessions:
        """Sessions keyed by the tokens and the users file's secret (re-derived if it changes)."""
        secret = ""
        if self.users is not None:
            with contextlib.suppress(QAError):  # an unreadable file: no user logs in
                secret = self.users.secret()
        if self._sessions is None or self._sessions[0] != secret:
            self._sessions = (secret, Sessions(self.tokens, self.session_hours * 3600, secret))
        return self._sessions[1]

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope.get("method", "GET")
        headers = _headers(scope)
        if scope["type"] == "http" and path in (LOGIN_PATH, LOGOUT_PATH):
            await self._login(scope, receive, send, headers)
            return
        if scope["type"] == "http" and path == FAVICON_PATH and method in ("GET", "HEAD"):
            await _respond(send, 200, FAVICON, "image/x-icon", [])
            return
        role, by_cookie, user = self._principal(headers)
        state = scope.setdefault("state", {})
        state[_STATE_KEY], state[_USER_KEY] = role, user
        refusal = self._refusal(path, method, role, by_cookie, headers)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(send)

    def role_of(self, headers: dict[str, str]) -> tuple[Role, bool]:
        """(role, whether it came from the session cookie)."""
        role, by_cookie, _ = self._principal(headers)
        return role, by_cookie

    def token_role(self, token: str) -> tuple[Role, User | None]:
        """The role of a token: a shared one, else a named user's (qa.serve.users)."""
        role = self.tokens.role_for(token)
        if role is Role.NONE and self.users is not None:
            try:
                user = self.users.authenticate(token)
            except QAError:  # an unreadable users file: nobody logs in by it
                user = None
            if user is not None:
                return (Role.ADMIN if user.role == "admin" else Role.READ), user
        return role, None

    def _principal(self, headers: dict[str, str]) -> tuple[Role, bool, str | None]:
        """(role, whether it came from the session cookie, user name). A wrong bearer token is
        no role, even beside a valid cookie: the client said who it is, and it was wrong. A
        named user's session holds only while the users file still has them, with that key."""
        if not self.enabled:
            return Role.ADMIN, False, None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme:
            if scheme.lower() != "bearer":
                return Role.NONE, False, None
            role, user = self.token_role(token.strip())
            return role, False, user.name if user else None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no session, not a server error
            return Role.NONE, False, None
        morsel = cookie.get(COOKIE)
        if not morsel:
            return Role.NONE, False, None
        role, name, key = self.sessions.principal(morsel.value)
        if name is None:
            return role, True, None
        user = None
        if self.users is not None:
            with contextlib.suppress(QAError):
                user = self.users.session_user(name, key or "")
        if user is None or (Role.ADMIN if user.role == "admin" else Role.READ) != role:
            return Role.NONE, False, None  # removed, re-added (new key) or role changed
        return role, True, name

    def _refusal(
        self, path: str, method: str, role: Role, by_cookie: bool, headers: dict[str, str]
    ) -> Callable[[Send], Awaitable[None]] | None:
        if path in PUBLIC_PATHS:
            return None
        if role is Role.NONE:
            if method in ("GET", "HEAD") and _wants_page(path, headers):
                target = f"{LOGIN_PATH}?next={quote(path, safe='/', errors='replace')}"
                return lambda send: _respond(send, 303, b"", "text/plain", [("location", target)])
            message = (
                "missing or wrong API key: send Authorization: Bearer <token>, "
                f"or log in at {LOGIN_PATH}"
            )
            return lambda send: _json_error(send, 401, message, [("www-authenticate", "Bearer")])
        if by_cookie and method in _WRITES and not _same_origin(headers):
            return lambda send: _json_error(send, 403, "cross-site request refused")
        if role < Role.ADMIN and needs_admin("GET" if method == "HEAD" else method, path):
            message = (
                "this needs the admin token"
                if self.tokens.admin or self._has_users
                else "writes are disabled: no admin token is configured (QA_ADMIN_TOKEN)"
            )
            return lambda send: _json_error(send, 403, message)
        return None

    # -- /login, /logout ---------------------------------------------------------------------
    async def _login(self, scope: Message, receive: Receive, send: Send, headers: dict) -> None:
        method = scope.get("method", "GET")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), errors="replace")
        target = _safe_next(query.get("next", ["/"])[0])
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        if scope["path"] == LOGOUT_PATH:
            cookie = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
            await _respond(
                send, 303, b"", "text/plain", [("location", LOGIN_PATH), ("set-cookie", cookie)]
            )
            return
        if method in ("GET", "HEAD"):
            await _respond(send, 200, _login_page(target, ""), "text/html; charset=utf-8", [])
            return
        if method != "POST":
            await _json_error(send, 405, f"{method} is not allowed here", [("allow", "GET, POST")])
            return
        if not _same_origin(headers):
            await _json_error(send, 403, "cross-site request refused")
            return
        form = await _read_form(receive)
        if form is None:
            await _json_error(send, 413, "the login form is over the limit")
            return
        target = _safe_next(form.get("next", [target])[0])
        role, user = self.token_role(form.get("token", [""])[0].strip())
        if role is Role.NONE:
            page = _login_page(target, "Sai mã truy cập / Wrong token")
            await _respond(send, 401, page, "text/html; charset=utf-8", [])
            return
        cookie = (
            f"{COOKIE}={self.sessions.issue(role, user)}; Path=/; "
            f"Max-Age={self.sessions.max_age}; "
            f"HttpOnly; SameSite=Lax{secure}"
        )
        await _respond(send, 303, b"", "text/plain", [("location", target), ("set-cookie", cookie)])


def _wants_page(path: str, headers: dict[str, str]) -> bool:
    """A browser navigating to a page (redirect it to the login form), not an API call."""
    api = path.startswith(("/v1/", "/gradio_api/", "/mcp"))
    return not api and "text/html" in headers.get("accept", "")


def _same_origin(headers: dict[str, str]) -> bool:
    """False when the browser says the request comes from another site (`Origin` header)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == headers.get("host", "") and origin != "null"


# What a browser drops or trims before it parses a URL (WHATWG URL standard): leading and
# trailing C0 controls and spaces, and every tab and newline anywhere.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Kept as written in a Location path (with "%": escapes the client already made stay as they are).
_PATH_SAFE = "/?&=#%:@!$'()*+,;~-._"


def _safe_next(target: str) -> str:
    """Where the login form may send the browser: a path of this server, as the browser will
    read it, else "/". The target is normalised as a browser does before it is checked (tabs
    and newlines dropped, controls and spaces trimmed, "\\" read as "/"), and refused when it
    names a scheme or a host, or would once its escapes are decoded (`/%2F%2Fhost`, `/%5Chost`).
    The result is percent-encoded ASCII, so it is a valid header whatever the client sent."""
    if not isinstance(target, str):
        return "/"
    path = _TAB_NEWLINE.sub("", target.strip(_C0_AND_SPACE)).replace("\\", "/")
    if not path.startswith("/") or path.startswith("//") or _CONTROL.search(path):
        return "/"
    decoded = unquote(path, errors="replace").replace("\\", "/")
    decoded = _TAB_NEWLINE.sub("", decoded)
    if decoded.startswith("//") or _CONTROL.search(decoded):
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "/"
    # Characters a browser might fold into "/" or "." (full-width solidus, ideographic space)
    # are percent-encoded here: the browser then reads them as bytes of a path, not as syntax.
    return quote(path, safe=_PATH_SAFE, errors="replace")


async def _read_form(receive: Receive) -> dict[str, list[str]] | None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > _LOGIN_BODY_LIMIT:
            return None
        if not message.get("more_body", False):
            return parse_qs(body.decode("utf-8", "replace"))


def _login_page(target: str, error: str) -> bytes:
    notice = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    page = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Đăng nhập / Log in — Hỏi đáp tin tức</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f1f5f9;display:grid;place-items:center;
min-height:100vh;margin:0}}
form{{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0002;width:min(90vw,24rem);
box-sizing:border-box}}
h1{{font-size:1.2rem;margin:0 0 1rem}} label{{display:block;margin-bottom:.4rem}}
input[type=password]{{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;
border:1px solid #94a3b8;border-radius:8px}}
button{{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:8px;
background:#0d9488;color:#fff;cursor:pointer}} .err{{color:#b91c1c}}
</style></head><body>
<form method="post" action="{LOGIN_PATH}">
<h1>Hỏi đáp tin tức / News Q&amp;A</h1>{notice}
<label for="token">Mã truy cập / Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{html.escape(target)}">
<button type="submit">Đăng nhập / Log in</button>
</form></body></html>"""
    return page.encode("utf-8")


def _favicon() -> bytes:
    """A 16x16 teal square as an .ico file holding one PNG: answered at /favicon.ico before any
    login, so a browser's automatic request is neither a 401 nor a redirect."""
    import struct
    import zlib

    size = 16
    row = b"\x00" + bytes((13, 148, 136, 255)) * size  # filter byte, then RGBA pixels
    raw = zlib.compress(row * size, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    entry = struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


FAVICON = _favicon()
