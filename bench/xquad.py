"""XQuAD as a retrieval/answer benchmark: 240 Vietnamese paragraphs, 1190 questions asked in
Vietnamese, in English (the parallel questions) and in Vietnamese with diacritics stripped.

Each paragraph is one document. The split is by article so that tuning never sees the test
paragraphs: articles 0-23 are "dev" (tune here), articles 24-47 are "test" (report here).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.documents import parse_document
from qa.text import fold, nfc
from qa.types import Document

# Carried in the repository with its licence (benchmarks/data/xquad/README.md).
DEFAULT_DIR = Path(
    os.environ.get(
        "QA_XQUAD_DIR", Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "xquad"
    )
)
QUERY_SETS = ("vi", "en", "vi_unaccented")


@dataclass(frozen=True)
class Question:
    qid: str
    doc_id: str
    article: int
    text: dict[str, str]  # query set -> question
    answer: str  # gold answer span in the Vietnamese paragraph
    answer_en: str = ""  # the parallel gold answer in the English paragraph


def unaccent(text: str) -> str:
    """What a user typing without diacritics sends: folded, but keeping case and punctuation."""
    return "".join(
        (fold(ch).upper() if ch.isupper() else fold(ch)) if ch.isalpha() else ch for ch in text
    )


def load(directory: Path = DEFAULT_DIR) -> tuple[list[Document], list[Question]]:
    """Documents (one per Vietnamese paragraph) and questions with their gold paragraph."""
    vi = json.loads((directory / "xquad.vi.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((directory / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    english = {q["id"]: q["question"] for a in en for p in a["paragraphs"] for q in p["qas"]}
    english_answer = {
        q["id"]: q["answers"][0]["text"] for a in en for p in a["paragraphs"] for q in p["qas"]
    }
    documents, questions = [], []
    for a, article in enumerate(vi):
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"xq{a:02d}_{p:02d}"
            documents.append(parse_document(doc_id, paragraph["context"], f"xquad:{doc_id}"))
            for qa in paragraph["qas"]:
                text = nfc(qa["question"])
                questions.append(
                    Question(
                        qid=qa["id"],
                        doc_id=doc_id,
                        article=a,
                        text={"vi": text, "en": english[qa["id"]], "vi_unaccented": unaccent(text)},
                        answer=nfc(qa["answers"][0]["text"]),
                        answer_en=english_answer.get(qa["id"], ""),
                    )
                )
    return documents, questions


def load_quick(quick: bool) -> tuple[list[Document], list[Question]]:
    """`load()`, or with `quick` only articles 0 and 24 (one dev, one test: smoke runs)."""
    documents, questions = load()
    if quick:
        documents = [d for d in documents if int(d.doc_id[2:4]) in (0, 24)]
        kept = {d.doc_id for d in documents}
        questions = [q for q in questions if q.doc_id in kept]
    return documents, questions


def split(questions: list[Question], part: str) -> list[Question]:
    """ "dev" = articles 0-23, "test" = articles 24-47, "all" = everything."""
    if part == "all":
        return questions
    return [q for q in questions if (q.article < 24) == (part == "dev")]
