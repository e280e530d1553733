"""Hybrid retrieval that adapts to the query, then sentence-level re-scoring.

Measured on XQuAD-vi the two channels fail on different queries: the dense model cannot read
unaccented Vietnamese, BM25 cannot read English. So each query is analysed first:

* accented Vietnamese: dense + folded BM25, both trusted;
* unaccented Vietnamese: accents are restored from corpus statistics before the dense query
  (`DiacriticRestorer`), and folded BM25 carries more weight;
* English: dense carries the query; BM25 sees only its names and numbers ("Hai Phong",
  "Super Bowl 50"), which are written the same way in Vietnamese text.

Channel scores are min-max normalised over the candidate pool and mixed with per-kind weights
(`PROFILES`, tuned on the first half of XQuAD, see bench). Inside the best chunks every
sentence is scored again (its own vector, its own BM25, its chunk's score, and whether it holds
the kind of fact asked for: a number, a date) to find the sentence that answers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from qa.index.embedding import Embedder
from qa.index.store import IndexData
from qa.retrieve.lexical import BM25, DiacriticRestorer, Glossary, query_terms
from qa.text import EN_STOPWORDS, content_words, detect_language, fold, has_diacritics, words
from qa.types import Hit, Sentence


@dataclass(frozen=True)
class Profile:
    """Weights of one query kind. chunk: dense chunk, best-sentence dense, BM25.
    sentence: sentence dense, sentence BM25, chunk score, answer-type match."""

    dense: float
    dense_sentence: float
    lexical: float
    s_dense: float
    s_lexical: float
    s_chunk: float
    s_type: float


PROFILES: dict[str, Profile] = {
    "vi": Profile(1.0, 0.5, 0.5, 1.0, 1.5, 1.0, 0.75),
    "vi_unaccented": Profile(1.0, 0.75, 1.0, 1.0, 1.5, 1.0, 1.0),
    "en": Profile(1.0, 1.5, 0.5, 1.0, 0.25, 0.5, 0.5),
}

_ANAPHORA = frozenset(
    """đó này ấy kia họ nó chúng đấy vậy it its they their them there that those these he she his
    her this""".split()
)
_NUMBER_Q = re.compile(
    r"\b(bao nhiêu|mấy|how many|how much|what percent\w*|what number|số lượng)\b", re.I
)
_DATE_Q = re.compile(
    r"\b(khi nào|bao giờ|ngày nào|năm nào|tháng nào|thời gian nào|lúc nào|when|what year|which year|"
    r"what date|what day|what month)\b",
    re.I,
)
_HAS_NUMBER = re.compile(r"\d")
_HAS_DATE = re.compile(
    r"\b\d{1,2}/\d{1,2}\b|\b(1[5-9]|20)\d{2}\b|\bnăm \d+|\btháng \d+|\bngày \d+", re.I
)


@dataclass(frozen=True)
class Query:
    """A question after analysis: what to embed, which terms to match, which weights to use."""

    text: str
    language: str
    kind: str
    dense_text: str
    terms: tuple[str, ...]
    wants: str  # "number", "date" or ""
    # For a follow-up, retrieval reads the previous turn too, but the sentence that answers is
    # chosen by the question alone: `focus` is its own analysis (None when there is no context).
    focus: Query | None = None


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    chunk_id: str
    score: float
    dense: float
    lexical: float


# Cosines of e5-small are compressed: candidates of a same-topic news corpus often differ by
# less than 0.06, which min-max would stretch to the full range like a real difference. The
# spread used to normalise dense scores is therefore never below this floor (XQuAD pools have a
# median spread of 0.13; the floor costs nothing there, see bench).
DENSE_SPREAD_FLOOR = 0.1


def _minmax(values: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Scale so the best candidate gets 1; the spread is at least `floor` (then the worst > 0)."""
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    spread = max(high - low, floor)
    if spread < 1e-9:
        return np.zeros_like(values) if high <= 0 else np.ones_like(values)
    return np.clip((values - high) / spread + 1.0, 0.0, 1.0)


def fuse(profile: Profile, scores: np.ndarray) -> np.ndarray:
    """Weighted sum of min-max normalised channel scores (rows of `scores`, see `channels`)."""
    weights = (profile.dense, profile.dense_sentence, profile.lexical)
    floors = (DENSE_SPREAD_FLOOR, DENSE_SPREAD_FLOOR, 0.0)
    return sum(w * _minmax(row, f) for w, row, f in zip(weights, scores, floors, strict=True))


def holds_wanted(query: Query, text: str) -> float:
    """1.0 if `text` holds the kind of fact the question asks for (a number, a date), else 0."""
    pattern = {"number": _HAS_NUMBER, "date": _HAS_DATE}.get(query.wants)
    return 1.0 if pattern and pattern.search(text) else 0.0


def score_sentences(profile: Profile, features: np.ndarray) -> np.ndarray:
    """Sentence score from the rows of `features` (see `Retriever.sentence_features`)."""
    return (
        profile.s_dense * _minmax(features[0], DENSE_SPREAD_FLOOR)
        + profile.s_lexical * _minmax(features[1])
        + profile.s_chunk * features[2]
        + profile.s_type * features[3]
    )


def _english_terms(text: str) -> list[str]:
    """Names and numbers of an English question, folded: the part BM25 can match in Vietnamese."""
    tokens = re.findall(r"\w+", text)
    keep = [
        i
        for i, t in enumerate(tokens)
        if t[0].isdigit() or (t[0].isupper() and t.lower() not in EN_STOPWORDS and i > 0)
    ]
    folded = [fold(tokens[i]) for i in keep]
    bigrams = [
        f"{fold(tokens[a])}_{fold(tokens[b])}" for a, b in itertools.pairwise(keep) if b == a + 1
    ]
    return folded + bigrams


@lru_cache(maxsize=1)
def glossary() -> Glossary:
    """The shared English → Vietnamese glossary (read once)."""
    return Glossary()


def _wants(question: str) -> str:
    """The kind of fact a question asks for: "number", "date" or ""."""
    return "number" if _NUMBER_Q.search(question) else "date" if _DATE_Q.search(question) else ""


def is_follow_up(question: str) -> bool:
    """Short questions and questions that point back ("Tại đó...", "their") need the last turn."""
    tokens = words(question)
    return any(t in _ANAPHORA for t in tokens) or len(content_words(question)) <= 2


class Retriever:
    """Search over one loaded index. Cheap to build (BM25 and the restorer are in-memory)."""

    def __init__(self, data: IndexData, embedder: Embedder, candidates: int = 50) -> None:
        self.data = data
        self.embedder = embedder
        self.candidates = candidates
        shards = int(data.manifest.get("lexical", {}).get("shards", 1))  # see qa.retrieve.lexical
        self.chunk_bm25 = BM25.by_document(data.chunks, shards)
        self.sentence_bm25 = BM25.by_document(data.sentences, shards)
        self.glossary = glossary()
        self.restorer = DiacriticRestorer(d.text for d in data.documents.values())
        row_of = {(s.doc_id, s.start, s.end): i for i, s in enumerate(data.sentences)}
        self.chunk_row = {c.chunk_id: i for i, c in enumerate(data.chunks)}
        # (doc_id, start) of each article's first sentence: the lede, which the answer stage
        # must not prefer by default.
        self.first_sentences: set[tuple[str, int]] = set()
        seen: set[str] = set()
        for s in sorted(data.sentences, key=lambda s: (s.doc_id, s.start)):
            if s.doc_id not in seen:
                seen.add(s.doc_id)
                self.first_sentences.add((s.doc_id, s.start))
        self.chunk_sentences = [
            [row_of[(c.doc_id, s, e)] for s, e in c.sentences if (c.doc_id, s, e) in row_of]
            for c in data.chunks
        ]

    def analyze(self, question: str, history: list[str] | None = None) -> Query:
        """Decide the query kind and build its dense text and lexical terms."""
        language = detect_language(question)
        context = ""
        if history and is_follow_up(question):
            context = " ".join(history[-1:])
        text = f"{context} {question}".strip()
        if language == "en":
            kind, dense_text = "en", text
            terms = _english_terms(text)
            for phrase in self.glossary.translate(text):
                terms += query_terms(phrase)
        else:
            accented = has_diacritics(question)
            kind = "vi" if accented else "vi_unaccented"
            dense_text = (
                text if accented and has_diacritics(context or "đ") else self.restorer.restore(text)
            )
            terms = query_terms(text)
        wants = _wants(question) or _wants(
            context
        )  # "Còn Hà Lan thì sao?" asks what the last turn asked
        focus = replace(self.analyze(question), wants=wants) if context else None
        return Query(question, language, kind, dense_text, tuple(terms), wants, focus)

    def embed_query(self, query: Query) -> np.ndarray:
        return self.embedder.embed([query.dense_text], "query")[0]

    def channels(self, query: Query, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidate chunk rows (dense top-N ∪ BM25 top-N) and their raw channel scores,
        shape (3, n): dense chunk cosine, best sentence cosine, BM25."""
        n = min(self.candidates, len(self.data.chunks))
        pool = set(self.dense_candidates(vector, n))
        pool.update(row for row, _ in self.chunk_bm25.best(query.terms, n))
        rows = np.array(sorted(pool), dtype=np.int64)
        sentence_scores = self.data.sentence_vectors @ vector
        best_sentence = [
            max((sentence_scores[s] for s in self.chunk_sentences[r]), default=0.0) for r in rows
        ]
        scores = np.stack(
            [
                self.data.chunk_vectors[rows] @ vector,
                np.array(best_sentence, np.float32),
                self.chunk_bm25.score_rows(query.terms, rows),
            ]
        )
        return rows, scores

    def dense_candidates(self, vector: np.ndarray, n: int) -> list[int]:
        """Chunk rows of the n nearest chunk vectors: from the generation's FAISS index, or from
        the external store its manifest names (`qa.index.vectorstore`; ids map back to rows, ids the
        generation does not know are skipped). Scores are recomputed from `chunk_vectors`, so
        both paths give the same answers when both searches are exact."""
        uri = self.data.manifest.get("vector_store")
        if uri:
            from qa.index.vectorstore import shared_store

            found = shared_store(uri, int(vector.shape[0])).search(vector, n)
            return [self.chunk_row[i] for i, _ in found if i in self.chunk_row]
        _, ids = self.data.search_index().search(vector[None, :].astype(np.float32), n)
        return ids[0][ids[0] >= 0].tolist()

    def search(self, query: Query, k: int = 5, vector: np.ndarray | None = None) -> list[Hit]:
        """Top-k chunks by the fused score of the query kind's profile."""
        vector = self.embed_query(query) if vector is None else vector
        return self.retrieve(query, vector, k)[0]

    def retrieve(self, query: Query, vector: np.ndarray, k: int) -> tuple[list[Hit], np.ndarray]:
        """Top-k hits and the raw channel scores of the whole candidate pool (for answerability)."""
        if not self.data.chunks:
            return [], np.zeros((3, 0), np.float32)
        rows, scores = self.channels(query, vector)
        fused = fuse(PROFILES[query.kind], scores)
        hits = []
        for i in np.argsort(-fused)[:k]:
            chunk = self.data.chunks[rows[i]]
            hits.append(
                Hit(
                    chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id,
                    title=self.data.documents[chunk.doc_id].title,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=float(fused[i]),
                    dense=float(scores[0, i]),
                    lexical=float(scores[2, i]),
                )
            )
        return hits, scores

    def sentence_features(
        self, query: Query, hits: list[Hit], vector: np.ndarray
    ) -> tuple[list[int], list[str], np.ndarray]:
        """Sentence rows of the hit chunks (each once), the chunk each came from, and raw
        features, shape (4, n): sentence cosine, sentence BM25, chunk score relative to the
        best hit, and 1.0 if the sentence holds the kind of fact asked for (number, date)."""
        rows: list[int] = []
        owners: list[str] = []
        chunk_score: list[float] = []
        top = max((h.score for h in hits), default=1.0) or 1.0
        for hit in hits:
            for row in self.chunk_sentences[self.chunk_row[hit.chunk_id]]:
                if row not in rows:
                    rows.append(row)
                    owners.append(hit.chunk_id)
                    chunk_score.append(hit.score / top)
        idx = np.array(rows, dtype=np.int64)
        pattern = {"number": _HAS_NUMBER, "date": _HAS_DATE}.get(query.wants)
        typed = [
            1.0 if pattern and pattern.search(self.data.sentences[r].text) else 0.0 for r in rows
        ]
        features = np.stack(
            [
                self.data.sentence_vectors[idx] @ vector if rows else np.zeros(0, np.float32),
                self.sentence_bm25.score_rows(query.terms, idx),
                np.array(chunk_score, np.float32),
                np.array(typed, np.float32),
            ]
        )
        return rows, owners, features

    def rank_sentences(
        self, query: Query, hits: list[Hit], vector: np.ndarray
    ) -> list[ScoredSentence]:
        """Sentences of the hit chunks, best first (a sentence in two chunks counts once)."""
        rows, owners, features = self.sentence_features(query, hits, vector)
        if not rows:
            return []
        score = score_sentences(PROFILES[query.kind], features)
        return [
            ScoredSentence(
                self.data.sentences[rows[i]],
                owners[i],
                float(score[i]),
                float(features[0, i]),
                float(features[1, i]),
            )
            for i in np.argsort(-score)
        ]
