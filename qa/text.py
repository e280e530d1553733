"""Vietnamese/English text utilities: NFC normalisation, diacritic folding, tokens, language.

Everything here is pure and model-free so that the lexical channel, language detection and the
tests share one definition of "a word" and "the same word without accents".
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from qa import lexicon

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
# The end of a word, written after a word of a pattern: no letter, digit or combining mark
# follows, so "tỉ" (billion) is not read out of "tỉnh" (province). `\w` takes every NFC
# Vietnamese letter ("ỉ", "ư", "đ"); the combining marks (U+0300-U+036F) are for decomposed
# text, where a tone mark would otherwise end "ti" inside "ti\u0309nh".
WORD_END = r"(?![\w\u0300-\u036f])"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Vietnamese letters that carry a diacritic (tone or vowel mark) or đ; one of them is enough to
# call a text Vietnamese.
_VI_MARKED = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")

# A folded (accent-free, lower-case) Vietnamese syllable: onset, vowel nucleus, optional coda.
# Used to tell unaccented Vietnamese ("hai phong dau tu bao nhieu") from English.
_VI_SYLLABLE_RE = re.compile(
    r"^(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnpqrstvx])?"
    r"(uye|uya|uyu|oai|oay|uay|uoi|uou|ieu|yeu|"
    r"ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|oo|ua|ue|ui|uo|uu|uy|ye|"
    r"a|e|i|o|u|y)"
    r"(ch|ng|nh|[cmnpt])?$"
)


def nfc(text: str) -> str:
    """NFC-normalise: Vietnamese arrives both precomposed and decomposed, and only NFC compares."""
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC plus removal of control characters (NUL and friends) that break tokenizers and JSON."""
    return _CONTROL_RE.sub(" ", nfc(text))


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ → d) so unaccented queries match accented text."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


# Function words, from the lexicon's function_words.tsv (one list, with the roles each word
# plays). English ones that are not also common Vietnamese syllables, and unaccented Vietnamese
# ones that are not English words, tell the language of an unaccented question:
EN_STOPWORDS = frozenset(lexicon.function_words("en", "language"))
VI_FUNCTION_WORDS = frozenset(fold(w) for w in lexicon.function_words("vi", "language"))
# Question and function words that carry no topical content. Folded, so they match with or
# without diacritics. Used by the lexical channel and by answerability features.
STOPWORDS_FOLDED = frozenset(fold(w) for w in lexicon.function_words("vi", "stop")) | frozenset(
    lexicon.function_words("en", "stop")
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (Vietnamese syllables, English words, numbers)."""
    return [m.group(0).lower() for m in _TOKEN_RE.finditer(nfc(text))]


def folded_words(text: str) -> list[str]:
    """Word tokens with diacritics removed: the vocabulary of the lexical channel."""
    return [fold(w) for w in words(text)]


def terms(text: str) -> list[str]:
    """Folded syllables plus adjacent-syllable bigrams (joined by "_"): the lexical channel's
    terms ("đầu tư" → dau, tu, dau_tu), also what the reader matches sentences on."""
    tokens = folded_words(text)
    return tokens + [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def content_words(text: str) -> list[str]:
    """Folded tokens without question/function words: what a question is actually about."""
    return [w for w in folded_words(text) if w not in STOPWORDS_FOLDED]


def has_diacritics(text: str) -> bool:
    """True when the text uses any Vietnamese-specific letter."""
    return any(ch in _VI_MARKED for ch in nfc(text).lower())


def is_vi_syllable(token: str) -> bool:
    """True if a folded token is shaped like a Vietnamese syllable."""
    return bool(_VI_SYLLABLE_RE.match(fold(token)))


def detect_language(text: str) -> str:
    """Return "vi" or "en" for a question.

    Accented text is Vietnamese. Unaccented text is judged by its function words ("bao nhieu",
    "cua", "duoc" against "how", "the", "of"); on a tie, by whether its words are shaped like
    Vietnamese syllables ("companies", "how" are not).
    """
    if has_diacritics(text):
        return "vi"
    tokens = [w for w in words(text) if w.isalpha()]
    if not tokens:
        return "en"
    english = sum(1 for w in tokens if w in EN_STOPWORDS)
    vietnamese = sum(1 for w in tokens if w in VI_FUNCTION_WORDS)
    if english != vietnamese:
        return "vi" if vietnamese > english else "en"
    syllables = sum(1 for w in tokens if is_vi_syllable(w))
    return "vi" if syllables >= 0.8 * len(tokens) else "en"


_HAS_NUMBER = re.compile(r"\d")
_HAS_DATE = re.compile(
    r"\b\d{1,2}/\d{1,2}\b|\b(1[5-9]|20)\d{2}\b|\bnăm \d+|\btháng \d+|\bngày \d+", re.I
)


def holds_wanted(wants: str, text: str) -> float:
    """1.0 if `text` holds the kind of fact a question wants ("number": a digit; "date": a
    day/month, a year, "năm 2021"), else 0.0 (also when it wants nothing in particular)."""
    pattern = {"number": _HAS_NUMBER, "date": _HAS_DATE}.get(wants)
    return 1.0 if pattern and pattern.search(text) else 0.0
