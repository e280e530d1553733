"""Saved conversations and feedback over HTTP (routes under /v1; the store is qa.conversations).

* `POST /v1/conversations` starts one; `GET /v1/conversations` lists recent ones;
  `GET /v1/conversations/{id}` returns every turn with its answer object exactly as first sent.
* `POST /v1/conversations/{id}/turns` asks the next question: it is read with the conversation's
  earlier questions, and the turn is saved before it is returned (`"stream": true` sends the
  same Server-Sent Events as /v1/answer, after a `turn` event naming the saved turn).
* `POST /v1/feedback` records 👍/👎 (`"up"`/`"down"`) and an optional comment on a turn;
  `qa feedback export` turns them into an evaluation set.

Giving feedback and keeping conversations are reader actions: anyone who may ask may rate.
A conversation belongs to whoever started it (a named user of qa.serve.users, or the shared
tokens together): a reader sees, continues and rates only their own — another's is "unknown",
as a missing one — and the list shows a named reader their own; the admin sees all.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from qa.conversations import MAX_TURN, ConversationStore, ask
from qa.errors import Forbidden
from qa.pipeline import QA
from qa.serve.gate import Role, request_role, request_user
from qa.serve.stream import answer_events, compute, event_response

ConversationId = Annotated[str, Path(description="A conversation id, as returned on creation.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTurn(_Strict):
    question: StrictStr = Field(description="The next question; earlier ones give it context.")
    k: Annotated[StrictInt, Field(ge=1, le=20)] | None = None
    stream: StrictBool = Field(False, description="Send Server-Sent Events instead of JSON.")


class FeedbackRequest(_Strict):
    conversation_id: StrictStr
    turn: Annotated[StrictInt, Field(ge=1, le=MAX_TURN, description="The turn's `n`.")]
    verdict: Literal["up", "down"] = Field(description="👍 'up' or 👎 'down'.")
    comment: Annotated[StrictStr, Field(max_length=2000)] = ""


def owner_and_viewer(request: Request) -> tuple[str, str | None]:
    """(who starts a conversation, whose conversations this caller may see: None = all)."""
    who = request_user(request) or ""
    return who, None if request_role(request) >= Role.ADMIN else who


def add_routes(router: APIRouter, qa: QA, store: ConversationStore) -> None:
    """Add the conversation and feedback routes to `router` (the /v1 router)."""
    tags = ["conversations"]

    @router.post("/conversations", status_code=201, tags=tags)
    def new_conversation(request: Request) -> dict[str, Any]:
        """Start an empty conversation (it belongs to the caller)."""
        return store.create(owner_and_viewer(request)[0])

    @router.get("/conversations", tags=tags)
    def conversations(request: Request) -> dict[str, Any]:
        """The most recent conversations with at least one turn, newest first: a named
        user's own, or everyone's for the admin."""
        who, viewer = owner_and_viewer(request)
        if viewer is not None and not who:
            raise Forbidden("the list of conversations needs the admin token or a user's token")
        return {"conversations": store.recent(owner=viewer)}

    @router.get("/conversations/{conversation_id}", tags=tags)
    def conversation(conversation_id: ConversationId, request: Request) -> dict[str, Any]:
        """Every turn: question, the earlier questions it was read with, the answer object."""
        return store.get(conversation_id, owner_and_viewer(request)[1])

    @router.post(
        "/conversations/{conversation_id}/turns",
        status_code=201,
        response_model=None,
        tags=tags,
        # With "stream": true the turn comes as server-sent events (turn, citations, delta, done).
        responses={
            200: {"description": "the turn as events", "content": {"text/event-stream": {}}}
        },
    )
    async def new_turn(conversation_id: ConversationId, body: NewTurn, request: Request) -> Any:
        """Ask the next question of a conversation; the turn is saved, then returned."""
        who, viewer = owner_and_viewer(request)
        answer, turn = await compute(
            request,
            lambda: ask(
                qa, store, conversation_id, body.question, body.k, owner=who, viewer=viewer
            ),
        )
        if body.stream:
            head = ("turn", {"conversation_id": conversation_id, "n": turn["n"]})
            return event_response([head, *answer_events(answer)])
        return JSONResponse(turn, status_code=201)

    @router.post("/feedback", tags=tags)
    def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
        """👍/👎 and an optional comment on one answer (a later verdict replaces it)."""
        viewer = owner_and_viewer(request)[1]
        saved = store.set_feedback(
            body.conversation_id, body.turn, body.verdict, body.comment, viewer
        )
        return {"conversation_id": body.conversation_id, "turn": body.turn, **saved}
