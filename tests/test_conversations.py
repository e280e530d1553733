"""Saved conversations: the SQLite store (schema version, concurrent turns, exact JSON), the
HTTP routes, a conversation that survives a server restart byte for byte, follow-ups in a
reopened conversation, and the web chat (through gradio_client) saving into the same store."""

from __future__ import annotations

import html
import json
import sqlite3
import threading

import httpx
import pytest

from qa.conversations import (
    FILE_NAME,
    SCHEMA_VERSION,
    ConversationStore,
    answer_from_dict,
    answer_json,
)
from qa.errors import QAError, UnknownConversation
from qa.types import Answer, Citation, ShortAnswer

CHINA = "Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?"
FOLLOW_UP = "Tổng vốn của các dự án đó là bao nhiêu?"
DUTCH = "How many Dutch enterprises attended the conference?"
FDI = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"

ANSWER = Answer(
    "Ai?",
    "vi",
    True,
    "Có 16 doanh nghiệp “Hà Lan”. [1]",
    [
        Citation(
            1, "d", "Tiêu đề", "d#0", "Có 16 doanh nghiệp “Hà Lan”.", 3, 31, 1.7083, "2023-11-17"
        )
    ],
    confidence=0.4868,
    short_answer=ShortAnswer("16 doanh nghiệp", "count", 1, 6, 21),
)


# -- the store ----------------------------------------------------------------------------------
def test_store_round_trip_is_exact(tmp_path):
    store = ConversationStore(tmp_path / "sub" / FILE_NAME)
    conversation = store.create()
    assert conversation["turns"] == [] and conversation["id"].startswith("c_")
    turn = store.add_turn(conversation["id"], "Ai?", [], ANSWER.to_dict())
    again = ConversationStore(tmp_path / "sub" / FILE_NAME).get(conversation["id"])
    assert again["turns"] == [turn] and again["title"] == "Ai?"
    assert answer_json(again["turns"][0]["answer"]) == answer_json(ANSWER.to_dict())
    assert answer_from_dict(turn["answer"]) == ANSWER
    assert store.history(conversation["id"]) == ["Ai?"]
    assert [c["id"] for c in store.recent()] == [conversation["id"]]
    store.create()  # an empty conversation is not listed
    assert len(store.recent()) == 1
    other = store.create()["id"]
    store.add_turn(other, "Ai nữa?", [], ANSWER.to_dict())
    assert [c["id"] for c in store.recent()] == [other, conversation["id"]]
    assert [c["id"] for c in store.recent(ids=[conversation["id"], "c_x"])] == [conversation["id"]]
    secret = store.secret("browser-state")
    assert len(secret) > 30 and ConversationStore(store.path).secret("browser-state") == secret


def test_schema_version_and_json_columns(tmp_path):
    path = tmp_path / FILE_NAME
    store = ConversationStore(path)
    store.add_turn(store.create()["id"], "Ai?", ["trước?"], ANSWER.to_dict())
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        history, answer = db.execute("SELECT history, answer FROM turns").fetchone()
    assert json.loads(history) == ["trước?"] and json.loads(answer) == ANSWER.to_dict()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(QAError, match="newer"):
        ConversationStore(path).recent()
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(QAError, match="not a conversation store"):
        ConversationStore(tmp_path / "junk.sqlite3").recent()


def test_an_older_file_is_migrated_and_keeps_its_turns(tmp_path):
    from qa.conversations import _MIGRATIONS

    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as db:  # a version-1 file, as the first release wrote it
        db.executescript(_MIGRATIONS[0] + "PRAGMA user_version = 1;")
        db.execute("INSERT INTO conversations VALUES ('c_old', '2026-01-01T00:00:00Z', 'Ai?')")
        db.execute(
            "INSERT INTO turns (conversation_id, n, question, history, answer, created) "
            "VALUES ('c_old', 1, 'Ai?', '[]', ?, '2026-01-01T00:00:00Z')",
            (answer_json(ANSWER.to_dict()),),
        )
    store = ConversationStore(path)
    assert store.get("c_old")["turns"][0]["answer"] == ANSWER.to_dict()
    assert store.secret("browser-state")  # the table version 2 added
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        # version 3: the owner column; conversations from before belong to the shared tokens
        assert db.execute("SELECT owner FROM conversations").fetchone()[0] == ""
    assert store.get("c_old", viewer="")["id"] == "c_old"
    with pytest.raises(UnknownConversation):
        store.get("c_old", viewer="lan")


def test_unknown_ids_and_turns(tmp_path):
    store = ConversationStore(tmp_path / FILE_NAME)
    for bad in ("c_0000000000000000", "nope", "", "../../etc/passwd"):
        with pytest.raises(UnknownConversation):
            store.get(bad)
        with pytest.raises(UnknownConversation):
            store.add_turn(bad, "Ai?", [], ANSWER.to_dict())
    conversation = store.create()["id"]
    with pytest.raises(UnknownConversation, match="no turn 3"):
        store.set_feedback(conversation, 3, "up")


def test_concurrent_turns_get_distinct_numbers(tmp_path):
    store = ConversationStore(tmp_path / FILE_NAME)
    conversation = store.create()["id"]
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            ConversationStore(store.path).add_turn(conversation, f"q{i}", [], ANSWER.to_dict())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = store.get(conversation)["turns"]
    assert [t["n"] for t in turns] == list(range(1, 17))
    assert sorted(t["question"] for t in turns) == sorted(f"q{i}" for i in range(16))


def test_a_new_file_opened_by_many_at_once_is_created_once(tmp_path):
    """The web chat and the API open the same new file at page load: no "table exists"."""
    for trial in range(100):
        path = tmp_path / f"{trial}.sqlite3"
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def open_it(errors=errors, path=path, barrier=barrier) -> None:
            barrier.wait()
            try:
                ConversationStore(path).recent()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


# -- over HTTP, across a restart -----------------------------------------------------------------
def turn(client: httpx.Client, conversation: str, question: str) -> httpx.Response:
    response = client.post(f"/v1/conversations/{conversation}/turns", json={"question": question})
    assert response.status_code == 201, response.text
    return response


def test_conversation_survives_a_restart_byte_for_byte(serve_app, fresh_index):
    settings = fresh_index()
    first = serve_app(settings)
    with httpx.Client(base_url=first.url, headers=first.headers, timeout=120) as client:
        created = client.post("/v1/conversations")
        assert created.status_code == 201
        conversation = created.json()["id"]
        sent = [turn(client, conversation, q) for q in (CHINA, FOLLOW_UP, DUTCH)]
        before = client.get(f"/v1/conversations/{conversation}")
        alone = client.post("/v1/answer", json={"question": FOLLOW_UP}).json()
    first.server.stop()

    turns = [r.json() for r in sent]
    assert [t["history"] for t in turns] == [[], [CHINA], [CHINA, FOLLOW_UP]]
    assert turns[1]["answer"]["citations"] != alone["citations"]  # the follow-up used its history
    assert "tỷ USD" in turns[1]["answer"]["citations"][0]["quote"]

    second = serve_app(settings)  # a new process' view: new QA, new app, same files
    with httpx.Client(base_url=second.url, headers=second.headers, timeout=120) as client:
        after = client.get(f"/v1/conversations/{conversation}")
        assert after.status_code == 200
        assert after.content == before.content  # byte-identical
        shown = after.json()["turns"]
        for original, reloaded in zip(sent, shown, strict=True):
            assert answer_json(reloaded) == original.content.decode("utf-8")  # as first sent
        # A follow-up in the reopened conversation is read with its history.
        fourth = turn(client, conversation, "Còn Hà Lan thì sao?").json()
        assert fourth["n"] == 4 and fourth["history"] == [CHINA, FOLLOW_UP, DUTCH]
        # Everyone's conversations are the operator's view: admin only (qa.serve.gate).
        assert client.get("/v1/conversations").status_code == 403
        everyone = client.get("/v1/conversations", headers=second.admin_headers)
        listed = everyone.json()["conversations"]
        assert listed[0]["id"] == conversation and listed[0]["turns"] == 4
        assert listed[0]["title"] == CHINA


def test_turns_stream_after_naming_the_saved_turn(serve_app):
    from httpx_sse import connect_sse

    served = serve_app()
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as client:
        conversation = client.post("/v1/conversations").json()["id"]
        url = f"/v1/conversations/{conversation}/turns"
        with connect_sse(client, "POST", url, json={"question": FDI, "stream": True}) as source:
            events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
        names = [e for e, _ in events]
        assert names[:2] == ["turn", "citations"] and names[-1] == "done"
        assert events[0][1] == {"conversation_id": conversation, "n": 1}
        saved = client.get(f"/v1/conversations/{conversation}").json()["turns"][0]
        assert saved["answer"] == events[-1][1]


def test_bad_input_on_conversation_routes(serve_app):
    served = serve_app()
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as client:
        conversation = client.post("/v1/conversations").json()["id"]
        big = "x" * (served.settings.max_document_bytes + 100_000)
        cases = [
            (client.get("/v1/conversations/c_0123456789abcdef"), 404, "unknown conversation"),
            (client.get("/v1/conversations/nope"), 404, "unknown conversation"),
            (client.post("/v1/conversations/nope/turns", json={"question": FDI}), 404, "unknown"),
            (client.post(f"/v1/conversations/{conversation}/turns", json={}), 422, "question"),
            (
                client.post(f"/v1/conversations/{conversation}/turns", json={"question": " "}),
                422,
                "empty",
            ),
            (
                client.post(
                    f"/v1/conversations/{conversation}/turns", json={"question": FDI, "history": []}
                ),
                422,
                "history",
            ),
            (
                client.post(f"/v1/conversations/{conversation}/turns", json={"question": big}),
                413,
                "limit",
            ),
            (
                client.post(
                    f"/v1/conversations/{conversation}/turns",
                    content=b"{",
                    headers={"content-type": "application/json"},
                ),
                422,
                "json",
            ),
            (client.delete(f"/v1/conversations/{conversation}"), 405, "not allowed"),
        ]
        for response, status, says in cases:
            assert response.status_code == status, (response.request.url, response.text)
            error = response.json()["error"]
            assert "\n" not in error and says in error.lower(), error
        assert client.get(f"/v1/conversations/{conversation}").json()["turns"] == []  # unchanged
        surrogate = b'{"question": "H\\ud800i?"}'
        response = client.post(
            f"/v1/conversations/{conversation}/turns",
            content=surrogate,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422 and "surrogate" in response.json()["error"]
    anonymous = [
        httpx.post(served.url + "/v1/conversations"),
        httpx.get(served.url + "/v1/conversations"),
        httpx.get(served.url + f"/v1/conversations/{conversation}"),
        httpx.post(served.url + f"/v1/conversations/{conversation}/turns", json={"question": FDI}),
    ]
    assert [r.status_code for r in anonymous] == [401] * 4


# -- the web chat saves into the same store --------------------------------------------------------
def test_web_chat_turns_are_saved_and_listed(serve_app):
    from gradio_client import Client

    served = serve_app()
    chat = Client(served.url + "/", verbose=False, download_files=False, headers=served.headers)
    try:
        messages, sources, _ = chat.predict(CHINA, [], api_name="/ask")
        messages, sources, _ = chat.predict(FOLLOW_UP, messages, api_name="/ask")
    finally:
        chat.close()
    assert len(messages) == 4 and "tỷ USD" in str(messages[-1]["content"])
    with httpx.Client(base_url=served.url, headers=served.admin_headers, timeout=60) as client:
        listed = client.get("/v1/conversations").json()["conversations"]
        assert len(listed) == 1 and listed[0]["turns"] == 2
        saved = client.get(f"/v1/conversations/{listed[0]['id']}").json()["turns"]
    assert [t["question"] for t in saved] == [CHINA, FOLLOW_UP]
    assert saved[1]["history"] == [CHINA]
    quote = saved[1]["answer"]["citations"][0]["quote"]
    short = saved[1]["answer"]["short_answer"]
    assert short["n"] == 1 and short["text"] in quote and "tỷ USD" in short["text"]
    # the panel shows the saved citation, its short answer in bold inside the highlight
    bold = f'<strong class="qa-short">{html.escape(short["text"])}</strong>'
    assert bold in sources
    assert f"<mark>{html.escape(quote)}</mark>" in sources.replace(bold, html.escape(short["text"]))
