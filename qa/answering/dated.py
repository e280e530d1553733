"""Dating an answer: "as of" a date, "reported on" a date, "also reported by", differing copies.

A figure in the news is true as of a date. When the cited sentence dates it ("từ đầu năm đến
ngày 31/10/2023", "10 tháng năm 2023", or a relative "hôm nay ngày 17/11" resolved against the
article's date), the answer says so in the question's language ("tính đến 31/10/2023" / "as of
31 October 2023"); otherwise it gives the article's publication date ("đăng ngày 9/11/2023" /
"reported on 9 November 2023"). Every citation carries its article's date, outlet and URL, and
the other outlets of its story. When a copy of the story gives another figure in the sentence
that matches the quote, the answer shows both, with outlets and dates, and cites the copy's
sentence (exact offsets) in `Answer.conflicts`: it does not pick one silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Protocol

from qa import lexicon
from qa.ingest.dates import MONTHS_EN, Period, dating, parse_period, reference_day
from qa.text import WORD_END, folded_words
from qa.types import Answer, Citation, Document, Sentence

# A copy's sentence is "the same sentence" when it shares this share of its words with the quote.
SAME_SENTENCE = 0.6
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Units after a figure (the lexicon's figure_units.txt), compared syllable by syllable.
_UNITS = [w for unit in lexicon.figure_units() for w in unit.split()]
_UNIT_WORDS = "|".join(re.escape(u) for u in _UNITS)
_FIGURE = re.compile(rf"\d+(?:[.,]\d+)*(?:\s*%|(?:\s+(?:{_UNIT_WORDS}){WORD_END}){{0,2}})", re.I)
WORDS = {
    "vi": {
        "also": "cùng đưa tin",
        "differ": "Các bản đưa tin khác nhau về số liệu",
        "gives": "ghi",
    },
    "en": {
        "also": "also reported by",
        "differ": "The copies of this story give different figures",
        "gives": "gives",
    },
}
_ROMAN = lexicon.ordinals("roman")  # "i" → 1 … "iv" → 4
_ROMAN_OUT = ("", *(r.upper() for r in sorted(_ROMAN, key=_ROMAN.__getitem__)))


# -- wording dates -------------------------------------------------------------------------------


def _vi_day(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year}"


def _en_day(d: date) -> str:
    return f"{d.day} {MONTHS_EN[d.month - 1].capitalize()} {d.year}"


def _names(period: Period) -> tuple[str, str]:
    """(Vietnamese, English) name of a period: "31/10/2023", "tháng 10/2023", "quý III/2023"."""
    s, e = period.start, period.end
    if period.precision == "day":
        return _vi_day(s), _en_day(s)
    if period.precision == "month":
        return f"tháng {e.month}/{e.year}", f"{MONTHS_EN[e.month - 1].capitalize()} {e.year}"
    if period.precision == "quarter":
        q = (s.month + 2) // 3
        return f"quý {_ROMAN_OUT[q]}/{s.year}", f"Q{q} {s.year}"
    if period.precision == "year":
        return f"năm {s.year}", str(s.year)
    return f"từ {_vi_day(s)} đến {_vi_day(e)}", f"from {_en_day(s)} to {_en_day(e)}"


def describe(period: Period, language: str, until: bool = False) -> str:
    """How the answer dates a fact. Counted up to a period ("tính đến", "10 tháng năm 2023"):
    "tính đến 31/10/2023" / "as of 31 October 2023", "tính đến hết tháng 10/2023" / "as of the
    end of October 2023". In a period: "ngày 17/11/2023" / "on 17 November 2023", "tháng 4/2021"
    / "in April 2021", "năm 2021" / "in 2021"."""
    if until and period.precision == "range":
        period = Period(period.end, period.end, "day")
    vi, en = _names(period)
    if until or (period.precision == "month" and period.start.month != period.end.month):
        if period.precision != "day":
            vi, en = f"hết {vi}", f"the end of {en}"
        return f"tính đến {vi}" if language == "vi" else f"as of {en}"
    if language == "vi":
        return f"ngày {vi}" if period.precision == "day" else vi
    if period.precision == "range":
        return en
    return f"on {en}" if period.precision == "day" else f"in {en}"


def reported(iso: str, language: str) -> str:
    """ "đăng ngày 9/11/2023" / "reported on 9 November 2023"; "" when the date is unknown."""
    period = parse_period(iso)
    if period is None:
        return ""
    return ("đăng " if language == "vi" else "reported ") + describe(period, language)


# -- the answer --------------------------------------------------------------------------------
class NewsIndex(Protocol):
    """What dating an answer reads of the loaded articles (`qa.retrieve.filters.NewsView`)."""

    @property
    def documents(self) -> Mapping[str, Document]: ...

    def metadata(self, doc_id: str) -> dict[str, object]: ...

    def sentences_of(self, doc_id: str) -> list[Sentence]: ...


def _language(answer: Answer) -> str:
    return "en" if answer.language == "en" else "vi"


def annotate(citation: Citation, document: Document, news: NewsIndex, language: str) -> Citation:
    """The citation with its article's outlet, URL, copies and the date its fact holds."""
    meta = news.metadata(document.doc_id)
    mention = dating(citation.quote, reference_day(document.date))
    return replace(
        citation,
        date=document.date,
        source=document.source,
        url=document.url,
        also=meta["also"],  # type: ignore[arg-type]
        as_of=mention.period.iso() if mention else "",
        as_of_label=describe(mention.period, language, mention.until) if mention else "",
    )


def _day(iso: str, language: str) -> str:
    """ "9/11/2023" / "9 November 2023" (the article date without the verb)."""
    text = reported(iso, language)
    return text.split(" ", 2)[-1] if text.startswith(("đăng ngày", "reported on")) else text


def note(citation: Citation, language: str) -> str:
    """ "[1] tính đến 31/10/2023 · Báo Cảng Biển, đăng ngày 17/11/2023 · cùng đưa tin: X, Y" """
    words = WORDS[language]
    parts = [citation.as_of_label] if citation.as_of_label else []
    outlet = citation.source
    when = reported(citation.date, language)
    if outlet or when:
        parts.append(", ".join(p for p in (outlet, when) if p))
    if citation.also:
        others = ", ".join(o["source"] or o["doc_id"] for o in citation.also)
        parts.append(f"{words['also']}: {others}")
    return f"[{citation.n}] " + " · ".join(parts) if parts else ""


def _figures(text: str) -> list[str]:
    return [m.group(0) for m in _FIGURE.finditer(text)]


def _aligned(quote: str, sentences: list[Sentence]) -> Sentence | None:
    """The sentence of a copy that is the quoted sentence (most shared words, enough of them)."""
    mine = set(folded_words(quote))
    best, best_share = None, 0.0
    for sentence in sentences:
        theirs = set(folded_words(sentence.text))
        share = len(mine & theirs) / max(len(mine | theirs), 1)
        if share > best_share:
            best, best_share = sentence, share
    return best if best_share >= SAME_SENTENCE else None


def conflicts(citation: Citation, news: NewsIndex, first_n: int) -> list[Citation]:
    """Sentences of the story's copies that state the quoted fact with other numbers."""
    mine = sorted(_NUMBER.findall(citation.quote))
    found = []
    for other in citation.also:
        sentence = _aligned(citation.quote, news.sentences_of(other["doc_id"]))
        if sentence is None or sorted(_NUMBER.findall(sentence.text)) == mine:
            continue
        document = news.documents[other["doc_id"]]
        found.append(
            Citation(
                n=first_n + len(found),
                doc_id=document.doc_id,
                title=document.title,
                chunk_id="",
                quote=sentence.text,
                start=sentence.start,
                end=sentence.end,
                score=0.0,
                date=document.date,
                source=document.source,
                url=document.url,
            )
        )
    return found


def _differ(group: list[Citation], language: str) -> str:
    """ "Các bản đưa tin khác nhau về số liệu: A (9/11/2023) ghi 4,13 tỷ USD [1]; B (10/11/2023)
    ghi 4,31 tỷ USD [5]." Each copy is shown with the figures the others do not share."""
    words = WORDS[language]
    common = set.intersection(*(set(_figures(c.quote)) for c in group))
    rows = []
    for c in group:
        own = [f for f in _figures(c.quote) if f not in common] or _figures(c.quote)[:1]
        when = _day(c.date, language)
        who = (c.source or c.doc_id) + (f" ({when})" if when else "")
        rows.append(f"{who} {words['gives']} {', '.join(own)} [{c.n}]")
    return f"{words['differ']}: " + "; ".join(rows) + "."


def stamp(answer: Answer, news: NewsIndex, question: str | None = None) -> Answer:
    """The answer with dated, sourced citations, one note line per citation, and the figures
    copies of a cited story disagree on. `question` is the question as asked (retrieval may
    have read it without the outlet it names)."""
    answer = replace(answer, question=question or answer.question)
    language = _language(answer)
    documents = news.documents

    def annotated(items: list[Citation]) -> list[Citation]:
        return [
            annotate(c, documents[c.doc_id], news, language) for c in items if c.doc_id in documents
        ]

    citations, related = annotated(answer.citations), annotated(answer.related)
    if not answer.found or not citations:
        return replace(answer, citations=citations, related=related)
    lines = [n for n in (note(c, language) for c in citations) if n]
    variants: list[Citation] = []
    for citation in citations:
        first = len(citations) + len(related) + len(variants) + 1
        found = conflicts(citation, news, first)
        if found:
            lines.append(_differ([citation, *found], language))
            variants += found
    text = answer.answer + ("\n\n" + "\n".join(lines) if lines else "")
    return replace(answer, answer=text, citations=citations, related=related, conflicts=variants)
