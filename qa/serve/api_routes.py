"""The /v1 routes of the HTTP JSON API and /healthz, over one `QA`.

Each route is a thin adapter: validate at the boundary (`qa.serve.api_models`), call the core,
return its `to_dict()`. Who may call which route is not decided here: `qa.serve.gate` wraps the
whole app (admin routes are listed in `gate.ADMIN_ROUTES`).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from qa.conversations import ConversationStore
from qa.errors import QAError
from qa.index.store import current_generation
from qa.pipeline import QA
from qa.serve import conversation_api, openai_api
from qa.serve.api_models import (
    ERRORS,
    AnswerOut,
    AnswerRequest,
    Deleted,
    DocumentOut,
    DocumentSummary,
    Health,
    NewDocument,
    SearchOut,
    SearchRequest,
)
from qa.serve.stream import answer_events, compute, event_response, plain_answer
from qa.settings import Settings
from qa.types import Document

DocId = Annotated[str, Path(description="Document id (the file name without its extension).")]


class BadRequest(Exception):
    """A request the route refuses before calling the core (status + one-line message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def validation_message(errors: list[Any]) -> str:
    """One readable line from pydantic errors, e.g. "question: Input should be a valid string"."""
    parts = []
    for err in errors[:5]:
        if err.get("type") == "json_invalid":
            return "invalid request: the body is not valid JSON"
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "invalid request: " + "; ".join(parts)


def public_message(exc: Exception, settings: Settings) -> str:
    """The message of an error as a remote client sees it: the server's corpus and index
    folders are named "corpus" and "index", never by their path on this machine."""
    message = str(exc)
    names = {}
    for folder, label in ((settings.corpus_dir, "corpus"), (settings.index_dir, "index")):
        for form in {str(folder), str(folder.resolve()), str(folder.absolute())}:
            names[form] = label
    for form in sorted(names, key=len, reverse=True):  # longest first: /a/b/corpus before corpus
        if "/" in form:  # a bare relative name ("corpus") says nothing about the machine
            message = message.replace(form, names[form])
    return message


def _check_unicode(*texts: str) -> None:
    """Refuse lone surrogates (valid JSON escapes, but not text) before they reach the core."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest(422, "the text contains invalid Unicode (a lone surrogate)") from exc


class _ChunkCounts:
    """Chunks per document, computed once per index generation."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa
        self._lock = threading.Lock()
        self._key: tuple[str | None, frozenset[str]] | None = None
        self._counts: dict[str, int] = {}

    def get(self, documents: list[Document]) -> dict[str, int]:
        key = (
            current_generation(self.qa.settings.index_dir),
            frozenset(d.doc_id for d in documents),
        )
        with self._lock:
            if key != self._key:
                self._counts = {d.doc_id: self.qa.chunk_count(d.doc_id) for d in documents}
                self._key = key
            return dict(self._counts)


def document_summary(document: Document, chunks: int) -> dict[str, Any]:
    return {
        "doc_id": document.doc_id,
        "title": document.title,
        "date": document.date,
        "source": document.source,
        "chunks": chunks,
    }


def document_full(document: Document, chunks: int) -> dict[str, Any]:
    """The article with its text, as `DocumentOut` describes it (HTTP and MCP)."""
    return {
        **document_summary(document, chunks),
        "url": document.url,
        "language": document.language,
        "sha256": document.sha256,
        "text": document.text,
    }


_UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": NewDocument.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "description": "overrides the file name"},
                },
            }
        },
    },
}


def v1_router(qa: QA, settings: Settings, store: ConversationStore) -> APIRouter:
    """The /v1 routes: questions, search, the documents, the OpenAI-compatible door
    (qa.serve.openai_api), conversations and feedback (qa.serve.conversation_api), and a JSON
    404/405 for the rest."""
    counts = _ChunkCounts(qa)
    # Declares the bearer scheme in the OpenAPI schema (the /docs "Authorize" button); the gate,
    # not this dependency, checks the token.
    bearer = HTTPBearer(auto_error=False, description="The read or admin token, when set.")
    v1 = APIRouter(prefix="/v1", responses=ERRORS, dependencies=[Depends(bearer)])

    @v1.post(
        "/answer",
        response_model=None,
        tags=["questions"],
        responses={200: {"model": AnswerOut, "content": {"text/event-stream": {}}}},
    )
    async def answer(body: AnswerRequest, request: Request) -> Response:
        """Answer a question from the articles, with cited quotes, or `found: false`
        (`"stream": true`: as Server-Sent Events, see qa.serve.stream)."""
        _check_unicode(body.question, *(body.history or []), *(body.sources or []))
        filters = body.model_dump(include={"since", "until", "sources"})
        result = await compute(
            request, lambda: qa.answer(body.question, history=body.history, k=body.k, **filters)
        )
        if body.stream:
            return event_response(answer_events(result))
        return JSONResponse(plain_answer(result).to_dict())  # the text as the stream sends it

    @v1.post("/search", response_model=SearchOut, tags=["questions"])
    def search(request: SearchRequest) -> dict[str, Any]:
        """The best-matching passages (chunks) for a query, best first."""
        _check_unicode(request.query, *(request.sources or []))
        filters = request.model_dump(include={"since", "until", "sources"})
        return {"hits": [h.to_dict() for h in qa.search(request.query, request.k, **filters)]}

    @v1.get("/documents", response_model=list[DocumentSummary], tags=["documents"])
    def documents() -> list[dict[str, Any]]:
        """Every indexed article, with its number of chunks."""
        docs = qa.documents()
        chunks = counts.get(docs)
        return [document_summary(d, chunks.get(d.doc_id, 0)) for d in docs]

    @v1.get("/documents/{doc_id}", response_model=DocumentOut, tags=["documents"])
    def document(doc_id: DocId) -> dict[str, Any]:
        """One article with its full text (citation offsets index into `text`)."""
        doc = qa.document(doc_id)
        return document_full(doc, counts.get(qa.documents()).get(doc.doc_id, 0))

    @v1.post(
        "/documents",
        status_code=201,
        response_model=DocumentSummary,
        tags=["documents"],
        openapi_extra={"requestBody": _UPLOAD_BODY},
    )
    async def add_document(request: Request) -> dict[str, Any]:
        """Add (or replace) an article — JSON `{name, text}` or a multipart `file` — and index it.
        Needs the admin token."""
        name, data = await _read_upload(request)
        if len(data) > settings.max_document_bytes:
            raise BadRequest(
                413, f"{name}: {len(data)} bytes is over the limit of {settings.max_document_bytes}"
            )
        doc, _report = await run_in_threadpool(qa.add_document, name, data)
        chunks = await run_in_threadpool(qa.chunk_count, doc.doc_id)
        return document_summary(doc, chunks)

    @v1.delete("/documents/{doc_id}", response_model=Deleted, tags=["documents"])
    def remove_document(doc_id: DocId) -> dict[str, Any]:
        """Remove an article from the corpus folder and the index. Needs the admin token."""
        qa.remove_document(doc_id)
        return {"deleted": doc_id}

    openai_api.add_routes(v1, qa)
    conversation_api.add_routes(v1, qa, store)

    @v1.api_route(
        "/{rest:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    def not_found(request: Request, rest: str) -> Any:
        path = request.scope["path"]
        allowed = sorted(
            {
                method
                for route in v1.routes
                if isinstance(route, APIRoute)
                and route.endpoint is not not_found
                and route.path_regex.match(path)
                for method in route.methods
            }
        )
        if allowed and request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        if allowed:
            raise HTTPException(
                405,
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise HTTPException(404, f"no such route: /v1/{rest}")

    return v1


def health_route(qa: QA, settings: Settings) -> APIRouter:
    """/healthz: open even when tokens are set (`gate.PUBLIC_PATHS`), so it says only sizes."""
    counts = _ChunkCounts(qa)
    router = APIRouter()

    @router.get("/healthz", response_model=Health, tags=["service"], responses={503: {}})
    def healthz() -> Any:
        """Liveness and index size; 503 when no index can be loaded."""
        try:
            docs = qa.documents()
            chunks = sum(counts.get(docs).values())
        except QAError as exc:
            return JSONResponse(
                {"status": "unavailable", "error": public_message(exc, settings)}, status_code=503
            )
        return {
            "status": "ok",
            "documents": len(docs),
            "chunks": chunks,
            "generation": current_generation(settings.index_dir),
        }

    return router


async def _read_upload(request: Request) -> tuple[str, bytes]:
    """(file name, raw bytes) from a JSON `{name, text}` body or a multipart `file` field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            payload = await request.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            raise BadRequest(400, "the body is not valid JSON (or is nested too deeply)") from exc
        try:
            new = NewDocument.model_validate(payload)
        except ValidationError as exc:
            raise BadRequest(422, validation_message(exc.errors())) from exc
        _check_unicode(new.name, new.text)
        return new.name, new.text.encode("utf-8")
    if ctype == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadRequest(422, "invalid request: the multipart body needs a 'file' field")
            name = form.get("name")
            name = name if isinstance(name, str) and name.strip() else upload.filename or ""
            data = await upload.read()
        if not name:
            raise BadRequest(422, "invalid request: the uploaded file has no name")
        _check_unicode(name)
        return name, data
    raise BadRequest(415, "send application/json {name, text} or a multipart/form-data file")
