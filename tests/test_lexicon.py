"""The lexicon (qa/data/lexicon/, read by qa.lexicon): every file loads, says where it comes from,
holds no duplicates and is NFC; each list that used to be written in several modules is one list
that holds what every old copy held (the old copies are written out below, as they were)."""

from __future__ import annotations

import unicodedata

import pytest

from qa import lexicon
from qa.answering import dated, english, facts, reader, spans, statement
from qa.ingest import chunking, dates
from qa.retrieve import filters, lexical
from qa.text import EN_STOPWORDS, STOPWORDS_FOLDED, VI_FUNCTION_WORDS, fold

FILES = sorted(p.name for p in lexicon.LEXICON_DIR.iterdir() if p.suffix in (".tsv", ".txt"))
# The key each file's rows are unique by (column indexes).
KEYS = {"function_words.tsv": (0, 1), "name_cues.tsv": (0, 1)}


def test_the_folder_holds_the_lists():
    assert {
        "currencies.tsv",
        "scales.tsv",
        "months.tsv",
        "function_words.tsv",
        "glossary_en_vi.tsv",
        "irregular_verbs.tsv",
        "units.tsv",
    } <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_each_file_loads_with_a_provenance_header(name):
    text = (lexicon.LEXICON_DIR / name).read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# ")
    assert "Source:" in first and "Licence:" in first, first
    assert lexicon.header(name) == first[2:]
    assert lexicon.rows(name), name


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_nfc_without_duplicates_with_its_columns(name):
    text = (lexicon.LEXICON_DIR / name).read_text(encoding="utf-8")
    assert text == unicodedata.normalize("NFC", text)
    rows = lexicon.rows(name)
    key = KEYS.get(name, (0,))
    keys = [tuple(row[i] for i in key) for row in rows]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    if name.endswith(".tsv") and name != "glossary_en_vi.tsv":
        assert len({len(row) for row in rows}) == 1, name  # every row has every column


def words(text: str) -> set[str]:
    return set(text.split())


# -- the old copies, as they were written before the lexicon --------------------------------------
FACTS_CURRENCIES = {
    "usd": "USD", "us$": "USD", "$": "USD", "đô la mỹ": "USD", "đô la": "USD", "dollars": "USD",
    "dollar": "USD", "vnd": "VND", "vnđ": "VND", "đồng": "VND", "dong": "VND", "₫": "VND",
    "eur": "EUR", "euros": "EUR", "euro": "EUR", "€": "EUR", "yuan": "CNY", "cny": "CNY",
    "ndt": "CNY", "nhân dân tệ": "CNY",
}  # fmt: skip
ENGLISH_CURRENCIES = {
    "usd": "USD", "us$": "USD", "$": "USD", "đô la mỹ": "USD", "đô la": "USD", "đô": "USD",
    "đồng": "VND", "vnd": "VND", "vnđ": "VND", "euro": "EUR", "eur": "EUR", "€": "EUR",
    "nhân dân tệ": "CNY", "yên": "JPY", "bảng anh": "GBP", "bảng": "GBP",
}  # fmt: skip
SPANS_CURRENCIES = words("usd us$ đô đồng vnd vnđ euro eur bảng yên dollar dollars $ €") | {
    "đô la", "đô la mỹ", "bảng anh", "nhân dân tệ",
}  # fmt: skip
FACTS_SCALES = {
    "nghìn tỷ": (1e12, "vi"), "ngàn tỷ": (1e12, "vi"), "nghìn": (1e3, "vi"), "ngàn": (1e3, "vi"),
    "triệu": (1e6, "vi"), "tỷ": (1e9, "vi"), "tỉ": (1e9, "vi"), "thousand": (1e3, "en"),
    "million": (1e6, "en"), "mln": (1e6, "en"), "mn": (1e6, "en"), "billion": (1e9, "en"),
    "bn": (1e9, "en"), "trillion": (1e12, "en"),
}  # fmt: skip
ENGLISH_SCALES = {
    "nghìn tỷ": "trillion", "ngàn tỷ": "trillion", "nghìn": "thousand", "ngàn": "thousand",
    "triệu": "million", "tỷ": "billion", "tỉ": "billion", "trăm": "hundred",
}  # fmt: skip
MONTH_NAMES = (
    "january february march april may june july august september october november december"
).split()
MONTH_ABBREVIATIONS = words("jan feb mar apr jun jul aug sep sept oct nov dec")
EN_STOPWORDS_OLD = words(
    """the of and what which who whom whose when where why how many much is are was were did does
    do has have had been be by for from with about into their there they them its it's this that
    these those will would should could can an as at or not any some than then"""
)
STOPWORDS_FOLDED_OLD = words(
    """la cua va co cac nhung mot duoc cho voi trong tai den tu nay do khi thi ma nao gi ai bao
    nhieu sao the nhu ve da dang se bi boi de hay hoac cung khong phai rat lai nua con ra vao
    len nguoi viec ngay nam thang o day kia ay ho no chung minh vay the of and what which who
    whom whose when where why how many much is are was were did does do has have had been be by
    for from with about into their there they them its this that these those will would should
    could can an as at or not in on to a"""
)
VI_FUNCTION_WORDS_OLD = words(
    """la cua cac nhung mot duoc cho voi trong tai den nay khi nao gi ai bao nhieu sao nhu ve da
    dang se bi boi hay hoac cung khong phai rat lai nua nguoi nam thang ngay nhat the gia tri
    dau vao tu nhieu it hon"""
)
EVIDENCE_VI_FUNCTION_OLD = words(
    """là của và có các những một được cho với trong tại đến từ này đó khi thì mà nào gì ai bao
    nhiêu sao thế như về đã đang sẽ bị bởi để hay hoặc cũng không phải rất lại nữa còn ra vào
    lên ở đây kia ấy họ nó chúng mình vậy mấy đâu lâu hôm nay bây giờ"""
)
QUESTION_EN_STOP_OLD = words(
    """what which who whom whose when where why how many much is are was were did does do has
    have had the a an of to in on at for from by with and or that this these those it its
    their they he she his her be been being will would can could should there than into about
    as up out over after before during between under made make get got use used"""
)
ANAPHORA_OLD = words(
    """đó này ấy kia họ nó chúng đấy vậy it its they their them there that those these he she his
    her this"""
)


def test_currencies_are_one_list_holding_every_old_copy():
    for old in (FACTS_CURRENCIES, ENGLISH_CURRENCIES):
        assert old.items() <= lexicon.currencies().items()
    assert set(lexicon.currencies()) >= SPANS_CURRENCIES
    assert facts.CURRENCIES == english._CURRENCIES == dict(lexicon.currencies())


def test_scales_are_one_list_holding_every_old_copy():
    assert FACTS_SCALES.items() <= facts.SCALES.items()
    assert facts.SCALES["trăm"] == (100.0, "vi")  # a scale for the grounding check too
    assert english._SCALES == ENGLISH_SCALES


def test_months_are_one_list():
    assert {
        **{m: i for i, m in enumerate(MONTH_NAMES, 1)},
        **{a: lexicon.months()[a] for a in MONTH_ABBREVIATIONS},
    } == facts.MONTHS
    assert dates.MONTHS_EN == MONTH_NAMES
    assert [m.capitalize() for m in MONTH_NAMES] == english.MONTHS
    assert set(lexicon.months("abbreviation")) == MONTH_ABBREVIATIONS


def test_function_words_are_one_list_with_the_old_lists_as_roles():
    assert EN_STOPWORDS == EN_STOPWORDS_OLD
    assert STOPWORDS_FOLDED == STOPWORDS_FOLDED_OLD
    assert VI_FUNCTION_WORDS == VI_FUNCTION_WORDS_OLD
    assert set(lexicon.function_words("vi", "focus")) == EVIDENCE_VI_FUNCTION_OLD
    assert set(lexicon.function_words("en", "question")) == QUESTION_EN_STOP_OLD
    anaphora = lexicon.function_words("vi", "anaphora") + lexicon.function_words("en", "anaphora")
    assert set(anaphora) == ANAPHORA_OLD


def test_modifiers_units_verbs_and_cues_are_the_old_lists():
    assert english._MODIFIERS == {
        "hơn": "over", "trên": "over", "gần": "nearly", "khoảng": "about", "chừng": "about",
        "xấp xỉ": "about", "dưới": "under", "tới": "up to", "ít nhất": "at least",
        "tối đa": "at most", "tổng cộng": "in total",
    }  # fmt: skip
    assert words("hon gan khoang tren duoi gap chung xap xi toi") == reader._MODIFIERS
    assert english._UNITS["thế kỷ"] == "century" and english._UNITS["lần"] == "time"
    assert statement._IRREGULAR["choose"] == "chose" and len(statement._IRREGULAR) == 33
    assert "manufacture" in statement.VERBS and len(statement.VERBS) == 81
    assert words("huấn luyện viên tiến sĩ mr") <= spans._PERSON_CUES
    assert "tổng công ty" in spans._ORG_HEADS
    assert {"and", "&", "of", "de", "-", "."} == spans._JOINERS
    assert {"tp", "v.v", "hđnd"} <= chunking.ABBREVIATIONS
    assert words("cai con chiec nguoi ngoi to bo quyen") == reader._CLASSIFIERS


def test_unified_lists_fix_the_diverged_copies():
    """Deliberate: the grounding check now knows the currencies the English rendering writes
    ("yên", "bảng") and the scale "trăm"; the English rendering keeps "NDT", "yuan"."""
    (yen,) = facts.extract_facts("30 triệu yên").quantities
    assert yen.currency == "JPY" and yen.values == {3e7}
    (pound,) = facts.extract_facts("30 triệu bảng Anh").quantities
    assert pound.currency == "GBP"
    (hundred,) = facts.extract_facts("5 trăm người").quantities
    assert hundred.values == {500.0}
    assert english.quantity("5 triệu NDT") == "CNY 5 million"
    assert [s.type for s in spans.quantities("khoảng 30 per cent")] == ["percent"]


def test_the_restorers_seed_and_the_figure_units_are_the_old_strings():
    assert lexical._SEED == (
        "bao nhiêu. ở đâu. khi nào. vào năm nào. là ai. là gì. như thế nào. tại sao. vì sao. "
        "có bao nhiêu. bao giờ. những ai. cái gì. được không. của ai. với ai. thế nào. nào."
    )
    assert (
        "tỷ triệu nghìn ngàn usd đồng vnd tấn lít kg km ha người lượt dự án điểm lần % "
        "billion million thousand tonnes tons percent"
    ).split() == dated._UNITS


def test_relative_dates_and_latest_words_are_the_old_lists():
    old = """hôm nay|sáng nay|trưa nay|chiều nay|tối nay|today|hôm qua|yesterday|tuần qua|tuần này
    |this week|past week|last week|tuần trước|tháng này|this month|tháng trước|last month
    |tháng qua|năm nay|this year|năm ngoái|năm trước|last year|năm qua"""
    assert [w.strip() for w in old.split("|")] == list(dates._RELATIVE_WORDS)
    assert dates._RELATIVE_WORDS["năm qua"] is dates._past_year
    for phrase in ("gan day nhat", "cap nhat", "most recent", "right now", "as of today"):
        assert filters._LATEST.search(f"x {phrase} y")
    assert not filters._LATEST.search("nowhere")


def test_folded_function_words_come_from_accented_ones():
    vi_stop = {fold(w) for w in lexicon.function_words("vi", "stop")}
    assert "viec" in vi_stop and vi_stop <= STOPWORDS_FOLDED
