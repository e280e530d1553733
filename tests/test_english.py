"""English renderings of Vietnamese short answers, and questions turned into statements: pure
functions, checked on the article's own values (qa.answering.english, qa.answering.statement)."""

from __future__ import annotations

import pytest

from qa.answering.english import ascii_form, english_number, name, render
from qa.answering.statement import statement


@pytest.mark.parametrize(
    ("text", "kind", "english"),
    [
        ("hơn 3,073 tỷ USD", "amount", "over USD 3.073 billion"),
        ("5,34 tỷ USD", "amount", "USD 5.34 billion"),
        ("190 triệu USD", "amount", "USD 190 million"),
        ("gần 100 triệu USD", "amount", "nearly USD 100 million"),
        ("153,68%", "percent", "153.68%"),
        ("gấp 1,68 lần", "count", "1.68 times"),
        ("58.000 lao động", "count", "58,000"),
        ("405 dự án", "count", "405"),
        ("7/8", "date", "7 August"),
        ("31/10/2023", "date", "31 October 2023"),
        ("ngày 14 tháng 11 năm 2023", "date", "14 November 2023"),
        ("năm 2017", "date", "2017"),
        ("tháng 3", "date", "March"),
        ("quý I/2024", "period", "Q1 2024"),
        ("từ ngày 14/11 đến ngày 21/11", "period", "14–21 November"),
        ("từ ngày 30/11 đến ngày 2/12", "period", "30 November – 2 December"),
        ("Lê Tiến Châu", "person", "Lê Tiến Châu (Le Tien Chau)"),
        ("Trần Thị Hải Yến", "person", "Trần Thị Hải Yến (Tran Thi Hai Yen)"),
        ("TP. Thâm Quyến", "place", "Shenzhen"),
        ("Hà Lan", "place", "the Netherlands"),
        ("Cảng Los Angeles", "organisation", "the Port of Los Angeles"),
        ("Plug and Play Center", "organisation", "Plug and Play Center"),
        ("Thiên Tân, Nam Ninh, Côn Minh", "list", "Tianjin, Nanning and Kunming"),
    ],
)
def test_render(text: str, kind: str, english: str) -> None:
    assert render(text, kind) == english


def test_numbers_and_names() -> None:
    assert english_number("1.234,5") == "1,234.5"
    assert ascii_form("Đặng Thị Ảnh") == "Dang Thi Anh"
    assert name("thành phố Hải Phòng") == "Hai Phong"
    assert name("Monfrance Schoenmode") == "Monfrance Schoenmode"  # ASCII already: no repeat


@pytest.mark.parametrize(
    ("question", "value", "kind", "expected"),
    [
        (
            "How many Chinese investment projects does Hai Phong have?",
            "405",
            "count",
            "Hai Phong has 405 Chinese investment projects",
        ),
        (
            "How much foreign investment did Hai Phong attract by 31 October 2023?",
            "over USD 3.073 billion",
            "amount",
            "Hai Phong attracted over USD 3.073 billion of foreign investment by 31 October 2023",
        ),
        (
            "How many workers do Chinese companies in Hai Phong employ?",
            "58,000",
            "count",
            "Chinese companies in Hai Phong employ 58,000 workers",
        ),
        (
            "How many Dutch companies attended the conference?",
            "16",
            "count",
            "16 Dutch companies attended the conference",
        ),
        (
            "When was the investment promotion conference in Shenzhen held?",
            "7 August",
            "date",
            "The investment promotion conference in Shenzhen was held on 7 August",
        ),
        ("When was the conference?", "2024", "date", "The conference was in 2024"),
        (
            "Who led the Hai Phong delegation to the United States?",
            "Lê Tiến Châu (Le Tien Chau)",
            "person",
            "Lê Tiến Châu (Le Tien Chau) led the Hai Phong delegation to the United States",
        ),
        (
            "What is the total capital of Chinese projects in Hai Phong?",
            "USD 6.14 billion",
            "amount",
            "The total capital of Chinese projects in Hai Phong is USD 6.14 billion",
        ),
        (
            "Which startup center did the delegation visit in Silicon Valley?",
            "Plug and Play Center",
            "organisation",
            "The delegation visited Plug and Play Center in Silicon Valley",
        ),
    ],
)
def test_statement(question: str, value: str, kind: str, expected: str) -> None:
    assert statement(question, value, kind) == expected


@pytest.mark.parametrize(
    ("question", "value", "kind"),
    [
        ("What is complexity theory about?", "độ khó", "other"),  # never Vietnamese in English
        ("Why did the delegation go to Shenzhen?", "7 August", "date"),  # no safe word order
        ("How many workers quickly employ?", "58,000", "count"),  # no known verb: not rewritten
    ],
)
def test_no_statement_when_unsafe(question: str, value: str, kind: str) -> None:
    assert statement(question, value, kind) is None
