"""Choosing the sentence that answers: retrieval's sentence ranking, re-ranked with the reader.

Retrieval ranks sentences by how much they resemble the question; the sentence that answers
resembles it *and* holds a span of the asked type next to the asked words. On a news story
the lede resembles every question, so resemblance alone cites it by default. The top
sentences are read (`qa.answering.reader`) and re-ordered by a ranker fit on XQuAD dev
articles (`qa.answering.rerank`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from qa.answering import rerank
from qa.answering.english import english_names, known_places
from qa.answering.question import Asked, analyze
from qa.answering.reader import Reading, read
from qa.answering.spans import names
from qa.retrieve.hybrid import Query, Retriever, ScoredSentence, glossary
from qa.retrieve.lexical import terms
from qa.text import EN_STOPWORDS, fold, folded_words

# Sentences read per question (the answer is among retrieval's top 12 for ~97% of XQuAD dev
# questions whose paragraph is retrieved); without fitted ranker weights a reading adds
# FALLBACK_WEIGHT × its score to the retrieval score.
READ_TOP = 12
FALLBACK_WEIGHT = 0.25


@dataclass(frozen=True)
class Evidence:
    scored: ScoredSentence
    reading: Reading | None
    score: float
    features: tuple[float, ...] = ()


_WH = frozenset("many much long often far percent percentage".split())
_GRAINS = {"year": "nam", "day": "ngay", "date": "ngay", "month": "thang"}


def _vietnamese(phrase: str) -> tuple[tuple[str, ...], ...]:
    """Folded Vietnamese renderings of an English noun (its last word first: "Chinese
    companies" → ("cong", "ty"), ("doanh", "nghiep"))."""
    for words in (phrase.split()[-1:], phrase.split()):
        found = glossary().translate(" ".join(words))
        if found:
            return tuple(tuple(folded_words(v)) for v in found)
    return ()


def asked_of(query: Query) -> Asked:
    """The reader's analysis of a query (an unaccented question is read with its accents
    restored, as the dense channel reads it). English nouns are looked up in the glossary
    ("workers" → "lao động") so that "58.000 lao động" is read whole."""
    text = query.dense_text if query.kind == "vi_unaccented" else query.text
    asked = analyze(text, query.language)
    if asked.language != "en":
        return asked
    units = tuple(v for (u,) in asked.units for v in _vietnamese(u))
    if asked.type == "date":
        head = tuple((_GRAINS[h],) for (h,) in asked.head if h in _GRAINS)
    else:
        head = tuple(v for (h,) in asked.head for v in _vietnamese(h))
    return replace(asked, units=units, head=head)


@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    """English names of places and organisations (lower case), from the glossary."""
    return frozenset(n.lower().removeprefix("the ") for n in english_names().values())


def _attribute(words: list[str], i: int) -> bool:
    """Whether English word i can name the asked attribute: lower-case words, and capitalised
    ones the glossary knows that are not places ("GDP", "World Cup"; not "Hai Phong")."""
    word = words[i]
    if not word[0].isupper():
        return True
    entries = glossary().entries
    pairs = [" ".join(words[j : j + 2]).lower() for j in (i - 1, i) if 0 <= j < len(words) - 1]
    known = [p for p in [word.lower(), *pairs] if p in entries]
    return bool(known) and not any(p in _place_names() for p in known)


def _singular(phrase: str) -> list[str]:
    """ "universities" → ["universities", "university"]; "companies", "workers", "taxes"."""
    forms = [phrase]
    if phrase.endswith("ies"):
        forms.append(phrase[:-3] + "y")
    if phrase.endswith("es"):
        forms.append(phrase[:-2])
    if phrase.endswith("s"):
        forms.append(phrase[:-1])
    return forms


def _english_phrases(words: list[str]) -> list[tuple[tuple[str, ...], ...]]:
    """Glossary renderings of English words (two-word entries first), each as alternatives
    of folded syllable tuples; a word the glossary does not know is left out."""
    entries = glossary().entries
    out, i = [], 0
    while i < len(words):
        for n in (2, 1):
            phrase = " ".join(words[i : i + n])
            options = next((entries[p] for p in _singular(phrase) if p in entries), None)
            if len(words[i : i + n]) == n and options:
                out.append(tuple(tuple(folded_words(v)) for v in options))
                i += n
                break
        else:
            i += 1
    return out


# Vietnamese function and question words (accented: "đâu" is a question word, "đầu" is not).
_VI_FUNCTION = frozenset(
    """là của và có các những một được cho với trong tại đến từ này đó khi thì mà nào gì ai bao
    nhiêu sao thế như về đã đang sẽ bị bởi để hay hoặc cũng không phải rất lại nữa còn ra vào
    lên ở đây kia ấy họ nó chúng mình vậy mấy đâu lâu hôm nay bây giờ""".split()
)


def _without_places(words: list[str]) -> list[str | None]:
    """Folded words with the known place names ("hai phong", "ha lan") blanked out."""
    out: list[str | None] = list(words)
    places = known_places()
    for n in (4, 3, 2, 1):
        for i in range(len(words) - n + 1):
            if all(w is not None for w in out[i : i + n]) and " ".join(words[i : i + n]) in places:
                out[i : i + n] = [None] * n
    return out


def focus(query: Query) -> list[tuple[tuple[str, ...], ...]]:
    """What the question asks about, without the names it mentions: "Dân số Hải Phòng là bao
    nhiêu?" → dân số; "What is the population of Hai Phong?" → (glossary) dân số. Each entry
    holds alternative folded phrases. The "not found" decision checks that the evidence
    mentions them."""
    if query.language == "en":
        words = re.findall(r"[A-Za-z]+", query.text)
        plain = [w.lower() for i, w in enumerate(words) if i == 0 or _attribute(words, i)]
        return _english_phrases([w for w in plain if w not in EN_STOPWORDS and w not in _WH])
    text = query.dense_text if query.kind == "vi_unaccented" else query.text
    named = [(s.start, s.end) for s in names(text, known_places())]
    tokens = [m for m in re.finditer(r"\w+", text)]
    kept = [
        None
        if any(a <= m.start() < b for a, b in named)
        or m.group(0).lower() in _VI_FUNCTION
        or m.group(0).isdigit()
        else fold(m.group(0))
        for m in tokens
    ]
    runs: list[list[str]] = [[]]
    for word in _without_places([w or "" for w in kept]):
        if word:
            runs[-1].append(word)
        else:
            runs.append([])
    return [(tuple(run),) for run in runs if run]


def question_words(query: Query) -> frozenset[str]:
    """Folded syllables the answer sentence should share with the question: the query's terms
    (for English: its names and numbers plus their glossary translations)."""
    return frozenset(t for t in query.terms if "_" not in t)


@lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def read_all(
    query: Query, ranked: list[ScoredSentence], retriever: Retriever, top: int = READ_TOP
) -> tuple[Asked, list[Evidence]]:
    """The top `top` sentences, read, with their ranker features (retrieval order)."""
    asked = asked_of(query)
    words = question_words(query)
    places = known_places()
    head = ranked[:top]
    if not head:
        return asked, []
    best_dense = max(s.dense for s in head)
    best_lexical = max(s.lexical for s in head)
    idf = retriever.sentence_bm25.idf
    pairs = {t for t in query.terms if "_" in t}
    total = sum(idf(t) for t in pairs) or 1.0
    out = []
    for scored in head:
        reading = read(asked, scored.sentence.text, words, retriever.sentence_bm25.idf, places)
        lede = (scored.sentence.doc_id, scored.sentence.start) in retriever.first_sentences
        shared = pairs & _terms(scored.sentence.text)
        values = rerank.sentence_features(
            scored,
            head[0],
            best_dense,
            reading,
            lede,
            asked.type,
            best_lexical,
            sum(idf(t) for t in shared) / total,
        )
        out.append(Evidence(scored, reading, scored.score, tuple(values)))
    return asked, out


def weigh(query: Query, ranked: list[ScoredSentence], retriever: Retriever) -> list[Evidence]:
    """Sentences best first: the top ones read and re-ranked, the rest in retrieval order."""
    _, read_ones = read_all(query, ranked, retriever)
    group = "en" if query.language == "en" else "vi"
    scored = []
    for evidence in read_ones:
        value = rerank.score(group, list(evidence.features))
        if value is None:
            bonus = evidence.reading.score if evidence.reading else 0.0
            value = evidence.scored.score + FALLBACK_WEIGHT * bonus
        scored.append(replace(evidence, score=value))
    scored.sort(key=lambda e: -e.score)
    low = min((e.score for e in scored), default=0.0)
    return scored + [Evidence(s, None, low - 1.0 - i) for i, s in enumerate(ranked[READ_TOP:])]
