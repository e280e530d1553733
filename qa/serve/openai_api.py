"""An OpenAI-compatible door: `/v1/models` and `/v1/chat/completions` over the knowledge base.

Chat apps (Open WebUI, LibreChat, any OpenAI SDK) send the whole conversation each time: the last
user message is the question, the earlier user messages are its history (assistant and system
messages are ours or the app's and are not searched). The reply's `content` is the answer with
its `[n]` markers followed by a short "Sources" block (title, quote), so a client that knows
nothing about citations still shows them; the message also carries `citations`, `related` and
`conflicts`, the same objects as `/v1/answer`, for clients that do. Streaming follows OpenAI's chunk format:
the first chunk carries the role and the citations, then the text as it comes, the Sources
block, a chunk with `finish_reason: "stop"`, and `data: [DONE]`.

Errors carry the API's one-line message in OpenAI's shape, `{"error": {"message", "type",
"code"}}`, because that is where OpenAI SDKs and chat apps look for it (`openai_errors`). Errors
raised before a route runs (the body-size cap, the token check) keep the API's plain shape.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.exceptions import HTTPException

from qa.conversations import CITATION_LISTS, HISTORY_TURNS
from qa.errors import InvalidQuestion, QAError, UnknownModel
from qa.pipeline import QA
from qa.serve.render import labels
from qa.serve.stream import (
    SSE_HEADERS,
    answer_deltas,
    compute,
    plain_answer,
    plain_text,
    plain_url,
)
from qa.settings import Settings
from qa.types import Answer

MODEL_ID = "qa-news"
_TITLE_CHARS = 100


# -- request models ----------------------------------------------------------------------------
class TextPart(BaseModel):
    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    # `name`, `tool_calls`, ... may come along from chat apps; they do not change the question.
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: StrictStr | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content)
        return self.content or ""


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int


class OpenAIErrorOut(BaseModel):
    error: OpenAIErrorDetail


# The statuses these routes answer in OpenAI's error shape (the gate's 401/403 and the body cap's
# 413 come before the route, in the API's plain shape).
_OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIErrorOut} for code in (400, 404, 409, 422, 503, 507)
}


class ChatRequest(BaseModel):
    # Sampling options (temperature, max_tokens, ...) do not apply to a quoted answer.
    model_config = ConfigDict(extra="ignore")
    model: StrictStr = Field(description=f"The knowledge base: {MODEL_ID!r} (see /v1/models).")
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=200)]
    stream: StrictBool = False


# -- the answer as chat content ----------------------------------------------------------------
def _short(title: str) -> str:
    title = " ".join(plain_text(title).split())
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 1].rstrip() + "…"


def sources_block(answer: dict[str, Any]) -> str:
    """The "Sources" block (or, when nothing answers, "Related passages") as Markdown lines,
    `[n] *title* (outlet · date · as of) <url> — “quote”`, in the answer's language; "" when
    there are none."""
    words = labels(answer.get("language", "vi"))
    found = answer.get("found", False)
    passages = answer["citations"] if found else answer["related"]
    if not passages:
        return ""
    lines = [f"**{words['sources'] if found else words['related']}**"]
    for c in passages:  # article-controlled text: plain (qa.serve.stream.plain_text)
        where = " · ".join(plain_text(c[k]) for k in ("source", "date", "as_of_label") if c.get(k))
        where = f" ({where})" if where else ""
        url = plain_url(c.get("url", ""))
        link = f" <{url}>" if url else ""
        quote = plain_text(c["quote"])
        lines.append(f"[{c['n']}] *{_short(c['title'])}*{where}{link} — “{quote}”")
    return "\n\n" + "\n".join(lines)


def message_content(answer: Answer) -> str:
    """What a plain chat client shows: the answer text with [n] markers, then the sources; no
    markup or link of an article's survives (`plain_text`)."""
    return plain_text(answer.answer) + sources_block(answer.to_dict())


# -- the router --------------------------------------------------------------------------------
def openai_errors(settings: Settings) -> type[APIRoute]:
    """A route class whose client errors are `{"error": {"message", "type", "code"}}`, with
    the API's messages (server folders never named: `public_message`)."""
    # Imported here: qa.serve.api_routes adds these routes, qa.serve.http maps the statuses.
    from qa.serve.api_routes import public_message, validation_message
    from qa.serve.http import status_for

    class OpenAIErrors(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return openai_error(422, validation_message(list(exc.errors())))
                except HTTPException as exc:  # a body that cannot be parsed at all
                    return openai_error(exc.status_code, str(exc.detail))
                except QAError as exc:
                    return openai_error(status_for(exc), public_message(exc, settings))

            return route

    return OpenAIErrors


def openai_error(status: int, message: str) -> JSONResponse:
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    body = {"message": message, "type": kind, "param": None, "code": status}
    return JSONResponse({"error": body}, status_code=status)


def _model_card(qa: QA) -> dict[str, Any]:
    current = qa.settings.index_dir / "CURRENT"
    created = int(current.stat().st_mtime) if current.exists() else 0
    return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "qa"}


def _question(messages: list[ChatMessage]) -> tuple[str, list[str]]:
    """(last user message, earlier user messages) of a chat request."""
    if messages[-1].role != "user":
        raise InvalidQuestion(
            f"the last message must be the user's question (role 'user'), not {messages[-1].role!r}"
        )
    users = [m.text() for m in messages if m.role == "user"]
    for text in users:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidQuestion("a message contains invalid Unicode (a lone surrogate)") from exc
    earlier = [u for u in users[:-1] if u.strip()]
    return users[-1], earlier[-HISTORY_TURNS:]


def _passages(whole: dict[str, Any]) -> dict[str, Any]:
    """The answer's citation lists, as extra fields of the message (or first chunk)."""
    return {name: whole[name] for name in CITATION_LISTS}


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        **base,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def completion_chunks(answer: Answer, base: dict[str, Any]) -> Iterator[str]:
    """The streamed reply as SSE `data:` lines: role + citations, text pieces, the Sources
    block, the stop chunk, `[DONE]`. The contents concatenate to `message_content(answer)`."""
    answer = plain_answer(answer)
    whole = answer.to_dict()
    yield _chunk(base, {"role": "assistant", "content": "", **_passages(whole)})
    for piece in answer_deltas(answer):
        yield _chunk(base, {"content": piece})
    sources = sources_block(whole)
    if sources:
        yield _chunk(base, {"content": sources})
    yield _chunk(base, {}, "stop")
    yield "data: [DONE]\n\n"


def add_routes(router: APIRouter, qa: QA) -> None:
    """Add `/models`, `/models/{id}` and `/chat/completions` to `router` (the /v1 router).

    Added to it rather than included as a router of their own, so that they are plain routes of
    /v1 (its 405 answer lists their methods) with OpenAI-shaped errors (`openai_errors`)."""
    route_class = openai_errors(qa.settings)

    def route(path: str, method: str, **options: Any) -> Callable[[Any], Any]:
        def add(endpoint: Any) -> Any:
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                tags=["openai-compatible"],
                route_class_override=route_class,
                responses=_OPENAI_ERRORS,
                **options,
            )
            return endpoint

        return add

    @route("/models", "GET")
    def models() -> dict[str, Any]:
        """The knowledge base, listed as the one model chat apps can pick."""
        return {"object": "list", "data": [_model_card(qa)]}

    @route("/models/{model}", "GET")
    def model(model: str) -> dict[str, Any]:
        if model != MODEL_ID:
            raise UnknownModel(f"unknown model {model!r}; this server has {MODEL_ID!r}")
        return _model_card(qa)

    @route("/chat/completions", "POST", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        """An OpenAI chat completion answered from the articles, with citations."""
        if body.model != MODEL_ID:
            raise UnknownModel(f"unknown model {body.model!r}; this server has {MODEL_ID!r}")
        question, history = _question(body.messages)
        answer = await compute(request, lambda: qa.answer(question, history=history or None))
        base = {"id": "chatcmpl-" + secrets.token_hex(12), "created": int(time.time())}
        base["model"] = MODEL_ID
        if body.stream:

            async def events() -> AsyncIterator[str]:
                for line in completion_chunks(answer, base):
                    yield line

            return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
        content = message_content(answer)
        message = {"role": "assistant", "content": content, **_passages(answer.to_dict())}
        return JSONResponse(
            {
                **base,
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
                ],
            }
        )
