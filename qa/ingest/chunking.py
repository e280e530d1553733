"""Vietnamese-aware sentence splitting and sentence-window chunking, with exact offsets.

Pure functions: `(text, params) -> records`. News text is full of periods that do not end a
sentence ("3,073 tỷ USD", "TP. Thâm Quyến", "TP.HCM", "B.V.", "31/10/2023"), so a boundary is a
terminator followed by white space and an upper-case letter (or a quote/bracket and then one),
unless the token before it is a known abbreviation or a single initial. A line break followed
by a capital (or a digit) is a boundary too, punctuation or not: news is often one sentence
per line, and titles and captions end without a full stop; a line wrapped inside a sentence
goes on in lower case and is not cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from qa import lexicon
from qa.types import Chunk, Sentence

# Bump when boundaries change: the index re-chunks and re-embeds documents split another way.
SPLITTER_VERSION = 4

# Tokens that end with a period without ending a sentence (compared without the period,
# case-insensitively).
ABBREVIATIONS = frozenset(lexicon.abbreviations())  # qa/data/lexicon/abbreviations.txt

# Candidate boundary: terminator(s), optional closing quotes/brackets, then white space or an
# upper-case letter glued to an ellipsis ("Nam Phi…Tại Hội nghị").
_BOUNDARY_RE = re.compile(
    r"(?:[.!?]+|…+)[\"”’»)\]]*(?=\s|$|(?<=…)[\"“«(]?[A-ZÀ-ỸĐ])|(?<=[^\s.!?…])[ \t]*(?=\n)"
)
_UPPER_START_RE = re.compile(r"\s*[\"“«(\[]?(\w)")
_PARAGRAPH_RE = re.compile(r"\n\s*\n|\n(?=\s*[-•*]\s)")
# A "sentence" longer than this (a wall of text with no full stop, a 1 MB line) is cut at the last
# white space before the limit: the embedder reads ~512 tokens and a citation must stay readable.
# The longest real sentence seen (XQuAD-vi, corpus/) is 1,152 characters.
MAX_SENTENCE_CHARS = 1500


def _is_upper_start(text: str, pos: int) -> bool:
    # str.isupper, not a character range: [À-Ỹ] also spans lower-case letters ("đây", "ở").
    match = _UPPER_START_RE.match(text, pos)
    return bool(match) and (match.group(1).isupper() or match.group(1) in "0123456789")


def _ends_with_abbreviation(segment: str) -> bool:
    """True if the period closing `segment` belongs to an abbreviation or an initial."""
    match = re.search(r"([\w.]+)\.$", segment)
    if not match:
        return False
    token = match.group(1)
    if token.lower() in ABBREVIATIONS:
        return True
    # A single letter ("Nguyễn V. A.") or dotted initials ("B.V", "U.S").
    return (len(token) == 1 and token.isupper()) or bool(re.fullmatch(r"(?:\w\.)+\w", token))


def _paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in _PARAGRAPH_RE.finditer(text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) pieces of at most MAX_SENTENCE_CHARS, cut at white space where there is some."""
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        space = max(text.rfind(" ", start + 1, limit), text.rfind("\n", start + 1, limit))
        cut = space if space > start else limit
        yield _trim(text, start, cut)
        start = _trim(text, cut, end)[0]
    yield start, end


def split_sentences(text: str, doc_id: str = "") -> list[Sentence]:
    """Split `text` into sentences; `text[s.start:s.end] == s.text` for every sentence."""
    sentences: list[Sentence] = []

    def add(start: int, end: int) -> None:
        s, e = _trim(text, start, end)
        for a, b in _cut_long(text, s, e) if e > s else ():
            sentences.append(Sentence(doc_id, a, b, text[a:b]))

    for p_start, p_end in _paragraph_spans(text):
        cursor = p_start
        for match in _BOUNDARY_RE.finditer(text, p_start, p_end):
            end = match.end()
            if end < p_end and not _is_upper_start(text, end):
                continue
            if text[match.start()] == "." and _ends_with_abbreviation(
                text[cursor : match.start() + 1]
            ):
                continue
            add(cursor, end)
            cursor = end
        add(cursor, p_end)
    return sentences


def chunk_document(
    text: str, doc_id: str, max_chars: int = 600, overlap: int = 1
) -> tuple[list[Chunk], list[Sentence]]:
    """Group consecutive sentences into chunks of at most `max_chars` (a longer sentence is a
    chunk of its own), repeating `overlap` sentences between neighbours so that a fact split
    across a boundary is still whole in one chunk.

    Returns (chunks, sentences); chunk ids are `<doc_id>#<n>`, stable for unchanged text.
    """
    sentences = split_sentences(text, doc_id)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j].end - sentences[i].start <= max_chars:
            j += 1
        window = sentences[i:j]
        start, end = window[0].start, window[-1].end
        chunks.append(
            Chunk(
                chunk_id=f"{doc_id}#{len(chunks)}",
                doc_id=doc_id,
                start=start,
                end=end,
                text=text[start:end],
                sentences=tuple((s.start, s.end) for s in window),
            )
        )
        if j >= len(sentences):
            break
        i = max(i + 1, j - overlap)
    return chunks, sentences
