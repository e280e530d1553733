"""Citation markers ("[1]", "[1, 2]", "[1-3]") and the sentences of an answer with the passages each
cites: what the grounding guard (`qa.answering.grounding`) reads an answer into, and how
`qa.answering.generation` renumbers a generator's markers.

Pure functions, no model: see tests/test_grounding.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa import lexicon
from qa.ingest.chunking import split_sentences

# -- markers -----------------------------------------------------------------------------------
# "[1]", "[1, 2]", "[1][2]", "[1-3]"; white space inside the brackets is tolerated.
MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:[,;]|[-–])\s*\d{1,3})*)\s*\]")
_LEADING_MARKERS_RE = re.compile(r"^(?:\s*\[\s*\d{1,3}(?:\s*(?:[,;]|[-–])\s*\d{1,3})*\s*\])+")


def marker_numbers(marker_body: str) -> list[int]:
    """The passage numbers of one marker's inside: "1, 2" → [1, 2]; "1-3" → [1, 2, 3]."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body.strip()):
        if not part:
            continue
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0] and bounds[1]:
            low, high = int(bounds[0]), int(bounds[1])
            numbers.extend(range(low, high + 1) if 0 < high - low < 20 else (low, high))
        else:
            numbers.append(int(bounds[0]))
    return numbers


def markers(text: str) -> list[int]:
    """Every passage number cited in `text`, in order of appearance (repeats kept)."""
    return [n for m in MARKER_RE.finditer(text) for n in marker_numbers(m.group(1))]


def strip_markers(text: str) -> str:
    """`text` without its markers (same length is not kept)."""
    text = re.sub(r"[ \t]+", " ", MARKER_RE.sub(" ", text))
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip()


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Rewrite every marker with the new numbers of `mapping` ("[3, 1]" → "[1][2]")."""

    def replace(match: re.Match[str]) -> str:
        return "".join(f"[{mapping.get(n, n)}]" for n in marker_numbers(match.group(1)))

    return MARKER_RE.sub(replace, text)


# -- sentences of an answer --------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """One sentence of an answer and the passage numbers it cites (its own markers, plus markers
    written right after its full stop: "… 2023. [1] Next sentence")."""

    text: str
    cites: tuple[int, ...]


_MONTH_ABBREVIATION_RE = re.compile(
    rf"\b(?:{lexicon.alternation(lexicon.months('abbreviation'))})\.$", re.I
)


def claims(text: str) -> list[Claim]:
    """Split an answer into sentences (Vietnamese-aware, lines apart) with their markers.

    Markers opening a sentence belong to the sentence before it on the same line ("… 2023. [1]
    Next"); a line that starts with a marker ("[2] Hai Phong …") keeps it, and a line of
    markers alone belongs to the line above."""
    out: list[tuple[str, list[int]]] = []
    for line in text.splitlines():
        pieces: list[str] = []
        for sentence in split_sentences(line):
            if pieces and _MONTH_ABBREVIATION_RE.search(pieces[-1]):  # "Nov. 14" is one date
                pieces[-1] = f"{pieces[-1]} {sentence.text}"
            else:
                pieces.append(sentence.text)
        for i, piece in enumerate(pieces):
            leading = _LEADING_MARKERS_RE.match(piece)
            rest = piece[leading.end() :].strip() if leading else piece
            if leading and out and (i > 0 or not rest):
                out[-1][1].extend(markers(leading.group(0)))
                out[-1] = (f"{out[-1][0]} {leading.group(0).strip()}", out[-1][1])
                piece = rest
                if not piece:
                    continue
            out.append((piece, markers(piece)))
    return [Claim(t, tuple(c)) for t, c in out]
