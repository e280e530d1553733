"""The MCP server, driven by the official `mcp` client: over stdio (`qa mcp` as a subprocess)
and over streamable HTTP (`/mcp` of the running app), every tool, typed results with the same
citation objects as /v1/answer, and tool errors."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

FDI = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
TOOLS = {"search", "answer", "get_article", "list_articles"}


async def exercise(client: Client) -> dict[str, Any]:
    """Call every tool (and some bad calls); return what came back, for the assertions."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    out: dict[str, Any] = {"tools": tools}
    out["answer"] = await client.call_tool("answer", {"question": FDI})
    cited = out["answer"].structured_content["citations"][0]
    out["article"] = await client.call_tool("get_article", {"doc_id": cited["doc_id"]})
    out["search"] = await client.call_tool("search", {"query": "cảng Nam Đồ Sơn", "k": 3})
    out["list"] = await client.call_tool("list_articles", {})
    out["follow_up"] = await client.call_tool(
        "answer",
        {
            "question": "Tổng vốn của các dự án đó là bao nhiêu?",
            "history": ["Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?"],
        },
    )
    out["unknown_article"] = await client.call_tool("get_article", {"doc_id": "nope"})
    out["empty_question"] = await client.call_tool("answer", {"question": "  "})
    out["bad_k"] = await client.call_tool("search", {"query": "Hải Phòng", "k": 0})
    try:
        out["unknown_tool"] = await client.call_tool("delete_everything", {})
    except Exception as exc:  # a protocol error is also a fine way to refuse
        out["unknown_tool"] = exc
    return out


def check(out: dict[str, Any], texts: dict[str, str], plain: dict[str, Any] | None) -> None:
    tools = out["tools"]
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.output_schema and tool.output_schema["type"] == "object"
    assert tools["search"].input_schema["properties"]["k"]["maximum"] == 20

    answer = out["answer"]
    assert not answer.is_error
    whole = answer.structured_content
    first = whole["citations"][0]
    assert "3,073 tỷ USD" in first["quote"] and whole["found"] is True
    assert "[1]" in answer.content[0].text and "Nguồn" in answer.content[0].text
    if plain is not None:  # the same answer object as the HTTP API
        assert whole == plain

    article = out["article"].structured_content
    assert article["text"][first["start"] : first["end"]] == first["quote"]
    assert article["text"] == texts[first["doc_id"]]

    hits = out["search"].structured_content["hits"]
    assert len(hits) == 3 and any("Nam Đồ Sơn" in h["text"] for h in hits)
    for h in hits:
        assert texts[h["doc_id"]][h["start"] : h["end"]] == h["text"]

    articles = out["list"].structured_content["articles"]
    assert {a["doc_id"] for a in articles} == set(texts) and all(a["chunks"] > 0 for a in articles)

    follow = out["follow_up"].structured_content
    assert follow["found"] and follow["citations"]

    for name, says in (("unknown_article", "unknown document"), ("empty_question", "empty")):
        result = out[name]
        assert result.is_error and says in result.content[0].text, result
    assert out["bad_k"].is_error and "greater than or equal to 1" in out["bad_k"].content[0].text
    refused = out["unknown_tool"]
    message = str(refused) if isinstance(refused, Exception) else refused.content[0].text
    assert (isinstance(refused, Exception) or refused.is_error) and "delete_everything" in message


@pytest.fixture(scope="module")
def texts(real_qa) -> dict[str, str]:
    return {d.doc_id: d.text for d in real_qa.documents()}


def test_stdio(real_qa, texts, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "qa.serve.cli",
            "mcp",
            "--corpus",
            str(real_qa.settings.corpus_dir),
            "--index",
            str(real_qa.settings.index_dir),
        ],
        env=env,
        cwd=str(tmp_path),
    )

    async def run() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=300) as client:
            return await exercise(client)

    out = asyncio.run(run())
    check(out, texts, real_qa.answer(FDI).to_dict())


@pytest.fixture(scope="module")
def served(serve_app):
    served = serve_app()
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as http:
        plain = http.post("/v1/answer", json={"question": FDI})
        assert plain.status_code == 200
        yield served, plain.json()


def test_streamable_http(served):
    app, plain = served

    async def run() -> dict[str, Any]:
        async with (
            httpx2.AsyncClient(headers=app.headers, timeout=120) as http,
            Client(streamable_http_client(app.url + "/mcp", http_client=http)) as client,
        ):
            return await exercise(client)

    out = asyncio.run(run())
    check(out, {d.doc_id: d.text for d in app.qa.documents()}, plain)


def test_bad_requests_on_the_http_transport(served):
    """Malformed or oversized bodies and foreign Host headers are refused at the HTTP level (4xx);
    an unknown method or tool is refused by the protocol (a JSON-RPC error / isError result in a
    200, as MCP specifies), with a message naming it."""
    from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE

    app, _ = served
    headers = {**app.headers, "accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=app.url, headers=headers, timeout=60) as http:
        broken = http.post("/mcp", content=b"{", headers={"content-type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == -32700
        big = b'{"x": "' + b"x" * DEFAULT_MAX_REQUEST_BODY_SIZE + b'"}'
        oversized = http.post("/mcp", content=big, headers={"content-type": "application/json"})
        assert oversized.status_code == 413
        rebinding = {"host": "evil.example"}
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert http.post("/mcp", json=call, headers=rebinding).status_code == 421
        unknown = http.post("/mcp", json={**call, "method": "resources/delete"})
        assert unknown.status_code == 200 and unknown.json()["error"]["code"] == -32601
        tool = {**call, "method": "tools/call", "params": {"name": "rm", "arguments": {}}}
        result = http.post("/mcp", json=tool).json()["result"]
        assert result["isError"] and result["content"][0]["text"] == "Unknown tool: rm"


def test_the_read_token_is_required_on_mcp(served):
    """The gate covers /mcp like /v1: nothing without a token or with a wrong one; the read
    token is enough for every tool (they only read)."""
    app, _ = served
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"accept": "application/json, text/event-stream"}
    for given in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.post(app.url + "/mcp", json=call, headers={**headers, **given}, timeout=60)
        assert response.status_code == 401, response.text
        assert "\n" not in response.json()["error"]
    response = httpx.post(
        app.url + "/mcp", json=call, headers={**headers, **app.headers}, timeout=60
    )
    assert response.status_code == 200 and len(response.json()["result"]["tools"]) == 4

    async def anonymous() -> None:
        async with Client(app.url + "/mcp") as client:
            await client.list_tools()

    with pytest.raises(BaseException) as refused:  # the official client, without the token
        asyncio.run(anonymous())
    # (the SDK reports the 401 as an error response, without its status)
    assert "error response" in " ".join(leaf_messages(refused.value))


def leaf_messages(exc: BaseException) -> list[str]:
    """The messages of an exception and, for an exception group, of every exception inside."""
    inner = getattr(exc, "exceptions", None)
    if not inner:
        return [str(exc)]
    return [m for e in inner for m in leaf_messages(e)]
