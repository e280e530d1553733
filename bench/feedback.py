"""Rated answers as an evaluation set: the reader of `qa feedback export` files.

Each JSONL line is one answer a user rated in the web chat or through `POST /v1/feedback`:
`question`, `history` (the earlier questions it was read with), `language`, `answer` (the whole
answer object as it was shown), `citations`, `verdict` ("up" 👍 / "down" 👎) and `comment`.

`score(qa, cases)` asks every question again, with its history, and measures regressions and
repairs: a 👍 answer's first citation held the answer, so it should still be cited first
(`kept`); a 👎 answer's first citation did not, so the new answer should cite another passage
first or say the articles do not say (`changed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.pipeline import QA

Span = tuple[str, int, int]  # (doc_id, start, end) of a citation


@dataclass(frozen=True)
class FeedbackCase:
    question: str
    history: tuple[str, ...]
    language: str
    verdict: str  # "up" or "down"
    answer: dict[str, Any]
    comment: str = ""

    @property
    def first_citation(self) -> Span | None:
        """Where the rated answer's first citation points, None for a "not found" answer."""
        citations = self.answer.get("citations") or []
        if not self.answer.get("found") or not citations:
            return None
        c = citations[0]
        return c["doc_id"], c["start"], c["end"]


def read_feedback(path: Path) -> list[FeedbackCase]:
    """The cases of an export file, in file order; a malformed line is a `QAError` naming it."""
    cases = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["verdict"] not in ("up", "down"):
                raise ValueError(f"verdict {row['verdict']!r} is not 'up' or 'down'")
            cases.append(
                FeedbackCase(
                    question=str(row["question"]),
                    history=tuple(row.get("history") or ()),
                    language=str(row.get("language") or row["answer"].get("language", "")),
                    verdict=row["verdict"],
                    answer=dict(row["answer"]),
                    comment=str(row.get("comment") or ""),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QAError(f"{path}:{line_no}: not a feedback line ({exc})") from exc
    return cases


def _first_span(qa: QA, case: FeedbackCase) -> Span | None:
    answer = qa.answer(case.question, history=list(case.history) or None)
    if not answer.found or not answer.citations:
        return None
    c = answer.citations[0]
    return c.doc_id, c.start, c.end


def score(qa: QA, cases: list[FeedbackCase]) -> dict[str, dict[str, float]]:
    """{"up": {"n", "kept"}, "down": {"n", "changed"}}: shares over the cases of each verdict
    (0.0 when there are none)."""
    kept = [_first_span(qa, c) == c.first_citation for c in cases if c.verdict == "up"]
    changed = [_first_span(qa, c) != c.first_citation for c in cases if c.verdict == "down"]
    return {
        "up": {"n": len(kept), "kept": sum(kept) / len(kept) if kept else 0.0},
        "down": {"n": len(changed), "changed": sum(changed) / len(changed) if changed else 0.0},
    }
