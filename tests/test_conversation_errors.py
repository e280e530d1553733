"""Conversations and feedback over HTTP never answer 5xx for a client's input: integers out of
SQLite's range are 422, odd ids 404; on a full disk every write is 507 and on a read-only one 503,
with nothing half-written (qa.conversations maps SQLite's errors to the typed storage errors).

The disk cases mount a small tmpfs (root only; skipped with the reason otherwise): the
`small_fs` fixture of tests/conftest.py, shared with tests/test_disk.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from conftest import fill, read_only, small_qa

from qa.conversations import ConversationStore
from qa.serve.http import create_api

QUESTION = "Cần Thơ xuất khẩu bao nhiêu gạo?"
TURN_EDGES = [0, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**100]
K_EDGES = [0, -1, 21, 2**31, 2**63, 2**64, -(2**63) - 1]


@pytest.fixture(scope="module")
def api(tmp_path_factory, live_server) -> str:
    qa = small_qa(tmp_path_factory.mktemp("conv-errors"))
    return live_server(create_api(qa, qa.settings, api_key="")).url


def test_integers_out_of_range_are_422_never_500(api: str):
    with httpx.Client(base_url=api, timeout=60) as client:
        cid = client.post("/v1/conversations").json()["id"]
        turn = client.post(f"/v1/conversations/{cid}/turns", json={"question": QUESTION})
        assert turn.status_code == 201
        for n in TURN_EDGES:
            body = {"conversation_id": cid, "turn": n, "verdict": "up"}
            response = client.post("/v1/feedback", json=body)
            expected = 404 if 1 <= n < 2**63 else 422
            assert response.status_code == expected, (n, response.status_code, response.text)
            assert set(response.json()) == {"error"}
        for k in K_EDGES:
            response = client.post(
                f"/v1/conversations/{cid}/turns", json={"question": QUESTION, "k": k}
            )
            assert response.status_code == 422, (k, response.status_code, response.text)
        # the one real turn is still the only one, unrated
        saved = client.get(f"/v1/conversations/{cid}").json()
        assert [t["n"] for t in saved["turns"]] == [1] and saved["turns"][0]["feedback"] is None


def test_odd_ids_are_404_never_500(api: str):
    odd = ["c_\ud800", "c_\x00", "", "c_" + "0" * 100_000, "c_' OR 1=1 --", "x" * 10, "c_é"]
    with httpx.Client(base_url=api, timeout=60) as client:
        for cid in odd:
            raw = (
                '{"conversation_id": "c_\\ud800", "turn": 1, "verdict": "up"}'
                if "\ud800" in cid
                else None
            )
            if raw:
                response = client.post(
                    "/v1/feedback", content=raw, headers={"Content-Type": "application/json"}
                )
            else:
                body = {"conversation_id": cid, "turn": 1, "verdict": "down"}
                response = client.post("/v1/feedback", json=body)
            assert response.status_code in (404, 422), (cid[:20], response.status_code)
        for path in ("c_%00", "c_%ED%A0%80", "c_%FF", "c_" + "a" * 5000, "%2e%2e"):
            for method, suffix, body in (
                ("GET", "", None),
                ("POST", "/turns", {"question": QUESTION}),
            ):
                response = client.request(method, f"/v1/conversations/{path}{suffix}", json=body)
                assert response.status_code in (404, 422), (path, method, response.status_code)


# -- full and read-only disks --------------------------------------------------------------------
def rows(store: ConversationStore) -> list[tuple]:
    """Every row of the store, read with SQLite directly (what a half-write would show)."""
    db = sqlite3.connect(store.path)
    try:
        return [
            *db.execute("SELECT * FROM conversations ORDER BY id"),
            *db.execute("SELECT * FROM turns ORDER BY conversation_id, n"),
        ]
    finally:
        db.close()


def writes(client: httpx.Client, cid: str) -> list[httpx.Response]:
    return [
        client.post("/v1/conversations"),
        client.post(f"/v1/conversations/{cid}/turns", json={"question": QUESTION}),
        client.post(
            "/v1/feedback",
            json={"conversation_id": cid, "turn": 1, "verdict": "down", "comment": "x" * 2000},
        ),
    ]


def test_full_disk_is_507_and_nothing_half_written(small_fs: Path, live_server):
    qa = small_qa(small_fs)
    store = ConversationStore.for_settings(qa.settings)
    server = live_server(create_api(qa, qa.settings, api_key="", conversations=store))
    tried = refused = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        cid = client.post("/v1/conversations").json()["id"]
        assert client.post(f"/v1/conversations/{cid}/turns", json={"question": QUESTION})
        for free in range(0, 16, 3):
            before = rows(store)
            filler = fill(small_fs, free)
            try:
                responses = writes(client, cid)
            finally:
                filler.unlink()
            for response in responses:
                tried += 1
                assert response.status_code < 500 or response.status_code == 507, (
                    free,
                    response.status_code,
                    response.text,
                )
                if response.status_code == 507:
                    refused += 1
                    assert set(response.json()) == {"error"}
                    assert "space" in response.json()["error"]
                    assert str(small_fs) not in response.text
            after = rows(store)
            if all(r.status_code == 507 for r in responses):
                assert after == before, free  # nothing half-written
            for row in after:  # whatever was stored is whole
                assert all(v is not None for v in row[:3]), row
        assert client.get(f"/v1/conversations/{cid}").status_code == 200
    assert refused >= 3, (tried, refused)


def test_read_only_disk_is_503_and_reading_still_works(small_fs: Path, live_server):
    qa = small_qa(small_fs)
    store = ConversationStore.for_settings(qa.settings)
    server = live_server(create_api(qa, qa.settings, api_key="", conversations=store))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        cid = client.post("/v1/conversations").json()["id"]
        client.post(f"/v1/conversations/{cid}/turns", json={"question": QUESTION})
        before = rows(store)
        with read_only(small_fs):
            for response in writes(client, cid):
                assert response.status_code == 503, (response.status_code, response.text)
                assert "read-only" in response.json()["error"]
                assert str(small_fs) not in response.text
            reread = client.get(f"/v1/conversations/{cid}")
            assert reread.status_code in (200, 503), reread.text
    assert rows(store) == before
