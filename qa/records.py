"""The records one question passes through on its way to an `Answer`.

    text ──qa.analysis──▶ Question ──qa.retrieve.candidates──▶ Candidates
         ──qa.answering.evidence──▶ [Evidence] ──qa.answering.abstain──▶ Verdict
         ──qa.answering.compose──▶ Answer (qa.types)

Each stage reads the records before it and nothing else: the answering stages never see the
retriever, only what it found (`Candidates`) and the corpus statistics it carries (`TermStats`).
`QA.answer` (qa.pipeline) runs the stages in this order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.types import Document, Hit, Sentence

# What a question says it asks about, as alternatives of folded phrases: (("dan", "so"),) for
# "dân số"; an English noun has one alternative per glossary rendering.
Phrases = tuple[tuple[tuple[str, ...], ...], ...]


@dataclass(frozen=True)
class Asked:
    """The analysis of one question for the reader.

    `words`: folded content words of the question (what the answer sentence should share);
    `left`/`right`: folded words just before/after the question word (Vietnamese only);
    `units`: the counted noun after "bao nhiêu" ("dự án"), folded, with alternatives (an
    English noun has several Vietnamese renderings); `head`: likewise the noun of "cảng nào",
    "which port", or for a date the grain asked ("ngay", "nam", "thang"); `preceding` and
    `following`: all content words before and after the question word (Vietnamese).
    """

    type: str
    language: str
    words: tuple[str, ...]
    left: tuple[str, ...] = ()
    right: tuple[str, ...] = ()
    units: tuple[tuple[str, ...], ...] = ()
    head: tuple[tuple[str, ...], ...] = ()
    plural: bool = False
    preceding: tuple[str, ...] = ()  # content words before the question word (VI), folded
    following: tuple[str, ...] = ()  # and after it: the answer stands between the two


@dataclass(frozen=True)
class Question:
    """A question analysed once, for retrieval and reading alike (`qa.analysis`).

    `text` is the question without the time/outlet words the news view reads ("năm 2021",
    "theo VnExpress"); `said` is it as typed. `dense_text` is what is embedded (an unaccented
    question with its accents restored; a follow-up with the last turn before it), `terms` what
    BM25 matches, `wants` "number", "date" or "". `asked` is the reader's view (answer type,
    units, anchors), `attribute` what it asks about without the names it mentions (the "not
    found" check), `words` the folded syllables the answer sentence should share.
    A follow-up carries `focus`: the question alone, which chooses the sentence that answers
    while retrieval reads the last turn too."""

    text: str
    said: str
    language: str
    kind: str  # "vi", "vi_unaccented" or "en": which retrieval weights apply
    dense_text: str
    terms: tuple[str, ...]
    wants: str
    asked: Asked
    attribute: Phrases
    words: frozenset[str]
    focus: Question | None = None

    @property
    def group(self) -> str:
        """The language group of fitted weights: "en" or "vi" (accented or not)."""
        return "en" if self.language == "en" else "vi"

    @property
    def reading(self) -> Question:
        """The question the answering stages read: the follow-up's own words, else itself."""
        return self.focus or self


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a retrieved chunk, with retrieval's score and two of its channels."""

    sentence: Sentence
    chunk_id: str
    score: float
    dense: float
    lexical: float


class TermStats(Protocol):
    """Corpus statistics of the lexical channel (`qa.retrieve.lexical.BM25` has them)."""

    def idf(self, term: str) -> float: ...

    def df(self, term: str) -> int: ...


@dataclass(frozen=True)
class Candidates:
    """What retrieval found for one question, and the corpus statistics the reader needs.

    `hits`: the chunks, best first; `pool`: raw channel scores of every retrieval candidate,
    shape (3, n) (dense, best sentence dense, BM25): how far the best stands out from the
    crowd; `ranked`: the sentences of the hits, best first; `vector`: the question's query
    vector, shape (dim,); `ledes`: (doc_id, start) of each article's first sentence."""

    hits: list[Hit]
    pool: np.ndarray
    ranked: list[ScoredSentence]
    vector: np.ndarray
    sentence_stats: TermStats
    chunk_stats: TermStats
    ledes: frozenset[tuple[str, int]]
    documents: Mapping[str, Document]

    def chunk_text(self, chunk_id: str, default: str = "") -> str:
        """The text of the hit `chunk_id`, or `default` when it is not a hit."""
        return next((h.text for h in self.hits if h.chunk_id == chunk_id), default)


@dataclass(frozen=True)
class Verdict:
    """Whether the articles answer the question, and how sure (`qa.answering.abstain`)."""

    found: bool
    confidence: float
