"""What a question asks for: the answer type, the words that name the asked attribute, and
where (in a Vietnamese question) the answer would stand.

Vietnamese keeps the question word in place ("Hải Phòng có *bao nhiêu* dự án?" — "Hải Phòng
có *405* dự án"), so the words just before and after it are anchors for the answer in the
sentence. English questions front the question word; for them only the type and the asked
noun ("How many *workers*…") carry over, through the glossary, to the Vietnamese text.

Types: count, amount, percent, date, period, person, organisation, place, list, other.
"""

from __future__ import annotations

import re

from qa import lexicon
from qa.records import Asked
from qa.text import STOPWORDS_FOLDED, fold

TYPES = (
    "count",
    "amount",
    "percent",
    "date",
    "period",
    "person",
    "organisation",
    "place",
    "list",
    "other",
)

# Nouns for people: "<noun> nào" asks for a person ("Nữ diễn viên nào", "Hậu vệ Panther nào"),
# and so does "Tên của <noun> … là gì".
_PEOPLE = (
    r"(?:nữ |nam )?(?:diễn viên|ca sĩ|cầu thủ|hậu vệ|tiền vệ|tiền đạo|trung vệ|thủ quân|thủ môn"
    r"|vận động viên|huấn luyện viên|nhạc sĩ|nghệ sĩ|tác giả|tổng thống|thủ tướng|vua|hoàng đế"
    r"|nữ hoàng|giáo sư|chủ tịch|bộ trưởng|giám đốc|lãnh đạo|nhà \w+|bác sĩ|kỹ sư|học giả"
    r"|triết gia|linh mục|giáo hoàng|đối tác|doanh nhân|thành viên|quan chức)"
)
_PLACES = (
    r"(?:thành phố|tỉnh|nước|quốc gia|châu lục|lục địa|khu vực|địa điểm|vùng|miền|quận|huyện"
    r"|đảo|sông|bang|thủ đô|địa phương)"
)
_ORGANISATIONS = (
    r"(?:công ty|tổ chức|cơ quan|doanh nghiệp|trường|đội|trung tâm|cảng|tập đoàn|hãng"
    r"|ngân hàng|bộ|sở|ban|đảng|câu lạc bộ|đài|hiệp hội|viện|nhóm)"
)

# Vietnamese question phrases, matched on the lower-cased accented text, most specific first.
# (type, pattern); the match is the question word whose place the answer takes.
_VI_RULES: list[tuple[str, str]] = [
    ("percent", r"bao nhiêu (?:phần trăm|%)|tỷ lệ (?:\w+ ){0,4}(?:là )?bao nhiêu"),
    ("count", r"gấp bao nhiêu lần|bao nhiêu lần"),
    ("period", r"(?:trong )?bao lâu|bao nhiêu (?:năm|tháng|tuần|ngày|giờ|thế kỷ)(?! nào)"),
    (
        "amount",
        r"bao nhiêu (?:tiền|vốn|usd|đô(?: la)?|đồng|euro|bảng|yên)"
        r"|(?:vốn|giá|giá trị|trị giá|kim ngạch|doanh thu|chi phí|ngân sách|tổng vốn|lợi nhuận"
        r"|xuất khẩu|nhập khẩu|thu nhập|tiền|gdp)(?: \w+){0,8} (?:là |đạt |được )?bao nhiêu",
    ),
    ("count", r"bao nhiêu|mấy"),
    (
        "date",
        r"khi nào|bao giờ|lúc nào|(?:ngày|năm|tháng|thời gian|thời điểm|thập niên|thế kỷ|dịp)"
        r" nào|hôm nào",
    ),
    (
        "person",
        rf"\bai\b|(?:người|vị|nhân vật|{_PEOPLE})(?: \w+){{0,2}} nào"
        rf"|^(?:họ|tên|họ và tên|họ tên)(?: của)? (?:{_PEOPLE}|người)\b(?:.*) là gì|^họ của",
    ),
    (
        "place",
        rf"ở đâu|tại đâu|nơi nào|đâu|{_PLACES}(?: \w+){{0,2}} nào|^tên(?: của)? {_PLACES}\b.* là gì",
    ),
    (
        "organisation",
        rf"{_ORGANISATIONS}(?: \w+){{0,2}} nào|^tên(?: của)? {_ORGANISATIONS}\b.* là gì",
    ),
    ("other", r"\bgì\b|\bnào\b|thế nào|ra sao|tại sao|vì sao|như thế nào"),
]
_VI_PLURAL = re.compile(r"\b(?:những|các)\s+(?:\w+\s+){0,3}nào\b")

_EN_RULES: list[tuple[str, str]] = [
    ("percent", r"what (?:percent\w*|share|proportion|fraction)|how many percent"),
    ("period", r"how long|how many (?:years|months|weeks|days|hours|centuries)"),
    ("amount", r"how much|what (?:is|was) the (?:total )?(?:value|cost|price|capital|budget)"),
    ("count", r"how many|what (?:is|was|are|were) the (?:number|population|size)|what number"),
    (
        "date",
        r"\bwhen\b|what (?:year|date|day|month|time|decade|century)|which (?:year|date|day|month"
        r"|decade|century)|in what year",
    ),
    ("person", r"\bwho(?:m|se)?\b|which (?:person|player|man|woman|leader|official)"),
    (
        "place",
        r"\bwhere\b|(?:what|which) (?:\w+ ){0,2}(?:city|cities|country|countries|province|continent|region"
        r"|area|place|state|island|river|capital|town|location)",
    ),
    (
        "organisation",
        r"(?:what|which) (?:\w+ ){0,2}(?:company|companies|organi[sz]ation|team|port|center|centre|university"
        r"|agency|ministry|department|group|bank|party|club|firm|enterprise|startup)",
    ),
    ("other", r"\bwhat\b|\bwhich\b|\bhow\b|\bwhy\b"),
]
_EN_PLURAL = re.compile(
    r"(?:what|which) (?:cities|countries|companies|provinces|teams|ports|organi[sz]ations"
    r"|sister cities|\w+ cities)\b"
)
# English words that are not what a question is about (function_words.tsv, role question).
_EN_STOP = frozenset(lexicon.function_words("en", "question"))


# A question typed as keywords, without a question word ("tổng vốn đầu tư của trung quốc vào
# hải phòng"): the attribute alone tells the type.
_VI_KEYWORDS = [
    ("amount", r"\b(?:tổng vốn|vốn đầu tư|giá trị|kim ngạch|doanh thu|trị giá)\b"),
    ("count", r"\b(?:số lượng|số dự án|số doanh nghiệp|số lao động)\b"),
    ("date", r"\b(?:ngày tổ chức|thời gian tổ chức)\b"),
]


def _vi_type(lower: str) -> tuple[str, re.Match[str] | None]:
    for kind, pattern in _VI_RULES:
        match = re.search(pattern, lower)
        if match:
            return kind, match
    for kind, pattern in _VI_KEYWORDS:
        if re.search(pattern, lower):
            return kind, None
    return "other", None


def _content(tokens: list[str]) -> tuple[str, ...]:
    return tuple(t for t in tokens if t not in STOPWORDS_FOLDED and t not in _EN_STOP)


def analyze_vi(question: str) -> Asked:
    """`question` is accented (restored if it was typed without diacritics)."""
    lower = question.lower().strip(" ?？.!")
    kind, match = _vi_type(lower)
    if match is None:
        tokens = [fold(t) for t in re.findall(r"\w+", lower)]
        return Asked(kind, "vi", _content(tokens))
    before = [fold(t) for t in re.findall(r"\w+", lower[: match.start()])]
    after = [fold(t) for t in re.findall(r"\w+", lower[match.end() :])]
    asked = [fold(t) for t in re.findall(r"\w+", match.group(0))]
    units: tuple[tuple[str, ...], ...] = ()
    if asked[:1] == ["gap"]:
        units = (("lan",),)
    elif (kind in ("count", "period", "amount") and asked[-2:] == ["bao", "nhieu"]) or asked == [
        "may"
    ]:
        units = (tuple(after[:2]),) if after else ()
    head: tuple[tuple[str, ...], ...] = ()
    if asked[-1:] == ["nao"] and len(asked) > 1:
        head = ((asked[0],),) if kind == "date" else (tuple(asked[:-1]),)
    elif asked == ["nao"] and before:  # "Super Bowl nào", "vệ tinh nào": the noun asked
        head = (tuple(before[-2:]), tuple(before[-1:]))
    # "thành phố nào": the noun is part of the question word, but also a word to match.
    extra = [t for t in asked if t not in STOPWORDS_FOLDED]
    plural = kind in ("place", "organisation", "person", "other") and bool(_VI_PLURAL.search(lower))
    return Asked(
        "list" if plural else kind,
        "vi",
        _content(before + extra + after),
        tuple(before[-6:]),
        tuple(after[:3]),
        units,
        head,
        plural,
        _content(before),
        _content(after),
    )


def analyze_en(question: str) -> Asked:
    lower = question.lower().strip(" ?.!")
    kind = "other"
    for rule, pattern in _EN_RULES:
        if re.search(pattern, lower):
            kind = rule
            break
    tokens = re.findall(r"[a-z0-9]+", lower)
    match = re.search(
        r"how many ((?:\w+ ){0,3}?\w+?) (?:do|does|did|are|were|is|was|have|has|had|\w+ed)\b", lower
    ) or re.search(r"how many (\w+)", lower)
    units = ((match.group(1),),) if match else ()
    match = re.search(
        r"(?:which|what) ((?:\w+ ){0,2}?\w+?)s? (?:did|does|do|is|was|are|were|has|have|\w+ed)\b",
        lower,
    )
    head = ((match.group(1),),) if match and kind in ("organisation", "place", "person") else ()
    if kind == "date":
        grain = re.search(r"what (year|month|day|date)", lower)
        head = ((grain.group(1),),) if grain else ()
    plural = bool(_EN_PLURAL.search(lower)) and kind in ("place", "organisation", "other")
    return Asked(
        "list" if plural else kind, "en", _content(tokens), units=units, head=head, plural=plural
    )


def analyze(question: str, language: str) -> Asked:
    """The reader's view of a question (`question` accented when Vietnamese)."""
    return analyze_en(question) if language == "en" else analyze_vi(question)
