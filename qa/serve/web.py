"""The web chat: a Gradio Blocks page mounted at "/" on the HTTP API app.

`create_app(qa)` is what `qa serve` runs (qa.serve.server): the JSON API (qa.serve.http), the MCP
server at /mcp (qa.serve.mcp_server) and this page, all behind the same gate (qa.serve.gate).
The page has two tabs: the chat (handlers in qa.serve.web_chat) and the corpus (list, upload,
remove: qa.serve.web_corpus); this module lays them out and wires them. The chat consumes the
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

from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
from fastapi import FastAPI

from qa.conversations import ConversationStore
from qa.pipeline import QA
from qa.serve import mcp_server, render, web_assets, web_inputs
from qa.serve.http import create_api
from qa.serve.web_chat import ChatUI, new_conversation
from qa.serve.web_corpus import CorpusUI
from qa.settings import Settings

TITLE = "Hỏi đáp tin tức / News Q&A"
EXAMPLES = [
    "Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?",
    "How many Dutch footwear companies came to Hai Phong?",
    "tong von dau tu cua trung quoc vao hai phong",
    "How many Dutch enterprises attended the conference?",
    "Dân số Hải Phòng là bao nhiêu?",
]

HEADER = f"""
<div id="qa-header">
  <h1><span class="qa-logo">{render.ICON}</span>{render.esc(TITLE)}</h1>
  <p>Hỏi bằng tiếng Việt hoặc tiếng Anh — câu trả lời trích dẫn nguyên văn các bài báo.
  · Ask in Vietnamese or English — every answer quotes the articles.</p>
  <a class="qa-api" href="docs" target="_blank" rel="noopener">HTTP API</a>
</div>
"""


class ChatTab(NamedTuple):
    """The chat tab's components that events read or write."""

    chatbot: Any
    question: Any
    ask: Any
    clear: Any
    sources: Any
    comment: Any
    feedback: Any
    past: Any
    filters: tuple[Any, Any, Any]  # since, until, outlets


def _chat_tab() -> ChatTab:
    """The chat column (messages, the 👍/👎 comment and its confirmation right under them, the
    question box, filter, examples, past conversations) beside the Sources column. On a narrow
    screen the chat column's parts join the Sources column in one list (web_assets.CSS,
    `#qa-main`), the Sources right after the question box, so the citations stay next to the
    answer."""
    with gr.Row(equal_height=False, elem_id="qa-main"):
        with gr.Column(scale=3, min_width=360, elem_id="qa-chat-col"):
            chatbot = gr.Chatbot(
                label="Hội thoại / Conversation",  # for screen readers (hidden)
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
            with gr.Row(elem_id="qa-feedback-row", equal_height=True):
                comment = gr.Textbox(
                    label="Nhận xét / Comment",
                    elem_id="qa-feedback-comment",
                    show_label=False,
                    placeholder="Nhận xét (tuỳ chọn) / Comment (optional)",
                    scale=3,
                    min_width=200,
                    max_lines=2,
                )
                feedback = gr.HTML(elem_id="qa-feedback-status", js_on_load=None, min_width=160)
            with gr.Row(elem_id="qa-ask-row"):
                question = gr.Textbox(
                    label="Câu hỏi / Question",
                    elem_id="qa-question",
                    show_label=False,
                    placeholder="Câu hỏi… / Question…",
                    # No autofocus: focusing the box scrolls a phone's page past the header.
                    autofocus=False,
                    scale=8,
                    max_lines=4,
                )
                ask = gr.Button("Hỏi / Ask", variant="primary", scale=1, min_width=120)
            filters = _filter_controls()
            gr.Examples(EXAMPLES, inputs=question, label="Ví dụ / Examples", elem_id="qa-examples")
            with gr.Row(elem_id="qa-past-row"):
                past = gr.Dropdown(
                    label="Hội thoại trước / Past conversations",
                    choices=[],
                    elem_id="qa-past",
                    scale=4,
                )
                clear = gr.Button("Xoá hội thoại / Clear chat", variant="secondary", size="sm")
        with gr.Column(scale=2, min_width=300, elem_id="qa-sources-col"):
            sources = gr.HTML(
                render.placeholder_html(), elem_id="qa-sources", js_on_load=web_assets.SOURCES_JS
            )
    return ChatTab(chatbot, question, ask, clear, sources, comment, feedback, past, filters)


def _filter_controls() -> tuple[Any, Any, Any]:
    """The chat's filter: since, until (dates) and outlets (filled from the index on load)."""
    with gr.Accordion(
        "Lọc theo thời gian, nguồn / Filter by date, outlet", open=False, elem_id="qa-filters"
    ):
        with gr.Row():
            since = gr.Textbox(
                label="Từ ngày / Since",
                # Placeholders say "for example": a bare date reads as a value already set.
                placeholder="ví dụ / e.g. 2021-04",
                elem_id="qa-since",
                scale=1,
            )
            until = gr.Textbox(
                label="Đến ngày / Until",
                placeholder="ví dụ / e.g. 2023-12-31",
                elem_id="qa-until",
                scale=1,
            )
        outlets = gr.Dropdown(
            label="Nguồn báo / Outlets",
            choices=[],
            multiselect=True,
            elem_id="qa-outlets",
        )
    return since, until, outlets


def _corpus_tab() -> tuple[Any, ...]:
    """Status line, article table, upload box and its column (shown to the admin only: hidden
    until the page's load step has read the visitor's role, see CorpusUI.view)."""
    status = gr.HTML(elem_id="qa-corpus-status", js_on_load=None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            table = gr.HTML(elem_id="qa-corpus-table", js_on_load=web_assets.CORPUS_JS)
        with gr.Column(scale=2, min_width=280, visible=False, elem_id="qa-upload-col") as column:
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
    return status, table, upload, column


def build_ui(qa: QA, store: ConversationStore | None = None) -> gr.Blocks:
    """The Blocks page (not launched: mount it with `create_app`). Events are registered in a
    fixed order: Gradio numbers them, and raw queue calls name a handler by that number."""
    ui, corpus = ChatUI(qa, store), CorpusUI(qa)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.HTML(HEADER, js_on_load=None)
        conversation = gr.State(new_conversation())
        # This browser's conversations, in its localStorage; the key survives restarts.
        known = gr.BrowserState(
            [], storage_key="qa-conversations", secret=ui.store.secret("browser-state")
        )
        with gr.Tabs():
            with gr.Tab("Hỏi đáp / Ask", id="ask"):
                tab = _chat_tab()
            with gr.Tab("Kho bài viết / Articles", id="corpus"):
                status, table, upload, upload_column = _corpus_tab()
        remember = _wire_chat(ui, tab, conversation, known)
        _wire_corpus(corpus, status, table, upload)
        demo.load(corpus.view, outputs=[table, upload_column, status], **_PRIVATE)
        outlets = tab.filters[2]
        demo.load(corpus.outlets, outputs=outlets, **_PRIVATE)
        table.change(corpus.outlets, outputs=outlets, **_PRIVATE)
        demo.load(ui.past, inputs=known, outputs=tab.past, **_PRIVATE)
        reopened = [tab.chatbot, tab.sources, conversation]
        demo.load(ui.reopen_from_link, outputs=reopened, **_PRIVATE).then(**remember)
        # Registered last, so that the handlers above keep their numbers: a new question (or a
        # cleared chat) clears the last rating's confirmation.
        for cleared in (tab.question.submit, tab.ask.click, tab.clear.click, tab.chatbot.clear):
            cleared(lambda: "", outputs=tab.feedback, **_PRIVATE)
        # A filtered "not found" offers to drop the filter: emptied, the question asked again.
        tab.sources.click(
            ui.drop_filter,
            inputs=[tab.chatbot, conversation],
            outputs=[tab.chatbot, tab.sources, tab.question, conversation, *tab.filters],
            concurrency_limit=8,
            concurrency_id="chat",
            show_progress="hidden",
            **_PRIVATE,
        ).then(**remember)
    corpus.upload_folder, corpus.received = Path(demo.GRADIO_CACHE), demo.upload_file_set
    return demo


_PRIVATE: dict[str, Any] = {"api_visibility": "private"}


def _wire_chat(ui: ChatUI, tab: ChatTab, conversation: Any, known: Any) -> dict[str, Any]:
    """The chat tab's events: ask (by name "ask" for API callers), clear, rate, reopen. Returns
    the step that puts the shown conversation first in this browser's list."""
    chatbot, question, ask, clear, sources, comment, feedback, past, filters = tab
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
    remember: dict[str, Any] = {
        "fn": ui.remember,
        "inputs": [conversation, known],
        "outputs": [known, past],
        **_PRIVATE,
    }
    question.submit(api_name="ask", **chat_io).then(**remember)
    ask.click(**_PRIVATE, **chat_io).then(**remember)
    clear.click(
        lambda: ([], render.placeholder_html(), "", new_conversation(), None),
        outputs=[chatbot, sources, question, conversation, past],
        **_PRIVATE,
    )
    chatbot.clear(
        lambda: (render.placeholder_html(), new_conversation()),
        outputs=[sources, conversation],
        **_PRIVATE,
    )
    chatbot.like(ui.rate, inputs=[comment, conversation], outputs=[feedback, comment], **_PRIVATE)
    past.input(ui.reopen, inputs=past, outputs=[chatbot, sources, conversation], **_PRIVATE)
    return remember


def _wire_corpus(corpus: CorpusUI, status: Any, table: Any, upload: Any) -> None:
    """The corpus tab's events: upload ("upload") and a row's remove button ("remove")."""
    corpus_io: dict[str, Any] = {"show_progress": "minimal", "show_progress_on": [status]}
    upload.upload(
        corpus.upload,
        inputs=upload,
        outputs=[status, table, upload],
        api_name="upload",
        **corpus_io,
    )
    table.click(  # "remove" as before, for callers by name; no inputs, so not documented
        corpus.remove_row,
        outputs=[status, table],
        api_name="remove",
        api_visibility="undocumented",
        **corpus_io,
    )


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
        css=web_assets.CSS,
        head=web_assets.HEAD,
        # Gradio's "Use via API" (English only) beside the page's own "HTTP API" badge: off.
        footer_links=[],
        i18n=gr.I18n(**{locale: web_assets.GRADIO_LABELS for locale in web_assets.GRADIO_LOCALES}),
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
    # Each handler's inputs are checked before Gradio preprocesses them: no component or file
    # message, FileData or path where the page's own UI sends text (qa.serve.web_inputs).
    web_inputs.guard(demo)
    return app
