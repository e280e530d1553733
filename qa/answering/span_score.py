"""How the reader weighs one candidate span: a linear score over its features, fit on data.

Read on the sentence that holds the gold answer, the reader's candidates include a span with
token F1 0.71 on average for XQuAD dev questions of no type ("what", "gì"), but the
hand-weighted score picked one with 0.35: choosing among candidates, not finding them, is
what loses. So the weights are fit (listwise: a softmax over each question's candidates in
its gold sentence, maximising the probability of the best-F1 ones; XQuAD dev articles 0-23;
per language and kind of question) and stored in `qa/data/span_score.json`.

Only where it helps (`FIT_GROUPS`): questions of no type in both languages, Vietnamese names
and dates. Everything else keeps the hand weights below (so does everything without the
file). Numbers: few dev questions (84-111), and the fit did not beat the hand weights (EN
dev F1 0.496 vs 0.504, VI test 0.660 vs 0.662) but learnt to prefer late spans ("153,68%"
over "hơn 3,073 tỷ USD" for the FDI question). English names and dates: the fit learnt to
avoid a span followed by a question word (weights -1.9, -3.3), which answered the corpus's
"When was the conference in Shenzhen held?" with "năm 2024", not "7/8", and "Which startup
center …?" with a list of provinces. Lists: 1-19 dev questions.

    python -m bench.fit.span_score     # fits on dev, prints dev and test F1 of the reading
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from qa.answering import listwise
from qa.records import Asked

SPAN_SCORE_PATH = Path(__file__).resolve().parents[1] / "data" / "span_score.json"
FEATURES = (
    "shape",  # phrases of no type are a few words long; people have two names or more
    "head",  # the span is the kind of thing the question names ("Cảng …" for "cảng nào")
    "fit",  # how well the span's kind fits the asked type
    "support",  # IDF-weighted share of the question's words within 10 words of it
    "near",  # 1 / (1 + distance to the nearest question word / 3)
    "unit",  # a number followed by the counted noun ("405 dự án")
    "anchor",  # the words next to it are those next to the Vietnamese question word
    "sides",  # the question's words before/after its question word are before/after it
    "length",  # its length in words / 10 (at most 1)
    "gap",  # a run of words between question words
    "anchored",  # the phrase where the Vietnamese question word stands
    "name",  # a capitalised name
    "typed",  # a number, amount, date or period
    "capital",  # it starts with a capital
    "position",  # where it starts in the sentence (0 = first word, near 1 = last)
    "after_asked",  # a question word comes right before it (function words aside)
    "before_asked",  # a question word comes right after it
    "inside",  # share of its words that are the question's
    "clause",  # the nearest question word is in its clause (no punctuation between)
)
# The first round's hand weights (shape, head, fit, support, near, unit, anchor).
HAND = (1.0, 1.0, 2.0, 1.5, 0.8, 0.6, 0.6) + (0.0,) * 12
FIT_GROUPS = ("vi:name", "vi:time", "vi:other", "en:other")
GROUPS = {
    "count": "number",
    "amount": "number",
    "percent": "number",
    "date": "time",
    "period": "time",
    "person": "name",
    "organisation": "name",
    "place": "name",
    "list": "list",
    "other": "other",
}


def group_of(asked: Asked) -> str:
    """The model a question's candidates are scored by: its language and kind of type."""
    return f"{'en' if asked.language == 'en' else 'vi'}:{GROUPS[asked.type]}"


@lru_cache(maxsize=2)
def weights(path: Path = SPAN_SCORE_PATH) -> dict[str, list[float]]:
    """{group: coefficients in FEATURES order}; empty when not fit yet."""
    return {g: v["coef"] for g, v in listwise.load(path, FEATURES).items()}


def rank(asked: Asked, values: tuple[float, ...]) -> float:
    """The fitted score of one candidate, to choose among one sentence's candidates (higher
    is a better answer); the hand weights for a kind of question not fit."""
    coef = weights().get(group_of(asked), HAND)
    return math.fsum(c * v for c, v in zip(coef, values, strict=True))


def hand(values: tuple[float, ...]) -> float:
    """The hand-weighted score of one candidate: fit listwise within one sentence, `rank`
    says nothing across sentences, so this is the score the sentence ranker and the "not
    found" model read (they were fit on it)."""
    return math.fsum(c * v for c, v in zip(HAND, values, strict=True))
