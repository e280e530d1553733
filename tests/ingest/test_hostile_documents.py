"""Hostile and odd *documents* through the real write path (`QA.add_documents`): each one is
either refused with a clear `DocumentError` that changes nothing on disk, or stored and indexed
so that the index verifies clean and every search hit quotes the exact stored text.

(Odd *questions* are covered by tests/test_properties.py; odd file names by test_documents.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import QA, DocumentError, Settings
from qa.index.store import read_manifest
from qa.ingest.chunking import MAX_SENTENCE_CHARS

# One line, no sentence punctuation, nothing repeated (a counter in every phrase).
ONE_MB_LINE = " ".join(f"Hải Phòng đầu tư cảng biển Lạch Huyện đợt {i}" for i in range(30_000))[
    :1_000_000
]
# The same phrase pasted over and over: refused (it would embed as thousands of texts).
REPEATED = ("Hải Phòng đầu tư cảng biển Lạch Huyện. " * 30_000)[:1_000_000]

# (file name, bytes, a query that must find it, a fragment the stored text must hold)
ACCEPTED = [
    ("one_line_1mb.txt", ONE_MB_LINE.encode(), "cảng biển Lạch Huyện", "Lạch Huyện"),
    ("emoji.txt", "Cảng 🚢 Cái Lân 😀 đón 12 tàu. 🎉🎉".encode(), "Cái Lân", "🚢 Cái Lân 😀"),
    (
        "rtl.txt",
        "ما هو عدد الشركات الهولندية؟ Quảng Ninh có 16 doanh nghiệp.".encode(),
        "Quảng Ninh doanh nghiệp",
        "الشركات",
    ),
    (
        "html.md",
        "<script>alert(1)</script> <b>Vĩnh Long</b> có 3 cây cầu.".encode(),
        "Vĩnh Long cầu",
        "<script>alert(1)</script>",  # stored as text, not stripped and not executed
    ),
    ("nfd.txt", "Ha\u0300 Giang co\u0301 đèo Mã Pí Lèng.".encode(), "Hà Giang", "Hà Giang"),
    (
        "mixed.txt",
        "Bac Lieu attracted 3 billion USD. Bạc Liêu thu hút 3 tỷ USD.".encode(),
        "Bạc Liêu thu hút",
        "3 tỷ USD",
    ),
    (
        "ctrl.txt",
        b"Ninh\x00Thu\xe1\xba\xadn\x1bc\xc3\xb3 gi\xc3\xb3.",
        "Ninh Thuận",
        "Ninh Thuận có",
    ),
    ("../../outside.txt", "Tây Ninh có núi Bà Đen.".encode(), "núi Bà Đen", "Bà Đen"),
]

REFUSED = [
    ("bad.txt", b"caf\xe9 \xff\xfe", "UTF-8"),
    ("space.txt", b"   \n\t  ", "no text"),
    ("punct.txt", "?!?!… ;;; --- «»".encode(), "no text"),
    ("nul.txt", b"\x00\x00\x00", "no text"),
    ("big.txt", b"a " * 1_100_000, "limit"),
    ("x.pdf", b"%PDF-1.4", "only .txt and .md"),
    ("..", "Tên tệp chỉ có dấu chấm.".encode(), "name"),
    ("repeated.txt", REPEATED.encode(), "repeats itself"),
    ("repeated_line.txt", ("Hải Phòng đầu tư cảng biển Lạch Huyện " * 30_000).encode(), "repeats"),
    ("CON", "Tên tệp không có phần mở rộng.".encode(), "only .txt and .md"),
    ("passwd", b"root:x:0:0:root:/root:/bin/bash", "only .txt and .md"),
]


def snapshot(settings: Settings) -> tuple[list[tuple[str, bytes]], str]:
    """Everything a failed request must leave as it was: corpus files and the live generation."""
    files = sorted((p.name, p.read_bytes()) for p in settings.corpus_dir.iterdir())
    return files, read_manifest(settings.index_dir)[0]


@pytest.fixture
def qa_small(small_settings: Settings, hash_embedder) -> QA:
    settings = small_settings.with_overrides(max_document_bytes=2_000_000)
    qa = QA(settings, embedder=hash_embedder)
    qa.index()
    return qa


@pytest.mark.parametrize(
    ("name", "data", "query", "fragment"), ACCEPTED, ids=[c[0] for c in ACCEPTED]
)
def test_odd_document_is_stored_as_text_and_searchable(qa_small: QA, name, data, query, fragment):
    (document,), _ = qa_small.add_documents([(name, data)])
    assert fragment in document.text
    assert "\x00" not in document.text and "\x1b" not in document.text
    stored = {p.name for p in qa_small.settings.corpus_dir.iterdir()}
    assert f"{document.doc_id}{Path(name).suffix}" in stored  # no path escapes the corpus
    assert not any(".." in s or "/" in s for s in stored)
    assert qa_small.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}
    hits = qa_small.search(query, k=3)
    assert hits and hits[0].doc_id == document.doc_id
    for hit in hits:
        text = qa_small.document(hit.doc_id).text
        assert text[hit.start : hit.end] == hit.text
        assert len(hit.text) <= max(qa_small.settings.chunk_chars, MAX_SENTENCE_CHARS)


@pytest.mark.parametrize(("name", "data", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_document_is_refused_clearly_and_changes_nothing(qa_small: QA, name, data, message):
    before = snapshot(qa_small.settings)
    with pytest.raises(DocumentError, match=message):
        qa_small.add_documents([(name, data)])
    assert snapshot(qa_small.settings) == before


def test_one_bad_file_in_a_batch_refuses_the_whole_batch(qa_small: QA):
    before = snapshot(qa_small.settings)
    good = ("tot.txt", "Cà Mau có rừng đước.".encode())
    with pytest.raises(DocumentError, match=r"bad\.txt"):
        qa_small.add_documents([good, ("bad.txt", b"\xff\xfe")])
    assert snapshot(qa_small.settings) == before


def test_too_many_documents_in_one_request(qa_small: QA):
    settings = qa_small.settings.with_overrides(max_documents_per_request=2)
    qa = QA(settings, embedder=qa_small.embedder)
    before = snapshot(settings)
    files = [(f"d{i}.txt", f"Tài liệu số {i}.".encode()) for i in range(3)]
    with pytest.raises(DocumentError, match="limit is 2"):
        qa.add_documents(files)
    assert snapshot(settings) == before
