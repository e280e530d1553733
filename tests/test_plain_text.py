"""Text that leaves through the OpenAI-compatible, MCP, SSE and CLI doors is plain: an article's
`<script>`, `<img onerror=…>`, `[x](javascript:…)` and terminal escapes do not survive into the
answer text, the chat content or the terminal (qa.serve.stream.plain_text); front matter values
are checked when an article is read (qa.ingest.documents).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import httpx2
import openai
import pytest
from conftest import REPO, HashEmbedder
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from qa import QA, Settings
from qa.errors import DocumentError
from qa.ingest.documents import parse_document
from qa.serve import mcp_server
from qa.serve.http import create_api
from qa.serve.stream import plain_text

HOSTILE = (
    "---\ntitle: Đà Nẵng <img src=x onerror=alert(1)>\nsource: Báo Đà Nẵng\n"
    "url: https://baodanang.vn/a.html\ndate: 2025-01-05\n---\n"
    "Đà Nẵng đón 8 triệu lượt khách du lịch năm 2025 <script>alert(1)</script> theo Sở Du lịch. "
    "Giá vé cáp treo Bà Nà là 900 nghìn đồng <img src=x onerror=alert(2)> "
    "[xem chi tiết](javascript:alert(3)) \x1b[31mđỏ\x1b[0m. "
    "Thành phố có 1.200 khách sạn ![ảnh](data:text/html,<b>x</b>) trong năm 2025.\n"
)
QUESTION = "Đà Nẵng đón bao nhiêu lượt khách du lịch năm 2025?"
BAD = ("<script", "<img", "<svg", "javascript:", "data:text", "\x1b")


def assert_plain(text: str, where: str) -> None:
    for bad in BAD:
        assert bad not in text, (where, bad, text[:400])


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<scr<b>ipt>alert(1)</scr</b>ipt>",
        "<img src=x onerror=alert(1)",
        "<!-- x --><svg/onload=alert(1)>",
        "[x](javascript:alert(1))",
        "[x]( javascript:alert(1) )",
        "[x](<javascript:alert(1)>)",
        "![i](data:text/html,hi)",
        "[x]: javascript:alert(1)",
        "<javascript:alert(1)>",
        "\x1b[2J\x1b]0;title\x07",
        "\u202eevil",
    ],
)
def test_plain_text_removes_markup(hostile):
    out = plain_text(f"Trước\n{hostile}\nsau.")
    assert_plain(out, hostile)
    assert "<" not in out.replace("&lt;", "") or "<" not in hostile
    assert "\u202e" not in out and out.startswith("Trước") and out.endswith("sau.")


def test_plain_text_keeps_text_and_web_links():
    text = "Vốn đạt 3,073 tỷ USD [1] — xem [VnExpress](https://vnexpress.net/a) và 2 < 3."
    assert plain_text(text) == text
    assert plain_text("dòng 1\n\tdòng 2") == "dòng 1\n\tdòng 2"


@pytest.fixture(scope="module")
def served(tmp_path_factory, live_server):
    root = tmp_path_factory.mktemp("plain")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "da_nang.md").write_text(HOSTILE, encoding="utf-8")
    (corpus / "hue.txt").write_text("Huế đón 3 triệu lượt khách năm 2025.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index")
    qa = QA(settings, embedder=HashEmbedder())
    qa.index()
    raw = qa.answer(QUESTION)
    assert raw.found and "<script>" in raw.answer  # the article's markup reaches the answer
    app = create_api(qa, settings, api_key="")
    mcp_server.mount(app, qa)
    return qa, live_server(app).url


def test_http_sse_and_openai_doors_send_plain_text(served):
    _, url = served
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/v1/answer", json={"question": QUESTION}).json()
        assert_plain(answer["answer"], "/v1/answer")
        assert "8 triệu" in answer["answer"]
        with client.stream(
            "POST", "/v1/answer", json={"question": QUESTION, "stream": True}
        ) as stream:
            events = [json.loads(line[5:]) for line in stream.iter_lines() if line[:5] == "data:"]
        deltas = "".join(e["text"] for e in events if set(e) == {"text"})
        assert_plain(deltas, "SSE deltas")
        assert deltas == events[-1]["answer"] == answer["answer"]
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="x")
    reply = sdk.chat.completions.create(
        model="qa-news", messages=[{"role": "user", "content": QUESTION}]
    )
    content = reply.choices[0].message.content
    assert_plain(content, "OpenAI content")
    assert "8 triệu" in content and "https://baodanang.vn/a.html" in content
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in sdk.chat.completions.create(
            model="qa-news", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        if chunk.choices
    )
    assert streamed == content


def test_mcp_sends_plain_text(served):
    _, url = served

    async def run():
        async with (
            httpx2.AsyncClient(timeout=120) as http,
            Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
        ):
            return await client.call_tool("answer", {"question": QUESTION})

    result = asyncio.run(run())
    text = result.content[0].text
    assert_plain(text, "MCP text")
    assert "8 triệu" in text
    assert_plain(result.structured_content["answer"], "MCP answer")


def test_cli_prints_plain_text(served):
    qa, _ = served
    env = {**os.environ, "PYTHONPATH": str(REPO), "QA_EMBEDDER": "hash"}
    command = [sys.executable, "-c", _CLI, str(qa.settings.corpus_dir), str(qa.settings.index_dir)]
    for flags in ([], ["--stream"]):
        out = subprocess.run(
            [*command, *flags], env=env, capture_output=True, text=True, timeout=300, check=True
        ).stdout
        assert_plain(out, f"qa ask {flags}")
        assert "8 triệu" in out


# The CLI with the test's HashEmbedder (the index was built with it).
_CLI = """
import sys
sys.path.insert(0, "tests")
from conftest import HashEmbedder
import qa.pipeline
original = qa.pipeline.QA.__init__
def init(self, settings, embedder=None, **kw):
    original(self, settings, embedder=embedder or HashEmbedder(), **kw)
qa.pipeline.QA.__init__ = init
from qa.serve.cli import main
question = "Đà Nẵng đón bao nhiêu lượt khách du lịch năm 2025?"
args = ["ask", "--corpus", sys.argv[1], "--index", sys.argv[2], question, *sys.argv[3:]]
sys.exit(main(args))
"""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "javascript:alert(1)"),
        ("source", "data:text/html,<b>x</b>"),
        ("source", "<b>Báo</b>"),
        ("url", "javascript:alert(1)"),
        ("url", "file:///etc/passwd"),
        ("date", "9999-99-99"),
        ("date", "2023-02-30"),
        ("date", "2023-13-01"),
    ],
)
def test_front_matter_values_are_checked(field, value):
    with pytest.raises(DocumentError, match=field):
        parse_document("x", f"---\n{field}: {value}\n---\nBài viết có chữ.")


def test_front_matter_values_that_are_fine():
    for field, value, stored in [
        ("source", "Báo Cảng Biển", "Báo Cảng Biển"),
        ("source", "VnExpress: Kinh doanh", "VnExpress: Kinh doanh"),
        ("source", "https://vnexpress.net/", "https://vnexpress.net/"),
        ("date", "17/11/2023", "2023-11-17"),
        ("date", "sắp tới", ""),  # a date in words that says nothing stays unknown
    ]:
        doc = parse_document("x", f"---\n{field}: {value}\n---\nBài viết có chữ.")
        assert getattr(doc, field) == stored


def test_front_matter_errors_reach_the_http_client(served):
    _, url = served
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post(
            "/v1/documents",
            json={"name": "bad.md", "text": "---\ndate: 9999-99-99\n---\nBài viết."},
        )
        assert response.status_code == 400
        assert "not a real date" in response.json()["error"]
