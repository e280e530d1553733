"""The HTTP JSON API: `create_api(qa, settings)` returns a FastAPI app with the /v1 routes.

Pydantic models live only here, at the boundary; inside, everything is `qa.types`. Every error a
client can cause is a 4xx with `{"error": message}`: typed `QAError`s are mapped to a status,
malformed requests are 422, bodies over the cap are 413. An unexpected failure is logged and
answered with a plain 500 JSON body, never a traceback.

If `api_key` is given (by default the environment variable QA_API_KEY), every /v1 route needs
`Authorization: Bearer <key>`; /healthz and the web page stay open.
"""

import logging
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from qa.errors import (
    DocumentError,
    IndexCorrupt,
    IndexLocked,
    IndexMismatch,
    IndexMissing,
    InvalidQuestion,
    QAError,
    UnknownDocument,
)
from qa.index.store import current_generation
from qa.pipeline import QA
from qa.settings import Settings
from qa.types import Document

log = logging.getLogger("qa.serve.http")

# Most specific first: the first matching class gives the status.
_STATUS: tuple[tuple[type[QAError], int], ...] = (
    (InvalidQuestion, 422),
    (UnknownDocument, 404),
    (DocumentError, 400),
    (IndexLocked, 409),
    (IndexMissing, 503),
    (IndexCorrupt, 503),
    (IndexMismatch, 503),
)
_MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around an uploaded file
_DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) at most this much of an oversize body

ASGIApp = Callable[..., Awaitable[None]]
Message = MutableMapping[str, Any]


# -- request and response models ---------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Filtered(_Strict):
    since: StrictStr | None = Field(
        None, description="Only articles published since this date: 2021, 2021-04, 2021-04-28."
    )
    until: StrictStr | None = Field(None, description="Only articles published until this date.")
    sources: list[StrictStr] | None = Field(
        None, max_length=20, description="Only articles of these outlets (names or host names)."
    )


class AnswerRequest(_Filtered):
    question: StrictStr = Field(description="The question, in Vietnamese or English.")
    history: list[StrictStr] | None = Field(
        None, max_length=50, description="Earlier questions of the conversation, oldest first."
    )
    k: Annotated[StrictInt, Field(ge=1, le=20)] | None = Field(
        None, description="Passages to retrieve (default from the settings)."
    )


class SearchRequest(_Filtered):
    query: StrictStr
    k: Annotated[StrictInt, Field(ge=1, le=20)] | None = None


class NewDocument(_Strict):
    name: StrictStr = Field(
        description="File name; the document id is its stem, e.g. 'a.txt' or a saved page 'a.html'."
    )
    text: StrictStr = Field(
        description="Article text (front matter or `# key = value` header optional), or the HTML "
        "of a saved news page: its article text, title, date, outlet and URL are extracted."
    )


class CopyOut(BaseModel):
    doc_id: str
    title: str
    source: str
    date: str
    url: str


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    chunk_id: str
    quote: str = Field(description="Exact text of the document: text[start:end] == quote.")
    start: int
    end: int
    score: float
    date: str = Field(description="Publication date of the article (ISO), '' when unknown.")
    source: str = Field(description="The outlet.")
    url: str
    as_of: str = Field(description="When the quoted fact holds, if its text says: ISO date/period.")
    as_of_label: str = Field(description="`as_of` in words, in the answer's language.")
    also: list[CopyOut] = Field(description="Other articles of the same story (copies).")


class AnswerOut(BaseModel):
    question: str
    language: str
    found: bool
    answer: str
    citations: list[CitationOut]
    related: list[CitationOut]
    mode: str
    confidence: float
    conflicts: list[CitationOut] = Field(
        description="Sentences of copies of a cited story that give other figures."
    )


class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    dense: float
    lexical: float
    date: str
    source: str
    url: str
    also: list[CopyOut]


class SearchOut(BaseModel):
    hits: list[HitOut]


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    date: str
    source: str
    chunks: int


class DocumentOut(DocumentSummary):
    url: str
    language: str
    sha256: str
    text: str


class Deleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str
    documents: int
    chunks: int
    generation: str | None


class ErrorOut(BaseModel):
    error: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 415, 422, 503)
}


# -- helpers -----------------------------------------------------------------------------------
def status_for(exc: QAError) -> int:
    """The HTTP status of a typed error (400 for any QAError without a specific mapping)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


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


def _check_unicode(*texts: str) -> None:
    """Refuse lone surrogates (valid JSON escapes, but not text) before they reach the core."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _BadRequest(422, "the text contains invalid Unicode (a lone surrogate)") from exc


DocId = Annotated[str, Path(description="Document id (the file name without its extension).")]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimit:
    """Pure ASGI middleware: bodies of /v1 requests over `max_bytes` get 413 before parsing.

    A declared Content-Length is checked up front; a chunked body is buffered up to the cap and
    replayed to the app. Pure ASGI (not BaseHTTPMiddleware) so streaming responses are untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/v1/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Message, receive: ASGIApp, send: ASGIApp) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _error(400, "invalid Content-Length header")(scope, receive, send)
                return
            if length > self.max_bytes:
                await self._too_large(scope, receive, send, drain=length <= _DRAIN_LIMIT)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, drain=True)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(
        self, scope: Message, receive: ASGIApp, send: ASGIApp, drain: bool
    ) -> None:
        if drain:  # read the rest so the client sees the response instead of a reset connection
            read = 0
            while read <= _DRAIN_LIMIT:
                message = await receive()
                if message["type"] != "http.request":
                    break
                read += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        await _error(413, f"request body is over the limit of {self.max_bytes} bytes")(
            scope, receive, send
        )


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


def _summary(document: Document, chunks: int) -> dict[str, Any]:
    return {
        "doc_id": document.doc_id,
        "title": document.title,
        "date": document.date,
        "source": document.source,
        "chunks": chunks,
    }


# -- the app -----------------------------------------------------------------------------------
def _add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files the `swagger-ui-bundle-v2` wheel ships (Swagger UI 5
    reads OpenAPI 3.1): there is no internet here, and FastAPI's default /docs page is blank
    without its CDN."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — docs",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def create_api(
    qa: QA,
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """The JSON API over `qa`. Mount the web UI on the result (see `qa.serve.web.create_app`).

    `api_key` defaults to the environment variable QA_API_KEY; unset or "" means no auth.
    `max_body_bytes` defaults to `settings.max_document_bytes` plus room for multipart framing.
    """
    settings = settings or qa.settings
    if api_key is None:
        api_key = os.environ.get("QA_API_KEY")
    api_key = api_key or None  # "" disables the check explicitly
    cap = max_body_bytes or settings.max_document_bytes + _MULTIPART_OVERHEAD
    counts = _ChunkCounts(qa)

    app = FastAPI(
        docs_url=None,  # served below from local files: FastAPI's default loads them from a CDN
        title="News Q&A API",
        version="1",
        description=(
            "Questions in Vietnamese or English about the indexed news articles. Answers quote "
            "the articles: every citation is an exact span `text[start:end]` of its document."
        ),
    )
    app.add_middleware(BodyLimit, max_bytes=cap)
    _add_offline_docs(app)

    @app.exception_handler(QAError)
    async def _qa_error(request: Request, exc: QAError) -> JSONResponse:
        return _error(status_for(exc), str(exc))

    @app.exception_handler(_BadRequest)
    async def _bad_request(request: Request, exc: _BadRequest) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, validation_message(list(exc.errors())))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal error; the server log has the details")

    bearer = HTTPBearer(auto_error=False, description="Needed when QA_API_KEY is set.")

    def authorize(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if api_key is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode("utf-8"), api_key.encode("utf-8")):
            raise HTTPException(
                401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
            )

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)], responses=_ERRORS)

    @v1.post("/answer", response_model=AnswerOut, tags=["questions"])
    def answer(request: AnswerRequest) -> dict[str, Any]:
        """Answer a question from the articles, with cited quotes, or `found: false`."""
        _check_unicode(request.question, *(request.history or []), *(request.sources or []))
        filters = request.model_dump(include={"since", "until", "sources"})
        return qa.answer(
            request.question, history=request.history, k=request.k, **filters
        ).to_dict()

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
        return [_summary(d, chunks.get(d.doc_id, 0)) for d in docs]

    @v1.get("/documents/{doc_id}", response_model=DocumentOut, tags=["documents"])
    def document(doc_id: DocId) -> dict[str, Any]:
        """One article with its full text (citation offsets index into `text`)."""
        doc = qa.document(doc_id)
        return {
            **_summary(doc, counts.get(qa.documents()).get(doc.doc_id, 0)),
            "url": doc.url,
            "language": doc.language,
            "sha256": doc.sha256,
            "text": doc.text,
        }

    upload_body = {
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

    @v1.post(
        "/documents",
        status_code=201,
        response_model=DocumentSummary,
        tags=["documents"],
        openapi_extra={"requestBody": upload_body},
    )
    async def add_document(request: Request) -> dict[str, Any]:
        """Add (or replace) an article — JSON `{name, text}` or a multipart `file` — and index it."""
        name, data = await _read_upload(request)
        if len(data) > settings.max_document_bytes:
            raise _BadRequest(
                413, f"{name}: {len(data)} bytes is over the limit of {settings.max_document_bytes}"
            )
        doc, _report = await run_in_threadpool(qa.add_document, name, data)
        chunks = await run_in_threadpool(qa.chunk_count, doc.doc_id)
        return _summary(doc, chunks)

    @v1.delete("/documents/{doc_id}", response_model=Deleted, tags=["documents"])
    def remove_document(doc_id: DocId) -> dict[str, Any]:
        """Remove an article from the corpus folder and the index."""
        qa.remove_document(doc_id)
        return {"deleted": doc_id}

    @v1.api_route(
        "/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def not_found(request: Request, rest: str) -> None:
        path = request.scope["path"]
        allowed = sorted(
            method
            for route in v1.routes
            if isinstance(route, APIRoute)
            and route.endpoint is not not_found
            and route.path_regex.match(path)
            for method in route.methods
        )
        if allowed:
            raise HTTPException(
                405,
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise HTTPException(404, f"no such route: /v1/{rest}")

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, tags=["service"], responses={503: {}})
    def healthz() -> Any:
        """Liveness and index size; 503 when no index can be loaded."""
        try:
            docs = qa.documents()
            chunks = sum(counts.get(docs).values())
        except QAError as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return {
            "status": "ok",
            "documents": len(docs),
            "chunks": chunks,
            "generation": current_generation(settings.index_dir),
        }

    return app


async def _read_upload(request: Request) -> tuple[str, bytes]:
    """(file name, raw bytes) from a JSON `{name, text}` body or a multipart `file` field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            payload = await request.json()
        except ValueError as exc:
            raise _BadRequest(400, "the body is not valid JSON") from exc
        try:
            new = NewDocument.model_validate(payload)
        except ValidationError as exc:
            raise _BadRequest(422, validation_message(exc.errors())) from exc
        _check_unicode(new.name, new.text)
        return new.name, new.text.encode("utf-8")
    if ctype == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise _BadRequest(422, "invalid request: the multipart body needs a 'file' field")
            name = form.get("name")
            name = name if isinstance(name, str) and name.strip() else upload.filename or ""
            data = await upload.read()
        if not name:
            raise _BadRequest(422, "invalid request: the uploaded file has no name")
        _check_unicode(name)
        return name, data
    raise _BadRequest(415, "send application/json {name, text} or a multipart/form-data file")
