"""The short-answer reader: which span of a sentence answers the question, and how well.

No model: the classic recipe of rule-based readers (question type → answer type, then the
candidate of that type nearest to the question's words — the sliding-window baseline of
MCTest/SQuAD), plus what Vietnamese gives for free: the question word stands where the answer
stands ("Hải Phòng có bao nhiêu dự án" ~ "Hải Phòng có 405 dự án"), so the words around it are
anchors. A span that repeats the question ("Hải Phòng" when Hải Phòng is asked about) is not an
answer.

`readings` scores every candidate of one sentence and `read` keeps the one the fitted span
scorer ranks first (`qa.answering.span_score`); its hand-weighted `Reading.score` is what
re-ranks sentences and what the "not found" decision reads (a sentence with no span of the
asked type near the asked words is evidence the articles do not say).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from qa import lexicon
from qa.answering import span_score
from qa.answering.phrases import anchored, gaps
from qa.answering.spans import Span, Token, candidates, tokens
from qa.records import Asked
from qa.text import STOPWORDS_FOLDED, fold

# How well a candidate's kind fits the asked type (1 = exactly what was asked).
# Provenance: set by hand with the first reader (commit 9099fe9, 2026-12-01), judged on the XQuAD
# dev split's short-answer F1 during development; no script reproduces these 40 numbers. The
# fitted span scorer (qa/data/span_score.json, written by bench/fit/span_score.py) reads this fit
# as one of its features, so changing a number here calls for refitting it.
FIT: dict[str, dict[str, float]] = {
    "count": {"number": 1.0, "amount": 0.3, "percent": 0.2, "period": 0.3},
    "amount": {"amount": 1.0, "number": 0.5, "percent": 0.3},
    "percent": {"percent": 1.0, "number": 0.3},
    "date": {"date": 1.0, "period": 0.6},
    "period": {"period": 1.0, "date": 0.5, "number": 0.3},
    "person": {"person": 1.0, "name": 0.6, "anchored": 0.4, "organisation": 0.3, "list": 0.3},
    "organisation": {"organisation": 1.0, "name": 0.6, "anchored": 0.4, "place": 0.3, "list": 0.3},
    "place": {"place": 1.0, "name": 0.6, "anchored": 0.4, "organisation": 0.3, "list": 0.3},
    "list": {"list": 1.0, "place": 0.4, "organisation": 0.4, "name": 0.4, "person": 0.4},
    "other": {
        "anchored": 0.8,
        "gap": 0.6,
        "name": 0.5,
        "organisation": 0.5,
        "place": 0.5,
        "person": 0.5,
    },
}
# Folded syllables of the Vietnamese number modifiers that compare or approximate ("hơn", "xấp xỉ").
_MODIFIERS = frozenset(
    w
    for m in lexicon.modifiers("vi")
    if m.kind in ("compare", "approximate")
    for w in fold(m.phrase).split()
)
_WINDOW = 10
_NAMES = frozenset(["person", "organisation", "place", "name"])
_QUANTITIES = frozenset(["number", "amount", "percent"])
# Classifiers between a number and its noun ("5.100 cái tên").
_CLASSIFIERS = frozenset(fold(w) for w in lexicon.classifiers())


@dataclass(frozen=True)
class Reading:
    """The best span of one sentence: offsets relative to the sentence text, its type (the
    candidate's kind, or the asked type when a number fits it), and the evidence."""

    start: int
    end: int
    text: str
    type: str
    score: float
    fit: float
    support: float  # IDF-weighted share of the question's words within the window
    anchor: float = 0.0  # the words around it are those around the question word (VI)
    coverage: float = 0.0  # IDF-weighted share of the question's words in the whole sentence
    unit: bool = False  # a number followed by the counted noun ("405 dự án" for "bao nhiêu dự án")
    head: float = 0.0  # the span is the kind of thing the question names ("Cảng …", "7/8")
    features: tuple[float, ...] = ()  # the values of span_score.FEATURES
    # The fitted score that chose this span among the sentence's candidates; `score` is the
    # hand-weighted one, the scale the sentence ranker and the "not found" model were fit on.
    rank: float = 0.0


def _folded(toks: list[Token]) -> list[str]:
    return [fold(t.text) for t in toks]


def _index(toks: list[Token], offset: int) -> int:
    """The index of the first token ending after `offset` (len(toks) if none)."""
    return bisect.bisect_right(_ends(toks), offset)


def _ends(toks: list[Token]) -> list[int]:
    return [t.end for t in toks]


def _extend_unit(
    span: Span, toks: list[Token], folded: list[str], units: tuple[tuple[str, ...], ...], text: str
) -> tuple[Span, bool]:
    """'405' → '405 dự án' when the question counts "dự án" ("bao nhiêu dự án")."""
    j = _index(toks, span.end)
    for unit in units:
        if not unit:
            continue
        at = j + (j < len(toks) and folded[j] in _CLASSIFIERS and folded[j] != unit[0])
        k = 0
        while k < len(unit) and at + k < len(toks) and folded[at + k] == unit[k]:
            k += 1
        if k:
            end = toks[at + k - 1].end
            return Span(span.start, end, text[span.start : end], span.type), True
    return span, False


_DAY_RE = re.compile(r"\d{1,2}\s*/\s*\d{1,2}|ngày\s+\d|\d{1,2}\s+tháng", re.I)
_YEAR_ONLY_RE = re.compile(r"^(?:(?:vào\s+)?năm\s+)?\d{4}$", re.I)


def _head_bonus(asked: Asked, span: Span, toks: list[Token], folded: list[str], i: int) -> float:
    """The question names the kind of thing asked ("cảng nào", "which port", "ngày nào"): a
    candidate that is that kind of thing ("Cảng Los Angeles", "7/8") is preferred."""
    if asked.type == "date":
        grains = {h[0] for h in asked.head}
        day = bool(_DAY_RE.search(span.text))
        year = bool(_YEAR_ONLY_RE.match(span.text.strip()))
        return 0.6 * (("ngay" in grains and day) or ("nam" in grains and year))
    if asked.type == "place" and i > 0 and folded[i - 1] in ("tai", "o"):
        return 0.5  # "tại TP. Thâm Quyến": where something happens
    for head in asked.head:
        n = len(head)
        if tuple(folded[i : i + n]) == head or tuple(folded[max(0, i - n) : i]) == head:
            return 0.8
    return 0.0


def _anchor(folded: list[str], i: int, j: int, asked: Asked) -> float:
    """1.0 per side where the words next to toks[i:j] are the question's words next to its
    question word (Vietnamese word order)."""
    score = 0.0
    left = [w for w in folded[max(0, i - 3) : i] if w not in _MODIFIERS]
    if asked.left and left and left[-1] == asked.left[-1]:
        score += 0.5 + 0.5 * (len(left) > 1 and len(asked.left) > 1 and left[-2] == asked.left[-2])
    right = folded[j : j + 2]
    if asked.right and right and right[0] == asked.right[0]:
        score += 0.5 + 0.5 * (
            len(right) > 1 and len(asked.right) > 1 and right[1] == asked.right[1]
        )
    return score


@dataclass(frozen=True)
class _Sentence:
    """One sentence as the reader sees it: tokens, folded words, which are the question's."""

    text: str
    toks: list[Token]
    folded: list[str]
    matched: list[bool]
    idf: Callable[[str], float]
    total: float  # IDF mass of the question's words
    matched_at: tuple[int, ...]  # indices of the question's words
    ends: list[int]  # end offset of each token
    regions: tuple[tuple[int, int], ...] = ()  # character ranges where the answer would stand

    def bounds(self, span: Span) -> tuple[int, int]:
        return (
            bisect.bisect_right(self.ends, span.start),
            bisect.bisect_right(self.ends, span.end - 1) + 1,
        )


def _pool(asked: Asked, sent: _Sentence, places: frozenset[str]) -> list[Span]:
    """The candidates worth scoring: typed spans the asked type accepts, plus untyped phrases
    for questions of no type (or when nothing typed is there)."""
    fits = FIT[asked.type]
    pool = [s for s in candidates(sent.text, places) if s.type in fits]
    if asked.type == "other" or not pool:
        pool += gaps(sent.toks, sent.matched, sent.text)
    if asked.language == "vi" and "anchored" in fits and asked.type not in _NAME_QUESTIONS:
        pool += anchored(sent.toks, sent.folded, asked, sent.text)
    return pool


_NAME_QUESTIONS = frozenset(["person", "organisation", "place", "list"])
_SIDE = 15


def _sides(asked: Asked, sent: _Sentence, i: int, j: int) -> float:
    """Vietnamese keeps the question word in place, so the question's words before it should
    occur before the answer and those after it, after: the IDF-weighted share found on the
    right side, each discounted by its distance from toks[i:j]."""
    total = found = 0.0
    n = len(sent.folded)
    sides = (
        (asked.preceding, range(i - 1, max(-1, i - 1 - _SIDE), -1)),
        (asked.following, range(j, min(n, j + _SIDE))),
    )
    for words, positions in sides:
        for word in set(words):
            weight = sent.idf(word)
            total += weight
            at = next((d for d, k in enumerate(positions) if sent.folded[k] == word), None)
            if at is not None:
                found += weight / (1 + at / 4)
    return found / total if total else 0.0


def _strip_asked(asked: Asked, sent: _Sentence, span: Span, head: float) -> Span | None:
    """A name without the question's own words at its ends ("Super Bowl XLIX New England
    Patriots" → "New England Patriots"), or None when nothing (or a fragment) is left; the
    asked head noun stays ("Cảng Los Angeles" for "cảng nào")."""
    i, j = a, b = sent.bounds(span)
    heads = {h[0] for h in asked.head if h}
    while i < j and sent.matched[i] and not (head and sent.folded[i] in heads):
        i += 1
    while j > i and sent.matched[j - 1]:
        j -= 1
    toks = sent.toks
    if i == j or ((a, b) != (i, j) and (j - i < 2 or not toks[i].cap)):
        return None
    return Span(
        toks[i].start, toks[j - 1].end, sent.text[toks[i].start : toks[j - 1].end], span.type
    )


def _shape(asked: Asked, span: Span, length: int) -> float:
    """Answers of no type are short phrases, not one syllable; people have two names or more."""
    if span.type in ("gap", "anchored"):
        return 0.3 * min(length, 4) / 4 - 0.3 * (length > 6)
    if asked.type in ("person", "list") and span.type in _NAMES:
        return 0.2 * (length >= 2)
    return 0.0


def _next_word(sent: _Sentence, k: int, step: int) -> int | None:
    """The index of the first content word from k on (in direction `step`, at most 2 function
    words skipped), or None at punctuation or the sentence's end."""
    for _ in range(3):
        if not 0 <= k < len(sent.toks) or not sent.toks[k].text[0].isalnum():
            return None
        if sent.folded[k] not in STOPWORDS_FOLDED:
            return k
        k += step
    return None


def _adjacency(sent: _Sentence, i: int, j: int) -> tuple[float, float, float, float]:
    """Whether a question word comes right before toks[i:j] and right after it (function words
    aside, within the clause), the share of its words that are the question's, and whether
    the nearest question word is in the same clause (no punctuation between)."""
    before, after = _next_word(sent, i - 1, -1), _next_word(sent, j, 1)
    inside = sum(sent.matched[i:j]) / max(j - i, 1)
    nearest = min(sent.matched_at, key=lambda k: min(abs(k - i), abs(k - j + 1)), default=None)
    clause = 0.0
    if nearest is not None:
        a, b = sorted((nearest, i if nearest < i else j - 1))
        clause = float(all(sent.toks[k].text[0].isalnum() for k in range(a, b + 1)))
    return (
        float(before is not None and sent.matched[before]),
        float(after is not None and sent.matched[after]),
        inside,
        clause,
    )


def _score(asked: Asked, sent: _Sentence, span: Span, coverage: float) -> Reading | None:
    """The reading of one candidate span, or None when it is not an answer."""
    i = sent.bounds(span)[0]
    head = _head_bonus(asked, span, sent.toks, sent.folded, i)
    if span.type in _NAMES:
        stripped = _strip_asked(asked, sent, span, head)
        if stripped is None:
            return None
        span = stripped
        i = sent.bounds(span)[0]
    j = sent.bounds(span)[1]
    skip = STOPWORDS_FOLDED | _MODIFIERS if span.type in _QUANTITIES else STOPWORDS_FOLDED
    if head:  # "Super Bowl nào" → "Super Bowl XXXIII": the asked noun is not the question's own
        skip = skip | {h for hs in asked.head for h in hs}
    own = [sent.matched[k] for k in range(i, j) if sent.folded[k] not in skip]
    # The question's own words are not its answer; beside the asked noun, none of them
    # ("Trung tâm kết nối khởi nghiệp" for "which startup center" is the noun asked, restated).
    if own and sum(own) > (0 if head else len(own) / 2):
        return None
    span, unit = _extend_unit(span, sent.toks, sent.folded, asked.units, sent.text)
    j = sent.bounds(span)[1]
    near = {sent.folded[k] for k in sent.matched_at if i - _WINDOW <= k < j + _WINDOW}
    support = sum(sent.idf(w) for w in near)
    support /= sent.total
    outside = [k for k in sent.matched_at if not i <= k < j]
    distance = min((i - k if k < i else k - j + 1 for k in outside), default=99)
    fit = FIT[asked.type].get(span.type, 0.2)
    if asked.type == "count" and not asked.units and span.type in ("amount", "percent"):
        fit = 0.8  # "Phí … là bao nhiêu?": nothing counted, so a sum of money answers too
    anchor = _anchor(sent.folded, i, j, asked) if asked.language == "vi" else 0.0
    if span.type in _NAMES and any(a <= span.start and span.end <= b for a, b in sent.regions):
        anchor = max(anchor, 0.5)  # a name where the question word's neighbours put the answer
    n = len(sent.toks)
    values = (
        _shape(asked, span, j - i),
        head,
        fit,
        support,
        1 / (1 + distance / 3),
        float(unit),
        anchor,
        _sides(asked, sent, i, j),
        min(j - i, 10) / 10,
        float(span.type == "gap"),
        float(span.type == "anchored"),
        float(span.type in _NAMES),
        float(span.type not in _NAMES and span.type not in ("gap", "anchored")),
        float(sent.toks[i].cap),
        i / n,
        *_adjacency(sent, i, j),
    )
    # A number or a name of unknown kind takes the asked type when it fits; a phrase of no
    # type is "other"; a typed span keeps its own type.
    generic = span.type in ("number", "name", "gap", "anchored")
    kind = asked.type if generic and fit >= 0.5 else "other" if generic else span.type
    return Reading(
        span.start,
        span.end,
        span.text,
        kind,
        span_score.hand(values),
        fit,
        support,
        anchor,
        coverage,
        unit,
        head,
        values,
        span_score.rank(asked, values),
    )


def readings(
    asked: Asked,
    text: str,
    words: frozenset[str],
    idf: Callable[[str], float],
    places: frozenset[str] = frozenset(),
) -> list[Reading]:
    """Every candidate span of sentence `text` that can answer `asked`, scored.
    `words`: folded syllables the question is about (for English questions, their glossary
    translations); `idf` weighs them."""
    toks = tokens(text)
    if not toks:
        return []
    folded = _folded(toks)
    matched = [w in words and w not in STOPWORDS_FOLDED for w in folded]
    total = sum(idf(w) for w in words if w not in STOPWORDS_FOLDED) or 1.0
    at = tuple(k for k, m in enumerate(matched) if m)
    sent = _Sentence(text, toks, folded, matched, idf, total, at, _ends(toks))
    if asked.language == "vi" and asked.type in _NAME_QUESTIONS:
        regions = tuple((r.start, r.end) for r in anchored(toks, folded, asked, text))
        sent = replace(sent, regions=regions)
    coverage = sum(idf(w) for w in set(folded) if w in words and w not in STOPWORDS_FOLDED) / total
    found = (_score(asked, sent, span, coverage) for span in _pool(asked, sent, places))
    return [r for r in found if r is not None]


def read(
    asked: Asked,
    text: str,
    words: frozenset[str],
    idf: Callable[[str], float],
    places: frozenset[str] = frozenset(),
) -> Reading | None:
    """The best answering span of sentence `text` for `asked` (see `readings`), or None when
    it has no candidate: the kind of thing the question names first ("7/8" for "ngày nào",
    not "năm 2024"; "Cảng Los Angeles" for "cảng nào"), then the fitted rank."""
    found = readings(asked, text, words, idf, places)
    return max(found, key=lambda r: (r.head > 0, r.rank), default=None)
