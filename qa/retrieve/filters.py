"""Time and outlet: filters a caller sets, time a question names, and one passage per story.

* `Filters` (since, until, sources) are hard: only articles that pass are searched at all, by a
  retriever over that part of the index (built on first use, a few kept per generation).
  An article without a date does not pass a time filter: it cannot be shown to be in range.
* A question that names a time ("năm 2021", "in April 2021") is answered from passages of that
  time, when one of them is relevant enough (`RELEVANT` of the best score): the article is
  dated then, or the passage names a date in it. One that asks for the current state ("gần đây
  nhất", "mới nhất", "hiện nay", "latest") is answered from the newest relevant article, like
  LlamaIndex's recency postprocessor (sort the relevant nodes by date, keep the newest) but
  among relevant passages only. A question that names an outlet of the corpus ("theo Báo Cảng
  Biển", "according to Tin Nhanh Việt") prefers that outlet's passages the same way.
* Syndicated copies (`qa.index.stories`) are folded: the best passage of a story stands for it,
  and its hit lists the other outlets (`Hit.also`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from qa import lexicon
from qa.errors import InvalidQuestion
from qa.index.store import IndexData
from qa.index.stories import Stories
from qa.ingest.dates import Period, find_dates, parse_period, reference_day
from qa.retrieve.hybrid import Retriever
from qa.text import fold
from qa.types import Answer, Document, Hit, Sentence

# A preferred passage (of the time or outlet a question names, or the newest) must score at
# least this share of the best passage's fused score: otherwise the preference is ignored.
RELEVANT = 0.6
# Hits asked of the retriever per hit returned, so that folding and preferences still leave k.
WIDEN = 3
_FILTERED_KEPT = 4

# Words of a question that asks for the newest figure (the lexicon's latest_words.txt, folded).
_LATEST = re.compile(r"\b(" + "|".join(re.escape(w) for w in lexicon.latest_words()) + r")\b")


@dataclass(frozen=True)
class Filters:
    """Hard filters on the articles searched: publication date range and outlets."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        since: str | date | None = None,
        until: str | date | None = None,
        sources: list[str] | tuple[str, ...] | str | None = None,
    ) -> Filters:
        """From user input: dates as "2021", "2021-04", "2021-04-28" or a `date` (since = the
        start of that period, until = its end); sources as names or host names, e.g.
        ["vnexpress.net"] or "a, b". Raises InvalidQuestion with the reason for anything else."""
        bounds: list[date | None] = []
        for name, value in (("since", since), ("until", until)):
            if value is None or value == "":
                bounds.append(None)
            elif isinstance(value, date):
                bounds.append(value)
            elif isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{1,2}){0,2}", value.strip()):
                period = parse_period(value)
                if period is None:
                    raise InvalidQuestion(f"{name}={value!r} is not a calendar date")
                bounds.append(period.start if name == "since" else period.end)
            else:
                raise InvalidQuestion(
                    f"{name}={value!r}: use a date like 2021, 2021-04 or 2021-04-28"
                )
        if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
            raise InvalidQuestion(f"since ({since}) is after until ({until})")
        if isinstance(sources, str):
            sources = sources.split(",")
        if sources is not None and not isinstance(sources, list | tuple):
            raise InvalidQuestion("sources must be a list of outlet names (strings)")
        if any(not isinstance(s, str) for s in sources or ()):
            raise InvalidQuestion("sources must be a list of outlet names (strings)")
        return cls(bounds[0], bounds[1], tuple(s.strip() for s in sources or () if s.strip()))

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)

    def allows(self, document: Document) -> bool:
        if self.since or self.until:
            period = parse_period(document.date)
            if period is None or not period.overlaps(self.since, self.until):
                return False
        return not self.sources or any(from_outlet(document, s) for s in self.sources)


def from_outlet(document: Document, name: str) -> bool:
    """True if the article is from the outlet `name`: its source or the host of its URL,
    compared without accents or case ("bao cang bien", "Báo Cảng Biển", "baocangbien.vn")."""
    wanted = fold(name).strip().removeprefix("www.")
    host = re.sub(r"^https?://(www\.)?", "", document.url).split("/")[0].lower()
    return bool(wanted) and wanted in (fold(document.source), host, host.split(".")[0])


@dataclass(frozen=True)
class TimeIntent:
    """What a question says about time and outlet: a period it names, whether it asks for
    the current state, an outlet of the corpus it names."""

    period: Period | None = None
    latest: bool = False
    outlet: str = ""


def _folded(text: str) -> str:
    """Folded character by character, so offsets in it are offsets in `text`."""
    return "".join(f if len(f := fold(ch)) == 1 else ch.lower() for ch in text)


def outlet_span(question: str, outlets: Collection[str]) -> tuple[str, int, int]:
    """(outlet, start, end) of "theo Báo Cảng Biển", "according to Tin Nhanh Việt", "on
    nhipsongso.vn" in a question, the longest known outlet first; ("", 0, 0) if none."""
    folded = _folded(question)
    for name in sorted(outlets, key=len, reverse=True):
        key = _folded(name).strip()
        if len(key) < 4:
            continue
        match = re.search(
            rf"(?:\b(?:theo|tren|cua|according to|from|by|on|in)\s+)(?:(?:bao|tap chi)\s+)?"
            rf"{re.escape(key)}(?!\w)",
            folded,
        )
        if match:
            return name, match.start(), match.end()
    return "", 0, 0


def intent(question: str, outlets: Collection[str] = ()) -> TimeIntent:
    """The time and outlet a question names. Only absolute dates count: "năm nay" in a
    question has no article date to be resolved against."""
    mentions = [m for m in find_dates(question) if not m.relative]
    period = None
    if mentions:
        start = min(m.period.start for m in mentions)
        end = max(m.period.end for m in mentions)
        period = mentions[0].period if len(mentions) == 1 else Period(start, end, "range")
    latest = bool(_LATEST.search(" ".join(re.findall(r"\w+", fold(question)))))
    return TimeIntent(period, latest, outlet_span(question, outlets)[0])


def restrict(data: IndexData, keep: set[str]) -> IndexData:
    """The part of a generation that holds the documents `keep` (vectors copied, FAISS built in
    memory on first search)."""
    chunk_rows = [i for i, c in enumerate(data.chunks) if c.doc_id in keep]
    sentence_rows = [i for i, s in enumerate(data.sentences) if s.doc_id in keep]
    manifest = {k: v for k, v in data.manifest.items() if k not in ("vector_store", "faiss")}
    return IndexData(
        documents={k: d for k, d in data.documents.items() if k in keep},
        chunks=[data.chunks[i] for i in chunk_rows],
        chunk_vectors=data.chunk_vectors[chunk_rows],
        sentences=[data.sentences[i] for i in sentence_rows],
        sentence_vectors=data.sentence_vectors[sentence_rows],
        manifest=manifest,
        generation=data.generation,
    )


class NewsView:
    """The news side of one loaded generation: its stories, filtered retrievers, preferences."""

    def __init__(self, data: IndexData, retriever: Retriever) -> None:
        self.data = data
        self.retriever = retriever
        self.stories = Stories.from_manifest(data.manifest)
        self.outlets = {d.source for d in data.documents.values() if d.source}
        self._filtered: OrderedDict[Filters, Retriever] = OrderedDict()
        self._sentences: dict[str, list[Sentence]] | None = None

    @property
    def documents(self) -> dict[str, Document]:
        """The loaded articles by id."""
        return self.data.documents

    def sentences_of(self, doc_id: str) -> list[Sentence]:
        """The indexed sentences of an article, in text order."""
        if self._sentences is None:
            grouped: dict[str, list[Sentence]] = {}
            for sentence in self.data.sentences:
                grouped.setdefault(sentence.doc_id, []).append(sentence)
            self._sentences = grouped
        return self._sentences.get(doc_id, [])

    def content(self, question: str) -> str:
        """The question without the outlet it names ("Theo Nhịp Sống Số, ..."): the outlet is a
        preference (see `select`), not words to find in the articles."""
        _, start, end = outlet_span(question, self.outlets)
        if end == 0:
            return question
        rest = (question[:start] + question[end:]).strip(" ,;:")
        return rest[:1].upper() + rest[1:] if rest else question

    def retriever_for(self, filters: Filters) -> Retriever:
        """The retriever that searches only what `filters` allow (possibly nothing)."""
        if not filters.active:
            return self.retriever
        if filters in self._filtered:
            self._filtered.move_to_end(filters)
            return self._filtered[filters]
        keep = {k for k, d in self.data.documents.items() if filters.allows(d)}
        retriever = Retriever(
            restrict(self.data, keep), self.retriever.embedder, self.retriever.candidates
        )
        retriever.restorer = self.retriever.restorer  # accents from the whole corpus' statistics
        self._filtered[filters] = retriever
        while len(self._filtered) > _FILTERED_KEPT:
            self._filtered.popitem(last=False)
        return retriever

    def select(self, hits: list[Hit], question: str, k: int) -> list[Hit]:
        """The k hits to answer from: one per story (with its copies listed), narrowed to the
        time, recency or outlet the question asks for when a relevant passage has it."""
        want = intent(question, self.outlets)
        documents = self.data.documents
        if want.outlet:  # before folding: the outlet's copy must stand for its story
            hits = _prefer(hits, [from_outlet(documents[h.doc_id], want.outlet) for h in hits])
        if want.period is not None:
            hits = _prefer(hits, [self._in_period(h, want.period) for h in hits])
        hits = self.fold(hits)
        if want.latest:
            hits = self._newest(hits)
        return hits[:k]

    def fold(self, hits: list[Hit]) -> list[Hit]:
        """Keep the hits of the best-ranked article of each story, dropping its copies' hits;
        each kept hit lists the story's other articles in `also`."""
        chosen: dict[str, str] = {}  # story -> the article that stands for it
        kept = []
        for hit in hits:
            story = self.stories.story(hit.doc_id)
            if chosen.setdefault(story, hit.doc_id) == hit.doc_id:
                kept.append(replace(hit, **self.metadata(hit.doc_id)))
        return kept

    def metadata(self, doc_id: str) -> dict[str, object]:
        """Date, outlet and copies of an article, as the hit and citation fields."""
        document = self.data.documents[doc_id]
        also = [
            self.data.documents[c] for c in self.stories.copies(doc_id) if c in self.data.documents
        ]
        return {
            "date": document.date,
            "source": document.source,
            "url": document.url,
            "also": [
                {
                    "doc_id": d.doc_id,
                    "title": d.title,
                    "source": d.source,
                    "date": d.date,
                    "url": d.url,
                }
                for d in sorted(also, key=lambda d: (d.date, d.doc_id))
            ],
        }

    def _in_period(self, hit: Hit, period: Period) -> bool:
        document = self.data.documents[hit.doc_id]
        published = parse_period(document.date)
        if published is not None and published.overlaps(period.start, period.end):
            return True
        reference = reference_day(document.date)
        return any(
            m.period.overlaps(period.start, period.end) for m in find_dates(hit.text, reference)
        )

    def _newest(self, hits: list[Hit]) -> list[Hit]:
        """Hits of the newest article among the relevant ones (undated articles count as old)."""
        if not hits:
            return hits
        best = hits[0].score
        dated = [
            (parse_period(self.data.documents[h.doc_id].date), h)
            for h in hits
            if h.score >= RELEVANT * best
        ]
        dated = [(p.end, h) for p, h in dated if p is not None]
        if not dated:
            return hits
        newest = max(end for end, _ in dated)
        return [h for end, h in dated if end == newest]


def _prefer(hits: list[Hit], matches: list[bool]) -> list[Hit]:
    """Only the matching hits, if the best of them is relevant enough; else all of them."""
    chosen = [h for h, ok in zip(hits, matches, strict=True) if ok]
    if chosen and hits and chosen[0].score >= RELEVANT * hits[0].score:
        return chosen
    return hits


def widen(k: int) -> int:
    return max(WIDEN * k, k + 10)


# -- what a filter left out (for an answer the filter leaves without one) ----------------------
def filter_note(view: NewsView, filters: Filters, unfiltered: Answer) -> dict[str, Any] | None:
    """What `filters` left out, for `Answer.filtered`: None when no filter is active.

    Meant for `QA.answer` when the answer under `filters` is not found (the filter left no
    article, or not the one that answers). `unfiltered` is the answer to the same question over
    the whole index: its first citation (or, when it found nothing, its first related passage)
    whose article the filter leaves out becomes `outside`, the best passage outside the filter,
    renumbered n = 0 (it is none of the answer's numbered passages). Returns
    ``{"since": "2030-01-01" or "", "until": ..., "sources": [...], "total": articles in the
    index, "kept": articles the filter allows, "excluded": total - kept, "outside": citation
    dict or None}``; `filter_note_text` words it for a reader.
    """
    if not filters.active:
        return None
    documents = view.data.documents
    kept = sum(1 for d in documents.values() if filters.allows(d))
    outside = next(
        (
            replace(c, n=0).to_dict()
            for c in [*unfiltered.citations, *unfiltered.related]
            if c.doc_id in documents and not filters.allows(documents[c.doc_id])
        ),
        None,
    )
    return {
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        "sources": list(filters.sources),
        "total": len(documents),
        "kept": kept,
        "excluded": len(documents) - kept,
        "outside": outside,
    }


def filter_note_text(note: dict[str, Any], language: str) -> str:
    """One sentence for a reader about `note` (from `filter_note`), in `language` ("vi"/"en"):
    which filter, how many articles it left out, and that dropping it would search them all."""
    parts = []
    vi = language != "en"
    if note.get("since"):
        parts.append(f"{'từ' if vi else 'since'} {note['since']}")
    if note.get("until"):
        parts.append(f"{'đến' if vi else 'until'} {note['until']}")
    if note.get("sources"):
        parts.append(f"{'nguồn' if vi else 'outlets'}: {', '.join(note['sources'])}")
    which = ", ".join(parts)
    excluded, total = note.get("excluded", 0), note.get("total", 0)
    if vi:
        left = (
            f"loại cả {total} bài viết"
            if excluded == total
            else f"loại {excluded}/{total} bài viết, không bài còn lại nào trả lời"
        )
        return f"Bộ lọc ({which}) {left}. Bỏ bộ lọc để tìm trong mọi bài viết."
    left = (
        f"leaves out all {total} articles"
        if excluded == total
        else f"leaves out {excluded} of {total} articles, and none of the rest answers"
    )
    return f"The filter ({which}) {left}. Drop it to search every article."
