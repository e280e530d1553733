"""qa.retrieve.lexical: BM25 over folded syllables and bigrams, diacritic restoration, the glossary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.ingest.documents import read_corpus
from qa.retrieve.lexical import BM25, DiacriticRestorer, Glossary, query_terms, terms

REPO = Path(__file__).resolve().parents[2]

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


@pytest.fixture(scope="module")
def xquad_chunks():
    """The 524 chunks of the 240 XQuAD-vi paragraphs (one document each) and their questions."""
    from bench.xquad import load
    from qa.ingest.chunking import chunk_document

    documents, questions = load()
    chunks = [c for d in documents for c in chunk_document(d.text, d.doc_id, 600, 1)[0]]
    return chunks, questions


@pytest.mark.parametrize("shards", [2, 5])
def test_sharded_bm25_equals_one_index(xquad_chunks, shards: int) -> None:
    """Sharded by document with global statistics: every score, and so every top-n, is the
    unsharded index's, for accented, unaccented and English questions (names and numbers)."""
    from qa.retrieve.lexical import BM25, best_rows, shard_of

    chunks, questions = xquad_chunks
    one = BM25.by_document(chunks)
    many = BM25.by_document(chunks, shards)
    assert sorted(np.concatenate(many.rows).tolist()) == list(range(len(chunks)))
    for rows in many.rows:  # whole documents per shard
        assert len({shard_of(chunks[r].doc_id, shards) for r in rows}) <= 1
    assert min(len(r) for r in many.rows) > 0
    candidates = np.arange(0, len(chunks), 7)
    for q in questions[:60]:
        for text in q.text.values():
            query = query_terms(text)
            np.testing.assert_array_equal(many.scores(query), one.scores(query))
            full = one.scores(query)
            assert many.best(query, 50) == one.best(query, 50) == best_rows(full, 50)
            np.testing.assert_array_equal(many.score_rows(query, candidates), full[candidates])
            assert [many.idf(t) for t in query] == [one.idf(t) for t in query]


def test_best_rows_breaks_ties_by_row_and_skips_zeros() -> None:
    from qa.retrieve.lexical import best_rows

    scores = np.array([0.0, 2.0, 1.0, 2.0, 0.0, 1.0], np.float32)
    assert best_rows(scores, 3) == [(1, 2.0), (3, 2.0), (2, 1.0)]
    assert best_rows(scores, 10) == [(1, 2.0), (3, 2.0), (2, 1.0), (5, 1.0)]
    with pytest.raises(ValueError, match="document id"):
        BM25(TEXTS, shards=2)
