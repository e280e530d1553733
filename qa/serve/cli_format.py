"""An answer as the `qa ask` command prints it: the text, then each citation with its outlet,
date, place in the article and URL, the other outlets of its story, copies that give other
figures, and the related passages."""

from __future__ import annotations

from qa.retrieve.filters import filter_note_text
from qa.types import Answer, Citation


def _where(c: Citation) -> str:
    """ "Báo Cảng Biển · 2023-11-17 · tính đến 31/10/2023" for a citation line."""
    return " · ".join(p for p in (c.source, c.date, c.as_of_label) if p)


def source_lines(answer: Answer) -> list[str]:
    """Each citation with its outlet, date, place in the article and URL, the other outlets of
    its story, copies that give other figures, then the related passages."""
    en = answer.language == "en"
    lines: list[str] = []
    if answer.citations:
        lines.append("Sources:" if en else "Nguồn:")
        for c in answer.citations:
            where = _where(c)
            lines.append(
                f"  [{c.n}] {c.doc_id}{f' — {where}' if where else ''} "
                f"(chars {c.start}-{c.end}, score {c.score:.3f})"
            )
            lines.append(f"      “{c.quote}”")
            if c.url:
                lines.append(f"      {c.url}")
            if c.also:
                also = ", ".join(
                    f"{o['source'] or o['doc_id']} ({o['date'] or '?'})" for o in c.also
                )
                lines.append(f"      {'also reported by' if en else 'cùng đưa tin'}: {also}")
    if answer.conflicts:
        lines.append("Copies that differ:" if en else "Bản đưa tin khác:")
        for c in answer.conflicts:
            lines.append(f"  [{c.n}] {c.doc_id} — {_where(c)} (chars {c.start}-{c.end})")
            lines.append(f"      “{c.quote}”")
    if answer.related:
        lines.append("Related:" if en else "Liên quan:")
        for c in answer.related:
            lines.append(f"  - {c.doc_id}: “{c.quote[:160]}”")
    return lines + filter_lines(answer)


def filter_lines(answer: Answer) -> list[str]:
    """A filter that left the question unanswered: what it left out (drop --since, --until,
    --source to search everything), then the best passage outside it, marked as such."""
    if answer.filtered is None:
        return []
    en = answer.language == "en"
    lines = [filter_note_text(answer.filtered, answer.language)]
    outside = answer.filtered.get("outside")
    if isinstance(outside, dict):
        where = " · ".join(p for p in (outside.get("source"), outside.get("date")) if p)
        lines.append("Outside the filter:" if en else "Ngoài bộ lọc:")
        lines.append(f"  - {outside.get('doc_id')}{f' — {where}' if where else ''}")
        lines.append(f"      “{outside.get('quote', '')}”")
    return lines


def format_answer(answer: Answer) -> str:
    """Human-readable answer: the text, then its sources (`source_lines`)."""
    return "\n".join([answer.answer, "", *source_lines(answer)]).rstrip()
