"""Choosing the sentence that answers: retrieval's sentence ranking, re-ranked with the reader.

Retrieval ranks sentences by how much they resemble the question; the sentence that answers
resembles it *and* holds a span of the asked type next to the asked words. On a news story
the lede resembles every question, so resemblance alone cites it by default. The top
sentences are read (`qa.answering.reader`) and re-ordered by a ranker fit on XQuAD dev
articles (`qa.answering.rerank`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from qa.answering import rerank
from qa.answering.english import known_places
from qa.answering.learned import LearnedSpan
from qa.answering.reader import Reading, read
from qa.records import Candidates, Question, ScoredSentence
from qa.text import terms

# Sentences read per question (the answer is among retrieval's top 12 for ~97% of XQuAD dev
# questions whose paragraph is retrieved); without fitted ranker weights a reading adds
# FALLBACK_WEIGHT × its score to the retrieval score.
READ_TOP = 12
FALLBACK_WEIGHT = 0.25


@dataclass(frozen=True)
class Evidence:
    """One candidate sentence as read: the rules' best span (`reading`), its rank score, the
    ranker's features; with the learned reader, the model's span where it is the one to show
    (`learned`) and its margin (span − "no answer" logit; 0 without the model)."""

    scored: ScoredSentence
    reading: Reading | None
    score: float
    features: tuple[float, ...] = ()
    learned: LearnedSpan | None = None
    margin: float = 0.0


@lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def read_all(question: Question, candidates: Candidates, top: int = READ_TOP) -> list[Evidence]:
    """The top `top` sentences, read, with their ranker features (retrieval order)."""
    asked = question.asked
    head = candidates.ranked[:top]
    if not head:
        return []
    places = known_places()
    best_dense = max(s.dense for s in head)
    best_lexical = max(s.lexical for s in head)
    context = rerank.Context(head[0], best_dense, best_lexical, asked.type)
    idf = candidates.sentence_stats.idf
    pairs = {t for t in question.terms if "_" in t}
    total = sum(idf(t) for t in pairs) or 1.0
    out = []
    for scored in head:
        reading = read(asked, scored.sentence.text, question.words, idf, places)
        lede = (scored.sentence.doc_id, scored.sentence.start) in candidates.ledes
        shared = pairs & _terms(scored.sentence.text)
        bigrams = sum(idf(t) for t in shared) / total
        values = rerank.sentence_features(scored, reading, lede, bigrams, context)
        out.append(Evidence(scored, reading, scored.score, tuple(values)))
    return out


def weigh(question: Question, candidates: Candidates) -> list[Evidence]:
    """Sentences best first: the top ones read and re-ranked, the rest in retrieval order."""
    scored = []
    for evidence in read_all(question, candidates):
        value = rerank.score(question.group, list(evidence.features))
        if value is None:
            bonus = evidence.reading.score if evidence.reading else 0.0
            value = evidence.scored.score + FALLBACK_WEIGHT * bonus
        scored.append(replace(evidence, score=value))
    scored.sort(key=lambda e: -e.score)
    low = min((e.score for e in scored), default=0.0)
    rest = candidates.ranked[READ_TOP:]
    return scored + [Evidence(s, None, low - 1.0 - i) for i, s in enumerate(rest)]
