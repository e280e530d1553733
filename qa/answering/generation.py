"""Fluent answers from a generator, behind the grounding guard; the extractive answer stays the
safe default.

The generators themselves (the `Generator` protocol, `make_generator(spec)` and the backends)
are in `qa.answering.backends`; their names are re-exported here.

`generate_answer` asks the generator with the passages the extractive stage ranked, checks the
output with `qa.answering.grounding.check` and returns the generated answer only if it passed; otherwise,
and on any generator error, the extractive answer with a `grounding` record saying why.
Streaming is offered by the backends (`Generator.stream`) but not by `QA`: nothing generated may
be shown before the guard has read all of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from qa.answering.backends import Generator, GeneratorError, Message
from qa.answering.compose import MESSAGES
from qa.answering.english import ascii_form, name
from qa.answering.grounding import Failure, check, record, short_answer_failure
from qa.answering.markers import renumber
from qa.text import nfc
from qa.types import Answer, Chunk, Citation, Document

# -- prompting ---------------------------------------------------------------------------------
LANGUAGE_RULES = {
    "en": (
        "Write the answer in English. The passages are in Vietnamese: translate what you use. "
        "In Vietnamese numbers the comma is the decimal mark and the dot separates thousands: "
        '"3,073 tỷ USD" is 3.073 billion USD, "58.000" is 58,000, "14/11" is November 14.'
    ),
    "vi": "Trả lời bằng tiếng Việt.",
}


def build_messages(question: str, language: str, passages: Sequence[str]) -> list[Message]:
    """Chat messages asking for an answer to `question` from the numbered `passages` only."""
    not_found = MESSAGES.get(language, MESSAGES["vi"])["not_found"]
    system = (
        "You answer questions about news articles using only the numbered passages you are "
        "given. " + LANGUAGE_RULES.get(language, LANGUAGE_RULES["vi"]) + " "
        "After every sentence, write the number of the passage it comes from in square "
        "brackets, like [1] or [1][2]. Use only facts stated in the passages and copy every "
        "number, amount, percentage and date exactly. If the passages do not answer the "
        f'question, reply only: "{not_found}" Answer in one to three sentences.'
    )
    numbered = "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, 1))
    user = f"Passages:\n{numbered}\n\nQuestion: {question.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def passages_for(
    answer: Answer,
    documents: dict[str, Document],
    chunk: Callable[[str], Chunk | None],
    min_chars: int = 100,
) -> list[Citation]:
    """The passages given to the generator: the extractive answer's citations, then its related
    sentences, numbered 1..n. A sentence shorter than `min_chars` is widened with its neighbours
    inside its chunk, so the model sees some context; the citation then quotes the wider span
    (still exact: `document.text[start:end] == quote`)."""
    passages: list[Citation] = []
    seen: set[tuple[str, int, int]] = set()
    for citation in [*answer.citations, *answer.related]:
        start, end = citation.start, citation.end
        owner = chunk(citation.chunk_id) if end - start < min_chars else None
        if owner is not None and (start, end) in owner.sentences:
            spans = list(owner.sentences)
            low = high = spans.index((start, end))
            while spans[high][1] - spans[low][0] < min_chars and (
                low > 0 or high < len(spans) - 1
            ):  # the next sentence first, then the one before
                if high < len(spans) - 1:
                    high += 1
                if spans[high][1] - spans[low][0] < min_chars and low > 0:
                    low -= 1
            start, end = spans[low][0], spans[high][1]
        if (citation.doc_id, start, end) in seen:
            continue
        seen.add((citation.doc_id, start, end))
        text = documents[citation.doc_id].text[start:end]
        passages.append(replace(citation, n=len(passages) + 1, quote=text, start=start, end=end))
    return passages


# -- from generated text to an answer ----------------------------------------------------------
_THINK_RE = re.compile(r"<think>.*?</think>", re.S)
_LABEL_RE = re.compile(r"^\s*(?:answer|trả lời|câu trả lời)\s*:\s*", re.I)


def clean_generated(text: str) -> str:
    """NFC, without reasoning blocks, an "Answer:" label or surrounding white space."""
    text = _THINK_RE.sub("", nfc(text))
    return _LABEL_RE.sub("", text).strip()


def _fallback(
    answer: Answer,
    generator: Generator,
    note: str,
    failed: Sequence[Failure] = (),
    checked: bool = False,
) -> Answer:
    return replace(
        answer, mode="extractive", grounding=record(checked, False, failed, generator.name, note)
    )


def _short_answer_failure(text: str, extractive: Answer) -> Failure | None:
    """When the reader found the fact, the generated text must state it (see
    `qa.answering.grounding.short_answer_failure`)."""
    short = extractive.short_answer
    if short is None:
        return None
    citation = extractive.citations[short.n - 1]
    span = citation.quote[short.start - citation.start : short.end - citation.start]
    names = [short.text, name(span), ascii_form(span)]
    return short_answer_failure(text, span, short.type, names, extractive.language)


def generate_answer(
    generator: Generator, extractive: Answer, passages: list[Citation], max_tokens: int = 256
) -> Answer:
    """The generated answer if it passes the guard, else `extractive` with the reason.

    The generated answer cites the passages its text cites, renumbered 1..m in order of first
    citation (markers rewritten to match); the other passages become `related`.
    """
    if not extractive.found or not passages:
        return _fallback(
            extractive, generator, "not generated: the articles do not answer the question"
        )
    quotes = [p.quote for p in passages]
    messages = build_messages(extractive.question, extractive.language, quotes)
    try:
        text = clean_generated(generator.generate(messages, max_tokens))
    except Exception as exc:  # a backend must never take the answer down with it
        kind = "" if isinstance(exc, GeneratorError) else f"{type(exc).__name__}: "
        return _fallback(
            extractive, generator, f"generator failed ({kind}{exc}); showing the extractive answer"
        )
    verdict = check(text, quotes, extractive.language)
    failure = _short_answer_failure(text, extractive) if verdict.passed else None
    if failure is not None:
        verdict = replace(verdict, passed=False, failed=[failure])
    if not verdict.passed:
        return _fallback(
            extractive,
            generator,
            "the generated answer failed the grounding check; showing the extractive answer",
            verdict.failed,
            checked=True,
        )
    order = {old: new for new, old in enumerate(verdict.cited, 1)}
    short = extractive.short_answer
    if short is not None:
        holder = next(
            i
            for i, p in enumerate(passages, 1)
            if p.doc_id == extractive.citations[short.n - 1].doc_id
            and p.start <= short.start
            and short.end <= p.end
        )
        if holder not in order:
            return _fallback(
                extractive,
                generator,
                "the generated answer failed the grounding check; showing the extractive answer",
                [Failure(text, f"does not cite passage [{holder}], which holds the answer")],
                checked=True,
            )
        short = replace(short, n=order[holder])
    cited = [replace(passages[old - 1], n=new) for old, new in order.items()]
    others = [p for i, p in enumerate(passages, 1) if i not in order]
    return replace(
        extractive,
        answer=renumber(text, order),
        citations=cited,
        related=[replace(p, n=len(cited) + i) for i, p in enumerate(others, 1)],
        mode=f"generated:{generator.name}",
        grounding=record(True, True, (), generator.name, ""),
        short_answer=short,
    )
