"""From ranked sentences to an `Answer`: verbatim quotes, numbered citations, or "not found".

The default answer needs no generator: it quotes the best sentence(s) exactly, so every number,
date and name in it is copied from the cited text.
"""

from __future__ import annotations

from qa.retrieve.hybrid import Query, ScoredSentence
from qa.text import folded_words
from qa.types import Answer, Citation, Document

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


def _distinct(ranked: list[ScoredSentence]) -> list[ScoredSentence]:
    seen: set[str] = set()
    unique = []
    for scored in ranked:
        key = " ".join(folded_words(scored.sentence.text))
        if key not in seen:
            seen.add(key)
            unique.append(scored)
    return unique


def compose(
    query: Query,
    ranked: list[ScoredSentence],
    documents: dict[str, Document],
    found: bool,
    confidence: float,
    max_sentences: int = 2,
    related: int = 3,
) -> Answer:
    """Quote the best sentence, plus the runner-up when it scores nearly as well.

    A sentence that appears in several documents (syndicated copies of one story) is cited once.
    """
    messages = MESSAGES[query.language]
    ranked = _distinct(ranked)
    if not found or not ranked:
        return Answer(
            question=query.text,
            language=query.language,
            found=False,
            answer=messages["not_found"],
            related=[
                cite(i + 1, s, documents[s.sentence.doc_id]) for i, s in enumerate(ranked[:related])
            ],
            confidence=confidence,
        )
    chosen = [ranked[0]]
    for candidate in ranked[1:max_sentences]:
        if candidate.score >= 0.9 * ranked[0].score:
            chosen.append(candidate)
    citations = [cite(i + 1, s, documents[s.sentence.doc_id]) for i, s in enumerate(chosen)]
    body = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    used = {(c.doc_id, c.start) for c in citations}
    others = [s for s in ranked[1:] if (s.sentence.doc_id, s.sentence.start) not in used][:related]
    return Answer(
        question=query.text,
        language=query.language,
        found=True,
        answer=messages["prefix"] + body,
        citations=citations,
        related=[
            cite(len(citations) + i + 1, s, documents[s.sentence.doc_id])
            for i, s in enumerate(others)
        ],
        confidence=confidence,
    )
