"""Which sentence to cite first: a small learned ranker over retrieval and reader features.

Retrieval ranks sentences by resemblance to the question; the lede of a news story resembles
every question. The reader adds what resemblance cannot see: a span of the asked type, next
to the asked words, in the question's word order. How much each signal counts is fit on data
(listwise: a softmax over each question's read sentences, maximising the probability of those
holding the gold answer, on XQuAD dev articles 0-23; L2-regularised), per language group, and stored in `qa/data/rerank.json`:

    python -m bench.fit.rerank     # fits on dev, prints dev and test first-cite hit@1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.answering import listwise
from qa.answering.reader import Reading
from qa.records import ScoredSentence

RERANK_PATH = Path(__file__).resolve().parents[1] / "data" / "rerank.json"
FEATURES = (
    "retrieval",  # retrieval score minus the best one's (0 for the best)
    "dense",  # sentence cosine minus the best cosine among the read sentences
    "fit",  # how well the best span's type fits the asked type
    "support",  # IDF-weighted share of the question's words around that span
    "anchor",  # the span stands where the Vietnamese question word stands
    "coverage",  # IDF-weighted share of the question's words in the sentence
    "lede",  # the sentence opens its article
    "fit_number",  # fit, for count/amount/percent questions only
    "fit_time",  # fit, for date/period questions only
    "fit_name",  # fit, for person/organisation/place/list questions only
    "lexical",  # sentence BM25 over the best among the read sentences
    "bigrams",  # IDF-weighted share of the question's two-syllable terms in the sentence
    "length",  # log of the sentence length in characters
    "read_score",  # the reader's own score of its best span (unit, anchors, head noun, ...)
    "unit",  # the span is a number with the counted noun ("405 dự án")
    "head",  # the span is the kind of thing asked ("Cảng Los Angeles" for "cảng nào")
    "typed_exact",  # a typed question (count, date, person, ...) and a span of exactly that type
    "typed_none",  # a typed question and no span that fits it
)


@dataclass(frozen=True)
class Context:
    """What one question's sentence features are measured against: retrieval's best sentence,
    the best cosine and BM25 among the read sentences, and the asked answer type."""

    best: ScoredSentence
    best_dense: float
    best_lexical: float
    asked_type: str


def sentence_features(
    scored: ScoredSentence, reading: Reading | None, lede: bool, bigrams: float, context: Context
) -> list[float]:
    """The values of FEATURES for one candidate sentence."""
    best, best_dense, best_lexical = context.best, context.best_dense, context.best_lexical
    asked_type = context.asked_type
    fit = reading.fit if reading else 0.0
    return [
        scored.score - best.score,
        scored.dense - best_dense,
        fit,
        reading.support if reading else 0.0,
        reading.anchor if reading else 0.0,
        reading.coverage if reading else 0.0,
        1.0 if lede else 0.0,
        fit if asked_type in ("count", "amount", "percent") else 0.0,
        fit if asked_type in ("date", "period") else 0.0,
        fit if asked_type in ("person", "organisation", "place", "list") else 0.0,
        scored.lexical / best_lexical if best_lexical > 0 else 0.0,
        bigrams,
        math.log(max(len(scored.sentence.text), 1)),
        reading.score if reading else 0.0,
        1.0 if reading and reading.unit else 0.0,
        reading.head if reading else 0.0,
        1.0 if asked_type != "other" and fit >= 1.0 else 0.0,
        1.0 if asked_type != "other" and fit < 0.5 else 0.0,
    ]


@lru_cache(maxsize=2)
def weights(path: Path = RERANK_PATH) -> dict[str, tuple[list[float], float]]:
    """{group: (coefficients in FEATURES order, bias)}; empty when not fit yet."""
    return {g: (v["coef"], v["bias"]) for g, v in listwise.load(path, FEATURES).items()}


def score(group: str, values: list[float]) -> float | None:
    """Log-odds that the sentence holds the answer, or None without fitted weights."""
    fitted = weights().get(group)
    if fitted is None:
        return None
    coef, bias = fitted
    return bias + math.fsum(c * v for c, v in zip(coef, values, strict=True))
