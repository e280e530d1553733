"""From the chosen evidence to an `Answer`: the short answer first, in the asker's language,
then the cited sentences verbatim; or "not found".

Every number, date and name shown is copied from the cited text: the short answer is a span
of citation [n] (rendered by rule for English readers, `qa.answering.english`), and the English
lead sentence is the asker's own question reordered around it (`qa.answering.statement`).
"""

from __future__ import annotations

from collections.abc import Mapping

from qa.answering.english import render
from qa.answering.evidence import Evidence
from qa.answering.learned import as_reading
from qa.answering.statement import statement
from qa.answering.typed import shown_typed
from qa.records import Question, ScoredSentence, Verdict
from qa.settings import Settings
from qa.text import folded_words
from qa.types import Answer, Citation, Document, ShortAnswer

MESSAGES = {
    "vi": {
        "not_found": "Các bài viết không có thông tin để trả lời câu hỏi này.",
        "prefix": "Theo bài viết: ",
    },
    "en": {
        "not_found": "The articles do not say.",
        "prefix": "From the articles (quoted in Vietnamese): ",
    },
}
# A reading weaker than this (a span of another type, far from the asked words) is not shown
# as the answer; the quote then leads alone.
MIN_FIT = 0.5


def cite(n: int, scored: ScoredSentence, document: Document) -> Citation:
    sentence = scored.sentence
    return Citation(
        n=n,
        doc_id=sentence.doc_id,
        title=document.title,
        chunk_id=scored.chunk_id,
        quote=sentence.text,
        start=sentence.start,
        end=sentence.end,
        score=round(scored.score, 4),
        date=document.date,
    )


def _distinct(ranked: list[Evidence]) -> list[Evidence]:
    seen: set[str] = set()
    unique = []
    for evidence in ranked:
        key = " ".join(folded_words(evidence.scored.sentence.text))
        if key not in seen:
            seen.add(key)
            unique.append(evidence)
    return unique


def short_answer(query: Question, evidence: Evidence) -> ShortAnswer | None:
    """The reading of the first cited sentence as a `ShortAnswer` (document offsets)."""
    reading = evidence.reading
    if evidence.learned is not None:  # the trained reader's span, where it reads better
        reading = as_reading(query.reading, evidence.learned, reading)
    if reading is None or reading.fit < MIN_FIT:
        return None
    if query.language == "en":
        reading = shown_typed(reading)
    start = evidence.scored.sentence.start + reading.start
    text = render(reading.text, reading.type) if query.language == "en" else reading.text
    return ShortAnswer(text, reading.type, 1, start, start + len(reading.text))


def lead(query: Question, short: ShortAnswer | None) -> str:
    """The first line: an English statement, or the short answer alone, with its marker."""
    if short is None:
        return ""
    if query.language == "en":
        said = statement(query.text, short.text, short.type)
        if said:
            return f"{said} [{short.n}]."
    text = short.text[:1].upper() + short.text[1:] if query.language == "en" else short.text
    return f"{text} [{short.n}]"


def compose(
    query: Question,
    ranked: list[Evidence],
    verdict: Verdict,
    documents: Mapping[str, Document],
    settings: Settings,
) -> Answer:
    """The short answer, then the best sentence (plus the runner-up when it scores nearly as
    well and the best has no short answer), up to `settings.answer_sentences`, and
    `settings.related` related sentences. A sentence that appears in several documents
    (syndicated copies of one story) is cited once."""
    found, confidence = verdict.found, verdict.confidence
    max_sentences, related = settings.answer_sentences, settings.related
    messages = MESSAGES[query.language]
    ranked = _distinct(ranked)
    if not found or not ranked:
        return Answer(
            question=query.text,
            language=query.language,
            found=False,
            answer=messages["not_found"],
            related=[
                cite(i + 1, e.scored, documents[e.scored.sentence.doc_id])
                for i, e in enumerate(ranked[:related])
            ],
            confidence=confidence,
        )
    short = short_answer(query, ranked[0])
    chosen = [ranked[0]]
    for candidate in ranked[1:max_sentences]:
        if short is None and candidate.score >= 0.9 * ranked[0].score:
            chosen.append(candidate)
    citations = [
        cite(i + 1, e.scored, documents[e.scored.sentence.doc_id]) for i, e in enumerate(chosen)
    ]
    body = messages["prefix"] + " ".join(f"{c.quote} [{c.n}]" for c in citations)
    first = lead(query, short)
    used = {(c.doc_id, c.start) for c in citations}
    others = [
        e.scored
        for e in ranked[1:]
        if (e.scored.sentence.doc_id, e.scored.sentence.start) not in used
    ][:related]
    return Answer(
        question=query.text,
        language=query.language,
        found=True,
        answer=f"{first}\n\n{body}" if first else body,
        citations=citations,
        related=[
            cite(len(citations) + i + 1, s, documents[s.sentence.doc_id])
            for i, s in enumerate(others)
        ],
        confidence=confidence,
        short_answer=short,
    )
