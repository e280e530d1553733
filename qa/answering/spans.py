"""Candidate answer spans of one sentence, typed: numbers with what qualifies them, dates,
periods, names (person, organisation, place) and lists of names. Pure regular expressions and
capitalisation, no model: Vietnamese capitalises every syllable of a proper name ("Lê Tiến
Châu", "Thâm Quyến") and only the first of a common word, which is enough to find names; what
kind of name is told by the word before it ("ông", "tại", "Công ty") or the glossary.

Offsets are relative to the sentence text: `text[span.start:span.end] == span.text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa import lexicon
from qa.answering.facts import DATE_PATTERNS, PERIOD_PATTERNS
from qa.text import WORD_END, fold, is_vi_syllable


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    type: str  # a qa.answering.question type, or "number"/"name" when the kind is unknown


# Modifiers, scales, currencies and units are the lexicon's (qa/data/lexicon/), shared with the
# English rendering and the grounding check. A scale or percent word is a whole word
# (WORD_END: "5 tỉnh" is 5 provinces, not "5 tỉ" + "nh"); scale abbreviations ("mn", "bn") are
# left out of the reader's spans.
_MOD = rf"(?:(?:{lexicon.alternation((m.phrase for m in lexicon.modifiers()), ' ')})\s+)?"
_NUM = r"\d+(?:[.,]\d+)*"
_SCALE_WORDS = lexicon.alternation(w for w, s in lexicon.scales().items() if s.form == "word")
_SCALE = rf"(?:\s*(?:{_SCALE_WORDS}){WORD_END})?"
_CURRENCY = rf"(?:{lexicon.alternation(lexicon.currencies())})"
_MONEY_RE = re.compile(
    rf"{_MOD}(?:(?:US\$|\$|€)\s?{_NUM}{_SCALE}|{_NUM}{_SCALE}\s*{_CURRENCY}(?!\w))", re.I
)
_PERCENT_WORDS = lexicon.alternation(p for p in lexicon.percents() if p != "%")
_PERCENT_RE = re.compile(rf"{_MOD}{_NUM}\s*(?:%|(?:{_PERCENT_WORDS}){WORD_END})", re.I)
_NUMBER_RE = re.compile(rf"{_MOD}(?<![\w.,]){_NUM}(?![\w]){_SCALE}", re.I)
# Spelled-out numbers and scores ("bốn lựa chọn", "23-16"); "năm" only when no year follows.
_WORD_NUMBER_RE = re.compile(
    r"(?<!\w)(?:hai|ba|bốn|sáu|bảy|tám|chín|mười|mươi|vài|hàng chục|hàng trăm"
    r"|hàng nghìn|two|three|four|five|six|seven|eight|nine|ten|twelve)(?:\s+(?:mươi|trăm|nghìn))?(?!\w)"
)
_SCORE_RE = re.compile(r"(?<![\d/])\d{1,3}\s*[-–]\s*\d{1,3}(?![\d/])")
_YEAR_RE = re.compile(
    r"(?:(?:vào\s+)?(?:năm|thập niên|thập kỷ|những năm|đầu năm|cuối năm|giữa năm)\s+)?"
    r"(?<![\d.,/])(?:1[0-9]|20)\d{2}(?:s)?(?![\d.,/]\d)",
    re.I,
)
_CENTURY_RE = re.compile(r"thế kỷ (?:thứ )?(?:\d+|[IVXLC]+)", re.I)
_RANGE_RE = re.compile(
    r"từ\s+(?:ngày\s+|năm\s+|tháng\s+)?(?P<a>[\d/]+)\s+(?:đến|tới)\s+(?:ngày\s+|năm\s+|tháng\s+)?(?P<b>[\d/]+)"
    r"|(?<![\d/])(?:1[0-9]|20)\d{2}\s*[-–]\s*(?:1[0-9]|20)\d{2}(?!\d)",
    re.I,
)
_WORDS = r"(?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|vài|nhiều|hàng chục)(?:\s+(?:mươi|trăm))?"
_DURATIONS = lexicon.alternation(
    dict.fromkeys(
        w
        for u in lexicon.units("duration")
        for w in (u.vietnamese, u.english, lexicon.english_plural(u.english))
    )
)
_DURATION_RE = re.compile(
    rf"{_MOD}(?:{_NUM}|{_WORDS})\s+(?:{_DURATIONS})(?!\w)",
    re.I,
)


# Words before a name that tell its kind, title syllables, surnames, where a name stops, sentence
# openers: the lexicon's name_cues.tsv (lower-case, compared as written; a cue phrase counts by
# each of its syllables, an organisation's start by the whole phrase).
def _syllables(role: str) -> frozenset[str]:
    return frozenset(w for phrase in lexicon.name_cues(role) for w in phrase.split())


_PERSON_CUES = _syllables("person")
_PLACE_CUES = _syllables("place")
_ORG_HEADS = frozenset(lexicon.name_cues("organisation"))
_ORG_WORDS = _syllables("organisation_word")
_TITLES = _syllables("title")
_SURNAMES = _syllables("surname")
_STOP_ORG = _syllables("ends_organisation")
# Lower-case words that follow a name without being part of it ("Lê Tiến Châu đã…").
_AFTER_NAME = _STOP_ORG | _syllables("follows_name")
# Capitalised only because they open the sentence.
_OPENERS = _syllables("opener")
_NOT_NAMES = _syllables("not_name")
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:-\w+)*|[^\w\s]")
_JOINERS = _syllables("joiner")


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str

    @property
    def cap(self) -> bool:
        return self.text[0].isupper()


@lru_cache(maxsize=4096)
def tokens(text: str) -> list[Token]:
    """Word, number and punctuation tokens with offsets (cached: sentences are read for many
    questions; callers must not change the list)."""
    return [Token(m.start(), m.end(), m.group(0)) for m in _TOKEN_RE.finditer(text)]


def _spans(pattern: re.Pattern[str], text: str, kind: str) -> list[Span]:
    return [
        Span(m.start(), m.end(), m.group(0).strip(), kind)
        for m in pattern.finditer(text)
        if m.group(0).strip()
    ]


def _free(span: Span, taken: list[Span]) -> bool:
    return all(span.end <= t.start or span.start >= t.end for t in taken)


def quantities(text: str) -> list[Span]:
    """Money, percentages and plain numbers; a number inside a date or a money span is not
    a plain number again."""
    out = _spans(_MONEY_RE, text, "amount") + _spans(_PERCENT_RE, text, "percent")
    dates = time_spans(text)
    for pattern in (_SCORE_RE, _NUMBER_RE, _WORD_NUMBER_RE):
        for span in _spans(pattern, text, "number"):
            if _free(span, out) and _free(span, dates):
                out.append(span)
    return out


def time_spans(text: str) -> list[Span]:
    """Dates (day/month, month, year, century) and periods (ranges, durations, quarters)."""
    out = _spans(_RANGE_RE, text, "period")
    for pattern, _ in PERIOD_PATTERNS:
        out += [s for s in _spans(pattern, text, "period") if _free(s, out)]
    for pattern in DATE_PATTERNS:
        out += [s for s in _spans(pattern, text, "date") if _free(s, out)]
    for pattern in (_YEAR_RE, _CENTURY_RE):
        out += [s for s in _spans(pattern, text, "date") if _free(s, out)]
    out += [s for s in _spans(_DURATION_RE, text, "period") if _free(s, out)]
    return out


def _cap_runs(toks: list[Token]) -> list[tuple[int, int]]:
    """[i, j) token ranges of capitalised words, joined by "and"/"of"/"-"/"." between two."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        if not (toks[i].cap and toks[i].text[0].isalpha()):
            i += 1
            continue
        j = i + 1
        while j < len(toks):
            if (
                (toks[j].cap and toks[j].text[0].isalpha())
                or (
                    toks[j].text in _JOINERS
                    and j + 1 < len(toks)
                    and toks[j + 1].cap
                    and toks[j + 1].text[0].isalpha()
                )
                or (toks[j].text == "." and j - i == 1 and toks[i].text in ("TP", "Q", "P"))
            ):
                j += 1
            else:
                break
        runs.append((i, j))
        i = j
    return runs


def _extend_org(toks: list[Token], i: int, j: int) -> int:
    """An organisation's name goes on through its lower-case syllables ("Sở Kế hoạch và Đầu tư
    Hải Phòng") until a function word or punctuation; it ends on a capitalised word."""
    k = j
    while k < len(toks) and k - i < 12:
        word = toks[k].text
        if not word[0].isalnum() or word.lower() in _STOP_ORG:
            break
        if (word == "và" and not (k + 1 < len(toks) and toks[k + 1].cap)) or (
            word == "và" and _org_head(toks, k + 1)
        ):
            break
        k += 1
    end = k
    while end > j and not toks[end - 1].cap:
        end -= 1
    return end if end > i + 1 or k - i <= 1 else k


def _starts_word(toks: list[Token], j: int) -> bool:
    """Whether toks[j] is the lower-case second syllable of a word whose first is toks[j-1]."""
    return (
        j < len(toks)
        and is_vi_syllable(toks[j - 1].text)
        and toks[j].text.isalpha()
        and not toks[j].cap
        and toks[j].text.lower() not in _AFTER_NAME
    )


def _org_head(toks: list[Token], i: int) -> bool:
    one = toks[i].text.lower()
    two = f"{one} {toks[i + 1].text.lower()}" if i + 1 < len(toks) else one
    return one in _ORG_HEADS or two in _ORG_HEADS


def _kind(toks: list[Token], i: int, j: int, places: frozenset[str]) -> tuple[str, int, int]:
    """The kind of the name toks[i:j] and its bounds after trimming titles."""
    before = toks[i - 1].text.lower() if i > 0 else ""
    before2 = f"{toks[i - 2].text.lower()} {before}" if i > 1 else before
    first = toks[i].text.lower()
    if first in _PERSON_CUES and j - i > 1:  # "Ông Lê Tiến Châu"
        return _kind(toks, i + 1, j, places)
    name = fold(" ".join(t.text for t in toks[i:j]))
    if _org_head(toks, i):
        return "organisation", i, _extend_org(toks, i, j)
    if name in places:
        return "place", i, j
    if any(t.text.lower().strip(".") in _ORG_WORDS for t in toks[i:j]):
        return "organisation", i, j
    while j - i > 1 and _starts_word(toks, j):
        j -= 1  # "Thành phố", "Bí thư": the last capital starts a common word
    if j - i == 1 and not toks[i].text.isupper() and is_vi_syllable(toks[i].text):
        cued = before in _PERSON_CUES or before in _PLACE_CUES or before2 in _PLACE_CUES
        if _starts_word(toks, j) or not (cued or fold(toks[i].text) in places):
            return "", i, i  # "Đoàn Chủ tịch nước": one capitalised syllable of a common word
    if before in _PERSON_CUES or before2 in _PERSON_CUES or (first in _SURNAMES and j - i >= 2):
        k = i + 1
        while k < j and toks[k].text.lower() not in _TITLES:
            k += 1
        return "person", i, k
    if before in _PLACE_CUES or before2 in _PLACE_CUES or first == "tp":
        return "place", i, j
    return "name", i, j


def names(text: str, places: frozenset[str] = frozenset()) -> list[Span]:
    """Capitalised names with their kind (`places`: folded known place names). A capital that
    only opens the sentence or a common word ("Đoàn công tác", "Thành phố") is not a name."""
    toks = tokens(text)
    out = []
    covered = 0
    for i, j in _cap_runs(toks):
        if i < covered:
            continue
        if i == 0 and toks[0].text.lower() in _OPENERS:
            i += 1
            if i >= j:
                continue
        kind, a, b = _kind(toks, i, j, places)
        if not kind or a >= b or (toks[a].text.lower() in _NOT_NAMES and b - a == 1):
            continue
        if a == 0 and b == 1 and fold(toks[0].text) not in places and is_vi_syllable(toks[0].text):
            continue  # "Đoàn công tác…" (but "Broncos đã…", "Tesla thiết kế…" are names)
        start, end = toks[a].start, toks[b - 1].end
        out.append(Span(start, end, text[start:end], kind))
        # An organisation's name may hold other names ("Viện hàn lâm Lady Gaga" is read both
        # ways); any other name is not read again inside.
        covered = j if kind == "organisation" else b
    return out


_LIST_GAP = re.compile(r"\s*(?:,\s*(?:và\s+|and\s+)?|\s+và\s+|\s+and\s+|\s*;\s*)")


def lists(text: str, found: list[Span]) -> list[Span]:
    """Two or more names in a row separated by commas or "và"/"and": one list span."""
    out = []
    group: list[Span] = []
    for span in [*sorted(found, key=lambda s: s.start), None]:
        if span is not None and group and _LIST_GAP.fullmatch(text[group[-1].end : span.start]):
            group.append(span)
            continue
        if len(group) >= 2:
            start, end = group[0].start, group[-1].end
            out.append(Span(start, end, text[start:end], "list"))
        group = [span] if span is not None else []
    return out


@lru_cache(maxsize=4096)
def candidates(text: str, places: frozenset[str] = frozenset()) -> tuple[Span, ...]:
    """Every typed candidate span of a sentence (cached: sentences repeat across questions)."""
    found = names(text, places)
    return tuple(quantities(text) + time_spans(text) + found + lists(text, found))
