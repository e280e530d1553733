"""The web chat: a Gradio Blocks page mounted at "/" on the HTTP API app.

`create_app(qa)` is what `qa serve` runs (qa.serve.server): the JSON API (qa.serve.http) plus
this page, behind the same gate (qa.serve.gate). The page has two tabs: the chat (answers stream
in, the Sources panel shows one card per citation with the quote highlighted and an "open
article" viewer) and the corpus (list, upload, remove). Upload and remove need the admin role,
checked in the handlers (Gradio calls them by number through one queue route), and an upload is
read only from the files Gradio received (qa.serve.uploads). All markup comes from
qa.serve.render, which escapes every piece of article and question text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from qa.errors import InvalidQuestion, QAError
from qa.pipeline import QA
from qa.serve import render
from qa.serve.api_routes import public_message
from qa.serve.gate import require_admin
from qa.serve.http import create_api
from qa.serve.uploads import read_received
from qa.settings import Settings
from qa.types import Answer, Document

TITLE = "Hỏi đáp tin tức / News Q&A"
EXAMPLES = [
    "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?",
    "How many Dutch footwear companies came to Hai Phong?",
    "tong von dau tu cua trung quoc vao hai phong",
    "How many Dutch enterprises attended the conference?",
    "Dân số Hải Phòng là bao nhiêu?",
]
HISTORY_TURNS = 4  # earlier questions passed to the core for follow-ups
STREAM_DELAY = 0.02  # seconds between streamed pieces of an answer

Messages = list[dict[str, Any]]


class ChatUI:
    """The callbacks of the page, bound to one QA instance (kept apart from Gradio wiring).

    `upload_folder` and `received` are where Gradio saves uploads and the paths it returned
    (set by `build_ui` from the Blocks); an upload is read only from there.
    """

    def __init__(
        self, qa: QA, upload_folder: Path | None = None, received: set[str] | None = None
    ) -> None:
        self.qa = qa
        self.upload_folder = upload_folder
        self.received: set[str] = set() if received is None else received

    def _error(self, exc: QAError) -> str:
        return render.notice_html("error", public_message(exc, self.qa.settings))

    # -- chat ------------------------------------------------------------------------------
    def _documents_of(self, answer: Answer) -> dict[str, Document]:
        docs: dict[str, Document] = {}
        for c in [*answer.citations, *answer.related, *answer.conflicts]:
            if c.doc_id not in docs:
                # A document removed since the answer was composed gets a card without viewer.
                with contextlib.suppress(QAError):
                    docs[c.doc_id] = self.qa.document(c.doc_id)
        return docs

    def ask(
        self,
        message: str | None,
        messages: Messages | None,
        turns: list[str] | None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Chat handler: yields (chat, sources panel, textbox, turns) as the answer streams.
        `since`, `until` and `sources` come from the filter control (empty: no filter)."""
        question = (message or "").strip()
        turns = list(turns or [])
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        limit = self.qa.settings.max_question_chars
        if len(question) > limit:  # refused before anything is echoed back
            error = InvalidQuestion(
                f"the question has {len(question)} characters; the limit is {limit}"
            )
            refusal = [*(messages or []), {"role": "assistant", "content": "⚠️ " + str(error)}]
            yield refusal, self._error(error), gr.skip(), turns
            return
        chat: Messages = [
            *(messages or []),
            {"role": "user", "content": render.md_escape(question)},
        ]
        yield chat, render.pending_html(), "", turns
        try:
            given = {"since": (since or "").strip(), "until": (until or "").strip()}
            filters = {k: v for k, v in {**given, "sources": list(sources or [])}.items() if v}
            answer = self.qa.answer(question, history=turns[-HISTORY_TURNS:] or None, **filters)
        except QAError as exc:
            chat.append({"role": "assistant", "content": "⚠️ " + render.md_escape(str(exc))})
            yield chat, render.notice_html("error", str(exc)), "", turns
            return
        sources = render.sources_html(answer, self._documents_of(answer))
        for piece in render.progressive(render.answer_markdown(answer)):
            yield [*chat, {"role": "assistant", "content": piece}], gr.skip(), gr.skip(), gr.skip()
            time.sleep(STREAM_DELAY)
        final = [*chat, {"role": "assistant", "content": render.answer_markdown(answer)}]
        yield final, sources, "", [*turns, question]

    # -- corpus ----------------------------------------------------------------------------
    def corpus(self) -> str:
        """The table of the current index's articles (each row with its remove button)."""
        try:
            docs = self.qa.documents()
        except QAError as exc:
            return render.notice_html("error", str(exc))
        return render.corpus_html([(d, self.qa.chunk_count(d.doc_id)) for d in docs])

    def outlets(self) -> Any:
        """Choices of the outlet filter: every outlet of the index."""
        try:
            names = sorted({d.source for d in self.qa.documents() if d.source})
        except QAError:
            names = []
        return gr.update(choices=names)

    def upload(self, path: str | None, request: gr.Request) -> tuple[str, str, None]:
        """Add an uploaded .txt/.md file or saved .html page to the corpus and index it (admin
        role only)."""
        try:
            require_admin(request, "Thêm bài viết / Adding an article")
            if not path:
                return (
                    render.notice_html(
                        "info",
                        "Chọn một tệp .txt, .md hoặc trang .html đã lưu / "
                        "Choose a .txt, .md file or a saved .html page",
                    ),
                    self.corpus(),
                    None,
                )
            folder = self.upload_folder or Path(gr.utils.get_upload_folder())
            name, data = read_received(
                path, folder, self.received, self.qa.settings.max_document_bytes
            )
            doc, report = self.qa.add_document(name, data)
        except QAError as exc:
            return self._error(exc), self.corpus(), None
        verb = "Đã cập nhật / Updated" if report.updated else "Đã thêm / Added"
        chunks = self.qa.chunk_count(doc.doc_id)
        message = (
            f"{verb} “{doc.title}” ({doc.doc_id}, {chunks} đoạn / chunks) — ready for questions."
        )
        return render.notice_html("ok", message), self.corpus(), None

    def remove(self, doc_id: str | None, request: gr.Request) -> tuple[str, str]:
        """Remove an article from the corpus and the index (admin role only)."""
        try:
            require_admin(request, "Xoá bài viết / Removing an article")
            if not doc_id:
                return render.notice_html("info", "Chọn một bài viết / Choose an article"), (
                    self.corpus()
                )
            self.qa.remove_document(doc_id)
        except QAError as exc:
            return self._error(exc), self.corpus()
        return render.notice_html("ok", f"Đã xoá / Removed {doc_id}"), self.corpus()

    def remove_row(self, event: gr.EventData, request: gr.Request) -> tuple[str, str]:
        """A row's remove button (render.CORPUS_JS sends {doc_id}): `remove`, admin role only;
        the id is checked like any other."""
        data = event._data if isinstance(event._data, dict) else {}
        doc_id = data.get("doc_id")
        return self.remove(doc_id if isinstance(doc_id, str) else None, request)


HEADER = f"""
<div id="qa-header">
  <h1><span class="qa-logo">{render.ICON}</span>{render.esc(TITLE)}</h1>
  <p>Hỏi bằng tiếng Việt hoặc tiếng Anh — câu trả lời trích dẫn nguyên văn các bài báo.
  · Ask in Vietnamese or English — every answer quotes the articles.</p>
  <a class="qa-api" href="docs" target="_blank" rel="noopener">HTTP API</a>
</div>
"""


def _chat_tab() -> tuple[Any, ...]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            chatbot = gr.Chatbot(
                elem_id="qa-chat",
                show_label=False,
                height=520,
                layout="bubble",
                latex_delimiters=[],
                feedback_options=None,
                buttons=["copy"],
                placeholder=(
                    "**Xin chào!** Hãy đặt câu hỏi về các bài báo trong kho.  \n"
                    "*Hello! Ask a question about the articles in the collection.*"
                ),
            )
            with gr.Row():
                question = gr.Textbox(
                    elem_id="qa-question",
                    show_label=False,
                    placeholder="Nhập câu hỏi… / Type a question…",
                    autofocus=True,
                    scale=8,
                    max_lines=4,
                )
                ask = gr.Button("Hỏi / Ask", variant="primary", scale=1, min_width=120)
            with gr.Accordion("Lọc theo thời gian, nguồn / Filter by date, outlet", open=False):
                with gr.Row():
                    since = gr.Textbox(
                        label="Từ ngày / Since",
                        placeholder="2021, 2021-04, 2021-04-28",
                        elem_id="qa-since",
                        scale=1,
                    )
                    until = gr.Textbox(
                        label="Đến ngày / Until",
                        placeholder="2023-12-31",
                        elem_id="qa-until",
                        scale=1,
                    )
                outlets = gr.Dropdown(
                    label="Nguồn báo / Outlets",
                    choices=[],
                    multiselect=True,
                    elem_id="qa-outlets",
                )
            gr.Examples(EXAMPLES, inputs=question, label="Ví dụ / Examples")
            clear = gr.Button("Xoá hội thoại / Clear chat", variant="secondary", size="sm")
        with gr.Column(scale=2, min_width=300, elem_id="qa-sources-col"):
            sources = gr.HTML(
                render.placeholder_html(), elem_id="qa-sources", js_on_load=render.SOURCES_JS
            )
    return chatbot, question, ask, clear, sources, (since, until, outlets)


def _corpus_tab() -> tuple[Any, ...]:
    status = gr.HTML(elem_id="qa-corpus-status", js_on_load=None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            table = gr.HTML(elem_id="qa-corpus-table", js_on_load=render.CORPUS_JS)
        with gr.Column(scale=2, min_width=280):
            upload = gr.File(
                label="Thêm bài viết (.txt, .md, trang .html đã lưu) / Add an article",
                file_types=[".txt", ".md", ".html", ".htm"],
                type="filepath",
                elem_id="qa-upload",
            )
            gr.Markdown(
                "Tệp UTF-8; có thể mở đầu bằng khối `---` với `title:`, `date:`, `source:`; "
                "trang báo đã lưu (.html): lấy nội dung bài, ngày đăng, tên báo.  \n"
                "*UTF-8 text; an optional `---` front matter may set `title:`, `date:`, "
                "`source:`; a saved news page (.html) gives its article text, date and outlet.*"
            )
    return status, table, upload


def build_ui(qa: QA) -> gr.Blocks:
    """The Blocks page (not launched: mount it with `create_app`)."""
    ui = ChatUI(qa)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.HTML(HEADER, js_on_load=None)
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Hỏi đáp / Ask", id="ask"):
                chatbot, question, ask, clear, sources, filters = _chat_tab()
            with gr.Tab("Kho bài viết / Articles", id="corpus"):
                status, table, upload = _corpus_tab()

        chat_io: dict[str, Any] = {
            "fn": ui.ask,
            "inputs": [question, chatbot, turns, *filters],
            "outputs": [chatbot, sources, question, turns],
            "concurrency_limit": 8,
            "concurrency_id": "chat",
            "show_progress": "hidden",
        }
        question.submit(api_name="ask", **chat_io)
        ask.click(api_visibility="private", **chat_io)
        clear.click(
            lambda: ([], render.placeholder_html(), "", []),
            outputs=[chatbot, sources, question, turns],
            api_visibility="private",
        )
        chatbot.clear(
            lambda: (render.placeholder_html(), []),
            outputs=[sources, turns],
            api_visibility="private",
        )
        corpus_io: dict[str, Any] = {"show_progress": "minimal", "show_progress_on": [status]}
        upload.upload(
            ui.upload,
            inputs=upload,
            outputs=[status, table, upload],
            api_name="upload",
            **corpus_io,
        )
        table.click(  # "remove" as before, for callers by name; no inputs, so not documented
            ui.remove_row,
            outputs=[status, table],
            api_name="remove",
            api_visibility="undocumented",
            **corpus_io,
        )
        demo.load(ui.corpus, outputs=table, api_visibility="private")
        demo.load(ui.outlets, outputs=filters[2], api_visibility="private")
        table.change(ui.outlets, outputs=filters[2], api_visibility="private")
    ui.upload_folder, ui.received = Path(demo.GRADIO_CACHE), demo.upload_file_set
    return demo


def _theme() -> gr.themes.Base:
    system = [
        "ui-sans-serif",
        "system-ui",
        "Segoe UI",
        "Roboto",
        "Helvetica Neue",
        "Arial",
        "sans-serif",
    ]
    return gr.themes.Soft(
        primary_hue="teal",
        neutral_hue="slate",
        font=system,
        font_mono=["ui-monospace", "monospace"],
    )


def create_app(qa: QA, settings: Settings | None = None, *, api_key: str | None = None) -> FastAPI:
    """The HTTP API with the chat page mounted at "/" (API docs at /docs), all behind the gate
    of `create_api` (`api_key` as there)."""
    settings = settings or qa.settings
    app = create_api(qa, settings, api_key=api_key)
    demo = build_ui(qa)
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        theme=_theme(),
        css=render.CSS,
        footer_links=["api"],
        run_history=False,
        max_file_size=settings.max_document_bytes,
        ssr_mode=False,
        mcp_server=False,
        show_error=False,  # an exception's text (e.g. a server path) is not sent to the client
    )
    # Gradio checks that a FileData path sent by a client lies in its upload folder only when
    # the Blocks were launched (processing_utils._check_allowed); mounted Blocks never are, so
    # any server file could be copied into the cache (and /dev/zero read forever). Marking them
    # launched turns that check on; the upload handler checks again (qa.serve.uploads).
    demo.has_launched = True
    return app
