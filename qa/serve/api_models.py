"""Pydantic models of the HTTP JSON API: what /v1 accepts and returns (its OpenAPI schema).

They live only at the boundary; inside, everything is `qa.types`.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

# Documented in the schema, checked by the core with its own messages ("the question is empty"
# also for white space only, which JSON Schema cannot say).
_NOT_EMPTY: dict[str, Any] = {"minLength": 1}


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
    question: StrictStr = Field(
        description="The question, in Vietnamese or English (at most 1,000 characters by default).",
        json_schema_extra=_NOT_EMPTY,
    )
    history: list[StrictStr] | None = Field(
        None, max_length=50, description="Earlier questions of the conversation, oldest first."
    )
    k: Annotated[StrictInt, Field(ge=1, le=20)] | None = Field(
        None, description="Passages to retrieve (default from the settings)."
    )
    stream: StrictBool = Field(
        False, description="Send Server-Sent Events: citations, text deltas, done (the answer)."
    )


class SearchRequest(_Filtered):
    query: StrictStr = Field(json_schema_extra=_NOT_EMPTY)
    k: Annotated[StrictInt, Field(ge=1, le=20)] | None = None


class NewDocument(_Strict):
    name: StrictStr = Field(
        description="File name ending in .txt, .md or (a saved page) .html; the document id is "
        "its stem, e.g. 'a.txt'.",
        json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,100}\.(txt|md|html?)$"},
    )
    text: StrictStr = Field(
        description="Article text (front matter or `# key = value` header optional), or the HTML "
        "of a saved news page: its article text, title, date, outlet and URL are extracted.",
        json_schema_extra=_NOT_EMPTY,
    )


class CopyOut(BaseModel):
    doc_id: str
    title: str
    source: str
    date: str
    url: str


# The answer models document the answer object; extra="allow" lets fields the object gains
# (Answer.to_dict() is the one definition) reach every door without being declared again here.
class CitationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
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


class ShortAnswerOut(BaseModel):
    text: str = Field(
        description="The fact in the question's language; its span is text[start:end] of citation n."
    )
    type: str
    n: int
    start: int
    end: int


class AnswerOut(BaseModel):
    model_config = ConfigDict(extra="allow")
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
    short_answer: ShortAnswerOut | None = None
    grounding: dict[str, Any] | None = Field(
        None, description="When a generator was asked: what the grounding check found."
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


# The error statuses every /v1 route may answer, each with a one-line `{"error": message}`.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 408, 409, 413, 415, 422, 503, 507)
}
