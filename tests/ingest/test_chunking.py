"""qa.ingest.chunking: Vietnamese-aware sentence splitting and sentence-window chunks, exact offsets."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.chunking import MAX_SENTENCE_CHARS, chunk_document, split_sentences
from qa.ingest.documents import read_corpus
from qa.types import Chunk, Sentence

REPO = Path(__file__).resolve().parents[2]


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


# -- periods that do not end a sentence -------------------------------------------------------
@pytest.mark.parametrize(
    "sentence",
    [
        pytest.param("Tổng vốn đạt hơn 3,073 tỷ USD, gấp 1,68 lần so với cùng kỳ.", id="3,073"),
        pytest.param("Tổng vốn đạt 6,14 tỷ USD (bao gồm Đài Loan).", id="6,14"),
        pytest.param("Đoàn làm việc từ ngày 14/11 đến ngày 21/11.", id="14/11"),
        pytest.param("Hội nghị tổ chức vào ngày 7/8 tại Thâm Quyến.", id="7/8"),
        pytest.param("Từ đầu năm đến ngày 31/10/2023 đạt 153,68% kế hoạch.", id="31/10/2023"),
        pytest.param(
            "Hội nghị tổ chức tại TP. Thâm Quyến (Trung Quốc), đoàn đã đến.", id="TP. Thâm"
        ),
        pytest.param("Các địa phương TP.HCM, Đà Nẵng, Hưng Yên đã tham dự.", id="TP.HCM"),
        pytest.param("Các địa phương TP. HCM, Đà Nẵng, Hưng Yên đã tham dự.", id="TP. HCM"),
        pytest.param("Ông Nguyễn V. A. Trưởng phòng cho biết như vậy.", id="initials"),
        pytest.param("Bà Trần T. H. Yến phát biểu tại hội nghị.", id="initials-2"),
        pytest.param(
            "Các hãng Rhijn Koppen Modesschoenen B.V.in Zeist, ANWR-Garant đã đến.", id="B.V.in"
        ),
        pytest.param("Công ty Flat Co. Ltd. Việt Nam tăng vốn.", id="Co. Ltd."),
        pytest.param("GS. TS. Nguyễn Văn A phát biểu.", id="GS. TS."),
        pytest.param("Tỷ lệ tăng 1.5 lần so với năm trước.", id="decimal-point"),
    ],
)
def test_abbreviations_numbers_and_dates_do_not_end_a_sentence(sentence: str) -> None:
    text = f"{sentence} Câu tiếp theo bắt đầu ở đây."
    assert texts(text) == [sentence, "Câu tiếp theo bắt đầu ở đây."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Cảng đón 12 tàu container trong tháng 1. Đây là kỷ lục mới.",
            ["Cảng đón 12 tàu container trong tháng 1.", "Đây là kỷ lục mới."],
            id="tháng 1. Đây",
        ),
        pytest.param("Hỏi gì? Trả lời đây! Xong.", ["Hỏi gì?", "Trả lời đây!", "Xong."], id="?!"),
        pytest.param(
            'Ông nói: "Đây là cơ hội lớn." Sau đó ông rời đi.',
            ['Ông nói: "Đây là cơ hội lớn."', "Sau đó ông rời đi."],
            id="straight-quotes",
        ),
        pytest.param(
            "Ông nói: “Đây là cơ hội lớn.” Sau đó ông rời đi.",
            ["Ông nói: “Đây là cơ hội lớn.”", "Sau đó ông rời đi."],
            id="curly-quotes",
        ),
        pytest.param(
            "Câu một (có ngoặc.) Câu hai.", ["Câu một (có ngoặc.)", "Câu hai."], id="bracket"
        ),
        pytest.param(
            "Ấn Độ và Nam Phi…Tại Hội nghị xúc tiến đầu tư. Câu cuối.",
            ["Ấn Độ và Nam Phi…", "Tại Hội nghị xúc tiến đầu tư.", "Câu cuối."],
            id="glued-ellipsis",
        ),
        pytest.param(
            "Dự án đạt 12 triệu USD. 4 biên bản đã được ký.",
            ["Dự án đạt 12 triệu USD.", "4 biên bản đã được ký."],
            id="digit-start",
        ),
        pytest.param(
            "Đoạn một kết thúc\n\nĐoạn hai không có dấu chấm",
            ["Đoạn một kết thúc", "Đoạn hai không có dấu chấm"],
            id="paragraphs",
        ),
        pytest.param(
            "Gồm:\n- mục một\n- mục hai", ["Gồm:", "- mục một", "- mục hai"], id="bullets"
        ),
        # A line that ends without punctuation and is followed by a capital is its own
        # sentence (titles, captions, one-sentence-per-line news); a line wrapped inside a
        # sentence (lower-case continuation) is not cut.
        pytest.param("Dòng một\nDòng hai.", ["Dòng một", "Dòng hai."], id="single-newline"),
        pytest.param(
            "Hải Phòng thu hút 3 tỷ USD\nTổng vốn tăng mạnh.\n405 dự án",
            ["Hải Phòng thu hút 3 tỷ USD", "Tổng vốn tăng mạnh.", "405 dự án"],
            id="one-sentence-per-line",
        ),
        pytest.param(
            "Hội nghị diễn ra tại\nthành phố Thâm Quyến.",
            ["Hội nghị diễn ra tại\nthành phố Thâm Quyến."],
            id="wrapped-line",
        ),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Năm 2023. đây là câu chưa hết.", id="lower-accented-after-period"),
        pytest.param("Xuất khẩu sang Nam Phi…đây là hội nghị.", id="lower-after-ellipsis"),
        pytest.param("Năm 2023. ở đây vẫn là một câu.", id="lower-o-horn"),
        pytest.param("Ghi chú a. b. c. vẫn một câu.", id="lower-ascii"),
    ],
)
def test_no_boundary_before_a_lower_case_letter(text: str) -> None:
    """A boundary needs an upper-case letter (or digit) after it; lower-case letters with
    Vietnamese diacritics ("đây", "ở", "tại") are lower-case too."""
    assert texts(text) == [text]


def test_real_article_sentences_stay_whole() -> None:
    documents = {d.doc_id: d for d in read_corpus(REPO / "corpus")}
    all_sentences = [s.text for d in documents.values() for s in split_sentences(d.text)]
    for fact in [
        "Tổng thu hút vốn đầu tư nước ngoài trên toàn thành phố từ đầu năm đến ngày 31/10/2023 "
        "đạt hơn 3,073 tỷ USD, gấp 1,68 lần so với cùng kỳ năm 2022, đạt 153,68% kế hoạch thu "
        "hút 2023.",
        "Đến nay, TP. Hải Phòng có 405 dự án đầu tư từ Trung Quốc với tổng vốn đạt 6,14 tỷ USD "
        "(bao gồm Trung Quốc đại lục, Đài Loan (Trung Quốc), Hồng Kông (Trung Quốc)).",
        "Tham dự hội nghị có 16 doanh nghiệp Hà Lan lần đầu đến Việt Nam, mong muốn tìm hiểu về "
        "môi trường đầu tư của Hải Phòng cùng một số chính sách và cơ hội để hợp tác với các "
        "doanh nghiệp Việt Nam.",
    ]:
        assert fact in all_sentences
    chau = [s for s in all_sentences if s.startswith("Tại Hội nghị xúc tiến đầu tư")]
    assert len(chau) == 1
    assert "ngày 7/8 tại TP. Thâm Quyến (Trung Quốc)" in chau[0]
    assert chau[0].endswith(
        "đã tiến hành nhiều hoạt động xúc tiến đầu tư với các doanh nghiệp Trung Quốc."
    )
    dutch = [s for s in all_sentences if "B.V.in Zeist" in s]
    assert len(dutch) == 1 and dutch[0].startswith("Đoàn doanh nghiệp Hà Lan gồm")


# -- invariants -------------------------------------------------------------------------------
def check_sentences(text: str, sentences: list[Sentence], doc_id: str = "") -> None:
    """Exact, ordered, non-overlapping, trimmed, and nothing but white space left out."""
    covered = [False] * len(text)
    previous_end = 0
    for s in sentences:
        assert s.doc_id == doc_id
        assert text[s.start : s.end] == s.text
        assert s.text and s.text == s.text.strip()
        assert len(s.text) <= MAX_SENTENCE_CHARS
        assert previous_end <= s.start < s.end <= len(text)
        previous_end = s.end
        covered[s.start : s.end] = [True] * (s.end - s.start)
    dropped = [ch for ch, inside in zip(text, covered, strict=True) if not inside]
    assert all(ch.isspace() for ch in dropped), dropped


def check_chunks(
    text: str,
    chunks: list[Chunk],
    sentences: list[Sentence],
    doc_id: str,
    max_chars: int,
    overlap: int,
) -> None:
    spans = [(s.start, s.end) for s in sentences]
    position = {span: i for i, span in enumerate(spans)}
    assert bool(chunks) == bool(sentences)
    seen: set[tuple[int, int]] = set()
    previous: list[int] = []
    for n, chunk in enumerate(chunks):
        assert chunk.chunk_id == f"{doc_id}#{n}"
        assert chunk.doc_id == doc_id
        assert text[chunk.start : chunk.end] == chunk.text
        rows = [position[span] for span in chunk.sentences]  # only real sentences
        assert rows == list(range(rows[0], rows[0] + len(rows)))  # consecutive
        assert (chunk.start, chunk.end) == (chunk.sentences[0][0], chunk.sentences[-1][1])
        assert chunk.end - chunk.start <= max_chars or len(rows) == 1
        if previous:
            assert rows[0] > previous[0]  # progress
            shared = len(set(previous) & set(rows))
            assert shared == min(overlap, len(previous) - 1)
        seen.update(chunk.sentences)
        previous = rows
    assert seen == set(spans)  # every sentence is in some chunk


def test_offsets_and_chunks_of_the_real_corpus() -> None:
    for document in read_corpus(REPO / "corpus"):
        chunks, sentences = chunk_document(document.text, document.doc_id, 600, 1)
        check_sentences(document.text, sentences, document.doc_id)
        check_chunks(document.text, chunks, sentences, document.doc_id, 600, 1)
        assert len(chunks) > 1


@pytest.mark.parametrize(
    "text",
    [
        "Hải Phòng đầu tư cảng biển " * 40_000,  # ~1 MB on one line, no full stop
        "x" * 5_000,  # no white space at all: hard cuts
        "Mở đầu. " + "rất dài " * 600 + "kết thúc. Câu cuối.",
    ],
    ids=["1MB-line", "no-spaces", "long-middle"],
)
def test_walls_of_text_are_cut_into_readable_sentences(text: str) -> None:
    sentences = split_sentences(text, "d")
    check_sentences(text, sentences, "d")
    assert len(sentences) >= len(text) // MAX_SENTENCE_CHARS
    chunks, _ = chunk_document(text, "d", 600, 1)
    assert max(len(c.text) for c in chunks) <= MAX_SENTENCE_CHARS
    if " " in text.strip():  # cut at white space, so no word is split
        assert all(text[s.end] == " " for s in sentences[:-1] if s.end < len(text))


def test_neighbouring_chunks_share_the_overlap_sentence() -> None:
    text = " ".join(f"Câu số {i} nói về Hải Phòng." for i in range(1, 21))
    chunks, sentences = chunk_document(text, "doc", max_chars=100, overlap=1)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert a.sentences[-1] == b.sentences[0]
        assert a.text.endswith(b.text[: b.sentences[0][1] - b.sentences[0][0]])
    chunks0, _ = chunk_document(text, "doc", max_chars=100, overlap=0)
    assert sum(len(c.sentences) for c in chunks0) == len(sentences)  # a partition


def test_sentence_longer_than_the_window_is_a_chunk_of_its_own() -> None:
    long = "Dự án " + "rất " * 100 + "lớn."
    text = f"Câu ngắn. {long} Câu cuối."
    chunks, sentences = chunk_document(text, "doc", max_chars=50, overlap=1)
    assert long in [c.text for c in chunks]
    check_chunks(text, chunks, sentences, "doc", 50, 1)


def test_chunk_ids_are_stable() -> None:
    text = (REPO / "corpus" / "000_d64ab916eb4386f1.txt").read_text(encoding="utf-8")
    assert chunk_document(text, "a") == chunk_document(text, "a")


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "\t \n"])
def test_blank_text_has_no_sentences_or_chunks(text: str) -> None:
    assert split_sentences(text) == []
    assert chunk_document(text, "doc") == ([], [])


# -- property tests ---------------------------------------------------------------------------
FRAGMENTS = [
    "TP. ",
    "TP.HCM",
    "3,073 tỷ USD. ",
    "6,14 tỷ",
    "31/10/2023",
    "Đây là câu. ",
    "đây. ",
    "Nguyễn V. A. ",
    "B.V.in ",
    "tháng 1. ",
    "\n\n",
    "\n",
    "\r\n",
    "\t",
    " ",
    "...",
    "…",
    ".",
    "?",
    "!",
    "“",
    "”",
    '"',
    "(",
    ")",
    "- ",
    "• ",
    "\x00",
    "😀🚢",
    "مرحبا بالعالم. ",
    "שלום. ",
    "\u200f",
    "Ha\u0309i Pho\u0300ng",  # NFD
    "\u0301",  # a lone combining mark
    "Ω. Σ",
]
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=60).map("".join),
)


@settings(deadline=None, max_examples=300)  # no deadline: a loaded machine is not a bug
@given(TEXT)
def test_sentence_offsets_always_map_back(text: str) -> None:
    check_sentences(text, split_sentences(text, "d"), "d")


@settings(deadline=None, max_examples=200)
@given(TEXT, st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=3))
def test_chunk_offsets_always_map_back(text: str, max_chars: int, overlap: int) -> None:
    chunks, sentences = chunk_document(text, "d", max_chars, overlap)
    check_sentences(text, sentences, "d")
    check_chunks(text, chunks, sentences, "d", max_chars, overlap)
