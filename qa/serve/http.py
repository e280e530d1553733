"""The HTTP JSON API: `create_api(qa, settings)` returns the FastAPI app `qa serve` builds on.

The app is assembled here: the /v1 routes (`qa.serve.api_routes`, models in
`qa.serve.api_models`), /healthz, the offline /docs, the error shape, and the two middlewares
that wrap everything mounted on it later (the web page, other doors):

- `qa.serve.limits.HeadLimit` (outermost): request heads over 16 KB are 431, however they came.
- `qa.serve.gate.Gate`: tokens, roles, login; new routes are read-protected.
- `qa.serve.limits.BodyLimit`: every body read at most to the cap and within a deadline.

Every error a client can cause is a 4xx with `{"error": message}`: typed `QAError`s are mapped to
a status, malformed requests are 422, bodies over the cap are 413; a full disk is 507 and a
read-only or forbidden folder 503. Messages never name the server's folders. An unexpected
failure is logged and answered with a plain 500 JSON body, never a traceback.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from qa.conversations import ConversationStore
from qa.errors import (
    DocumentError,
    Forbidden,
    IndexCorrupt,
    IndexLocked,
    IndexMismatch,
    IndexMissing,
    InvalidQuestion,
    QAError,
    StorageError,
    StorageFull,
    UnknownConversation,
    UnknownDocument,
    UnknownModel,
)
from qa.pipeline import QA
from qa.serve.api_routes import (
    BadRequest,
    health_route,
    public_message,
    v1_router,
    validation_message,
)
from qa.serve.gate import Gate, Tokens
from qa.serve.limits import BodyLimit, HeadLimit
from qa.serve.stream import ClientGone, make_stoppable
from qa.serve.users import Users
from qa.settings import Settings

__all__ = ["create_api", "status_for", "validation_message"]

log = logging.getLogger("qa.serve.http")

# Most specific first: the first matching class gives the status.
_STATUS: tuple[tuple[type[QAError], int], ...] = (
    (InvalidQuestion, 422),
    (UnknownDocument, 404),
    (UnknownConversation, 404),
    (UnknownModel, 404),
    (DocumentError, 400),
    (Forbidden, 403),
    (IndexLocked, 409),
    (StorageFull, 507),
    (StorageError, 503),
    (IndexMissing, 503),
    (IndexCorrupt, 503),
    (IndexMismatch, 503),
)
_MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around an uploaded file


def status_for(exc: QAError) -> int:
    """The HTTP status of a typed error (400 for any QAError without a specific mapping)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


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


def _add_error_handlers(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(QAError)
    async def _qa_error(request: Request, exc: QAError) -> JSONResponse:
        return _error(status_for(exc), public_message(exc, settings))

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(ClientGone)
    async def _gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it: the client closed the connection

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


def create_api(
    qa: QA,
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    max_body_bytes: int | None = None,
    conversations: ConversationStore | None = None,
) -> FastAPI:
    """The JSON API over `qa`, behind the gate. Mount the web UI on the result (see
    `qa.serve.web.create_app`); whatever is mounted or routed on it later is gated too.

    Tokens come from `settings` (`read_token`, `admin_token`; env QA_READ_TOKEN, QA_ADMIN_TOKEN,
    and QA_API_KEY as the admin token). `api_key`, when given, replaces the admin token ("" = no
    admin token). `max_body_bytes` defaults to `settings.max_document_bytes` plus multipart
    framing. `conversations` defaults to the store beside the index (qa.conversations).
    """
    settings = settings or qa.settings
    if api_key is None and not settings.admin_token:
        api_key = os.environ.get("QA_API_KEY")
    tokens = Tokens.from_settings(settings, admin=api_key)
    cap = max_body_bytes or settings.max_document_bytes + _MULTIPART_OVERHEAD

    app = FastAPI(
        docs_url=None,  # served below from local files: FastAPI's default loads them from a CDN
        redoc_url=None,  # a CDN page too, blank here
        title="News Q&A API",
        version="1",
        description=(
            "Questions in Vietnamese or English about the indexed news articles. Answers quote "
            "the articles: every citation is an exact span `text[start:end]` of its document. "
            "When the server has tokens, send `Authorization: Bearer <token>`: the read token "
            "for questions and reading articles, the admin token for adding and removing them."
        ),
    )
    # add_middleware puts each new one outside the previous: the gate is the outermost layer.
    app.add_middleware(BodyLimit, max_bytes=cap, timeout=settings.read_timeout)
    users = Users.for_settings(settings)
    app.add_middleware(Gate, tokens=tokens, session_hours=settings.session_hours, users=users)
    app.add_middleware(HeadLimit)  # outermost: a head over the limit reaches nothing
    _add_offline_docs(app)
    _add_error_handlers(app, settings)
    make_stoppable(qa)  # a client that disconnects stops its generation (qa.serve.stream)
    store = conversations or ConversationStore.for_settings(settings)
    app.include_router(v1_router(qa, settings, store))
    app.include_router(health_route(qa, settings))
    return app
