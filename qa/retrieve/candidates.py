"""The retrieval stage: a `Question` → its `Candidates` (qa.records).

Hybrid search over the articles the filters allow, one passage per story narrowed to the time
or outlet the question names (`NewsView.select`), then the sentences of those passages ranked
by the question alone when it is a follow-up (its vector blended with the last turn's, so the
sentence answers this question, not the last one).
"""

from __future__ import annotations

import numpy as np

from qa.records import Candidates, Question
from qa.retrieve.filters import Filters, NewsView, widen


def gather(news: NewsView, question: Question, filters: Filters, k: int) -> Candidates:
    """The k best passages for `question` among the articles `filters` allow, their sentences
    ranked, and the corpus statistics the answering stages read."""
    retriever = news.retriever_for(filters)
    vector = retriever.embed_query(question)
    hits, pool = retriever.retrieve(question, vector, widen(k))
    hits = news.select(hits, question.said, k)
    reading, reading_vector = question.reading, vector
    if question.focus is not None:
        reading_vector = vector + retriever.embed_query(reading)
        reading_vector /= np.linalg.norm(reading_vector)
    return Candidates(
        hits=hits,
        pool=pool,
        ranked=retriever.rank_sentences(reading, hits, reading_vector),
        vector=vector,
        sentence_stats=retriever.sentence_bm25,
        chunk_stats=retriever.chunk_bm25,
        ledes=retriever.first_sentences,
        documents=news.data.documents,
    )
