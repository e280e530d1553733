"""Hybrid retrieval that adapts to the query, then sentence-level re-scoring.

Measured on XQuAD-vi the two channels fail on different queries: the dense model cannot read
unaccented Vietnamese, BM25 cannot read English. So each question's kind (`qa.analysis`)
picks the weights:

* accented Vietnamese: dense + folded BM25, both trusted;
* unaccented Vietnamese: accents are restored from corpus statistics before the dense query
  (`DiacriticRestorer`), and folded BM25 carries more weight;
* English: dense carries the query; BM25 sees only its names and numbers ("Hai Phong",
  "Super Bowl 50"), which are written the same way in Vietnamese text.

Channel scores are min-max normalised over the candidate pool and mixed with per-kind weights
(`PROFILES`, set by hand on the first half of XQuAD: see their comment). Inside the best chunks every
sentence is scored again (its own vector, its own BM25, its chunk's score, and whether it holds
the kind of fact asked for: a number, a date) to find the sentence that answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index.embedding import Embedder
from qa.index.store import IndexData
from qa.records import Question, ScoredSentence
from qa.retrieve.lexical import BM25, DiacriticRestorer
from qa.text import holds_wanted
from qa.types import Hit


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


# Provenance: set by hand on the XQuAD dev split (the first half of the articles) during
# development, against bench's retrieval numbers (commits b1e8aeb, 9e85953 and 75c330b,
# 2026-11-24: "weights tuned on the dev split"); no script reproduces them.
PROFILES: dict[str, Profile] = {
    "vi": Profile(1.0, 0.5, 0.5, 1.0, 1.5, 1.0, 0.75),
    "vi_unaccented": Profile(1.0, 0.75, 1.0, 1.0, 1.5, 1.0, 1.0),
    "en": Profile(1.0, 1.5, 0.5, 1.0, 0.25, 0.5, 0.5),
}

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


def score_sentences(profile: Profile, features: np.ndarray) -> np.ndarray:
    """Sentence score from the rows of `features` (see `Retriever.sentence_features`)."""
    return (
        profile.s_dense * _minmax(features[0], DENSE_SPREAD_FLOOR)
        + profile.s_lexical * _minmax(features[1])
        + profile.s_chunk * features[2]
        + profile.s_type * features[3]
    )


class Retriever:
    """Search over one loaded index. Cheap to build (BM25 and the restorer are in-memory)."""

    def __init__(self, data: IndexData, embedder: Embedder, candidates: int = 50) -> None:
        self.data = data
        self.embedder = embedder
        self.candidates = candidates
        shards = int(data.manifest.get("lexical", {}).get("shards", 1))  # see qa.retrieve.lexical
        self.chunk_bm25 = BM25.by_document(data.chunks, shards)
        self.sentence_bm25 = BM25.by_document(data.sentences, shards)
        self.restorer = DiacriticRestorer(d.text for d in data.documents.values())
        row_of = {(s.doc_id, s.start, s.end): i for i, s in enumerate(data.sentences)}
        self.chunk_row = {c.chunk_id: i for i, c in enumerate(data.chunks)}
        # (doc_id, start) of each article's first sentence: the lede, which the answer stage
        # must not prefer by default.
        ledes: set[tuple[str, int]] = set()
        seen: set[str] = set()
        for s in sorted(data.sentences, key=lambda s: (s.doc_id, s.start)):
            if s.doc_id not in seen:
                seen.add(s.doc_id)
                ledes.add((s.doc_id, s.start))
        self.first_sentences = frozenset(ledes)
        self.chunk_sentences = [
            [row_of[(c.doc_id, s, e)] for s, e in c.sentences if (c.doc_id, s, e) in row_of]
            for c in data.chunks
        ]

    def embed_query(self, query: Question) -> np.ndarray:
        return self.embedder.embed([query.dense_text], "query")[0]

    def channels(self, query: Question, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    def search(self, query: Question, k: int = 5, vector: np.ndarray | None = None) -> list[Hit]:
        """Top-k chunks by the fused score of the query kind's profile."""
        vector = self.embed_query(query) if vector is None else vector
        return self.retrieve(query, vector, k)[0]

    def retrieve(self, query: Question, vector: np.ndarray, k: int) -> tuple[list[Hit], np.ndarray]:
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
        self, query: Question, hits: list[Hit], vector: np.ndarray
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
        typed = [holds_wanted(query.wants, self.data.sentences[r].text) for r in rows]
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
        self, query: Question, hits: list[Hit], vector: np.ndarray
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
