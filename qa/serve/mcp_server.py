"""The MCP server (official `mcp` SDK): the knowledge base as tools for agents.

Tools, with typed inputs and outputs (the output schemas are the HTTP API's models, so an agent
gets the same objects as `/v1`):

* `search(query, k)` — the best passages, with offsets and scores;
* `answer(question, history)` — the answer object with its numbered citations; its text content
  is the answer with `[n]` markers and a Sources block, as on the OpenAI-compatible door;
* `get_article(doc_id)` — one article's full text (citation offsets index into it);
* `list_articles()` — every indexed article.

`qa mcp` serves it over stdio (for desktop agents that start it as a subprocess); `qa serve`
mounts it as streamable HTTP at `/mcp` (stateless JSON responses: no session to keep), behind
the same token check as the rest of the server.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.pipeline import QA
from qa.serve.api_models import AnswerOut, DocumentOut, DocumentSummary, SearchOut
from qa.serve.api_routes import document_full, document_summary
from qa.serve.openai_api import message_content
from qa.serve.stream import plain_answer
from qa.settings import Settings

NAME = "qa-news"
INSTRUCTIONS = (
    "Questions about Vietnamese news articles, in Vietnamese or English. `answer` quotes the "
    "articles with numbered citations (each quote is text[start:end] of its article) or says "
    "found=false when they do not say; cite its [n] sources when you use it. `search` returns "
    "passages, `get_article` an article's full text, `list_articles` what is indexed."
)


class ArticleList(BaseModel):
    articles: list[DocumentSummary]


def build_server(qa: QA) -> MCPServer:
    """An MCPServer whose four tools call `qa` (sync tools: the SDK runs them in threads)."""
    server = MCPServer(NAME, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def search(
        query: Annotated[str, Field(description="What to look for, Vietnamese or English.")],
        k: Annotated[int, Field(ge=1, le=20, description="How many passages.")] = 5,
    ) -> SearchOut:
        """The passages (chunks) that best match `query`, best first, with offsets and scores."""
        try:
            return SearchOut.model_validate({"hits": [h.to_dict() for h in qa.search(query, k)]})
        except QAError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool()
    def answer(
        question: Annotated[str, Field(description="The question, Vietnamese or English.")],
        history: Annotated[
            list[str], Field(max_length=50, description="Earlier questions, oldest first.")
        ] = [],  # noqa: B006 (the SDK builds a fresh model per call; never mutated)
    ) -> Annotated[CallToolResult, AnswerOut]:
        """Answer from the articles with numbered, exactly quoted citations, or found=false."""
        try:
            result = qa.answer(question, history=history or None)
        except QAError as exc:
            raise ToolError(str(exc)) from exc
        return CallToolResult(
            content=[TextContent(type="text", text=message_content(result))],
            structured_content=plain_answer(result).to_dict(),
        )

    @server.tool()
    def get_article(
        doc_id: Annotated[str, Field(description="An article id from a citation or the list.")],
    ) -> DocumentOut:
        """One article with its full text; citation offsets index into `text`."""
        try:
            doc = qa.document(doc_id)
            return DocumentOut.model_validate(document_full(doc, qa.chunk_count(doc.doc_id)))
        except QAError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool()
    def list_articles() -> ArticleList:
        """Every indexed article: id, title, date, source and number of passages."""
        try:
            docs = qa.documents()
            return ArticleList.model_validate(
                {"articles": [document_summary(d, qa.chunk_count(d.doc_id)) for d in docs]}
            )
        except QAError as exc:
            raise ToolError(str(exc)) from exc

    return server


def mount(app: FastAPI, qa: QA, path: str = "/mcp", host: str = "127.0.0.1") -> None:
    """Serve the tools as streamable HTTP at `path` of `app` (call before mounting anything at
    "/"). On a loopback `host` the SDK's DNS-rebinding protection is on."""
    server = build_server(qa)
    http = server.streamable_http_app(
        streamable_http_path=path, stateless_http=True, json_response=True, host=host
    )
    app.router.routes.extend(http.routes)
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with outer(application) as state, server.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan


def serve_stdio(settings: Settings) -> None:
    """`qa mcp`: the tools over stdin/stdout. Logs go to stderr (stdout is the protocol)."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    build_server(QA(settings)).run("stdio")
