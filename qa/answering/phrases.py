"""Answer candidates of no type, for the reader: the runs of words between the question's
words ("gaps"), and in Vietnamese the phrase standing where the question word stands
("anchored": the question keeps the answer's place, "… được gọi là [gì]" ~ "… được gọi là
Lạt-ma"). Typed candidates (numbers, dates, names) are `qa.answering.spans`.
"""

from __future__ import annotations

from qa.answering.spans import Span, Token
from qa.records import Asked
from qa.text import STOPWORDS_FOLDED, fold

_CLAUSE_END = frozenset(',.;:()[]!?"“”')
_MAX_ANCHORED = 7
_MAX_GAP = 8


def _trimmed(
    toks: list[Token], a: int, b: int, text: str, kind: str, asked: frozenset[str] = frozenset()
) -> Span | None:
    """toks[a:b] without function words, nor the question's own words (`asked`), at its ends."""
    skip = STOPWORDS_FOLDED | asked
    while a < b and fold(toks[a].text) in skip:
        a += 1
    while b > a and fold(toks[b - 1].text) in skip:
        b -= 1
    if a >= b:
        return None
    return Span(toks[a].start, toks[b - 1].end, text[toks[a].start : toks[b - 1].end], kind)


def gaps(toks: list[Token], matched: list[bool], text: str) -> list[Span]:
    """Runs of words between question words and punctuation: where an answer of no
    particular type can be (at most 8 words, function words trimmed at both ends)."""
    out = []
    i = 0
    while i < len(toks):
        if matched[i] or not toks[i].text[0].isalnum():
            i += 1
            continue
        j = i
        while j < len(toks) and not matched[j] and toks[j].text[0].isalnum() and j - i < _MAX_GAP:
            j += 1
        span = _trimmed(toks, i, j, text, "gap")
        if span:
            out.append(span)
        i = j
    return out


def anchored(toks: list[Token], folded: list[str], asked: Asked, text: str) -> list[Span]:
    """Vietnamese keeps the question word in place: after the words that preceded it in the
    question ("… được gọi là [gì]" ~ "… được gọi là Lạt-ma") or before those that followed it
    ("[Ai] đã giành …" ~ "Broncos đã giành …"), up to the clause's end or the next word of the
    question ("Super Bowl [nào] khi 38 tuổi" ~ "Super Bowl XXXIII ở tuổi 38")."""
    out = []
    own = frozenset(asked.words)
    # The span between the aligned anchors: it ends at the next word of the question (but the
    # asked noun, "sân bay" of "sân bay nào", may be part of the answer).
    stop = own - STOPWORDS_FOLDED - {h for hs in asked.head for h in hs}
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
            while (
                end < len(toks)
                and toks[end].text not in _CLAUSE_END
                and end - p < _MAX_ANCHORED
                and (end == p or folded[end] not in stop)
            ):
                end += 1
            span = _trimmed(toks, p, end, text, "anchored", own)
            if span:
                out.append(span)
    for q in range(len(toks) - 1):
        k = 0
        while k < len(right) and q + k < len(toks) and folded[q + k] == right[k]:
            k += 1
        if k >= 2 or (k == 1 and right[0] not in STOPWORDS_FOLDED):
            start = q
            while (
                start > 0
                and toks[start - 1].text not in _CLAUSE_END
                and q - start < _MAX_ANCHORED
                and folded[start - 1] not in stop
            ):
                start -= 1
            span = _trimmed(toks, start, q, text, "anchored", own)
            if span:
                out.append(span)
    return out
