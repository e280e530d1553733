"""The facts a text states that can be checked: numbers (with scale, percent and currency), dates,
quarters and halves — compared as values, not as strings ("3,073 tỷ USD" = "3.073 billion USD" =
"USD 3,073 million"; "58.000" = "58,000"; "153,68%" = "153.68 percent"; "14/11" = "November 14" =
"ngày 14 tháng 11"; "31/10/2023" = "October 31, 2023"; "quý I/2024" = "the first quarter of
2024"). The grounding guard (`qa.answering.grounding`) checks generated answers with `supported`;
the reader's spans reuse the date patterns, the English rendering the extraction.

Notation: in Vietnamese the comma is the decimal mark and the dot groups thousands, in English
the reverse. A scale or percent word fixes the notation of its number ("tỷ", "phần trăm" →
Vietnamese; "billion", "percent" → English). Otherwise passages are read in their own language
(Vietnamese by default) and the answer both ways, because an English answer may copy "58.000"
from a Vietnamese passage; so "58 workers" does not match "58.000 lao động", but "58,000" and
"58.000" both do. Slash dates are day/month (the Vietnamese order) unless the second part
cannot be a month ("11/14" is then November 14).

Pure functions, no model: see tests/test_grounding.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa import lexicon
from qa.text import WORD_END

# -- numbers -----------------------------------------------------------------------------------
# The words are the lexicon's (qa/data/lexicon/): one list for the reader, the English rendering
# and this check.
SCALES = {w: (s.value, s.language) for w, s in lexicon.scales().items()}
CURRENCIES = dict(lexicon.currencies())
PERCENTS = dict(lexicon.percents())
# Spelled-out numbers (number_words.tsv says which ambiguous words are left out and why).
NUMBER_WORDS = {language: dict(lexicon.number_words(language)) for language in ("en", "vi")}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(
        re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)
    )


_NUMERAL_RE = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*(?!\d)")
# A whole word: "5 tỉnh" (provinces) is no "5 tỉ" (billion).
_SCALE_RE = re.compile(rf"\s*({_alternation(SCALES)}){WORD_END}", re.I)
_PERCENT_RE = re.compile(rf"\s*(%|(?:{_alternation(p for p in PERCENTS if p != '%')})(?!\w))", re.I)
_CURRENCY_AFTER_RE = re.compile(
    rf"\s*({_alternation(c for c in CURRENCIES if c not in ('$', '₫', '€'))})(?!\w)|\s*([₫€$])",
    re.I,
)
_CURRENCY_BEFORE_RE = re.compile(r"(US\$|\$|€|\b(?:USD|VND|EUR|CNY))\s*$", re.I)
_NUMBER_WORD_RE = {
    lang: re.compile(rf"\b({_alternation(words)})\b", re.I) for lang, words in NUMBER_WORDS.items()
}


def readings(numeral: str, notation: str | None) -> set[float]:
    """The values a numeral can mean. `notation` "vi" (1.234,5), "en" (1,234.5) or None (both,
    where they differ: "58.000" → {58000, 58.0}; "1,68" is 1.68 either way)."""
    separators = [c for c in numeral if c in ".,"]
    if not separators:
        return {float(numeral)}
    if "." in numeral and "," in numeral:  # the last separator is the decimal mark
        decimal = numeral[max(numeral.rfind("."), numeral.rfind(","))]
        grouping = "," if decimal == "." else "."
        if numeral.count(decimal) > 1:
            return {float(re.sub(r"[.,]", "", numeral))}
        return {float(numeral.replace(grouping, "").replace(decimal, "."))}
    if len(separators) > 1:  # "1.234.567": grouped thousands
        return {float(re.sub(r"[.,]", "", numeral))}
    separator = separators[0]
    head, tail = numeral.split(separator)
    as_decimal = float(f"{head}.{tail}")
    if len(tail) != 3:
        return {as_decimal}
    as_thousands = float(head + tail)
    if notation is None:
        return {as_decimal, as_thousands}
    groups_thousands = separator == ("." if notation == "vi" else ",")
    return {as_thousands if groups_thousands else as_decimal}


@dataclass(frozen=True)
class Quantity:
    """A number with what qualifies it. `values` are the scaled readings; `raw` the readings of
    the digits alone ("190 triệu" → values {1.9e8}, raw {190})."""

    text: str
    values: frozenset[float]
    raw: frozenset[float]
    scaled: bool = False
    percent: bool = False
    currency: str = ""


@dataclass(frozen=True)
class DateFact:
    """A calendar date, or a month when `day` is None."""

    text: str
    day: int | None
    month: int
    year: int | None = None


@dataclass(frozen=True)
class PeriodFact:
    """A quarter ("Q1".."Q4") or half year ("H1", "H2"), with its year when given."""

    text: str
    period: str
    year: int | None = None


MONTHS = dict(lexicon.months())
_M = rf"(?P<month_name>{_alternation(MONTHS)})\.?"
_DAY = r"(?P<day>\d{1,2})"
_MON = r"(?P<month>\d{1,2})"
_YEAR = r"(?P<year>(?:1[89]|20)\d{2})"
_ORD = r"(?:st|nd|rd|th)?"
# Most specific first; a span taken by one pattern is not read again.
DATE_PATTERNS = [
    # ngày 14 tháng 11 năm 2023, 14 tháng 11, ngày 14 tháng 11/2023
    re.compile(
        rf"(?<![\d/])(?:ngày\s+)?{_DAY}\s+tháng\s+{_MON}(?:(?:\s+năm\s+|\s*/\s*){_YEAR})?(?![\d/])",
        re.I,
    ),
    # 2023-10-31
    re.compile(rf"(?<![\d/-]){_YEAR}-{_MON}-{_DAY}(?![\d/-])"),
    # 31/10/2023, 14/11, 31-10-2023
    re.compile(rf"(?<![\d/]){_DAY}\s*/\s*{_MON}(?:\s*/\s*{_YEAR})?(?![\d/])"),
    re.compile(rf"(?<![\d/-]){_DAY}-{_MON}-{_YEAR}(?![\d/-])"),
    # 14 November 2023, 14th of November
    re.compile(rf"(?<![\d.,]){_DAY}{_ORD}\s+(?:of\s+)?{_M}(?:,?\s+{_YEAR})?(?!\w)", re.I),
    # November 14, 2023; Nov. 14
    re.compile(rf"\b{_M}\s+{_DAY}{_ORD}(?![\d.,]\d)(?!\w)(?:,?\s+{_YEAR}(?!\d))?", re.I),
    # tháng 11/2023, tháng 11 năm 2023, tháng 11
    re.compile(rf"\btháng\s+{_MON}(?:(?:\s+năm\s+|\s*/\s*){_YEAR})?(?![\d/])", re.I),
    # November 2023
    re.compile(rf"\b{_M},?\s+{_YEAR}(?!\d)", re.I),
]


_ORDINALS = dict(lexicon.ordinals())
_ORDINAL = rf"(?P<n>{_alternation(lexicon.ordinals('ordinal'))})"
# Quarters and half years are dates too ("in the first quarter of 2023" can be invented).
PERIOD_PATTERNS = [
    (re.compile(rf"\b{_ORDINAL}\s+quarter(?:\s+of\s+(?:the\s+year\s+)?{_YEAR})?", re.I), "Q"),
    (re.compile(rf"\bQ(?P<n>[1-4])(?:\s*[/-]?\s*{_YEAR})?\b"), "Q"),
    (
        re.compile(rf"\bquý\s+(?P<n>IV|I{{1,3}}|[1-4])(?:\s*(?:/|-|năm)\s*{_YEAR})?(?!\w)", re.I),
        "Q",
    ),
    (re.compile(rf"\b{_ORDINAL}\s+half(?:\s+of\s+(?:the\s+year\s+)?{_YEAR})?", re.I), "H"),
    (re.compile(rf"\bH(?P<n>[12])(?:\s*[/-]?\s*{_YEAR})?\b"), "H"),
    (
        re.compile(
            rf"(?:\b6\s+tháng|\bnửa)\s+(?P<n>đầu|cuối)\s+năm(?:\s+(?:nay\s+)?{_YEAR})?", re.I
        ),
        "H",
    ),
]


def _period(match: re.Match[str], kind: str) -> PeriodFact | None:
    raw = match.group("n").lower()
    n = int(raw) if raw.isdigit() else _ORDINALS.get(raw, 0)
    if not 1 <= n <= (4 if kind == "Q" else 2):
        return None
    year = match.group("year")
    return PeriodFact(match.group(0).strip(), f"{kind}{n}", int(year) if year else None)


def _date(match: re.Match[str]) -> DateFact | None:
    groups = match.groupdict()
    month = MONTHS[groups["month_name"].lower()] if groups.get("month_name") else None
    if month is None:
        month = int(groups["month"])
    day = int(groups["day"]) if groups.get("day") else None
    if day is not None and month > 12 and day <= 12 and not groups.get("month_name"):
        day, month = month, day  # "11/14": month/day
    year = int(groups["year"]) if groups.get("year") else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return DateFact(match.group(0).strip(), day, month, year)


@dataclass(frozen=True)
class Facts:
    """What a text states that the guard checks: quantities, dates, quarters and halves."""

    quantities: tuple[Quantity, ...] = ()
    dates: tuple[DateFact, ...] = ()
    periods: tuple[PeriodFact, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.quantities or self.dates or self.periods)

    def all(self) -> list[Quantity | DateFact | PeriodFact]:
        return [*self.quantities, *self.dates, *self.periods]

    def __add__(self, other: Facts) -> Facts:
        return Facts(
            self.quantities + other.quantities,
            self.dates + other.dates,
            self.periods + other.periods,
        )


def extract_facts(text: str, language: str = "vi", notation: str | None = "vi") -> Facts:
    """Dates, then numbers (with scale, percent and currency) of `text`. `language` chooses the
    spelled-out number words; `notation` how to read "58.000" when nothing else tells (None:
    both ways). Markers must be removed first (see `strip_markers`)."""
    taken = [False] * len(text)  # characters already read as a period or a date
    periods, dates = _periods_and_dates(text, taken)
    quantities = _quantities(text, taken, language, notation)
    return Facts(tuple(quantities), tuple(dates), tuple(periods))


def _periods_and_dates(text: str, taken: list[bool]) -> tuple[list[PeriodFact], list[DateFact]]:
    """Quarters and halves, then dates, of `text`; marks the characters they cover in `taken`."""
    periods: list[PeriodFact] = []
    for pattern, kind in PERIOD_PATTERNS:
        for match in pattern.finditer(text):
            period = _period(match, kind)
            if period is not None and not any(taken[match.start() : match.end()]):
                periods.append(period)
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
    dates: list[DateFact] = []
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(taken[match.start() : match.end()]):
                continue
            fact = _date(match)
            if fact is not None:
                dates.append(fact)
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
    return periods, dates


def _quantities(
    text: str, taken: list[bool], language: str, notation: str | None
) -> list[Quantity]:
    """The numbers of `text` outside `taken`, numerals and spelled-out words, each with the
    scale, percent and currency written around it."""
    quantities: list[Quantity] = []
    spans = [(m.start(), m.end(), m.group(0), None) for m in _NUMERAL_RE.finditer(text)]
    if language in _NUMBER_WORD_RE:
        words = NUMBER_WORDS[language]
        spans += [
            (m.start(), m.end(), m.group(0), words[m.group(1).lower()])
            for m in _NUMBER_WORD_RE[language].finditer(text)
        ]
    for start, end, numeral, word_value in sorted(spans):
        if any(taken[start:end]):
            continue
        pos, scale, own_notation, percent, currency = end, 1.0, None, False, ""
        match = _SCALE_RE.match(text, pos)
        if match:
            scale, own_notation = SCALES[re.sub(r"\s+", " ", match.group(1).lower())]
            pos = match.end()
            more = _SCALE_RE.match(text, pos)  # "nghìn tỷ" written apart, "million billion"
            if more:
                scale *= SCALES[re.sub(r"\s+", " ", more.group(1).lower())][0]
                pos = more.end()
        match = _PERCENT_RE.match(text, pos)
        if match:
            percent = True
            own_notation = own_notation or PERCENTS[re.sub(r"\s+", " ", match.group(1).lower())]
            pos = match.end()
        match = _CURRENCY_AFTER_RE.match(text, pos)
        if match:
            currency = CURRENCIES[re.sub(r"\s+", " ", (match.group(1) or match.group(2)).lower())]
            pos = match.end()
        else:
            before = _CURRENCY_BEFORE_RE.search(text, max(0, start - 6), start)
            if before:
                currency = CURRENCIES[before.group(1).lower()]
        raw = (
            {word_value} if word_value is not None else readings(numeral, own_notation or notation)
        )
        quantities.append(
            Quantity(
                text[start:pos].strip(),
                frozenset(v * scale for v in raw),
                frozenset(raw),
                scaled=scale != 1.0,
                percent=percent,
                currency=currency,
            )
        )
    return quantities


# -- support -----------------------------------------------------------------------------------
def _close(a: Iterable[float], b: Iterable[float]) -> bool:
    b = list(b)
    return any(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x in a for y in b)


def supported(fact: Quantity | DateFact | PeriodFact, source: Facts) -> bool:
    """Whether `source` (the facts of the cited passages) states `fact`."""
    date_numbers = {float(v) for d in source.dates for v in (d.day, d.month, d.year) if v}
    years = {float(d.year) for d in [*source.dates, *source.periods] if d.year} | {
        v for q in source.quantities if not q.scaled for v in q.raw
    }
    if isinstance(fact, PeriodFact):
        return any(
            p.period == fact.period
            and (
                fact.year is None or p.year == fact.year or (p.year is None and fact.year in years)
            )
            for p in source.periods
        )
    if isinstance(fact, DateFact):
        for date in source.dates:
            if date.month != fact.month or (fact.day is not None and date.day != fact.day):
                continue
            if fact.year is None or date.year == fact.year:
                return True
            if date.year is None and float(fact.year) in years:
                return True
        return False
    bare = not (fact.scaled or fact.percent or fact.currency)
    for quantity in source.quantities:
        if fact.percent and not quantity.percent:
            continue
        if fact.currency and quantity.currency and fact.currency != quantity.currency:
            continue
        if _close(fact.values, quantity.values) or (bare and _close(fact.values, quantity.raw)):
            return True
    return bare and _close(fact.values, date_numbers)
