"""The attacks of issue 13 against the real `qa serve` (a subprocess on a loopback port) with a
read token and an admin token set: every one must be refused AND leave the corpus folder and the
live index generation byte-identical (`fingerprint`), the server answering.

Real clients only: httpx for HTTP, raw sockets where a client library would not misbehave the
way an attacker does. `COUNTS` tallies attacks and requests (printed at the end with `-s`;
docs/security.md quotes them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, free_port

READ = "read-" + uuid.uuid4().hex
ADMIN = "admin-" + uuid.uuid4().hex
DOC = "000_d64ab916eb4386f1"
COUNTS: Counter[str] = Counter()
ARTICLE = "Hội An đón 5 triệu lượt khách năm 2025, theo Sở Du lịch Quảng Nam.\n"


def count(kind: str) -> None:
    """Tally per test (docs/security.md quotes the table printed at the end)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    COUNTS[kind] += 1
    COUNTS[f"{kind} {test}"] += 1


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    corpus: Path
    index: Path
    uploads: Path
    secret: Path

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hooks = {"request": [lambda request: count("requests")]}
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=60, event_hooks=hooks, **kwargs
        )

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )


def fingerprint(server: Server) -> str:
    """sha256 over every file of the corpus folder and the live generation's manifest."""
    digest = hashlib.sha256()
    for path in sorted(server.corpus.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(server.corpus)).encode() + b"\0" + path.read_bytes())
    live = (server.index / "CURRENT").read_text().strip()
    digest.update(live.encode() + (server.index / live / "manifest.json").read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def server(fresh_index, tmp_path_factory) -> Iterator[Server]:
    settings = fresh_index()
    root = tmp_path_factory.mktemp("security")
    uploads = root / "gradio-uploads"
    uploads.mkdir()
    secret = root / "secret.txt"
    secret.write_text("Mật khẩu của máy chủ là 999 dự án.\n", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "QA_READ_TOKEN": READ,
        "QA_ADMIN_TOKEN": ADMIN,
        "QA_READ_TIMEOUT": "2",
        "GRADIO_TEMP_DIR": str(uploads),
    }
    env.pop("QA_API_KEY", None)
    log = (root / "server.log").open("w")
    command = [sys.executable, "-m", "qa.serve.cli", "serve", "--port", str(port)]
    command += ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((root / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield Server(
        url, port, proc, settings.corpus_dir, settings.index_dir, uploads.resolve(), secret
    )
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()
    print(
        f"\nsecurity: {COUNTS['attacks']} attacks, {COUNTS['requests']} HTTP requests, "
        f"{COUNTS['raw']} raw-socket requests"
    )
    for key, value in sorted(COUNTS.items()):
        if " " in key:
            print(f"  {key}: {value}")


@contextlib.contextmanager
def refused(server: Server) -> Iterator[None]:
    """The enclosed attack changes nothing and the server still answers quickly."""
    before = fingerprint(server)
    yield
    assert fingerprint(server) == before
    started = time.monotonic()
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    assert time.monotonic() - started < 5
    count("attacks")


def no_server_folders(text: str, server: Server) -> None:
    for secret in (str(server.corpus.parent), str(server.uploads), str(server.secret.parent)):
        assert secret not in text, text[:500]


def no_server_paths(text: str, server: Server) -> None:
    """Neither our folders nor a path the attacker tried is named back (existence oracle)."""
    no_server_folders(text, server)
    assert "/dev/zero" not in text and "/etc/" not in text, text[:500]


# -- Gradio's own protocol ---------------------------------------------------------------------
RESULT_WITHIN = 60  # seconds: a handler that does not answer by then counts as a frozen server


def call_api(client: httpx.Client, api: str, data: list[Any]) -> tuple[int, str]:
    """POST /gradio_api/call/<api>, then read its event stream: (status, final event text)."""
    response = client.post(f"/gradio_api/call/{api}", json={"data": data})
    if response.status_code != 200:
        return response.status_code, response.text
    event = response.json()["event_id"]
    deadline, text = time.monotonic() + RESULT_WITHIN, ""
    with client.stream("GET", f"/gradio_api/call/{api}/{event}") as stream:
        lines = stream.iter_lines()
        for line in lines:  # heartbeats arrive while the handler runs
            text += line + "\n"
            if line.startswith(("event: complete", "event: error")):
                text += next(lines, "")
                break
            assert time.monotonic() < deadline, f"{api}: no result in {RESULT_WITHIN} s"
    return 200, text


def queue_call(
    client: httpx.Client, fn_index: int, data: list[Any], session: str, trigger: int | None
) -> tuple[int, Any]:
    """Join the queue by function number (what the page does), wait for the result."""
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": trigger}
    response = client.post("/gradio_api/queue/join", json=body)
    if response.status_code != 200:
        return response.status_code, response.text
    event, deadline = response.json()["event_id"], time.monotonic() + RESULT_WITHIN
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            assert time.monotonic() < deadline, f"fn_index {fn_index}: no result in time"
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") == event and message.get("msg") == "process_completed":
                return 200, message
    raise AssertionError(f"no result for fn_index {fn_index}")


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def gradio_upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": (name, data, "text/plain")})


def config(server: Server) -> dict[str, Any]:
    with server.client(ADMIN) as admin:
        return admin.get("/config").json()


# -- raw sockets: what no well-behaved client library sends ------------------------------------
def raw_request(
    server: Server, head: str, body: bytes = b"", wait: float = 10.0
) -> tuple[bytes, float]:
    """Send a request head (+ some body) and return (what came back, seconds until it came)."""
    count("raw")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(head.encode("latin-1") + body)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
    return b"".join(chunks), time.monotonic() - started


def status_of(reply: bytes) -> int | None:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else None


# -- 1. every door behind the gate -------------------------------------------------------------
GRADIO_ROUTES = [
    ("GET", "/"),
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("GET", "/gradio_api/openapi.json"),
    ("GET", "/theme.css"),
    ("GET", "/gradio_api/file=/etc/hosts"),
    ("GET", "/gradio_api/queue/data?session_hash=x"),
    ("GET", "/gradio_api/heartbeat/x"),
    ("GET", "/gradio_api/upload_progress?upload_id=x"),
    ("POST", "/gradio_api/queue/join"),
    ("POST", "/gradio_api/call/ask"),
    ("POST", "/gradio_api/call/upload"),
    ("POST", "/gradio_api/call/remove"),
    ("POST", "/gradio_api/run/upload"),
    ("POST", "/gradio_api/upload"),
    ("POST", "/gradio_api/cancel"),
    ("POST", "/gradio_api/reset"),
    ("POST", "/gradio_api/component_server"),
    ("POST", "/gradio_api/process_recording"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/docs-assets/swagger-ui.css"),
    ("GET", "/v1/documents"),
    ("GET", f"/v1/documents/{DOC}"),
    ("POST", "/v1/answer"),
    ("POST", "/v1/search"),
    ("POST", "/v1/documents"),
    ("DELETE", f"/v1/documents/{DOC}"),
    ("GET", "/v1/anything"),
    ("GET", "/mcp"),
]
BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {READ}x"},
    {"Authorization": f"Basic {ADMIN}"},
    {"Authorization": ADMIN},
    {"Cookie": f"qa_session=admin.9999999999.{'0' * 64}"},
    {"Cookie": "qa_session=admin"},
]


@pytest.mark.parametrize(("method", "path"), GRADIO_ROUTES)
def test_no_door_opens_without_a_token(server: Server, method: str, path: str):
    body = {"data": [file_data(str(server.secret))], "fn_index": 5, "session_hash": "s"}
    with refused(server), server.client() as client:
        for headers in BAD_CREDENTIALS:
            response = client.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (headers, response.status_code, response.text)
            assert set(response.json()) == {"error"}
            no_server_paths(response.text, server)
    with server.client() as client:  # a browser asking for a page is sent to the login form
        page = client.get(path, headers={"Accept": "text/html"}) if method == "GET" else None
        if page is not None and not path.startswith(("/gradio_api", "/v1", "/mcp")):
            assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_read_token_cannot_write_through_any_route(server: Server):
    with refused(server), server.client(READ) as reader:
        assert reader.get("/v1/documents").status_code == 200  # it can read
        assert reader.post("/v1/answer", json={"question": "Hải Phòng?"}).status_code == 200
        denied = [
            reader.post("/v1/documents", json={"name": "x.txt", "text": ARTICLE}),
            reader.delete(f"/v1/documents/{DOC}"),
            reader.put(f"/v1/documents/{DOC}", json={}),
            reader.post("/v1/index"),
            gradio_upload(reader, "x.txt", ARTICLE.encode()),
            reader.post("/gradio_api/process_recording", files={"data": ("a.mp4", b"x")}),
        ]
        for response in denied:
            assert response.status_code == 403, response.text
            assert "admin" in response.json()["error"]


def test_read_token_cannot_upload_or_remove_through_gradio_handlers(server: Server):
    """Raw /gradio_api/call/* and /queue/join by fn_index: the handlers check the role."""
    with server.client(ADMIN) as admin:  # a file Gradio really received, so only the role counts
        (received,) = gradio_upload(admin, "hoi_an.txt", ARTICLE.encode()).json()
    with refused(server), server.client(READ) as reader:
        status, text = call_api(reader, "upload", [file_data(received)])
        assert status == 200 and "admin" in text and "qa-ok" not in text, text
        status, text = call_api(reader, "remove", [DOC])
        assert status == 200 and "qa-ok" not in text, text
        assert Path(received).exists()


def test_read_token_cannot_write_by_any_fn_index(server: Server):
    """Every function of the page, by number, in a session whose choices were loaded."""
    cfg = config(server)
    components = {c["id"]: c["type"] for c in cfg["components"]}
    with server.client(ADMIN) as admin:
        (received,) = gradio_upload(admin, "hoi_an.txt", ARTICLE.encode()).json()
    values = {
        "file": file_data(received),
        "dropdown": DOC,
        "textbox": "Hải Phòng thu hút bao nhiêu vốn?",
        "chatbot": [],
    }
    tried = 0
    with refused(server), server.client(READ) as reader:
        session = uuid.uuid4().hex
        load = next(d for d in cfg["dependencies"] if d["targets"][0][1] == "load")
        assert queue_call(reader, load["id"], [], session, None)[0] == 200  # fills the dropdown
        for dep in cfg["dependencies"]:
            data = [values.get(components[i]) for i in dep["inputs"]]
            trigger = dep["targets"][0][0] if dep["targets"] else None
            status, result = queue_call(reader, dep["id"], data, session, trigger)
            tried += 1
            if dep.get("api_name") in ("upload", "remove"):
                assert status == 200 and "admin" in json.dumps(result, ensure_ascii=False)
    assert tried == len(cfg["dependencies"]) >= 8
    COUNTS["fn_index"] = tried


# -- 2. uploads take bytes, never server paths -------------------------------------------------
def forged_paths(server: Server) -> list[str]:
    up = server.uploads
    planted = up / "planted.txt"  # inside the folder, but Gradio never received it
    planted.write_text(ARTICLE, encoding="utf-8")
    link = up / "link.txt"
    with contextlib.suppress(FileExistsError):
        link.symlink_to(server.secret)
    fifo = up / "fifo.txt"
    with contextlib.suppress(FileExistsError):
        os.mkfifo(fifo)
    return [
        str(server.secret),
        "secret.txt",
        "../secret.txt",
        f"{up}/../secret.txt",
        f"{up}/../../{server.secret.parent.name}/secret.txt",
        "/etc/passwd",
        "/etc/hostname",
        "/dev/zero",
        "/dev/urandom",
        "/proc/self/environ",
        str(planted),
        str(link),
        str(fifo),
        str(up),
        f"http://127.0.0.1:{server.port}/healthz",
        "file:///etc/passwd",
    ]


def test_filedata_paths_are_never_read(server: Server):
    """As admin (the strongest caller), through every way the page's upload can be called."""
    cfg = config(server)
    upload = next(d for d in cfg["dependencies"] if d.get("api_name") == "upload")
    with server.client(ADMIN) as admin:
        for path in forged_paths(server):
            with refused(server):
                started = time.monotonic()
                _, text = call_api(admin, "upload", [file_data(path)])
                assert time.monotonic() - started < 15, path  # /dev/zero: refused, not read
                assert "qa-ok" not in text, (path, text)
                no_server_paths(text, server)
                session = uuid.uuid4().hex
                _, result = queue_call(
                    admin, upload["id"], [file_data(path)], session, upload["targets"][0][0]
                )
                shown = json.dumps(result, ensure_ascii=False)
                assert "qa-ok" not in shown, (path, shown)
                no_server_paths(shown, server)
    assert (
        "999 dự án"
        not in httpx.get(  # the secret was never indexed
            server.url + "/v1/documents", headers={"Authorization": f"Bearer {READ}"}
        ).text
    )


def test_admin_upload_through_the_page_still_works(server: Server):
    """The positive control: a real upload + remove by the admin, the way the page does it."""
    with server.client(ADMIN) as admin:
        (received,) = gradio_upload(admin, "hoi_an.txt", ARTICLE.encode()).json()
        status, text = call_api(admin, "upload", [file_data(received)])
        assert status == 200 and "qa-ok" in text and "hoi_an" in text, text
        answer = admin.post("/v1/answer", json={"question": "Hội An đón bao nhiêu lượt khách?"})
        assert any("5 triệu" in c["quote"] for c in answer.json()["citations"])
        assert not Path(received).exists()  # consumed
        status, text = call_api(admin, "upload", [file_data(received)])  # replayed: refused
        assert "qa-ok" not in text
        assert admin.delete("/v1/documents/hoi_an").status_code == 200


# -- 3. bounded work ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/gradio_api/upload", "/gradio_api/queue/join", "/v1/documents", "/v1/answer"]
)
def test_oversized_bodies_are_refused_unread(server: Server, path: str):
    rss = server.rss_kb()
    with refused(server):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        reply, seconds = raw_request(server, head, b"[" * 65536)
        assert status_of(reply) == 413 and seconds < 5, reply[:300]
        sent = 0  # and the server stops taking bytes long before the declared 100 MB
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
            contextlib.suppress(OSError),
        ):
            sock.sendall(head.encode())
            while sent < 100_000_000:
                sock.sendall(b"x" * 65536)
                sent += 65536
        assert sent < 20_000_000, sent
        chunked = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        block = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        reply, _ = raw_request(server, chunked, block * 40)  # 2.6 MB, never terminated
        assert status_of(reply) == 413, reply[:300]
    assert server.rss_kb() - rss < 50_000  # kB: nothing of the 100 MB was kept


def test_long_question_is_refused_before_it_is_echoed(server: Server):
    with refused(server), server.client(READ) as reader:
        question = "Hải Phòng " * 100_000  # 1 MB: under the body cap, over the question cap
        status, text = call_api(reader, "ask", [question, [], "", "", []])
        assert status == 200 and "limit" in text and len(text) < 20_000, len(text)
        response = reader.post("/v1/answer", json={"question": question})
        assert response.status_code == 422 and len(response.text) < 1000


def test_slow_clients_are_cut_off(server: Server):
    with refused(server):
        reply, seconds = raw_request(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow:", wait=15)
        assert reply == b"" and seconds < 10, (reply, seconds)  # head never finished: closed
        head = (
            f"POST /v1/answer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {READ}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        reply, seconds = raw_request(server, head, b'{"question":', wait=15)
        assert status_of(reply) == 408 and seconds < 10, (reply, seconds)


def test_repetitive_upload_is_refused_quickly(server: Server):
    with refused(server), server.client(ADMIN) as admin:
        started = time.monotonic()
        text = "Hải Phòng có 405 dự án đầu tư. " * 3000  # 100 KB, one sentence
        response = admin.post("/v1/documents", json={"name": "spam.txt", "text": text})
        assert response.status_code == 400 and "repeats itself" in response.json()["error"]
        assert time.monotonic() - started < 10


# -- 5. the small items ------------------------------------------------------------------------
def test_malformed_requests_get_our_error_shape(server: Server):
    deep = "[" * 100_000 + "]" * 100_000
    with refused(server), server.client(ADMIN) as admin:
        for path in ("/v1/documents", "/v1/answer", "/v1/search", "/gradio_api/queue/join"):
            response = admin.post(path, content=deep, headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500, (path, response.status_code)
        names = ["CON", "passwd", "../../etc/passwd", "a.pdf"]
        for name in names:
            response = admin.post("/v1/documents", json={"name": name, "text": ARTICLE})
            assert response.status_code == 400, (name, response.text)
            no_server_folders(response.text, server)
        head = admin.head("/v1/answer")
        assert head.status_code == 405 and head.headers["allow"] == "POST"
        options = admin.options("/v1/answer")
        assert options.status_code == 204 and options.headers["allow"] == "POST"
        missing = admin.options("/v1/nothing")
        assert missing.status_code == 404 and set(missing.json()) == {"error"}


def test_wrong_tokens_on_every_v1_route_are_refused(server: Server):
    """What held before (56/56): kept, over more routes and credential shapes."""
    routes = [(m, p) for m, p in GRADIO_ROUTES if p.startswith("/v1")]
    routes += [
        ("HEAD", "/v1/documents"),
        ("OPTIONS", "/v1/answer"),
        ("PATCH", f"/v1/documents/{DOC}"),
    ]
    refusals = 0
    with refused(server), server.client() as client:
        for method, path in routes:
            for headers in BAD_CREDENTIALS:
                response = client.request(method, path, headers=headers, json={"question": "x"})
                assert response.status_code == 401
                refusals += 1
    assert refusals >= 56


# -- graceful stop (last: it stops the server) -------------------------------------------------
def test_sigterm_stops_the_server_promptly(server: Server):
    """With a client connected and an answer streaming, SIGTERM ends the process in seconds
    (uvicorn exits by re-raising the signal once its graceful shutdown is done)."""
    with server.client(READ) as reader:
        response = reader.post(
            "/gradio_api/call/ask", json={"data": ["Hải Phòng?", [], "", "", []]}
        )
        event = response.json()["event_id"]
        with reader.stream("GET", f"/gradio_api/call/ask/{event}") as stream:
            next(stream.iter_lines())
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    seconds = time.monotonic() - started
    assert seconds < 30
    print(f"\nSIGTERM with an answer streaming: exited after {seconds:.1f} s")
