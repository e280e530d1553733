"""qa.retrieve.lexical: BM25 over folded syllables and bigrams, diacritic restoration, the glossary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.ingest.documents import read_corpus
from qa.retrieve.lexical import BM25, DiacriticRestorer, Glossary, query_terms, terms

REPO = Path(__file__).resolve().parent.parent

TEXTS = [
    "Hải Phòng thu hút đầu tư nước ngoài đạt 3,073 tỷ USD.",
    "Đà Nẵng đón 8 triệu lượt khách du lịch.",
    "Cần Thơ xuất khẩu gạo sang châu Phi.",
]


def test_terms_are_folded_syllables_and_bigrams() -> None:
    assert terms("Đầu tư") == ["dau", "tu", "dau_tu"]
    assert terms("dau tu") == terms("ĐẦU TƯ")


def test_query_terms_drop_question_words_but_keep_bigrams() -> None:
    found = query_terms("Hải Phòng đầu tư bao nhiêu?")
    assert {"hai", "phong", "dau"} <= set(found)
    assert "bao" not in found and "nhieu" not in found  # question words alone carry nothing
    assert [t for t in found if "_" in t] == [
        "hai_phong",
        "phong_dau",
        "dau_tu",
        "tu_bao",
        "bao_nhieu",
    ]


@pytest.mark.parametrize("query", ["dau tu", "đầu tư", "ĐẦU TƯ", "Dau Tu"])
def test_bm25_matches_with_or_without_accents(query: str) -> None:
    scores = BM25(TEXTS).scores(query_terms(query))
    assert scores[0] > 0
    assert scores[1] == scores[2] == 0


def test_bm25_unaccented_text_matches_accented_query() -> None:
    scores = BM25(["hai phong dau tu lon", "da nang du lich"]).scores(query_terms("Hải Phòng"))
    assert scores[0] > 0 and scores[1] == 0


def test_bm25_prefers_the_phrase_to_scattered_syllables() -> None:
    bm25 = BM25(["tư nhân đầu mối cung cấp", "đầu tư nước ngoài tăng", "thời tiết đẹp"])
    scores = bm25.scores(query_terms("dau tu"))
    assert scores[1] > scores[0] > 0 == scores[2]


def test_bm25_rarer_terms_weigh_more() -> None:
    bm25 = BM25(["cảng biển Hải Phòng", "cảng biển Đà Nẵng", "cảng biển Lạch Huyện"])
    assert bm25.idf("lach") > bm25.idf("cang")
    assert int(np.argmax(bm25.scores(query_terms("cang lach huyen")))) == 2


def test_bm25_edge_cases() -> None:
    assert BM25([]).scores(["dau"]).shape == (0,)
    bm25 = BM25(TEXTS)
    assert not bm25.scores([]).any()
    assert not bm25.scores(["khong_co_tu_nay"]).any()


@pytest.fixture(scope="module")
def restorer() -> DiacriticRestorer:
    return DiacriticRestorer(d.text for d in read_corpus(REPO / "corpus"))


@pytest.mark.parametrize(
    ("unaccented", "restored"),
    [
        ("hai phong dau tu bao nhieu", "hải phòng đầu tư bao nhiêu"),
        ("co bao nhieu doanh nghiep ha lan", "có bao nhiêu doanh nghiệp hà lan"),
        ("tong von dau tu nuoc ngoai", "tổng vốn đầu tư nước ngoài"),
        ("le tien chau", "lê tiến châu"),
        ("HAI PHONG DAU TU BAO NHIEU", "hải phòng đầu tư bao nhiêu"),
    ],
)
def test_diacritic_restorer_over_the_corpus(
    restorer: DiacriticRestorer, unaccented: str, restored: str
) -> None:
    assert restorer.restore(unaccented) == restored


def test_diacritic_restorer_keeps_unknown_words_and_empty_text(
    restorer: DiacriticRestorer,
) -> None:
    assert restorer.restore("xyzzy hai phong") == "xyzzy hải phòng"
    assert restorer.restore("") == ""
    assert restorer.restore("?!") == "?!"


def test_glossary_maps_english_words_of_the_articles() -> None:
    glossary = Glossary()
    found = glossary.translate("How many Dutch footwear companies came to Shenzhen?")
    assert {"hà lan", "giày dép", "thâm quyến"} <= set(found)
    assert glossary.translate("") == []
