"""The shipped reader finds real spans in real corpus sentences (once weights exist)."""

from __future__ import annotations

import threading

import pytest
import torch

from qa.neural.reader import get_reader

reader = get_reader()
pytestmark = pytest.mark.skipif(not reader.available(), reason="no trained reader weights")

PASSAGES = [
    "Hải Phòng đã trao giấy chứng nhận đăng ký đầu tư cho 7 doanh nghiệp Trung Quốc với tổng số "
    "vốn đầu tư 190 triệu USD.",
    "Tham dự hội nghị có 16 doanh nghiệp Hà Lan lần đầu đến Việt Nam, mong muốn tìm hiểu về môi "
    "trường đầu tư của Hải Phòng.",
    "Đoàn công tác có nhiều hoạt động kết nối, xúc tiến thương mại tại Hoa Kỳ từ ngày 14/11 đến "
    "ngày 21/11.",
    "Đoàn công tác của lãnh đạo thành phố Hải Phòng do ông Lê Tiến Châu Bí thư Thành ủy Hải Phòng "
    "làm trưởng đoàn đã có nhiều hoạt động kết nối tại Hoa Kỳ.",
]


def spans(question: str) -> list[str]:
    return [PASSAGES[r.passage][r.start : r.end] for r in reader.read(question, PASSAGES)]


@pytest.mark.parametrize(
    "question",
    [
        "Ai làm trưởng đoàn công tác của Hải Phòng?",
        "Who led the Hai Phong delegation to the United States?",
    ],
)
def test_finds_the_person(question):
    best = reader.read(question, PASSAGES)[0]
    assert best.passage == 3
    assert PASSAGES[3][best.start : best.end] == "Lê Tiến Châu"


@pytest.mark.parametrize(
    "question",
    [
        "Hải Phòng trao giấy chứng nhận đầu tư cho bao nhiêu doanh nghiệp Trung Quốc?",
        "How many Chinese companies did Hai Phong give investment certificates to?",
    ],
)
def test_finds_a_count(question):
    assert spans(question)[0] == "7"


# Reader a455b63b5bff (run v3: better on validation and held-out, VI F1 0.348 -> 0.373 given the
# gold paragraph) ranks the end date "21/11" above "14/11 đến ngày 21/11" for "từ ngày nào";
# version 2 read it right. The product shows the rules' period there (learned.json: Vietnamese
# dates go to the rules), which tests/answering/test_answers.py asserts with this model
# (vi-us-trip-date). Kept as an expected failure so a reader that reads "từ" shows up as XPASS.
@pytest.mark.xfail(reason="reader a455b63b5bff picks the end date for 'từ ngày nào'", strict=False)
def test_finds_a_date():
    assert "14/11" in spans("Đoàn công tác ở Hoa Kỳ từ ngày nào?")[0]


# Reader v2 reads unaccented questions worst (held-out F1 0.24, against 0.35 accented): here it
# puts the Dutch "16" just above the Chinese "7" (v1 got this one). Kept as an expected failure
# so a better reader shows up as XPASS.
@pytest.mark.xfail(reason="reader v2 ranks '16' just above '7' without accents", strict=False)
def test_finds_a_count_without_accents():
    question = "Hai Phong trao giay chung nhan dau tu cho bao nhieu doanh nghiep Trung Quoc?"
    assert spans(question)[0] == "7"


@pytest.mark.parametrize(
    "question",
    [
        "Tổng vốn đầu tư của 7 doanh nghiệp Trung Quốc là bao nhiêu?",
        "What was the total investment capital of the 7 Chinese companies?",
    ],
)
def test_finds_the_amount(question):  # v1 picked "7", the count
    assert "190" in spans(question)[0]


def test_finds_the_count_of_the_right_country():  # v1 ranked "7" (Chinese firms) above "16"
    best = reader.read("How many Dutch enterprises attended the conference?", PASSAGES)[0]
    assert PASSAGES[best.passage][best.start : best.end] == "16"


def test_no_answer_is_per_passage_and_threads_agree():
    question = "Hội nghị có bao nhiêu doanh nghiệp Hà Lan?"
    first = reader.read(question, PASSAGES)
    results = []
    torch.set_num_threads(1)

    def work():
        results.append(reader.read(question, PASSAGES))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == first for r in results)
    assert len({r.no_answer for r in first if r.passage == first[0].passage}) == 1
    assert reader.read(question, []) == []


def test_every_passage_gets_its_best_span_beyond_the_top():
    # The learned reader's re-ranking needs each sentence's own span (its margin); a passage
    # whose spans all rank below another passage's must still get one.
    readings = reader.read("Ai làm trưởng đoàn công tác của Hải Phòng?", PASSAGES, top=1)
    assert {r.passage for r in readings} == set(range(len(PASSAGES)))
    assert readings[0].passage == 3 and readings == sorted(readings, key=lambda r: -r.score)
