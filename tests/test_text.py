"""qa.text: NFC normalisation, diacritic folding, tokens and language detection (no model)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.text import (
    clean,
    content_words,
    detect_language,
    fold,
    folded_words,
    has_diacritics,
    is_vi_syllable,
    nfc,
    words,
)

NFC_HAI_PHONG = "Hải Phòng đầu tư"
NFD_HAI_PHONG = unicodedata.normalize("NFD", NFC_HAI_PHONG)


def test_nfc_composes_decomposed_vietnamese() -> None:
    assert NFD_HAI_PHONG != NFC_HAI_PHONG  # the fixture really is decomposed
    assert nfc(NFD_HAI_PHONG) == NFC_HAI_PHONG
    assert nfc(NFC_HAI_PHONG) == NFC_HAI_PHONG


def test_clean_replaces_control_characters_and_normalises() -> None:
    assert clean("Hải\x00Phòng\x07!") == "Hải Phòng !"
    assert clean(NFD_HAI_PHONG) == NFC_HAI_PHONG
    assert clean("dòng một\ndòng hai\tcột") == "dòng một\ndòng hai\tcột"  # \n and \t are kept


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đầu Tư", "dau tu"),
        ("Hải Phòng", "hai phong"),
        ("NGƯỜI", "nguoi"),
        ("Thâm Quyến", "tham quyen"),
        ("đồng", "dong"),
        ("3,073 tỷ USD", "3,073 ty usd"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_fold_strips_tones_marks_and_d_stroke(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold(unicodedata.normalize("NFD", text)) == folded


def test_words_and_folded_words() -> None:
    assert words("Hải Phòng: 3,073 tỷ USD!") == ["hải", "phòng", "3", "073", "tỷ", "usd"]
    assert folded_words("Hải Phòng đầu tư") == ["hai", "phong", "dau", "tu"]
    assert words(NFD_HAI_PHONG) == words(NFC_HAI_PHONG)


def test_content_words_drop_question_words_with_or_without_accents() -> None:
    expected = ["hai", "phong", "doanh", "nghiep"]
    assert content_words("Hải Phòng có bao nhiêu doanh nghiệp?") == expected
    assert content_words("hai phong co bao nhieu doanh nghiep") == expected
    assert content_words("How many projects does Hai Phong have?") == [
        "projects",
        "hai",
        "phong",
    ]


def test_has_diacritics() -> None:
    assert has_diacritics("đầu tư")
    assert has_diacritics(NFD_HAI_PHONG)
    assert has_diacritics("Đà")
    assert not has_diacritics("hai phong dau tu")
    assert not has_diacritics("How many companies?")


@pytest.mark.parametrize("token", ["nghieng", "truong", "hai", "phong", "nguoi", "khuyen"])
def test_vietnamese_syllable_shapes(token: str) -> None:
    assert is_vi_syllable(token)


@pytest.mark.parametrize("token", ["companies", "strength", "dutch", "shenzhen"])
def test_english_words_are_not_vietnamese_syllables(token: str) -> None:
    assert not is_vi_syllable(token)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        # accented Vietnamese
        ("Hải Phòng thu hút bao nhiêu vốn FDI?", "vi"),
        ("Ai là Phó giám đốc Sở Kế hoạch và Đầu tư?", "vi"),
        (NFD_HAI_PHONG, "vi"),
        # unaccented Vietnamese
        ("hai phong dau tu bao nhieu", "vi"),
        ("co bao nhieu doanh nghiep ha lan tham du hoi nghi", "vi"),
        ("dan so hai phong la bao nhieu", "vi"),
        ("Le Tien Chau la ai", "vi"),
        ("tong von la bao nhieu", "vi"),
        ("HAI PHONG DAU TU BAO NHIEU", "vi"),
        # English, including questions full of Vietnamese names
        ("How many Dutch footwear companies came to Hai Phong?", "en"),
        ("What is the population of Hai Phong?", "en"),
        ("Who won the 2022 World Cup?", "en"),
        ("How much foreign investment did Hai Phong attract?", "en"),
        ("Who is Le Tien Chau?", "en"),
        ("The port of Hai Phong", "en"),
    ],
)
def test_detect_language(question: str, language: str) -> None:
    assert detect_language(question) == language


@pytest.mark.parametrize("text", ["", "   ", "123", "?!", "😀"])
def test_detect_language_without_words_is_english(text: str) -> None:
    assert detect_language(text) == "en"


@settings(deadline=None)  # pure functions; a loaded machine must not make them flaky
@given(st.text(max_size=200))
def test_text_functions_are_total(text: str) -> None:
    """Any input (NUL, emoji, RTL, combining marks) gives a result, never an exception."""
    assert detect_language(text) in ("vi", "en")
    assert fold(text) == fold(nfc(text))
    assert "\x00" not in clean(text)
    assert unicodedata.is_normalized("NFC", clean(text))
    for word in folded_words(text):
        assert word == word.lower()
        assert not any(unicodedata.category(ch) == "Mn" for ch in word)
