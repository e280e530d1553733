"""Whether the articles answer at all: a calibrated model, not a cut-off.

A logistic model over retrieval features and the reader's verdict on the chosen sentence (does
it hold a span of the asked type, next to the asked words — "dân số" asked and no sentence
about population is a "not found"), fit on XQuAD questions asked against an index that lacks
their paragraph plus same-topic questions made from the corpus by swapping the asked attribute
(see `bench.fit.calibrate`). Its coefficients live in `calibration.json` keyed by embedder
fingerprint, because cosine scales differ between embedders.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answering.evidence import Evidence
from qa.index.embedding import Embedder
from qa.records import Candidates, Question, TermStats, Verdict
from qa.text import STOPWORDS_FOLDED, holds_wanted, terms

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CALIBRATION_PATH = DATA_DIR / "calibration.json"
BACKGROUND_PATH = DATA_DIR / "background.txt"
FEATURES = (
    "sentence_dense",
    "chunk_dense",
    "dense_gap",
    "dense_z",
    "coverage",
    "sentence_coverage",
    "phrase_coverage",
    "has_terms",
    "type_match",
    "background_margin",
    "read_fit",
    "read_support",
    "read_score",
    "focus_present",
    "focus_known",
    "typed_fit",
    "typed_support",
    "learned_margin",
)
# English questions meet Vietnamese text: foreign names are translated there ("Dutch" → "Hà
# Lan", "Shenzhen" → "Thâm Quyến"), so word coverage says little and is left out for them. So
# are the pool-relative dense features: in a small corpus on one story no passage stands out
# from the others, and English cosines are too close together to survive that.
GROUP_FEATURES = {
    "vi": FEATURES,
    # The reader's features do not generalise across languages: fit on XQuAD with them, the
    # English model refused 0.13 of held-out answerable questions (0.07 without) and found
    # fewer unanswerable ones. English keeps its four; the asked-attribute rule in
    # `answerable` applies to both.
    "en": ("sentence_dense", "chunk_dense", "type_match", "background_margin"),
}


def coverage(query: Question, text: str, bm25: TermStats, phrases: bool = False) -> float:
    """IDF-weighted share of the query's syllables (or, with `phrases`, of its two-syllable
    content words such as "dan_so") that occur in `text`. A missing word like "dân số" in a
    passage full of "Hải Phòng" is what tells a same-topic question apart from an answered one."""
    if phrases:
        query_words = [
            t for t in query.terms if "_" in t and not set(t.split("_")) & STOPWORDS_FOLDED
        ]
    else:
        query_words = [t for t in query.terms if "_" not in t]
    if not query_words:
        return 0.0
    present = set(terms(text))
    weights = [bm25.idf(t) for t in query_words]
    covered = sum(w for t, w in zip(query_words, weights, strict=True) if t in present)
    return covered / max(sum(weights), 1e-9)


def _pieces(phrase: tuple[str, ...]) -> list[str]:
    """A folded phrase as the lexical channel's terms: its bigrams, or its one syllable."""
    if len(phrase) == 1:
        return [phrase[0]]
    return [f"{a}_{b}" for a, b in itertools.pairwise(phrase)]


def focus_shares(query: Question, text: str, bm25: TermStats) -> tuple[float, float]:
    """(share of the asked attribute the evidence `text` mentions, share the index mentions at
    all), IDF-weighted over the phrases of `query.attribute`, each by its best alternative. A
    question about "dân số" over articles that never say "dân số" is not answered by them,
    however well "Hải Phòng" matches. (1, 1) when nothing can be checked (an English word
    without a glossary entry)."""
    entries = query.attribute
    if not entries:
        return 1.0, 1.0
    present = set(terms(text))
    total = here = known = 0.0
    for alternatives in entries:
        weight = max(bm25.idf(t) for alt in alternatives for t in _pieces(alt))
        total += weight
        here += weight * max(
            sum(t in present for t in _pieces(alt)) / len(_pieces(alt)) for alt in alternatives
        )
        known += weight * max(
            sum(bm25.df(t) > 0 for t in _pieces(alt)) / len(_pieces(alt)) for alt in alternatives
        )
    return here / total, known / total


@lru_cache(maxsize=4)
def background_vectors(embedder: Embedder) -> np.ndarray:
    """Passage vectors of the background sentences (news on unrelated topics), shape (n, dim)."""
    lines = BACKGROUND_PATH.read_text(encoding="utf-8").splitlines()
    return embedder.embed(
        [line for line in lines if line.strip() and not line.startswith("#")], "passage"
    )


def background_similarity(embedder: Embedder, vector: np.ndarray) -> float:
    """How close the question is to news on other topics: the null model of "not in the articles"."""
    return float(np.max(background_vectors(embedder) @ vector))


def features(
    question: Question, candidates: Candidates, evidence: list[Evidence], background: float
) -> dict[str, float]:
    """The answerability features of one question (see FEATURES), read by the question the
    answer stage reads (`question.reading`). `candidates.pool` holds the raw channel scores of
    all retrieval candidates (row 0: dense): how far the best passage stands out from the crowd
    says more than its cosine alone, whose scale is compressed. `background` is the question's
    best cosine to unrelated news (`background_similarity`). `evidence`: the sentences as the
    reader re-ranked them; the first one's reading is what would be shown."""
    query, hits, ranked = question.reading, candidates.hits, candidates.ranked
    if not ranked or not evidence:
        return dict.fromkeys(FEATURES, 0.0)
    bm25 = candidates.chunk_stats
    reading = evidence[0].reading
    typed = query.asked.type != "other"
    chunk = candidates.chunk_text(evidence[0].scored.chunk_id)
    present, known = focus_shares(query, chunk or evidence[0].scored.sentence.text, bm25)
    dense = np.array([s.dense for s in ranked], dtype=np.float32)
    best = ranked[0]
    chunk_text = candidates.chunk_text(best.chunk_id, best.sentence.text)
    crowd = candidates.pool[0]
    return {
        "sentence_dense": float(dense.max()),
        "chunk_dense": max(h.dense for h in hits),
        "dense_gap": float(dense.max() - dense.mean()),
        "dense_z": float((crowd.max() - crowd.mean()) / (crowd.std() + 1e-6))
        if crowd.size > 1
        else 0.0,
        "coverage": coverage(query, chunk_text, bm25),
        "sentence_coverage": coverage(query, best.sentence.text, bm25),
        "phrase_coverage": coverage(query, chunk_text, bm25, phrases=True),
        "has_terms": 1.0 if any("_" not in t for t in query.terms) else 0.0,
        "type_match": holds_wanted(query.wants, best.sentence.text) if query.wants else 0.5,
        "background_margin": float(dense.max()) - background,
        "read_fit": reading.fit if reading else 0.0,
        "read_support": reading.support if reading else 0.0,
        "read_score": reading.score if reading else 0.0,
        "focus_present": present,
        "focus_known": known,
        # For a question of a type (how many, when, who, which port), a span of that type
        # next to the asked words is the answer; its absence is the "not found".
        "typed_fit": reading.fit if reading and typed else 0.0,
        "typed_support": reading.support if reading and typed else 0.0,
        # The trained reader's margin (best span − "no answer") in the first sentence; 0
        # with the rules alone.
        "learned_margin": evidence[0].margin,
    }


@dataclass(frozen=True)
class Calibration:
    """Per language group: feature names, logistic weights, bias, and the decision threshold."""

    weights: dict[str, tuple[list[str], list[float], float, float]]

    def probability(self, group: str, values: dict[str, float]) -> float | None:
        if group not in self.weights:
            return None
        names, coef, bias, _ = self.weights[group]
        z = bias + sum(c * values[f] for c, f in zip(coef, names, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def threshold(self, group: str) -> float:
        return self.weights[group][3]


@lru_cache(maxsize=8)
def load_calibration(fingerprint: str, path: Path = CALIBRATION_PATH) -> Calibration | None:
    """The calibration fit for this embedder, or None (then only the lexical fallback abstains)."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    entry = table.get(fingerprint)
    if not entry:
        return None
    return Calibration(
        {
            g: (v["features"], v["coef"], v["bias"], v["threshold"])
            for g, v in entry["groups"].items()
        }
    )


def answerable(
    question: Question,
    values: dict[str, float],
    calibration: Calibration | None,
    threshold: float | None,
) -> Verdict:
    """Answer or not, and how sure. Without a calibration only a query none of whose content
    words occur in the best passage is refused (Vietnamese only: English has no shared words)."""
    group = question.group
    if values.get("focus_known", 1.0) == 0.0:
        # What the question asks about ("dân số", "population" → dân số) occurs nowhere in the
        # index: the articles cannot say. Measured on XQuAD dev answerable questions, this
        # refuses 0.8% (VI), 0.2% (unaccented), 0% (EN) of them.
        return Verdict(False, 0.0)
    probability = calibration.probability(group, values) if calibration else None
    if probability is None:
        if group == "vi" and values["has_terms"]:
            return Verdict(values["coverage"] > 0.2, values["coverage"])
        return Verdict(True, values["sentence_dense"])
    cut = calibration.threshold(group) if threshold is None else threshold
    return Verdict(probability >= cut, probability)
