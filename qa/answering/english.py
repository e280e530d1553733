"""A Vietnamese short answer rendered for an English reader, by rule: nothing is translated
that is not a number, a date, a period or a name with a known English form.

* numbers swap their separators ("3,073" → "3.073", "58.000" → "58,000"), scales and
  currencies take English words and order ("hơn 3,073 tỷ USD" → "over USD 3.073 billion");
* dates and periods read by `qa.answering.facts` are written day-month-year ("7/8" → "7
  August", "từ ngày 14/11 đến ngày 21/11" → "14–21 November");
* a name with an English form in the glossary takes it ("TP. Thâm Quyến" → "Shenzhen"); any
  other name is kept as written with its ASCII form ("Lê Tiến Châu (Le Tien Chau)").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from qa import lexicon
from qa.answering.facts import extract_facts
from qa.text import WORD_END, fold

MONTHS = [m.capitalize() for m in lexicon.month_names()]
# The Vietnamese number modifiers with their English ("hơn" → "over"; "gấp" → "… times" by rule),
# scales ("tỷ" → "billion"), currencies ("yên" → "JPY") and units ("tháng" → "month"): the
# lexicon's lists (qa/data/lexicon/), shared with the reader and the grounding check.
_MODIFIERS = {m.phrase: m.english for m in lexicon.modifiers("vi") if m.english}
_SCALES = {w: s.english for w, s in lexicon.scales().items() if s.language == "vi"}
_CURRENCIES = dict(lexicon.currencies())
_UNITS = {u.vietnamese: u.english for u in lexicon.units()}


def _alternation(words: object) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # type: ignore[arg-type]


_QUANTITY_RE = re.compile(
    rf"^(?:(?P<mod>{_alternation(m.phrase for m in lexicon.modifiers('vi'))})\s+)?"
    rf"(?P<pre>US\$|\$|€)?\s*"
    rf"(?P<num>\d+(?:[.,]\d+)*)\s*(?:(?P<scale>{_alternation(_SCALES)}){WORD_END})?\s*"
    rf"(?:(?P<cur>{_alternation(_CURRENCIES)}){WORD_END})?\s*(?P<pct>%|phần trăm)?\s*(?P<rest>.*)$",
    re.I,
)


def ascii_form(text: str) -> str:
    """ "Lê Tiến Châu" → "Le Tien Chau" (case kept, đ → d)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def english_number(numeral: str) -> str:
    """Vietnamese notation to English: the dot groups thousands, the comma is the decimal."""
    return numeral.translate(str.maketrans({".": ",", ",": "."}))


@lru_cache(maxsize=1)
def english_names() -> dict[str, str]:
    """Folded Vietnamese name → English name, from the glossary lines whose English side is
    capitalised ("the Netherlands	Hà Lan")."""
    names: dict[str, str] = {}
    for english, renderings in lexicon.glossary():
        if english.removeprefix("the ")[:1].isupper():
            for name in renderings:
                names.setdefault(fold(name), english)
    return names


@lru_cache(maxsize=1)
def known_places() -> frozenset[str]:
    """Folded Vietnamese names the glossary knows (places and a few organisations)."""
    return frozenset(english_names())


def name(text: str) -> str:
    """A name for an English reader: its English form, else as written plus ASCII."""
    key = fold(text.strip())
    for candidate in (key, re.sub(r"^(?:tp\.?\s*|thanh pho\s+)", "", key)):
        if candidate in english_names():
            return english_names()[candidate]
    plain = ascii_form(text)
    return text if plain == text else f"{text} ({plain})"


def quantity(text: str) -> str | None:
    """ "hơn 3,073 tỷ USD" → "over USD 3.073 billion"; None when `text` is not a quantity."""
    match = _QUANTITY_RE.match(text.strip())
    if not match:
        return None
    number = english_number(match.group("num"))
    scale = _SCALES.get((match.group("scale") or "").lower(), "")
    currency = _CURRENCIES.get((match.group("cur") or match.group("pre") or "").lower(), "")
    value = " ".join(p for p in (currency, number, scale) if p)
    if match.group("pct"):
        value = f"{number}%"
    mod = (match.group("mod") or "").lower()
    rest = match.group("rest").strip().lower()
    if mod == "gấp" or rest == "lần":
        return f"{value} times"
    unit = _UNITS.get(rest)
    if unit:
        value = f"{value} {unit}{'' if number == '1' else 's'}"
    return f"{_MODIFIERS[mod]} {value}" if mod in _MODIFIERS else value


def _day_month(day: int | None, month: int, year: int | None) -> str:
    parts = [str(day) if day else "", MONTHS[month - 1], str(year) if year else ""]
    return " ".join(p for p in parts if p)


def when(text: str) -> str | None:
    """Dates and periods in English: "7/8" → "7 August", "từ ngày 14/11 đến ngày 21/11" →
    "14–21 November", "năm 2017" → "2017", "quý I/2024" → "Q1 2024"."""
    facts = extract_facts(text)
    dates = facts.dates
    if len(dates) == 2 and dates[0].month == dates[1].month and dates[0].year == dates[1].year:
        first, last = dates
        if first.day and last.day:
            return f"{first.day}–{_day_month(last.day, last.month, last.year)}"
    if len(dates) == 2:
        return " – ".join(_day_month(d.day, d.month, d.year) for d in dates)
    if len(dates) == 1:
        return _day_month(dates[0].day, dates[0].month, dates[0].year)
    if facts.periods:
        period = facts.periods[0]
        return f"{period.period} {period.year}" if period.year else period.period
    years = re.findall(r"(?<![\d.,])(?:1[0-9]|20)\d{2}(?:s)?(?![\d.,]\d)", text)
    if years and re.fullmatch(r"[^\d]*(?:1[0-9]|20)\d{2}s?(?:\s*[-–]\s*(?:1[0-9]|20)\d{2})?", text):
        return "–".join(years) if len(years) == 2 else years[0]
    return None


def render(text: str, kind: str) -> str:
    """The short answer `text` (Vietnamese, copied from the article) for an English reader."""
    if kind in ("count", "amount", "percent", "period", "date"):
        rendered = when(text) if kind in ("date", "period") else None
        rendered = rendered or quantity(text) or when(text)
        if rendered:
            return rendered
    if kind == "count":
        match = re.match(r"^(?:(\w+(?: \w+)?)\s+)?(\d+(?:[.,]\d+)*)", text)
        if match:
            mod = _MODIFIERS.get((match.group(1) or "").lower(), "")
            return f"{mod} {english_number(match.group(2))}".strip()
    if kind in ("person", "organisation", "place", "name"):
        return name(text)
    if kind == "list":
        parts = [name(p) for p in re.split(r"\s*,\s*(?:và\s+)?|\s+và\s+", text) if p]
        return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    return text
