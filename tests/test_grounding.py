"""The grounding guard (qa.answering.grounding, .facts, .markers) on hand-written generations, good and bad.

Passages are sentences of corpus/ (Vietnamese notation: decimal comma, thousands dot, day/month
dates); answers are what a generator might write in English or Vietnamese.
"""

from __future__ import annotations

import json

import pytest

from qa.answering.facts import extract_facts, readings
from qa.answering.grounding import check, record
from qa.answering.markers import claims, markers, renumber, strip_markers
from qa.types import Answer

PASSAGES = [
    # [1]
    "Tổng thu hút vốn đầu tư nước ngoài trên toàn thành phố từ đầu năm đến ngày 31/10/2023 đạt "
    "hơn 3,073 tỷ USD, gấp 1,68 lần so với cùng kỳ năm 2022, đạt 153,68% kế hoạch thu hút 2023.",
    # [2]
    "Đoàn công tác của lãnh đạo thành phố Hải Phòng đã và đang có nhiều hoạt động kết nối, xúc "
    "tiến thương mại tại Hoa Kỳ từ ngày 14/11 đến ngày 21/11.",
    # [3]
    "Bên cạnh đó, các doanh nghiệp Trung Quốc tại Hải Phòng hàng năm xuất khẩu 5,34 tỷ USD, sử "
    "dụng 58.000 lao động, góp phần vào sự phát triển kinh tế xã hội của thành phố.",
]
SEVEN = "Lãnh đạo TP. Hải Phòng đã trao giấy chứng nhận đăng ký đầu tư cho 7 doanh nghiệp Trung Quốc với tổng số vốn đầu tư 190 triệu USD."


def passes(answer: str, language: str = "en", passages=PASSAGES) -> bool:
    verdict = check(answer, passages, language)
    assert verdict.passed == (not verdict.failed)
    return verdict.passed


def reasons(answer: str, language: str = "en", passages=PASSAGES) -> list[str]:
    return [f.reason for f in check(answer, passages, language).failed]


# -- good generations ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [
        "From January to October 31, 2023, Hai Phong attracted more than 3.073 billion USD of "
        "foreign investment [1].",
        "Foreign investment reached more than USD 3,073 million by 31 October 2023 [1].",
        "Foreign investment reached over $3.073 billion, 1.68 times the same period of 2022 [1].",
        "It reached 153.68 percent of the 2023 plan [1].",
        "It reached 153.68% of the plan [1].",
        "The delegation was in the United States from November 14 to 21 [2].",
        "The delegation worked in the US from 14 November to 21 November [2].",
        "The delegation worked in the US from Nov. 14th to Nov. 21st [2].",
        "The delegation arrived on 11/14 [2].",  # month/day is unambiguous here
        "Chinese companies employ 58,000 workers [3].",
        "Chinese companies employ 58.000 workers [3].",
        "Chinese companies in Hai Phong export 5.34 billion USD a year [3].",
        "Hai Phong attracted 3.073 billion USD [1] and Chinese firms export 5.34 billion USD [3].",
        "Hai Phong attracted 3.073 billion USD and Chinese firms export 5.34 billion USD [1][3].",
        "Hai Phong attracted 3.073 billion USD and Chinese firms export 5.34 billion USD [1, 3].",
        # markers after the full stop belong to the sentence before them
        "Hai Phong attracted 3.073 billion USD by October 31, 2023. [1] Its trip ran until 21/11. [2]",
        # a sentence without a number needs no marker when the answer cites something
        "Hai Phong is growing fast. It attracted more than 3.073 billion USD [1].",
        "Hai Phong is a port city in northern Vietnam [1].",  # no number: nothing to check
    ],
)
def test_grounded_english_answers_pass(answer):
    assert passes(answer), reasons(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Tổng vốn đầu tư nước ngoài đến ngày 31/10/2023 đạt hơn 3,073 tỷ USD [1].",
        "Tổng vốn đầu tư nước ngoài đến ngày 31 tháng 10 năm 2023 đạt 3.073 triệu USD [1].",
        "Đoàn công tác ở Hoa Kỳ từ ngày 14 tháng 11 đến ngày 21 tháng 11 [2].",
        "Đoàn công tác ở Hoa Kỳ trong tháng 11 [2].",
        "Các doanh nghiệp Trung Quốc sử dụng 58.000 lao động [3].",
        "Thành phố đạt 153,68 phần trăm kế hoạch năm 2023 [1].",
    ],
)
def test_grounded_vietnamese_answers_pass(answer):
    assert passes(answer, "vi"), reasons(answer, "vi")


# -- bad generations -----------------------------------------------------------------------------
def test_invented_number_fails():
    answer = "Hai Phong attracted more than 4.2 billion USD of foreign investment [1]."
    verdict = check(answer, PASSAGES, "en")
    assert not verdict.passed
    assert verdict.failed[0].sentence == answer
    assert "4.2 billion USD" in verdict.failed[0].reason and "[1]" in verdict.failed[0].reason


def test_wrong_marker_fails():
    answer = "Hai Phong attracted more than 3.073 billion USD [7]."
    assert reasons(answer) == ["cites [7] but passages [1]-[3] were given"]
    assert not passes("Hai Phong is a port city [0].")


def test_number_from_an_uncited_passage_fails():
    answer = "Chinese companies employ 58,000 workers [1]."
    assert not passes(answer)
    assert "'58,000' is not in passage [1]" in reasons(answer)
    assert passes("Chinese companies employ 58,000 workers [3].")


@pytest.mark.parametrize(
    "answer",
    [
        "Foreign investment reached 3,073 billion USD [1].",  # English notation: 1000x too much
        "Foreign investment reached 3.073 million USD [1].",
        "Tổng vốn đầu tư đạt 3.073 tỷ USD [1].",  # Vietnamese notation: 3073 tỷ
        "Foreign investment reached 3.073 billion VND [1].",  # another currency
        "Foreign investment reached 3.07 billion USD [1].",  # rounded: not what the article says
        "It reached 153.68 percent of the plan, 15 percent more than 2022 [1].",
        "It reached 1.68 percent of the plan [1].",  # 1,68 is a ratio, not a percentage
        "Chinese companies employ 58 workers [3].",  # 58.000 is fifty-eight thousand
        "The delegation was in the United States from November 15 to 21 [2].",
        "The delegation arrived on 14 December [2].",
        "Investment was counted until October 31, 2022 [1].",
        "Investment grew 1.68 times compared with 2021 [1].",
        "Eight Chinese companies received investment certificates [1].",
    ],
)
def test_unsupported_facts_fail(answer):
    assert not passes(answer)


def test_formats_are_compared_as_values():
    vi = ["Vốn đạt 3,073 tỷ USD.", "Ngày 14/11 đoàn đến.", "Sử dụng 58.000 lao động."]
    en = ["It reached 3.073 billion USD.", "It arrived on November 14.", "It uses 58,000 workers."]
    for text in ["3,073 tỷ USD", "3.073 billion USD", "USD 3,073 million", "$3,073 million"]:
        assert passes(f"Investment reached {text} [1].", passages=vi), text
        assert passes(f"Investment reached {text} [1].", passages=en), text
    for text in ["14/11", "November 14", "14 November", "ngày 14 tháng 11", "Nov 14"]:
        assert passes(f"The delegation arrived on {text} [2].", passages=vi), text
        assert passes(f"The delegation arrived on {text} [2].", passages=en), text
    for text in ["58.000", "58,000", "58000"]:
        assert passes(f"Chinese firms employ {text} workers [3].", passages=vi), text
        assert passes(f"Chinese firms employ {text} workers [3].", passages=en), text


def test_answer_without_markers_fails():
    assert reasons("Hai Phong attracted more than 3.073 billion USD.") == [
        "states '3.073 billion USD' without citing a passage",
        "the answer cites no passage (no [n] marker)",
    ]
    assert reasons("Hai Phong attracts many investors.") == [
        "the answer cites no passage (no [n] marker)"
    ]
    # one cited sentence does not cover another sentence's number
    answer = "Hai Phong attracts investors [1]. Chinese firms employ 58,000 workers."
    assert reasons(answer) == ["states '58,000' without citing a passage"]


def test_decline_and_empty_answers_fail():
    assert reasons("The articles do not say.") == ["the generator said the passages do not answer"]
    assert reasons("Các bài viết không có thông tin để trả lời câu hỏi này.", "vi") == [
        "the generator said the passages do not answer"
    ]
    assert reasons("") == ["empty answer"]
    assert reasons(" [1] ") == ["empty answer"]


def test_every_failure_is_reported():
    answer = "It reached 4 billion USD [1]. The trip began on 15/11 [2]. It cites [9]."
    verdict = check(answer, PASSAGES, "en")
    assert [f.sentence for f in verdict.failed] == [
        "It reached 4 billion USD [1].",
        "The trip began on 15/11 [2].",
        "It cites [9].",
    ]
    assert verdict.cited == [1, 2]


def test_spelled_numbers_and_place_names():
    passages = [SEVEN]
    assert passes(
        "Seven Chinese companies received certificates worth 190 million USD [1].",
        passages=passages,
    )
    assert not passes("Eight Chinese companies received certificates [1].", passages=passages)
    # "Hai" in "Hai Phong" is not the Vietnamese word for two in an English answer
    assert passes("Hai Phong gave certificates to 7 Chinese companies [1].", passages=passages)
    assert not passes("Hai doanh nghiệp nhận giấy chứng nhận [1].", "vi", passages=passages)
    # the bare number of an amount may be repeated ("between 10 and 190 million")
    assert passes("Projects were worth 190 [1].", passages=passages)
    assert not passes("Projects were worth 190 USD [1].", passages=passages)


def test_quarters_and_halves_are_dates():
    # what Gemma 3 270M wrote: the percentage is in the passage, the quarter is invented
    answer = "Hai Phong attracted 153,68% of the total foreign investment in the first quarter of 2023 [1]."
    assert reasons(answer) == ["'first quarter of 2023' is not in passage [1]"]
    passages = [
        "Trong quý I/2024, Hải Phòng thu hút 1,2 tỷ USD; 6 tháng đầu năm 2024 đạt 2 tỷ USD."
    ]
    for text in ["In Q1 2024", "In the first quarter of 2024", "Trong quý 1 năm 2024"]:
        assert passes(f"{text}, Hai Phong attracted 1.2 billion USD [1].", passages=passages), text
    assert passes("In the first half of 2024 it reached 2 billion USD [1].", passages=passages)
    assert not passes(
        "In the second quarter of 2024 it attracted 1.2 billion USD [1].", passages=passages
    )
    assert not passes("In the first half of 2023 it reached 2 billion USD [1].", passages=passages)
    assert not extract_facts("Quý khách hàng đã đến.", "vi").periods  # "quý" is also "dear"


def test_no_passages_given():
    assert reasons("Hai Phong [1].", passages=[]) == ["cites [1] but no passages were given"]


# -- building blocks -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("numeral", "notation", "values"),
    [
        ("58.000", "vi", {58000.0}),
        ("58.000", "en", {58.0}),
        ("58.000", None, {58000.0, 58.0}),
        ("58,000", "en", {58000.0}),
        ("3,073", "vi", {3.073}),
        ("1,68", None, {1.68}),
        ("153,68", "vi", {153.68}),
        ("1.234.567", "vi", {1234567.0}),
        ("1.234.567", "en", {1234567.0}),
        ("1.234,5", None, {1234.5}),
        ("1,234.5", None, {1234.5}),
        ("2023", None, {2023.0}),
    ],
)
def test_readings(numeral, notation, values):
    assert readings(numeral, notation) == values


@pytest.mark.parametrize(
    ("text", "language", "value", "percent", "currency"),
    [
        ("3,073 tỷ USD", "vi", 3.073e9, False, "USD"),
        ("3.073 billion USD", "en", 3.073e9, False, "USD"),
        ("USD 3,073 million", "en", 3.073e9, False, "USD"),
        ("US$ 190 million", "en", 1.9e8, False, "USD"),
        ("14.000 tỷ đồng", "vi", 1.4e13, False, "VND"),
        ("2 nghìn tỷ đồng", "vi", 2e12, False, "VND"),
        ("153,68%", "vi", 153.68, True, ""),
        ("153.68 per cent", "en", 153.68, True, ""),
        ("12 phần trăm", "vi", 12.0, True, ""),
        ("seven million dollars", "en", 7e6, False, "USD"),
    ],
)
def test_quantities(text, language, value, percent, currency):
    (quantity,) = extract_facts(text, language, language).quantities
    assert pytest.approx(value) in list(quantity.values)
    assert (quantity.percent, quantity.currency) == (percent, currency)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("ngày 14/11", (14, 11, None)),
        ("14 tháng 11", (14, 11, None)),
        ("ngày 31 tháng 10 năm 2023", (31, 10, 2023)),
        ("31/10/2023", (31, 10, 2023)),
        ("2023-10-31", (31, 10, 2023)),
        ("October 31, 2023", (31, 10, 2023)),
        ("31st October 2023", (31, 10, 2023)),
        ("the 14th of November", (14, 11, None)),
        ("Nov. 14", (14, 11, None)),
        ("tháng 11/2023", (None, 11, 2023)),
        ("in November 2023", (None, 11, 2023)),
    ],
)
def test_dates(text, date):
    facts = extract_facts(text, "en", None)
    assert [(d.day, d.month, d.year) for d in facts.dates] == [date]
    assert not facts.quantities  # the digits of a date are not numbers too


def test_not_dates():
    facts = extract_facts("3.07 billion and 58.000 workers; 1,68 times; 13/13", "en", None)
    assert not facts.dates
    assert [q.text for q in facts.quantities] == ["3.07 billion", "58.000", "1,68", "13", "13"]


def test_markers_claims_and_renumbering():
    assert markers("a [1] b [2, 3] c [4-6] d [x] e[7]") == [1, 2, 3, 4, 5, 6, 7]
    text = "Một câu [3]. Câu khác [1, 3]. [2] TP. Hải Phòng có 405 dự án [3]."
    assert [(c.text, c.cites) for c in claims(text)] == [
        ("Một câu [3].", (3,)),
        ("Câu khác [1, 3]. [2]", (1, 3, 2)),
        ("TP. Hải Phòng có 405 dự án [3].", (3,)),
    ]
    lines = "[1] Có 16 doanh nghiệp.\n[2] Ngày 14/11 đoàn đến. [3]\n[1]\nHết."
    assert [(c.text, c.cites) for c in claims(lines)] == [
        ("[1] Có 16 doanh nghiệp.", (1,)),
        ("[2] Ngày 14/11 đoàn đến. [3] [1]", (2, 3, 1)),
        ("Hết.", ()),
    ]
    assert renumber(text, {3: 1, 1: 2, 2: 3}) == (
        "Một câu [1]. Câu khác [2][1]. [3] TP. Hải Phòng có 405 dự án [1]."
    )
    assert strip_markers("It grew [1]. Then [2, 3] more.") == "It grew. Then more."


def test_record_and_answer_json():
    verdict = check("Hai Phong got 9 billion USD [1].", PASSAGES, "en")
    grounding = record(True, verdict.passed, verdict.failed, "fake", "fell back")
    assert grounding == {
        "checked": True,
        "passed": False,
        "failed": [
            {
                "sentence": "Hai Phong got 9 billion USD [1].",
                "reason": "'9 billion USD' is not in passage [1]",
            }
        ],
        "generator": "fake",
        "note": "fell back",
    }
    plain = Answer(question="q", language="en", found=False, answer="The articles do not say.")
    assert plain.to_dict()["grounding"] is None  # always present, null when no generator
    data = Answer(
        question="q", language="en", found=True, answer="a", grounding=grounding
    ).to_dict()
    assert json.loads(json.dumps(data))["grounding"] == grounding
