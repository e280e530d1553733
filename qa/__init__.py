"""Bilingual (Vietnamese/English) question answering over Vietnamese news, with cited passages.

import qa
result = qa.answer("Hải Phòng thu hút bao nhiêu vốn FDI?")
print(result.answer, result.citations[0].quote)
"""

from qa.errors import (
    DocumentError,
    IndexCorrupt,
    IndexLocked,
    IndexMismatch,
    IndexMissing,
    InvalidQuestion,
    QAError,
    UnknownDocument,
    UnknownEmbedder,
)
from qa.pipeline import QA, answer, search
from qa.settings import Settings
from qa.types import Answer, Chunk, Citation, Document, Hit, Sentence

__all__ = [
    "QA",
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "DocumentError",
    "Hit",
    "IndexCorrupt",
    "IndexLocked",
    "IndexMismatch",
    "IndexMissing",
    "InvalidQuestion",
    "QAError",
    "Sentence",
    "Settings",
    "UnknownDocument",
    "UnknownEmbedder",
    "answer",
    "search",
]
