"""qa.ingest.documents: reading articles (front matter, NFC, derived titles), ids, and refusals."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.errors import DocumentError
from qa.ingest.documents import (
    check_doc_id,
    decode,
    doc_id_for,
    parse_document,
    read_corpus,
    read_document,
)

REPO = Path(__file__).resolve().parents[2]

ARTICLE = """---
title: "Hải Phòng: thu hút FDI"
date: 2023-11-17
source: https://example.vn/bai-viet
language: vi
author: ignored
---
Tổng thu hút vốn đầu tư nước ngoài đạt hơn 3,073 tỷ USD. Đây là mức cao nhất.
"""


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# -- parsing ----------------------------------------------------------------------------------
def test_front_matter_is_parsed_and_removed_from_the_text() -> None:
    doc = parse_document("fdi", ARTICLE, "corpus/fdi.txt")
    assert doc.title == "Hải Phòng: thu hút FDI"  # quotes stripped, inner colon kept
    assert doc.date == "2023-11-17"
    assert doc.source == "https://example.vn/bai-viet"
    assert doc.language == "vi"
    assert doc.path == "corpus/fdi.txt"
    assert doc.text.startswith("Tổng thu hút vốn đầu tư")
    assert "---" not in doc.text and "author" not in doc.text
    assert doc.sha256 == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


def test_front_matter_with_crlf_line_ends() -> None:
    doc = parse_document("crlf", ARTICLE.replace("\n", "\r\n"))
    assert doc.title == "Hải Phòng: thu hút FDI"
    assert doc.date == "2023-11-17"
    assert "\r" not in doc.text


def test_title_is_derived_from_the_first_sentence() -> None:
    doc = parse_document("x", "Tại TP. Thâm Quyến có 7 doanh nghiệp. Câu thứ hai.\n")
    assert doc.title == "Tại TP. Thâm Quyến có 7 doanh nghiệp."
    assert doc.date == doc.source == ""
    assert doc.language == "vi"


def test_long_first_sentence_is_never_cut() -> None:
    first = "Hải Phòng " + "đầu tư phát triển " * 20 + "mạnh mẽ."
    doc = parse_document("x", first + " Câu hai.")
    assert doc.title == first  # whole: a headline is never a sentence cut short


def test_first_line_that_is_a_title_is_the_headline() -> None:
    body = "Sáu tháng đầu năm 2024, Vịnh Hạ Long đón khoảng 2 triệu lượt khách quốc tế."
    for head in ("Vịnh Hạ Long đón khách quốc tế kỷ lục", "# Vịnh Hạ Long đón khách kỷ lục"):
        doc = parse_document("x", f"{head}\n\n{body}\n")
        assert doc.title == head.lstrip("# ")
    assert parse_document("x", "Vì sao khách quay lại Hạ Long?\n" + body).title.endswith("?")
    # A first line that is a sentence or a clause is not a title: the first sentence is.
    doc = parse_document("x", "Theo Sở Du lịch, năm nay khách tăng.\n" + body)
    assert doc.title == "Theo Sở Du lịch, năm nay khách tăng."
    assert parse_document("x", body).title == body  # one line only: its sentence


def test_front_matter_without_title_derives_one() -> None:
    doc = parse_document("x", "---\ndate: 2024-08-07\n---\nCâu đầu tiên. Câu hai.")
    assert doc.title == "Câu đầu tiên."
    assert doc.date == "2024-08-07"


def test_nfd_input_is_normalised_to_nfc() -> None:
    nfd = unicodedata.normalize("NFD", ARTICLE)
    assert nfd != ARTICLE
    doc = parse_document("fdi", nfd)
    assert doc == parse_document("fdi", ARTICLE)
    assert unicodedata.is_normalized("NFC", doc.text)
    assert unicodedata.is_normalized("NFC", doc.title)
    assert "3,073 tỷ USD" in doc.text


def test_nfd_file_reads_like_the_nfc_file(tmp_path: Path) -> None:
    a = read_document(write(tmp_path / "a", "bai.txt", ARTICLE))
    b = read_document(write(tmp_path / "b", "bai.txt", unicodedata.normalize("NFD", ARTICLE)))
    assert (a.text, a.title, a.sha256) == (b.text, b.title, b.sha256)


def test_control_characters_are_removed() -> None:
    doc = parse_document("x", "Hải Phòng\x00 đầu tư\x1b lớn. Câu hai.")
    assert "\x00" not in doc.text and "\x1b" not in doc.text


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", "\ufeff".encode() + ARTICLE.encode("utf-8"))
    doc = read_document(path)
    assert doc.title == "Hải Phòng: thu hút FDI"
    assert not doc.text.startswith("\ufeff")


def test_real_corpus_reads() -> None:
    documents = read_corpus(REPO / "corpus")
    assert [d.doc_id for d in documents] == ["000_d64ab916eb4386f1", "003_d346f5a6b3a33b42"]
    for doc in documents:
        assert unicodedata.is_normalized("NFC", doc.text)
        assert not doc.text.startswith("---")  # the front matter is not part of the text
    # Headlines from their front matter, not a lead sentence cut short.
    assert [d.title for d in documents] == [
        "Hải Phòng kết nối, xúc tiến thương mại và đầu tư tại Hoa Kỳ",
        "Hải Phòng xúc tiến đầu tư tại Trung Quốc năm 2024",
    ]


# -- refusals ---------------------------------------------------------------------------------
def test_non_utf8_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "utf16.txt", "Hà Nội, Việt Nam".encode("utf-16"))
    with pytest.raises(DocumentError, match=r"utf16\.txt.*not UTF-8"):
        read_document(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"   \n\t\n", "---\ntitle: Chỉ có tiêu đề\n---\n".encode(), b"\x00\x00"],
    ids=["empty", "whitespace", "front-matter-only", "nul-only"],
)
def test_document_without_text_is_refused(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "empty.txt", content)
    with pytest.raises(DocumentError, match=r"empty\.txt.*no text"):
        read_document(path)


def test_oversize_document_is_refused() -> None:
    with pytest.raises(DocumentError, match=r"big\.txt.*over the limit of 10"):
        decode(b"x" * 11, "big.txt", 10)
    assert decode(b"x" * 10, "ok.txt", 10) == "x" * 10


def test_only_txt_and_md_are_articles(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"\.txt, \.md"):
        read_document(write(tmp_path, "a.pdf", "Nội dung."))


def test_read_corpus_fails_whole_on_one_bad_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus, "a_good.txt", "Bài một. Hải Phòng đầu tư.")
    write(corpus, "b_bad.txt", b"\xff\xfe\xfa not utf-8")
    write(corpus, "c_good.md", "Bài ba. Đà Nẵng du lịch.")
    result = None
    with pytest.raises(DocumentError, match=r"b_bad\.txt"):
        result = read_corpus(corpus)
    assert result is None  # nothing was returned, not even the good files


def test_read_corpus_refuses_two_files_with_one_id(tmp_path: Path) -> None:
    write(tmp_path, "bai.txt", "Bài một.")
    write(tmp_path, "bai.md", "Bài hai.")
    with pytest.raises(DocumentError, match="duplicate document id 'bai'"):
        read_corpus(tmp_path)


def test_read_corpus_is_sorted_recursive_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "Bài B.")
    write(tmp_path, "sub/a.md", "Bài A.")
    write(tmp_path, ".hidden.txt", b"\xff not utf-8, but hidden")
    write(tmp_path, ".git/notes.txt", b"\xff hidden folder")
    write(tmp_path, "image.png", b"\x89PNG")
    write(tmp_path, "notes.docx", b"\xff")
    assert [d.doc_id for d in read_corpus(tmp_path)] == ["b", "a"]  # sorted by path


def test_missing_corpus_folder_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        read_corpus(tmp_path / "nowhere")


# -- ids ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "doc_id"),
    [
        ("000_d64ab916eb4386f1.txt", "000_d64ab916eb4386f1"),
        ("bai-viet.MD", "bai-viet"),
        ("Hải Phòng 2023.txt", "H_i_Ph_ng_2023"),
        ("../../etc/passwd", "passwd"),
        ("../secret.txt", "secret"),
        ("/abs/path/x.txt", "x"),
        ("..\\..\\windows.txt", "windows"),
        (".hidden.txt", "hidden"),
        ("report.v2.txt", "report.v2"),
    ],
)
def test_doc_id_for_keeps_only_a_safe_basename(name: str, doc_id: str) -> None:
    assert doc_id_for(name) == doc_id


@pytest.mark.parametrize("name", ["../", "..", ".", "", "/", "...txt", "???.txt", ".txt", "đ.txt"])
def test_doc_id_for_refuses_names_without_a_usable_stem(name: str) -> None:
    with pytest.raises(DocumentError, match="cannot derive a document id"):
        doc_id_for(name)


@pytest.mark.parametrize(
    "doc_id", ["../x", "..", "a/b", "/etc/passwd", "", ".hidden", "a b", "x" * 129, "a\x00"]
)
def test_check_doc_id_refuses_path_like_ids(doc_id: str) -> None:
    with pytest.raises(DocumentError, match="invalid document id"):
        check_doc_id(doc_id)


@settings(deadline=None)  # pure functions; a loaded machine must not make them flaky
@given(st.text(max_size=80))
def test_doc_ids_never_name_a_path(name: str) -> None:
    try:
        doc_id = doc_id_for(name)
    except DocumentError:
        return
    assert check_doc_id(doc_id) == doc_id
    assert "/" not in doc_id and "\\" not in doc_id and "\x00" not in doc_id
    assert doc_id not in (".", "..") and not doc_id.startswith(".")
    assert Path(doc_id).name == doc_id
