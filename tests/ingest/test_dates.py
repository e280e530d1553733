"""qa.ingest.dates: metadata dates, date mentions in news text (relative ones resolved against
the article's date, never today), which mention dates a fact; and how the answer words it
(qa.answering.dated)."""

from __future__ import annotations

from datetime import date

import pytest

from qa.answering.dated import describe, reported
from qa.ingest.dates import dating, find_dates, parse_date, parse_period

ARTICLE_DAY = date(2023, 11, 17)


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2021-04-28", "2021-04-28"),
        ("20210428", "2021-04-28"),
        ("2021-04-28T06:15:00+07:00", "2021-04-28"),
        ("Wed, 28 Apr 2021 06:15:00 +0700", "2021-04-28"),  # local day, not UTC's 27th
        ("28/04/2021", "2021-04-28"),
        ("Thứ năm, 09/11/2023 - 14:30 GMT+7", "2023-11-09"),
        ("2021-04", "2021-04"),
        ("2021", "2021"),
        ("April 2021", "2021-04"),
        ("sắp tới", ""),
        ("", ""),
        ("31/02/2021", ""),
    ],
)
def test_parse_date(value: str, iso: str) -> None:
    assert parse_date(value) == iso


def mentions(text: str, reference: date | None = ARTICLE_DAY) -> list[tuple[str, str, bool]]:
    return [(text[m.start : m.end], m.period.iso(), m.until) for m in find_dates(text, reference)]


def test_absolute_mentions() -> None:
    text = (
        "Từ đầu năm đến ngày 31/10/2023 đạt hơn 3,073 tỷ USD, gấp 1,68 lần so với cùng kỳ năm "
        "2022; quý III/2023 tăng; tháng 4/2021 giảm; ngày 5 tháng 3 năm 2021."
    )
    assert mentions(text, None) == [
        ("31/10/2023", "2023-10-31", True),
        ("năm 2022", "2022", False),
        ("quý III/2023", "2023-Q3", False),
        ("tháng 4/2021", "2021-04", False),
        ("ngày 5 tháng 3 năm 2021", "2021-03-05", False),
    ]


def test_numbers_are_not_dates() -> None:
    assert mentions("1/5 dân số; 3,073 tỷ; 153,68% kế hoạch; 12.2023 người; 2000 người") == []


def test_relative_mentions_resolve_against_the_article_date() -> None:
    text = "Hôm nay ngày 17/11 khai mạc; trong tuần qua có 4 đoàn; năm nay tăng; hôm qua mưa."
    assert mentions(text) == [
        ("Hôm nay ngày 17/11", "2023-11-17", False),
        ("tuần qua", "2023-11-11/2023-11-17", False),
        ("năm nay", "2023", False),
        ("hôm qua", "2023-11-16", False),
    ]
    # Another article date, other days: the clock is never read.
    assert mentions("năm nay tăng", date(2021, 4, 28)) == [("năm nay", "2021", False)]
    # Without an article date a relative mention is not guessed.
    assert mentions(text, None) == []


def test_day_month_without_year_near_the_new_year() -> None:
    assert mentions("ngày 28/12 tổng kết", date(2024, 1, 5)) == [
        ("ngày 28/12", "2023-12-28", False)
    ]


def test_first_months_and_english() -> None:
    assert mentions("10 tháng năm 2023 đạt 4,13 tỷ USD; 6 tháng đầu năm tăng 3,7%") == [
        ("10 tháng năm 2023", "2023-01", True),
        ("6 tháng đầu năm", "2023-01", True),
    ]
    assert mentions("As of 31 October 2023 it was $4bn, in April 2021 less; October 5, 2022") == [
        ("31 October 2023", "2023-10-31", True),
        ("April 2021", "2021-04", False),
        ("October 5, 2022", "2022-10-05", False),
    ]


def test_dating_picks_the_date_a_figure_is_counted_to() -> None:
    sentence = (
        "Tổng thu hút vốn đầu tư nước ngoài từ đầu năm đến ngày 31/10/2023 đạt hơn 3,073 tỷ USD, "
        "gấp 1,68 lần so với cùng kỳ năm 2022."
    )
    found = dating(sentence, ARTICLE_DAY)
    assert found is not None and found.until and found.period.iso() == "2023-10-31"
    # a target after the article date is not the date of a fact
    assert dating("Dự kiến đến năm 2030, thành phố có 25 khu công nghiệp.", ARTICLE_DAY) is None
    assert dating("Thành phố có 25 khu công nghiệp.", ARTICLE_DAY) is None


@pytest.mark.parametrize(
    ("value", "until", "vi", "en"),
    [
        ("2023-10-31", True, "tính đến 31/10/2023", "as of 31 October 2023"),
        ("2023-11-17", False, "ngày 17/11/2023", "on 17 November 2023"),
        ("2021-04", False, "tháng 4/2021", "in April 2021"),
        ("2021-04", True, "tính đến hết tháng 4/2021", "as of the end of April 2021"),
        ("2021", False, "năm 2021", "in 2021"),
    ],
)
def test_describe(value: str, until: bool, vi: str, en: str) -> None:
    period = parse_period(value)
    assert describe(period, "vi", until) == vi
    assert describe(period, "en", until) == en


def test_first_months_read_as_of_and_reported() -> None:
    [mention] = find_dates("10 tháng năm 2023")
    assert describe(mention.period, "vi") == "tính đến hết tháng 10/2023"
    assert describe(mention.period, "en") == "as of the end of October 2023"
    assert reported("2023-11-09", "vi") == "đăng ngày 9/11/2023"
    assert reported("2023-11-09", "en") == "reported on 9 November 2023"
    assert reported("", "en") == ""
