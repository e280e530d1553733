"""The corpus tab's handlers: the article table, the outlet filter's choices, upload and remove.

Upload and remove need the admin role, checked here (Gradio calls handlers by number through one
queue route, whatever the page shows), and an upload is read only from the files Gradio received
(qa.serve.uploads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from qa.errors import QAError
from qa.pipeline import QA
from qa.serve import render
from qa.serve.api_routes import public_message
from qa.serve.gate import require_admin
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
        """A row's remove button (web_assets.CORPUS_JS sends {doc_id}): `remove`, admin role only;
        the id is checked like any other."""
        data = event._data if isinstance(event._data, dict) else {}
        doc_id = data.get("doc_id")
        return self.remove(doc_id if isinstance(doc_id, str) else None, request)
