"""Dates in news: normalising metadata dates, finding the dates a text mentions, wording them.

News dates a fact twice: the article has a publication date, and a sentence often says when its
figure holds ("từ đầu năm đến ngày 31/10/2023 đạt hơn 3,073 tỷ USD", "10 tháng năm 2023",
"hôm nay ngày 17/11", "năm nay"). `find_dates` returns every such mention with its offsets and
the calendar `Period` it names. Relative mentions are resolved against the article's own date
(the `reference`), never against today: an article of 28/4/2021 that says "năm nay" means 2021.
Without a reference they are left out rather than guessed.

Pure functions, no model: the same code reads front matter, feed entries, sentences and questions.
How an answer words a date is `qa.answering.dated`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parsedate_to_datetime

from qa import lexicon

# English month names and abbreviations, Roman numerals of quarters: the lexicon's (months.tsv,
# ordinals.tsv), shared with qa.answering.facts.
MONTHS_EN = list(lexicon.month_names())
_MONTH_EN_RE = rf"(?P<mname>{lexicon.alternation(lexicon.months())})\.?"
_ROMAN = dict(lexicon.ordinals("roman"))


@dataclass(frozen=True)
class Period:
    """A calendar span named by a date expression, with the precision it was written at."""

    start: date
    end: date
    precision: str  # "day", "month", "quarter", "year" or "range"

    def iso(self) -> str:
        """ISO 8601 at the written precision: 2023-10-31, 2023-10, 2023-Q3, 2023, or a/b."""
        if self.precision == "day":
            return self.start.isoformat()
        if self.precision == "month":
            return self.start.isoformat()[:7]
        if self.precision == "quarter":
            return f"{self.start.year}-Q{(self.start.month + 2) // 3}"
        if self.precision == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    def overlaps(self, since: date | None, until: date | None) -> bool:
        return (since is None or self.end >= since) and (until is None or self.start <= until)


@dataclass(frozen=True)
class Mention:
    """A date expression in a text: `text[start:end]`, the period it names, and whether the fact
    it dates holds *up to* that period ("tính đến", "as of", "10 tháng năm 2023") or *in* it."""

    start: int
    end: int
    period: Period
    until: bool = False
    relative: bool = False


def day(y: int, m: int, d: int) -> Period:
    value = date(y, m, d)
    return Period(value, value, "day")


def month(y: int, m: int) -> Period:
    return Period(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), "month")


def quarter(y: int, q: int) -> Period:
    return Period(date(y, 3 * q - 2, 1), month(y, 3 * q).end, "quarter")


def year(y: int) -> Period:
    return Period(date(y, 1, 1), date(y, 12, 31), "year")


def span(start: date, end: date) -> Period:
    return Period(start, end, "range")


# -- metadata dates ----------------------------------------------------------------------------
_ISO_RE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ].*)?\s*$")
_COMPACT_RE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})(?:\d{4,6})?\s*$")


def parse_period(value: str) -> Period | None:
    """The period of a metadata or filter value: "2021", "2021-04", "2021-04-28", "20210428",
    "2021-04-28T08:15:00+07:00", "28/04/2021", "Wed, 28 Apr 2021 08:15:00 +0700", "April 2021".
    The local calendar date is kept (no conversion to UTC, which would move a Vietnamese
    morning article to the day before). None when nothing parses."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        if match := _COMPACT_RE.match(value):
            return day(*(int(g) for g in match.groups()))
        if match := _ISO_RE.match(value):
            y, m, d = match.groups()
            if d:
                return day(int(y), int(m), int(d))
            return month(int(y), int(m)) if m else year(int(y))
    except ValueError:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        return day(parsed.year, parsed.month, parsed.day)
    except (TypeError, ValueError, IndexError):
        pass
    found = find_dates(value)
    return found[0].period if found else None


def parse_date(value: str) -> str:
    """A metadata date as ISO ("2021-04-28", or "2021-04"/"2021" when only that is known);
    "" when unknown or unreadable: an unknown date stays empty, it is never guessed."""
    period = parse_period(value)
    return period.iso() if period and period.precision in ("day", "month", "year") else ""


def reference_day(iso: str) -> date | None:
    """The article date relative mentions are resolved against: only a full day qualifies."""
    period = parse_period(iso)
    return period.start if period and period.precision == "day" else None


# -- mentions in text --------------------------------------------------------------------------
_PART_OF_DAY = r"(?:hôm nay|hôm qua|sáng|trưa|chiều|tối|đêm|rạng sáng|ngày)"
_UNTIL_BEFORE = re.compile(
    r"(?:(?:tính\s+)?(?:đến|tới)(?:\s+hết)?|hết|lũy kế|as of|by|through|until|up to|to date)"
    r"(?:\s+(?:ngày|cuối|the end of|end of))?\s*$",
    re.I,
)

Resolver = Callable[[re.Match[str], date | None], Period | None]


def _year_of(y: str | None, reference: date | None) -> int | None:
    if y:
        return int(y)
    return reference.year if reference else None


def _near_year(m: int, d: int, reference: date | None) -> int | None:
    """The year of a day-and-month written without one: the article's, or the year before when
    that would put the day more than two months after the article ("ngày 28/12" in January)."""
    if reference is None:
        return None
    candidate = date(reference.year, m, min(d, calendar.monthrange(reference.year, m)[1]))
    return reference.year - 1 if candidate > reference + timedelta(days=62) else reference.year


def _dmy(match: re.Match[str], reference: date | None) -> Period | None:
    d, m = int(match["d"]), int(match["m"])
    y = int(match["y"]) if match["y"] else _near_year(m, d, reference)
    return day(y, m, d) if y else None


def _ymd(match: re.Match[str], _: date | None) -> Period:
    return day(int(match["y"]), int(match["m"]), int(match["d"]))


def _month_year(match: re.Match[str], reference: date | None) -> Period | None:
    m = int(match["m"])
    y = int(match["y"]) if match["y"] else _near_year(m, 1, reference)
    return month(y, m) if y else None


def _first_months(match: re.Match[str], reference: date | None) -> Period | None:
    """ "10 tháng năm 2023", "6 tháng đầu năm": January to the end of month N."""
    n = int(match["n"])
    y = _year_of(match["y"], reference)
    if not y or not 1 <= n <= 12:
        return None
    return Period(date(y, 1, 1), month(y, n).end, "month") if n < 12 else year(y)


def _quarter(match: re.Match[str], reference: date | None) -> Period | None:
    q = match["q"].lower()
    number = _ROMAN.get(q) or int(q)
    y = _year_of(match["y"], reference)
    return quarter(y, number) if y else None


def _year(match: re.Match[str], _: date | None) -> Period:
    return year(int(match["y"]))


def _en_date(match: re.Match[str], _: date | None) -> Period:
    return day(int(match["y"]), _en_month(match["mname"]), int(match["d"]))


def _en_month_year(match: re.Match[str], _: date | None) -> Period:
    return month(int(match["y"]), _en_month(match["mname"]))


def _en_month(name: str) -> int:
    return next(i for i, full in enumerate(MONTHS_EN, 1) if full.startswith(name[:3].lower()))


def _relative(offsets: dict[str, Callable[[date], Period]]) -> Resolver:
    def resolve(match: re.Match[str], reference: date | None) -> Period | None:
        if reference is None:
            return None
        return offsets[re.sub(r"\s+", " ", match.group(0).lower())](reference)

    return resolve


def _past_year(ref: date) -> Period:
    # "năm qua" in a January/February article is the year just ended; later it is this year.
    return year(ref.year - 1 if ref.month <= 2 else ref.year)


def _shift_month(ref: date, delta: int) -> Period:
    index = ref.year * 12 + ref.month - 1 + delta
    return month(index // 12, index % 12 + 1)


# What a relative date word means (the lexicon's relative_dates.tsv: "năm ngoái" → "last year"),
# resolved against the article's date.
_RESOLVERS: dict[str, Callable[[date], Period]] = {
    "today": lambda r: day(r.year, r.month, r.day),
    "yesterday": lambda r: Period(r - timedelta(1), r - timedelta(1), "day"),
    "past week": lambda r: span(r - timedelta(6), r),
    "this week": lambda r: span(r - timedelta(r.weekday()), r),
    "last week": lambda r: span(r - timedelta(r.weekday() + 7), r - timedelta(r.weekday() + 1)),
    "this month": lambda r: _shift_month(r, 0),
    "last month": lambda r: _shift_month(r, -1),
    "past month": lambda r: span(r - timedelta(29), r),
    "this year": lambda r: year(r.year),
    "last year": lambda r: year(r.year - 1),
    "past year": _past_year,
}
_RELATIVE_WORDS = {phrase: _RESOLVERS[means] for phrase, means in lexicon.relative_dates().items()}

# (pattern, resolver, until, relative-without-a-year). Longer forms first: on overlap the
# earliest, then longest match wins.
_PATTERNS: list[tuple[re.Pattern[str], Resolver, bool]] = [
    (re.compile(r"(?<![\d/.-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d])"), _ymd, False),
    (
        re.compile(
            r"(?<![\d/.,])(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>(?:19|20)\d{2})(?![\d/])"
        ),
        _dmy,
        False,
    ),
    (
        re.compile(
            r"ngày\s+(?P<d>\d{1,2})\s+tháng\s+(?P<m>\d{1,2})(?:\s+năm\s+(?P<y>\d{4}))?", re.I
        ),
        _dmy,
        False,
    ),
    (
        re.compile(
            rf"{_PART_OF_DAY}(?:\s+ngày)?\s+(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})(?![\d/])"
            r"(?P<y>)",
            re.I,
        ),
        _dmy,
        False,
    ),
    (
        re.compile(
            r"(?P<n>\d{1,2})\s+tháng(?:\s+đầu)?\s+năm\s*(?:(?P<y>\d{4})|nay)"
            r"|(?P<n2>\d{1,2})\s+tháng\s+đầu\s+năm",
            re.I,
        ),
        lambda m, r: _first_months(_Alias(m, n="n2"), r),
        True,
    ),
    (
        re.compile(
            r"quý\s+(?P<q>IV|I{1,3}|[1-4])(?:\s*[/-]\s*(?P<y>\d{4})|\s+năm\s+(?:(?P<y2>\d{4})|nay))?"
            r"(?![\w/])",
            re.I,
        ),
        lambda m, r: _quarter(_Alias(m, y="y2"), r),
        False,
    ),
    (
        re.compile(
            r"tháng\s+(?P<m>\d{1,2})(?:\s*[/-]\s*(?P<y>\d{4})|\s+năm\s+(?P<y2>\d{4}))?(?![\d/])",
            re.I,
        ),
        lambda m, r: _month_year(_Alias(m, y="y2"), r),
        False,
    ),
    (re.compile(r"(?<![\d/.,])(?P<m>\d{1,2})/(?P<y>(?:19|20)\d{2})(?![\d/])"), _month_year, False),
    (re.compile(r"năm\s+(?P<y>(?:19|20)\d{2})(?!\d)", re.I), _year, False),
    (
        re.compile(
            rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_EN_RE},?\s+(?P<y>\d{{4}})"
            rf"|{_MONTH_EN_RE.replace('mname', 'mname2')}\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?"
            r"\s+(?P<y2>\d{4})",
            re.I,
        ),
        lambda m, r: _en_date(_Alias(m, d="d2", y="y2", mname="mname2"), r),
        False,
    ),
    (re.compile(rf"\b{_MONTH_EN_RE}\s+(?P<y>\d{{4}})", re.I), _en_month_year, False),
    (
        re.compile(r"\bQ(?P<q>[1-4])\s*(?P<y>\d{4})|\b(?P<q2>[1-4])Q\s*(?P<y2>\d{4})"),
        lambda m, r: _quarter(_Alias(m, q="q2", y="y2"), r),
        False,
    ),
    (
        re.compile(r"\b(?:in|of|since|by|until|through|during|for|year)\s+(?P<y>(?:19|20)\d{2})\b"),
        _year,
        False,
    ),
    (
        re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(w) for w in _RELATIVE_WORDS) + r")(?!\w)", re.I
        ),
        _relative(_RELATIVE_WORDS),
        False,
    ),
]


class _Alias:
    """A match whose named group falls back to an alternative's group ("n" or else "n2"), so one
    resolver reads both spellings of a pattern."""

    def __init__(self, match: re.Match[str], **fallbacks: str) -> None:
        self.match, self.fallbacks = match, fallbacks

    def __getitem__(self, name: str) -> str | None:
        value = self.match[name]
        if value is None and name in self.fallbacks:
            return self.match[self.fallbacks[name]]
        return value

    def group(self, index: int = 0) -> str:
        return self.match.group(index)


def find_dates(text: str, reference: date | None = None) -> list[Mention]:
    """Every date expression of `text`, in order, without overlaps (the earliest, then the
    longest match wins). Relative ones ("hôm nay", "năm nay", "ngày 17/11") need `reference`."""
    found: list[Mention] = []
    for pattern, resolve, until in _PATTERNS:
        for match in pattern.finditer(text):
            try:
                period = resolve(match, reference)
            except (ValueError, StopIteration):  # 31/02, month 13: not a date
                continue
            if period is None:
                continue
            explicit = bool(re.search(r"\d{4}", match.group(0)))
            cue = until or bool(
                _UNTIL_BEFORE.search(text[max(0, match.start() - 24) : match.start()])
            )
            found.append(Mention(match.start(), match.end(), period, cue, not explicit))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    for mention in found:
        if not kept or mention.start >= kept[-1].end:
            kept.append(mention)
    return kept


def dating(text: str, reference: date | None) -> Mention | None:
    """The mention that dates the fact of a sentence, or None.

    A figure holds at the end of the period it is counted to ("từ đầu năm đến ngày 31/10/2023";
    "so với cùng kỳ năm 2022" is only its comparison), so an "up to" mention beats a point one
    and then the latest-ending wins. Periods that begin after the article date are plans or
    targets ("đến năm 2030"), not the date of a fact, and are skipped."""
    mentions = [
        m for m in find_dates(text, reference) if reference is None or m.period.start <= reference
    ]
    if not mentions:
        return None
    return max(mentions, key=lambda m: (m.until, m.period.end, m.period.precision == "day"))
