"""Property-based tests of the answer API on the real index: hostile or odd questions either
raise a documented error or give an answer whose every citation is exact text of a document."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, InvalidQuestion, QAError, Settings

ODD = st.sampled_from(
    [
        "",
        " \t\n ",
        "\x00\x00",
        "???!!!...",
        "<script>alert(1)</script> Hải Phòng?",
        "Ha\u0309i Pho\u0300ng thu hu\u0301t bao nhiêu vô\u0301n?",  # NFD
        "😀🚢 cảng biển?",
        "ما هو عدد الشركات الهولندية؟",  # RTL
        "x" * 5000,
        "Hải Phòng " * 90,
        "How many Dutch companies đến Hải Phòng?",
    ]
)


@pytest.fixture(scope="module")
def qa_real(indexed_corpus: Path) -> QA:
    return QA(Settings(corpus_dir=indexed_corpus / "corpus", index_dir=indexed_corpus / "index"))


def _check(qa: QA, question: object, history: object = None) -> None:
    try:
        answer = qa.answer(question, history=history)  # type: ignore[arg-type]
    except QAError:
        return
    documents = {d.doc_id: d for d in qa.documents()}
    assert answer.language in ("vi", "en")
    assert answer.found == bool(answer.citations)
    for citation in [*answer.citations, *answer.related]:
        assert documents[citation.doc_id].text[citation.start : citation.end] == citation.quote
    for n, citation in enumerate(answer.citations, 1):
        assert citation.n == n and f"[{n}]" in answer.answer


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=st.one_of(st.text(max_size=300), ODD))
def test_answer_never_raises_undocumented_errors(qa_real: QA, question: str) -> None:
    _check(qa_real, question)


@settings(max_examples=15, deadline=None)
@given(
    history=st.one_of(
        st.none(),
        st.lists(st.text(max_size=50), max_size=3),
        st.integers(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_history_of_any_shape_is_accepted_or_refused_cleanly(qa_real: QA, history: object) -> None:
    _check(qa_real, "Tổng vốn là bao nhiêu?", history)


@pytest.mark.parametrize("question", [None, 42, ["Hải Phòng"], b"bytes"])
def test_non_text_questions_are_invalid(qa_real: QA, question: object) -> None:
    with pytest.raises(InvalidQuestion):
        qa_real.answer(question)  # type: ignore[arg-type]


def test_nfd_question_is_answered_like_nfc(qa_real: QA) -> None:
    nfc = qa_real.answer("Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?")
    nfd = qa_real.answer(
        "Ha\u0309i Pho\u0300ng thu hu\u0301t bao nhie\u0302u vô\u0301n đầu tư nước ngoài?"
    )
    assert nfd.citations and nfd.citations[0].quote == nfc.citations[0].quote
