"""What kind of fact a span is, judged by the rules' typed candidates (`qa.answering.spans`).

Both readers need it: the learned reader's span is free text ("Đạt 6,14 tỷ USD"), and whether it
is shown, and rendered for an English reader, as an amount or as a phrase depends on the typed
fact that makes up most of it. The rule reader's untyped readings pass through `shown_typed` too.
"""

from __future__ import annotations

from dataclasses import replace

from qa.answering.reader import FIT, Reading
from qa.answering.spans import Span, candidates

NUMERIC = ("count", "amount", "percent", "date", "period")
# Kinds shown as themselves (and rendered for English readers) even when not asked for.
SHOWN_TYPES = (*NUMERIC[1:], "person", "organisation", "place")


def typed_core(text: str) -> Span | None:
    """The rules' typed candidate that makes up most of `text` ("6,14 tỷ USD" of "Đạt 6,14 tỷ
    USD"), or None."""
    core = [c for c in candidates(text) if len(c.text) >= 0.6 * len(text.strip())]
    return core[0] if core else None


def core_type(text: str) -> str:
    """The kind of the rules' typed candidate that makes up most of `text` ("153,68%" is a
    percent, "190 triệu USD" an amount), or "" for a phrase."""
    core = typed_core(text)
    return core.type if core else ""


def span_fit(asked: str, text: str) -> float:
    """How well a free span fits the asked type, on the rules' scale (`reader.FIT`)."""
    return FIT[asked].get(core_type(text), 0.2)


def shown_typed(reading: Reading) -> Reading:
    """An untyped reading that is mostly a fact of a shown kind, narrowed to it ("Đạt 6,14 tỷ
    USD" → "6,14 tỷ USD", an amount): an English question then sees it rendered ("USD 6.14
    billion") instead of a Vietnamese phrase."""
    core = typed_core(reading.text) if reading.type == "other" else None
    if core is None or core.type not in SHOWN_TYPES:
        return reading
    start = reading.start + core.start
    return replace(reading, start=start, end=start + len(core.text), text=core.text, type=core.type)
