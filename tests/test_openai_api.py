"""The OpenAI-compatible door, driven by the official `openai` package (`base_url=` our server on
loopback): models, non-streaming and streaming chat completions whose cited quote holds the fact,
history from earlier user turns, and bad input."""

from __future__ import annotations

import httpx
import openai
import pytest

from qa.serve.openai_api import MODEL_ID

FDI = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
DUTCH = "How many Dutch enterprises attended the conference?"
CHINA = "Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?"
FOLLOW_UP = "Tổng vốn của các dự án đó là bao nhiêu?"


@pytest.fixture(scope="module")
def app(serve_app):
    served = serve_app()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.token, max_retries=0)
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as http:
        http.post("/v1/answer", json={"question": "Hải Phòng"})  # warm-up (lazy loads)
        yield served, client, http


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_models_lists_the_knowledge_base(app):
    _, client, _ = app
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).owned_by == "qa"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.parametrize(("question", "fact"), [(FDI, "3,073 tỷ USD"), (DUTCH, "16 doanh nghiệp")])
def test_completion_content_markers_sources_and_citations(app, question, fact):
    served, client, http = app
    completion = client.chat.completions.create(model=MODEL_ID, messages=[user(question)])
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop" and message.role == "assistant"
    content = message.content
    assert "[1]" in content and fact in content.split("**", 1)[0]  # the answer text says it
    assert ("**Sources**" if question == DUTCH else "**Nguồn**") in content
    citations = message.model_extra["citations"]
    assert fact in citations[0]["quote"] and f"“{citations[0]['quote']}”" in content
    text = served.qa.document(citations[0]["doc_id"]).text
    assert text[citations[0]["start"] : citations[0]["end"]] == citations[0]["quote"]
    same = http.post("/v1/answer", json={"question": question}).json()
    assert citations == same["citations"] and message.model_extra["related"] == same["related"]
    assert message.model_extra["conflicts"] == same["conflicts"]
    assert content.startswith(same["answer"])


def test_streaming_chunks_carry_citations_first_and_the_same_content(app):
    _, client, _ = app
    plain = client.chat.completions.create(model=MODEL_ID, messages=[user(FDI)])
    chunks = list(client.chat.completions.create(model=MODEL_ID, messages=[user(FDI)], stream=True))
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content == ""
    assert first.model_extra["citations"] == plain.choices[0].message.model_extra["citations"]
    assert "3,073 tỷ USD" in first.model_extra["citations"][0]["quote"]
    pieces = [c.choices[0].delta.content or "" for c in chunks]
    assert len([p for p in pieces if p]) >= 2  # the text, then the Sources block
    assert "".join(pieces) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"


def test_earlier_user_turns_are_the_history(app):
    """The follow-up alone does not name Hải Phòng or China; with the earlier user turn (and an
    assistant reply and a system prompt, which are not searched) it is read like /v1/answer with
    `history`."""
    _, client, http = app
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        user(CHINA),
        {"role": "assistant", "content": "Có 11 dự án. [1]"},
        user(FOLLOW_UP),
    ]
    completion = client.chat.completions.create(model=MODEL_ID, messages=messages)
    cited = completion.choices[0].message.model_extra["citations"]
    with_history = http.post("/v1/answer", json={"question": FOLLOW_UP, "history": [CHINA]}).json()
    alone = http.post("/v1/answer", json={"question": FOLLOW_UP}).json()
    assert cited == with_history["citations"] and with_history["citations"] != alone["citations"]


def test_text_parts_are_read_like_a_string(app):
    _, client, _ = app
    parts = [
        {"type": "text", "text": "Hải Phòng thu hút bao nhiêu"},
        {"type": "text", "text": "vốn đầu tư nước ngoài?"},
    ]
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": parts}], temperature=0.2
    )
    assert "3,073 tỷ USD" in completion.choices[0].message.model_extra["citations"][0]["quote"]


def test_not_found_shows_related_passages(app):
    _, client, _ = app
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=[user("Who won the 2022 World Cup?")]
    )
    message = completion.choices[0].message
    assert message.model_extra["citations"] == [] and message.model_extra["related"]
    assert (
        "The articles do not say" in message.content and "**Related passages**" in message.content
    )


@pytest.mark.parametrize(
    ("messages", "status", "says"),
    [
        ([], 422, "messages"),
        ([{"role": "tool", "content": "x"}], 422, "role"),
        ([{"role": "bot", "content": "x"}], 422, "role"),
        ([user(FDI), {"role": "assistant", "content": "x"}], 422, "last message"),
        ([user("   ")], 422, "empty"),
        ([user("")], 422, "empty"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            422,
            "text",
        ),
        ([{"role": "user"}], 422, "empty"),
        ([user("x" * 5000)], 422, "limit"),
    ],
)
def test_bad_messages_are_one_line_4xx(app, messages, status, says):
    _, _, http = app
    response = http.post("/v1/chat/completions", json={"model": MODEL_ID, "messages": messages})
    assert response.status_code == status, response.text
    error = response.json()["error"]  # OpenAI's shape: SDKs and chat apps show `message`
    assert error["type"] == "invalid_request_error" and error["code"] == status
    assert "\n" not in error["message"] and says in error["message"].lower(), error


def test_sdk_errors_unknown_model_oversized_body_and_token(app):
    served, client, http = app
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(model="gpt-4o", messages=[user(FDI)])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}]
        )
    big = {
        "model": MODEL_ID,
        "messages": [user("x" * (served.settings.max_document_bytes + 100_000))],
    }
    assert http.post("/v1/chat/completions", json=big).status_code == 413
    broken = http.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and "JSON" in broken.json()["error"]["message"]
    garbage = http.post(
        "/v1/chat/completions",
        content=b"\xff\xfe\x00",
        headers={"content-type": "application/json"},
    )
    assert garbage.status_code in (400, 422) and garbage.json()["error"]["message"]
    for wrong in ("", "nope"):
        anonymous = openai.OpenAI(base_url=served.url + "/v1", api_key=wrong or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            anonymous.chat.completions.create(model=MODEL_ID, messages=[user(FDI)])
        with pytest.raises(openai.AuthenticationError):
            anonymous.models.list()
