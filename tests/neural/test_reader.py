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
]


def spans(question: str) -> list[str]:
    return [PASSAGES[r.passage][r.start : r.end] for r in reader.read(question, PASSAGES)]


@pytest.mark.parametrize(
    "question",
    [
        "Tổng vốn đầu tư của 7 doanh nghiệp Trung Quốc là bao nhiêu?",
        "What was the total investment capital of the 7 Chinese companies?",
        "Tong von dau tu cua 7 doanh nghiep Trung Quoc la bao nhieu?",
    ],
)
def test_finds_the_amount(question):
    assert "190" in spans(question)[0]


def test_finds_the_count_and_its_passage():
    best = reader.read("How many Dutch enterprises attended the conference?", PASSAGES)[0]
    assert best.passage == 1
    assert "16" in PASSAGES[1][best.start : best.end]


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
