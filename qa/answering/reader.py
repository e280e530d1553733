"""The short-answer reader: which span of a sentence answers the question, and how well.

No model: the classic recipe of rule-based readers (question type → answer type, then the
candidate of that type nearest to the question's words — the sliding-window baseline of
MCTest/SQuAD), plus what Vietnamese gives for free: the question word stands where the answer
stands ("Hải Phòng có bao nhiêu dự án" ~ "Hải Phòng có 405 dự án"), so the words around it are
anchors. A span that repeats the question ("Hải Phòng" when Hải Phòng is asked about) is not an
answer.

`read` scores every candidate of one sentence; `Reading.score` is also what re-ranks sentences
and what the "not found" decision reads (a sentence with no span of the asked type near the
asked words is evidence the articles do not say).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.answering.question import Asked
from qa.answering.spans import Span, Token, candidates, tokens
from qa.text import STOPWORDS_FOLDED, fold

# How well a candidate's kind fits the asked type (1 = exactly what was asked).
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
        "person": 0.4,
    },
}
_MODIFIERS = frozenset("hon gan khoang tren duoi gap chung xap xi toi".split())
_WINDOW = 10
_NAMES = frozenset(["person", "organisation", "place", "name"])
_QUANTITIES = frozenset(["number", "amount", "percent"])
# Classifiers between a number and its noun ("5.100 cái tên").
_CLASSIFIERS = frozenset("cai con chiec nguoi ngoi to bo quyen".split())


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


def _gaps(toks: list[Token], matched: list[bool], text: str) -> list[Span]:
    """Runs of words between question words and punctuation: where an answer of no
    particular type can be (at most 8 words, function words trimmed at both ends)."""
    out = []
    i = 0
    while i < len(toks):
        if matched[i] or not toks[i].text[0].isalnum():
            i += 1
            continue
        j = i
        while j < len(toks) and not matched[j] and toks[j].text[0].isalnum() and j - i < 8:
            j += 1
        a, b = i, j
        while a < b and fold(toks[a].text) in STOPWORDS_FOLDED:
            a += 1
        while b > a and fold(toks[b - 1].text) in STOPWORDS_FOLDED:
            b -= 1
        if a < b:
            out.append(
                Span(toks[a].start, toks[b - 1].end, text[toks[a].start : toks[b - 1].end], "gap")
            )
        i = j
    return out


_CLAUSE_END = frozenset(',.;:()[]!?"“”')
_MAX_ANCHORED = 7


def _trimmed(toks: list[Token], a: int, b: int, text: str) -> Span | None:
    while a < b and fold(toks[a].text) in STOPWORDS_FOLDED:
        a += 1
    while b > a and fold(toks[b - 1].text) in STOPWORDS_FOLDED:
        b -= 1
    if a >= b:
        return None
    return Span(toks[a].start, toks[b - 1].end, text[toks[a].start : toks[b - 1].end], "anchored")


def _anchored(toks: list[Token], folded: list[str], asked: Asked, text: str) -> list[Span]:
    """Vietnamese keeps the question word in place: after the words that preceded it in the
    question ("… được gọi là [gì]" ~ "… được gọi là Lạt-ma") or before those that followed it
    ("[Ai] đã giành …" ~ "Broncos đã giành …"), up to the clause's end."""
    out = []
    right = list(asked.right)
    # The answer may replace the noun before the question word too ("dựa trên [thuộc tính
    # chính] nào" ~ "dựa trên độ khó"): the left context is tried without its last 0-3 words.
    lefts = [list(asked.left[: len(asked.left) - d]) for d in range(4) if len(asked.left) > d]
    for p, left in ((p, left) for p in range(1, len(toks)) for left in lefts):
        k = 0
        while k < len(left) and p - 1 - k >= 0 and folded[p - 1 - k] == left[-1 - k]:
            k += 1
        if k >= 2 or (k == 1 and (left[-1] not in STOPWORDS_FOLDED or left[-1] == "la")):
            end = p
            while end < len(toks) and toks[end].text not in _CLAUSE_END and end - p < _MAX_ANCHORED:
                end += 1
            span = _trimmed(toks, p, end, text)
            if span:
                out.append(span)
    for q in range(len(toks) - 1):
        k = 0
        while k < len(right) and q + k < len(toks) and folded[q + k] == right[k]:
            k += 1
        if k >= 2 or (k == 1 and right[0] not in STOPWORDS_FOLDED):
            start = q
            while (
                start > 0 and toks[start - 1].text not in _CLAUSE_END and q - start < _MAX_ANCHORED
            ):
                start -= 1
            span = _trimmed(toks, start, q, text)
            if span:
                out.append(span)
    return out


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
        pool += _gaps(sent.toks, sent.matched, sent.text)
    if asked.language == "vi" and "anchored" in fits:
        pool += _anchored(sent.toks, sent.folded, asked, sent.text)
    return pool


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
    own = [sent.matched[k] for k in range(i, j) if sent.folded[k] not in skip]
    if own and sum(own) > len(own) / 2:
        return None  # the question's own words are not its answer
    span, unit = _extend_unit(span, sent.toks, sent.folded, asked.units, sent.text)
    j = sent.bounds(span)[1]
    near = {sent.folded[k] for k in sent.matched_at if i - _WINDOW <= k < j + _WINDOW}
    support = sum(sent.idf(w) for w in near)
    support /= sent.total
    outside = [k for k in sent.matched_at if not i <= k < j]
    distance = min((i - k if k < i else k - j + 1 for k in outside), default=99)
    fit = FIT[asked.type].get(span.type, 0.2)
    anchor = _anchor(sent.folded, i, j, asked) if asked.language == "vi" else 0.0
    score = (
        _shape(asked, span, j - i)
        + head
        + 2.0 * fit
        + 1.5 * support
        + 0.8 / (1 + distance / 3)
        + 0.6 * unit
        + 0.6 * anchor
    )
    # A number or a name of unknown kind takes the asked type when it fits; a phrase of no
    # type is "other"; a typed span keeps its own type.
    generic = span.type in ("number", "name", "gap", "anchored")
    kind = asked.type if generic and fit >= 0.5 else "other" if generic else span.type
    return Reading(
        span.start, span.end, span.text, kind, score, fit, support, anchor, coverage, unit, head
    )


def read(
    asked: Asked,
    text: str,
    words: frozenset[str],
    idf: Callable[[str], float],
    places: frozenset[str] = frozenset(),
) -> Reading | None:
    """The best answering span of sentence `text` for `asked`, or None when it has no
    candidate. `words`: folded syllables the question is about (for English questions, their
    glossary translations); `idf` weighs them."""
    toks = tokens(text)
    if not toks:
        return None
    folded = _folded(toks)
    matched = [w in words and w not in STOPWORDS_FOLDED for w in folded]
    total = sum(idf(w) for w in words if w not in STOPWORDS_FOLDED) or 1.0
    at = tuple(k for k, m in enumerate(matched) if m)
    sent = _Sentence(text, toks, folded, matched, idf, total, at, _ends(toks))
    coverage = sum(idf(w) for w in set(folded) if w in words and w not in STOPWORDS_FOLDED) / total
    readings = (_score(asked, sent, span, coverage) for span in _pool(asked, sent, places))
    return max((r for r in readings if r is not None), key=lambda r: r.score, default=None)
