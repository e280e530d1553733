"""The data model shared by every stage and every interface (Python, CLI, HTTP, web).

Offsets are the source of truth: `document.text[start:end]` is the text of every sentence, chunk
and citation quote. All records are frozen so stages cannot mutate each other's data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One article: NFC text plus metadata from its front matter (or derived)."""

    doc_id: str
    title: str
    text: str
    sha256: str
    path: str = ""
    date: str = ""  # ISO publication date; "" when unknown
    source: str = ""  # the outlet ("Báo Cảng Biển", "vnexpress.net")
    language: str = "vi"
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: `document.text[start:end] == text`."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A window of consecutive sentences, the unit the dense index retrieves.

    `sentences` holds (start, end) document offsets of the sentences inside the chunk.
    """

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sentences": [list(s) for s in self.sentences]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            chunk_id=data["chunk_id"],
            doc_id=data["doc_id"],
            start=data["start"],
            end=data["end"],
            text=data["text"],
            sentences=tuple((int(s), int(e)) for s, e in data["sentences"]),
        )


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the channel scores that produced it."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    # Filled by qa.retrieve.filters: the article's date and outlet, and the other articles of
    # its story (syndicated copies: {doc_id, title, source, date, url}).
    date: str = ""
    source: str = ""
    url: str = ""
    also: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """One numbered citation: an exact quote of a document with its offsets."""

    n: int
    doc_id: str
    title: str
    chunk_id: str
    quote: str
    start: int
    end: int
    score: float
    date: str = ""
    # Filled by qa.answering.dated: the outlet and URL; `as_of` is the period the quoted fact is
    # dated to by its sentence or article (ISO: 2023-10-31, 2023-10, 2023), `as_of_label` its
    # wording in the answer's language ("tính đến 31/10/2023"); `also` the other outlets of the
    # story ({doc_id, title, source, date, url}).
    source: str = ""
    url: str = ""
    as_of: str = ""
    as_of_label: str = ""
    also: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ShortAnswer:
    """The fact itself: the span `document.text[start:end]` of citation [n] that answers, its
    type (count, amount, percent, date, period, person, organisation, place, list, other) and
    `text`, its rendering in the question's language (for Vietnamese: the span as written)."""

    text: str
    type: str
    n: int
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What every interface returns. `found` is False when the articles do not say."""

    question: str
    language: str
    found: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    confidence: float = 0.0
    # Set when a generator was asked (see qa.answering.grounding.record): {"checked", "passed", "failed",
    # "generator", "note"}; None (JSON null) for plain extractive answers.
    grounding: dict[str, Any] | None = None
    # Copies of a cited story that give another figure for the quoted fact (qa.answering.dated).
    conflicts: list[Citation] = field(default_factory=list)
    # The span of a citation that answers, None (JSON null) when not found.
    short_answer: ShortAnswer | None = None
    # Set when a since/until/sources filter left the question without an answer
    # (qa.retrieve.filters.filter_note): {"since", "until", "sources", "total", "kept",
    # "excluded", "outside"}, `outside` being the best passage of the articles the filter left
    # out (a citation object, n = 0) or None. None (and absent from the JSON) otherwise.
    filtered: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "language": self.language,
            "found": self.found,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "related": [c.to_dict() for c in self.related],
            "mode": self.mode,
            "confidence": round(self.confidence, 4),
            "grounding": self.grounding,
            "conflicts": [c.to_dict() for c in self.conflicts],
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            # Only when set: answers without a filter keep the object's documented shape.
            **({"filtered": self.filtered} if self.filtered is not None else {}),
        }
