"""Choosing the sentence that answers: retrieval's sentence ranking, re-ranked by the reader.

Retrieval ranks sentences by how much they resemble the question; the sentence that answers
resembles it *and* holds a span of the asked type next to the asked words. On a news story
the lede resembles every question, so resemblance alone cites it by default. Here the top
sentences are read (`qa.answering.reader`) and re-ordered by retrieval score plus reading score.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.answering.english import known_places
from qa.answering.question import Asked, analyze
from qa.answering.reader import Reading, read
from qa.retrieve.hybrid import Query, ScoredSentence, glossary
from qa.retrieve.lexical import BM25, query_terms

# Sentences read per question, and the weight of a reading against the retrieval score (whose
# scale is about 0-4). Tuned on XQuAD dev articles 0-23 (qa.bench.reader --diagnose).
READ_TOP = 12
WEIGHT = {"vi": 0.5, "en": 0.5}


@dataclass(frozen=True)
class Evidence:
    scored: ScoredSentence
    reading: Reading | None
    score: float


def asked_of(query: Query) -> Asked:
    """The reader's analysis of a query (an unaccented question is read with its accents
    restored, as the dense channel reads it)."""
    text = query.dense_text if query.kind == "vi_unaccented" else query.text
    return analyze(text, query.language)


def question_words(query: Query, asked: Asked) -> frozenset[str]:
    """Folded syllables the answer sentence should share with the question: the query's terms
    (for English, names and numbers plus glossary translations) and its counted noun."""
    words = {t for t in query.terms if "_" not in t}
    if query.language == "en" and asked.unit:
        for phrase in glossary().translate(" ".join(asked.unit)):
            words.update(t for t in query_terms(phrase) if "_" not in t)
    return frozenset(words)


def english_unit(asked: Asked) -> tuple[str, ...]:
    """The counted noun of an English question in Vietnamese syllables ("workers" → "lao
    động"), so "58.000 lao động" extends like "405 dự án" does for Vietnamese."""
    if asked.language != "en" or not asked.unit:
        return asked.unit
    found = glossary().translate(" ".join(asked.unit))
    return tuple(query_terms(found[0].split("|")[0])[:2]) if found else ()


def weigh(
    query: Query, ranked: list[ScoredSentence], bm25: BM25, top: int = READ_TOP
) -> tuple[Asked, list[Evidence]]:
    """The top `top` sentences read and re-ranked (the rest keep their order, unread)."""
    asked = asked_of(query)
    words = question_words(query, asked)
    reading_asked = Asked(
        asked.type, asked.language, asked.words, asked.left, asked.right, english_unit(asked)
    )
    places = known_places()
    weight = WEIGHT["en" if query.language == "en" else "vi"]
    out = []
    for scored in ranked[:top]:
        reading = read(reading_asked, scored.sentence.text, words, bm25.idf, places)
        bonus = weight * reading.score if reading else 0.0
        out.append(Evidence(scored, reading, scored.score + bonus))
    out.sort(key=lambda e: -e.score)
    out += [Evidence(s, None, s.score) for s in ranked[top:]]
    return asked, out
