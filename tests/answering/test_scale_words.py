"""Scale words ("tỷ", "tỉ", "triệu", "nghìn", "billion") count only as whole words: "5 tỉnh"
is 5 provinces, not "5 tỉ" (5 billion) followed by "nh". Checked in every reader of scales —
the grounding check (qa.answering.facts), the reader's spans (.spans), the English rendering
(.english), the figures of syndicated copies (.dated) — and in an answer composed from
hand-made records (no embedder, no index)."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import one_hit_candidates

from qa import lexicon
from qa.analysis import Analyzer
from qa.answering import dated
from qa.answering.compose import compose
from qa.answering.english import render
from qa.answering.evidence import weigh
from qa.answering.facts import extract_facts
from qa.answering.spans import candidates
from qa.records import Candidates, Verdict
from qa.retrieve.lexical import DiacriticRestorer
from qa.settings import Settings
from qa.types import Document

PROVINCES = "Hải Phòng có 5 tỉnh lân cận."
CAPITAL = "Thành phố thu hút vốn 5 tỉ đồng từ các nhà đầu tư."
# Every lower-case letter of Vietnamese, with its tone and vowel marks: after a scale word,
# each makes a longer word ("tỉ" + "n" → "tỉn…"), so the scale is not read.
_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
LETTERS = "bcdđghklmnpqrstvx" + "".join(
    unicodedata.normalize("NFC", v + t) for v in _VOWELS for t in _TONES
)


def amounts(text: str) -> set[float]:
    return {v for q in extract_facts(text).quantities for v in q.values}


@pytest.mark.parametrize(
    "text",
    [
        PROVINCES,
        "Hà Nội giáp 5 tỉnh",
        "5 tỉnh, thành phố",
        "Đoàn gồm 5 billionaires và 3 millionaires.",
    ],
)
def test_a_word_that_starts_with_a_scale_is_not_a_scale(text: str) -> None:
    assert amounts(text) <= {5.0, 3.0}
    spans = [s for s in candidates(text) if s.text[:1].isdigit()]
    assert spans and all(s.text in ("5", "3") for s in spans), spans
    assert all(f[:1] in "53" and len(f) == 1 for f in dated._figures(text))


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        (CAPITAL, 5e9, "5 tỉ đồng"),
        ("Vốn đăng ký 5 tỷ USD.", 5e9, "5 tỷ USD"),
        ("Tổng vốn 5 ngàn tỷ đồng", 5e12, "5 ngàn tỷ đồng"),
        ("Dân số 3 triệu người", 3e6, "3 triệu"),
        ("Có 58 nghìn lao động", 58e3, "58 nghìn"),
        ("Vốn 5 tỷ.", 5e9, "5 tỷ"),
        ("Vốn 5 tỉ, tăng 10%", 5e9, "5 tỉ"),
        ("Exports reached 5 billion USD", 5e9, "5 billion USD"),
    ],
)
def test_a_whole_scale_word_is_still_read(text: str, value: float, span: str) -> None:
    assert value in amounts(text)
    assert span in {s.text for s in candidates(text)}


@pytest.mark.parametrize(
    "scale", [w for w, s in lexicon.scales().items() if s.language == "vi" and " " not in w]
)
def test_every_vietnamese_letter_ends_no_scale(scale: str) -> None:
    for letter in LETTERS:
        text = f"Có 5 {scale}{letter} ở đây"
        assert amounts(text) == {5.0}, text
        assert [s.text for s in candidates(text) if s.text[:1] == "5"] == ["5"], text
        assert render(f"5 {scale}{letter}", "count") == "5", text


@pytest.mark.parametrize(
    ("text", "kind", "english"),
    [
        ("5 tỉnh", "count", "5"),
        ("5 tỉnh lân", "count", "5"),
        ("5 tỉnh lân cận", "count", "5"),
        ("5 đôi giày", "count", "5"),  # "đô" (dollar) begins "đôi" (pair)
        ("5 tỉ đồng", "amount", "VND 5 billion"),
        ("5 tỷ USD", "amount", "USD 5 billion"),
        ("hơn 5 tỷ", "amount", "over 5 billion"),
        ("5 ngàn tỷ đồng", "amount", "VND 5 trillion"),
        ("3 triệu", "count", "3 million"),
    ],
)
def test_english_rendering(text: str, kind: str, english: str) -> None:
    assert render(text, kind) == english


def test_a_word_that_starts_with_a_percent_word_is_not_a_percent() -> None:
    assert [(s.text, s.type) for s in candidates("the 95 percentile wage")] == [("95", "number")]
    assert ("5 percent", "percent") in {(s.text, s.type) for s in candidates("up 5 percent.")}
    assert ("5%", "percent") in {(s.text, s.type) for s in candidates("tăng 5%/năm")}


def test_unaccented_word_is_no_scale() -> None:
    assert amounts("thanh pho co 5 tinh lan can") == {5.0}


@pytest.mark.xfail(
    strict=True,
    reason="unaccented scale words ('ty', 'trieu', 'nghin') are not in the lexicon: "
    "'5 ty dong' reads as 5 VND",
)
def test_unaccented_scale_is_read() -> None:
    assert 5e9 in amounts("von 5 ty dong")


# -- an answer composed from hand-made records -----------------------------------------------------
ARTICLE = f"Hải Phòng là thành phố cảng lớn ở miền Bắc.\n{PROVINCES}\n{CAPITAL}"


def _candidates(order: list[int]) -> Candidates:
    """Candidates whose sentences come in `order` (retrieval's ranking), one hit."""
    return one_hit_candidates(Document("hp", "Hải Phòng", ARTICLE, "0" * 64), order)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(DiacriticRestorer([ARTICLE]))


def _answer(analyzer: Analyzer, question: str, order: list[int]):
    asked = analyzer.analyze(question)
    found = _candidates(order)
    return compose(asked, weigh(asked, found), Verdict(True, 0.9), found.documents, Settings())


@pytest.mark.parametrize(
    "question",
    [
        "Hải Phòng có bao nhiêu tỉnh lân cận?",
        "Hai Phong co bao nhieu tinh lan can?",
        "How many neighbouring provinces does Hai Phong have?",
    ],
)
def test_provinces_are_counted_not_billions(analyzer: Analyzer, question: str) -> None:
    answer = _answer(analyzer, question, [1, 0, 2])
    assert answer.short_answer is not None and answer.short_answer.text.startswith("5")
    assert "billion" not in answer.answer and "5 tỉ " not in answer.short_answer.text + " "
    assert "5 tỉnh" in answer.answer


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("Thành phố thu hút bao nhiêu vốn?", "5 tỉ đồng"),
        ("How much capital did the city attract?", "VND 5 billion"),
    ],
)
def test_capital_is_still_billions(analyzer: Analyzer, question: str, short: str) -> None:
    answer = _answer(analyzer, question, [2, 0, 1])
    assert answer.short_answer is not None and answer.short_answer.text == short
    assert short in answer.answer
