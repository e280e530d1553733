"""The corpus tab's handlers: the article table, the outlet filter's choices, upload and remove.

Upload and remove need the admin role, checked here (Gradio calls handlers by number through one
queue route, whatever the page shows), and an upload is read only from the files Gradio received
(qa.serve.uploads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from qa.errors import Forbidden, QAError
from qa.pipeline import QA
from qa.serve import render
from qa.serve.api_routes import public_message
from qa.serve.gate import Role, request_role, require_admin
from qa.serve.uploads import read_received


class CorpusUI:
    """The corpus tab's callbacks, bound to one QA instance.

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

    def corpus(self, request: gr.Request | None = None) -> str:
        """The table of the current index's articles; an admin's rows have a remove button."""
        try:
            docs = self.qa.documents()
        except QAError as exc:
            return render.notice_html("error", str(exc))
        rows = [(d, self.qa.chunk_count(d.doc_id)) for d in docs]
        return render.corpus_html(rows, writable=can_write(request))

    def view(self, request: gr.Request) -> tuple[str, Any, str]:
        """On page load, by the visitor's role: (table, the upload column, status line). A
        reader gets no upload box and no remove buttons, and the status line says why."""
        writable = can_write(request)
        note = "" if writable else render.notice_html("info", render.READER_NOTE)
        return self.corpus(request), gr.update(visible=writable), note

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
                    self.corpus(request),
                    None,
                )
            folder = self.upload_folder or Path(gr.utils.get_upload_folder())
            name, data = read_received(
                path, folder, self.received, self.qa.settings.max_document_bytes
            )
            doc, report = self.qa.add_document(name, data)
        except Forbidden:
            return refused("Thêm bài viết", "Adding an article"), self.corpus(request), None
        except QAError as exc:
            return self._error(exc), self.corpus(request), None
        verb = "Đã cập nhật / Updated" if report.updated else "Đã thêm / Added"
        chunks = self.qa.chunk_count(doc.doc_id)
        message = (
            f"{verb} “{doc.title}” ({doc.doc_id}, {chunks} đoạn / chunks) — ready for questions."
        )
        return render.notice_html("ok", message), self.corpus(request), None

    def remove(self, doc_id: str | None, request: gr.Request) -> tuple[str, str]:
        """Remove an article from the corpus and the index (admin role only)."""
        try:
            require_admin(request, "Xoá bài viết / Removing an article")
            if not doc_id:
                return render.notice_html("info", "Chọn một bài viết / Choose an article"), (
                    self.corpus(request)
                )
            self.qa.remove_document(doc_id)
        except Forbidden:
            return refused("Xoá bài viết", "Removing an article"), self.corpus(request)
        except QAError as exc:
            return self._error(exc), self.corpus(request)
        return render.notice_html("ok", f"Đã xoá / Removed {doc_id}"), self.corpus(request)

    def remove_row(self, event: gr.EventData, request: gr.Request) -> tuple[str, str]:
        """A row's remove button (web_assets.CORPUS_JS sends {doc_id}): `remove`, admin role only;
        the id is checked like any other."""
        data = event._data if isinstance(event._data, dict) else {}
        doc_id = data.get("doc_id")
        return self.remove(doc_id if isinstance(doc_id, str) else None, request)


def can_write(request: Any) -> bool:
    """True when the request carries the admin role (what the page shows follows it; the
    handlers check it again with `require_admin`)."""
    return request_role(request) >= Role.ADMIN


def refused(vi: str, en: str) -> str:
    """The status line of a write the visitor's role may not do, in the page's words."""
    return render.notice_html("error", render.REFUSED.format(vi=vi, en=en))
