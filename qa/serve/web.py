"""The web chat: a Gradio Blocks page mounted at "/" on the HTTP API app.

`create_app(qa)` is what `qa serve` runs (qa.serve.server): the JSON API (qa.serve.http), the MCP
server at /mcp (qa.serve.mcp_server) and this page, all behind the same gate (qa.serve.gate).
The page has two tabs: the chat and the corpus (list, upload, remove). The chat consumes the
same event stream as the API (qa.serve.stream): the Sources panel (one card per citation, the
quote highlighted, an "open article" viewer) is drawn from the `citations` event before the text
arrives sentence by sentence. Every turn is saved (qa.conversations): a past conversation can be
reopened, from the list of this browser's conversations (kept in its localStorage, not shown to
other visitors) or by its link `/?conversation=<id>`, with the same words and numbered
citations, and its follow-ups are read with its history; 👍/👎 (with an optional comment) is
stored with the answer. Upload and remove need the admin role, checked in the handlers (Gradio
calls them by number through one queue route), and an upload is read only from the files Gradio
received (qa.serve.uploads). All markup comes from qa.serve.render, which escapes every piece of
article and question text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from qa.conversations import ConversationStore, answer_from_dict
from qa.conversations import ask as ask_turn
from qa.errors import InvalidQuestion, QAError
from qa.pipeline import QA
from qa.serve import mcp_server, render
from qa.serve.api_routes import public_message
from qa.serve.gate import require_admin
from qa.serve.http import create_api
from qa.serve.stream import answer_events
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
STREAM_DELAY = 0.05  # seconds between streamed sentences of an answer
PAST_CONVERSATIONS = 50  # remembered per browser

Messages = list[dict[str, Any]]
# The chat's conversation: its id in the store (None until the first answer) and, for each
# assistant message index of the chat, the turn it shows (feedback is given per message).
Conversation = dict[str, Any]


def new_conversation() -> Conversation:
    return {"id": None, "turns": {}}


def _bubble(answer: Answer) -> dict[str, Any]:
    return {"role": "assistant", "content": render.answer_markdown(answer)}


class ChatUI:
    """The callbacks of the page, bound to one QA instance (kept apart from Gradio wiring).

    `upload_folder` and `received` are where Gradio saves uploads and the paths it returned
    (set by `build_ui` from the Blocks); an upload is read only from there.
    """

    def __init__(
        self,
        qa: QA,
        store: ConversationStore | None = None,
        upload_folder: Path | None = None,
        received: set[str] | None = None,
    ) -> None:
        self.qa = qa
        self.store = store or ConversationStore.for_settings(qa.settings)
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
        conversation: Conversation | None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Chat handler: yields (chat, sources panel, textbox, conversation) as the answer
        streams. An empty chat starts a new conversation. `since`, `until` and `sources` come
        from the filter control (empty: no filter)."""
        question = (message or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        limit = self.qa.settings.max_question_chars
        if len(question) > limit:  # refused before anything is echoed back
            error = InvalidQuestion(
                f"the question has {len(question)} characters; the limit is {limit}"
            )
            refusal = [*(messages or []), {"role": "assistant", "content": "⚠️ " + str(error)}]
            yield refusal, self._error(error), gr.skip(), conversation
            return
        messages = list(messages or [])
        conversation = dict(conversation or {}) if messages else new_conversation()
        chat: Messages = [*messages, {"role": "user", "content": render.md_escape(question)}]
        yield chat, render.pending_html(), "", conversation
        try:
            given = {"since": (since or "").strip(), "until": (until or "").strip()}
            filters = {k: v for k, v in {**given, "sources": list(sources or [])}.items() if v}
            answer, turn = ask_turn(
                self.qa, self.store, conversation.get("id"), question, **filters
            )
        except QAError as exc:
            message = public_message(exc, self.qa.settings)
            chat.append({"role": "assistant", "content": "⚠️ " + render.md_escape(message)})
            yield chat, self._error(exc), "", conversation
            return
        conversation = {
            "id": turn["conversation_id"],
            "turns": {**conversation.get("turns", {}), str(len(chat)): turn["n"]},
        }
        # The last step repeats every output: a client (gradio_client) keeps only the last one.
        sources, text = render.placeholder_html(), ""
        for event, data in answer_events(answer):
            if event == "citations":  # the sources first, as on the API stream; the saved
                # turn too, so that a 👍 on the growing message already finds it
                sources = render.sources_html(answer, self._documents_of(answer))
                yield gr.skip(), sources, gr.skip(), conversation
            elif event == "delta":
                text += data["text"]
                yield (
                    [*chat, _bubble(replace(answer, answer=text))],
                    gr.skip(),
                    gr.skip(),
                    gr.skip(),
                )
                time.sleep(STREAM_DELAY)
        # The textbox is left alone: it may already hold the next question, typed meanwhile.
        yield [*chat, _bubble(answer)], sources, gr.skip(), conversation

    def reopen(self, conversation_id: str | None) -> tuple[Any, Any, Any]:
        """(chat, sources panel, conversation) of a saved conversation, as it was shown."""
        if not conversation_id:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            saved = self.store.get(conversation_id)
        except QAError as exc:
            return gr.skip(), render.notice_html("error", str(exc)), gr.skip()
        chat: Messages = []
        conversation: Conversation = {"id": saved["id"], "turns": {}}
        verdicts: list[str | None] = []
        last: Answer | None = None
        for turn in saved["turns"]:
            chat.append({"role": "user", "content": render.md_escape(turn["question"])})
            conversation["turns"][str(len(chat))] = turn["n"]
            last = answer_from_dict(turn["answer"])
            chat.append(_bubble(last))
            rated = (turn["feedback"] or {}).get("verdict")
            verdicts.append({"up": "Like", "down": "Dislike"}.get(rated or ""))
        sources = (
            render.placeholder_html()
            if last is None
            else render.sources_html(last, self._documents_of(last))
        )
        return gr.update(value=chat, feedback_value=verdicts), sources, conversation

    def reopen_from_link(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """Page load with `?conversation=<id>`: that conversation, else nothing changes."""
        return self.reopen(request.query_params.get("conversation"))

    def past(self, known: list[str] | None) -> Any:
        """The past-conversations dropdown: this browser's conversations, newest first."""
        ids = [i for i in known or [] if isinstance(i, str)][:PAST_CONVERSATIONS]
        try:
            recent = self.store.recent(ids=ids) if ids else []
        except QAError:
            recent = []
        return gr.update(choices=[(f"{c['title']} ({c['turns']})", c["id"]) for c in recent])

    def remember(
        self, conversation: Conversation | None, known: list[str] | None
    ) -> tuple[list[str], Any]:
        """Put the shown conversation first in this browser's list; (list, dropdown)."""
        current = (conversation or {}).get("id")
        ids = [i for i in known or [] if i != current]
        if current:
            ids.insert(0, current)
        ids = ids[:PAST_CONVERSATIONS]
        return ids, self.past(ids)

    def rate(
        self, like: gr.LikeData, comment: str | None, conversation: Conversation | None
    ) -> tuple[str, str]:
        """👍/👎 on an assistant message: stored with its turn, with the comment box's text."""
        n = (conversation or {}).get("turns", {}).get(str(like.index))
        if n is None or not isinstance(like.liked, bool):
            return render.notice_html(
                "info", "Không có gì để đánh giá / Nothing to rate"
            ), gr.skip()
        verdict = "up" if like.liked else "down"
        try:
            self.store.set_feedback(conversation["id"], n, verdict, (comment or "").strip())
        except QAError as exc:
            return render.notice_html("error", str(exc)), gr.skip()
        return render.notice_html("ok", "Cảm ơn! / Thanks — feedback saved."), ""

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
                feedback_options=("Like", "Dislike"),
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
            with gr.Row():
                comment = gr.Textbox(
                    elem_id="qa-feedback-comment",
                    show_label=False,
                    placeholder="Nhận xét (tuỳ chọn), rồi bấm Thích/Không thích / Comment (optional), then Like/Dislike",
                    scale=4,
                    max_lines=2,
                )
                feedback = gr.HTML(elem_id="qa-feedback-status", js_on_load=None)
            with gr.Row():
                past = gr.Dropdown(
                    label="Hội thoại trước / Past conversations",
                    choices=[],
                    elem_id="qa-past",
                    scale=4,
                )
                clear = gr.Button("Xoá hội thoại / Clear chat", variant="secondary", size="sm")
        with gr.Column(scale=2, min_width=300, elem_id="qa-sources-col"):
            sources = gr.HTML(
                render.placeholder_html(), elem_id="qa-sources", js_on_load=render.SOURCES_JS
            )
    return chatbot, question, ask, clear, sources, comment, feedback, past, (since, until, outlets)


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


def build_ui(qa: QA, store: ConversationStore | None = None) -> gr.Blocks:
    """The Blocks page (not launched: mount it with `create_app`)."""
    ui = ChatUI(qa, store)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.HTML(HEADER, js_on_load=None)
        conversation = gr.State(new_conversation())
        # This browser's conversations, in its localStorage; the key survives restarts.
        known = gr.BrowserState(
            [], storage_key="qa-conversations", secret=ui.store.secret("browser-state")
        )
        with gr.Tabs():
            with gr.Tab("Hỏi đáp / Ask", id="ask"):
                chat_tab = _chat_tab()
                chatbot, question, ask, clear, sources, comment, feedback, past, filters = chat_tab
            with gr.Tab("Kho bài viết / Articles", id="corpus"):
                status, table, upload = _corpus_tab()

        chat_io: dict[str, Any] = {
            "fn": ui.ask,
            "inputs": [question, chatbot, conversation, *filters],
            "outputs": [chatbot, sources, question, conversation],
            "concurrency_limit": 8,
            "concurrency_id": "chat",
            # A question sent while an answer still streams is asked once it ends (Gradio's
            # default, "once", would drop it without a word).
            "trigger_mode": "always_last",
            "show_progress": "hidden",
        }
        private: dict[str, Any] = {"api_visibility": "private"}
        remember: dict[str, Any] = {
            "fn": ui.remember,
            "inputs": [conversation, known],
            "outputs": [known, past],
            **private,
        }
        question.submit(api_name="ask", **chat_io).then(**remember)
        ask.click(**private, **chat_io).then(**remember)
        clear.click(
            lambda: ([], render.placeholder_html(), "", new_conversation(), None),
            outputs=[chatbot, sources, question, conversation, past],
            **private,
        )
        chatbot.clear(
            lambda: (render.placeholder_html(), new_conversation()),
            outputs=[sources, conversation],
            **private,
        )
        chatbot.like(
            ui.rate, inputs=[comment, conversation], outputs=[feedback, comment], **private
        )
        past.input(ui.reopen, inputs=past, outputs=[chatbot, sources, conversation], **private)
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
        demo.load(ui.corpus, outputs=table, **private)
        demo.load(ui.outlets, outputs=filters[2], **private)
        table.change(ui.outlets, outputs=filters[2], **private)
        demo.load(ui.past, inputs=known, outputs=past, **private)
        demo.load(ui.reopen_from_link, outputs=[chatbot, sources, conversation], **private).then(
            **remember
        )
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


def create_app(
    qa: QA,
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    conversations: ConversationStore | None = None,
) -> FastAPI:
    """The HTTP API, the MCP server at /mcp and the chat page at "/" (API docs at /docs), all
    behind the gate of `create_api` (`api_key` as there). `host` is where the server listens
    (the MCP transport's DNS-rebinding check uses it)."""
    settings = settings or qa.settings
    store = conversations or ConversationStore.for_settings(settings)
    app = create_api(qa, settings, api_key=api_key, conversations=store)
    mcp_server.mount(app, qa, host=host)
    demo = build_ui(qa, store)
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
