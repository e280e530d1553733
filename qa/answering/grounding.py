"""The guard on generated answers: cited passages exist, and every number and date is in them.

A generator writes fluent text, and small models invent numbers. Nothing generated is shown
unless `check` passes:

* every marker [n] names a passage that was given (1..len(passages));
* every number, amount, percentage and date of a sentence occurs in the passages that sentence
  cites, compared as values, not as strings ("3,073 tỷ USD" = "3.073 billion USD" =
  "USD 3,073 million"; "58.000" = "58,000"; "153,68%" = "153.68 percent"; "14/11" =
  "November 14" = "ngày 14 tháng 11"; "31/10/2023" = "October 31, 2023"; "quý I/2024" = "the
  first quarter of 2024");
* a sentence that states a number or a date without a marker fails, and so does an answer that
  cites nothing.

Numbers and dates are read by `qa.answering.facts`, markers and sentences by `qa.answering.markers`.
Pure functions, no model: see tests/test_grounding.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.answering.facts import Facts, extract_facts, supported
from qa.answering.markers import claims, strip_markers
from qa.text import fold, has_diacritics


# -- the check ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    sentence: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"sentence": self.sentence, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    """The outcome of `check`: `cited` lists valid passage numbers in order of first citation."""

    passed: bool
    failed: list[Failure] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)


# How a generator says the passages do not answer (it was asked to use the not-found message).
_DECLINE_RE = re.compile(
    r"do(?:es)? not (?:say|contain|mention|answer|provide)|not (?:in|mentioned in) the (?:passages|articles)|"
    r"no information|không có thông tin|không (?:đề cập|nêu|nói)",
    re.I,
)


def check(
    answer: str,
    passages: Sequence[str],
    language: str = "en",
    passage_language: str | None = None,
) -> Verdict:
    """Check a generated `answer` (in `language`) against the numbered `passages` (passage n is
    passages[n-1]; Vietnamese if accented, unless `passage_language` is given).

    Returns every failure, not only the first, so the record says all that was wrong.
    """
    failures: list[Failure] = []
    cited: list[int] = []
    if not strip_markers(answer).strip(" .[]"):
        return Verdict(False, [Failure(answer, "empty answer")])
    languages = [passage_language or ("vi" if has_diacritics(p) else "en") for p in passages]
    sources = [extract_facts(p, lang, lang) for p, lang in zip(passages, languages, strict=True)]
    for claim in claims(answer):
        wrong = sorted({n for n in claim.cites if not 1 <= n <= len(passages)})
        if wrong:
            given = f"passages [1]-[{len(passages)}]" if passages else "no passages"
            failures.append(
                Failure(
                    claim.text,
                    f"cites {''.join(f'[{n}]' for n in wrong)} but {given} were given",
                )
            )
            continue
        facts = extract_facts(strip_markers(claim.text), language, None)
        if not claim.cites:
            if facts:
                failures.append(
                    Failure(
                        claim.text,
                        f"states {facts.all()[0].text!r} without citing a passage",
                    )
                )
            continue
        for n in claim.cites:
            if n not in cited:
                cited.append(n)
        source = sum((sources[n - 1] for n in sorted(set(claim.cites))), Facts())
        label = "".join(f"[{n}]" for n in sorted(set(claim.cites)))
        for fact in facts.all():
            if not supported(fact, source):
                failures.append(Failure(claim.text, f"{fact.text!r} is not in passage {label}"))
    if not cited and not any("cites [" in f.reason for f in failures):
        reason = (
            "the generator said the passages do not answer"
            if _DECLINE_RE.search(answer)
            else "the answer cites no passage (no [n] marker)"
        )
        failures.append(Failure(answer.strip(), reason))
    return Verdict(not failures, failures, cited)


def record(
    checked: bool,
    passed: bool,
    failed: Sequence[Failure] = (),
    generator: str = "",
    note: str = "",
) -> dict[str, Any]:
    """The `Answer.grounding` record: {"checked", "passed", "failed", "generator", "note"}."""
    return {
        "checked": checked,
        "passed": passed,
        "failed": [f.to_dict() for f in failed],
        "generator": generator,
        "note": note,
    }


# -- the reader's short answer -----------------------------------------------------------------
_VALUE_KINDS = frozenset(["count", "amount", "percent", "date", "period"])
_NAME_KINDS = frozenset(["person", "organisation", "place", "list"])


def _folded_text(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text)))


def short_answer_failure(
    answer: str, value: str, kind: str, names: Sequence[str] = (), language: str = "en"
) -> Failure | None:
    """A generated `answer` must state the reader's short answer for the asked fact: `value`
    is the span of the article that answers ("58.000 lao động"), `kind` its type; `names` are
    its other written forms (English name, ASCII). A number that exists in the passages but
    belongs to another fact ("405 workers" for the workers question) passes `check` and fails
    here. Answers of type "other" cannot be compared and pass."""
    text = strip_markers(answer)
    if kind in _VALUE_KINDS:
        wanted = extract_facts(value, "vi", "vi").all()
        stated = extract_facts(text, language, None)
        if not wanted or supported(wanted[0], stated):
            return None
        return Failure(answer.strip(), f"does not state {value!r}, the answer the articles give")
    if kind in _NAME_KINDS:
        said = _folded_text(text)
        forms = [value, *names]
        if any(_folded_text(f) and _folded_text(f) in said for f in forms):
            return None
        return Failure(answer.strip(), f"does not name {value!r}, the answer the articles give")
    return None
