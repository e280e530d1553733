"""The hand-written language material, read from one folder: `qa/data/lexicon/`.

Currencies, scales, months, function words, number words, name cues, irregular verbs… are data,
not code: each file opens with a `#` line that says what it is, where it comes from and under
which licence, then (TSV) a `#` line naming its columns. Every module that needs a word list
asks this module, so that one list is written once ("yên" is a currency for the English
rendering and for the grounding check alike). The loaders are small, typed and cached; every
field is NFC-normalised (Vietnamese arrives both precomposed and decomposed).

A module may still select from a list (English scale words only, the Vietnamese modifiers
only), by the columns the file gives.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

LEXICON_DIR = Path(__file__).resolve().parent / "data" / "lexicon"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@cache
def header(name: str) -> str:
    """The provenance line of a lexicon file (its first line, without the `#`)."""
    first = (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines()[0]
    return _nfc(first.removeprefix("#").strip())


@cache
def rows(name: str) -> tuple[tuple[str, ...], ...]:
    """The data lines of `qa/data/lexicon/<name>`: tab-separated fields (a .txt file: one
    field), NFC; comment (`#`) and blank lines left out. Trailing empty fields are kept, so
    that every row of a TSV file has its columns."""
    out = []
    for line in (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        out.append(tuple(_nfc(field.strip()) for field in line.split("\t")))
    return tuple(out)


def _words(name: str) -> tuple[str, ...]:
    return tuple(row[0] for row in rows(name))


# -- numbers -----------------------------------------------------------------------------------
class Scale(NamedTuple):
    value: float
    language: str  # the notation the word fixes: "vi" (1.234,5) or "en" (1,234.5)
    english: str
    form: str  # "word" or "abbreviation"


@cache
def currencies() -> Mapping[str, str]:
    """Currency word or symbol (lower-case) → ISO 4217 code: "đô la mỹ" → "USD", "yên" → "JPY"."""
    return MappingProxyType({surface: code for surface, code in rows("currencies.tsv")})


@cache
def scales() -> Mapping[str, Scale]:
    """Scale word after a number → its value, notation, English word and form ("tỷ" → 1e9)."""
    return MappingProxyType(
        {
            surface: Scale(float(value), language, english, form)
            for surface, value, language, english, form in rows("scales.tsv")
        }
    )


@cache
def percents() -> Mapping[str, str | None]:
    """Percent sign or word → the notation it fixes (None for "%")."""
    return MappingProxyType(
        {surface: language or None for surface, language in rows("percents.tsv")}
    )


@cache
def number_words(language: str) -> Mapping[str, float]:
    """Spelled-out numbers of `language` read as values ("twenty" → 20.0, "bốn" → 4.0)."""
    return MappingProxyType(
        {word: float(value) for word, value, lang in rows("number_words.tsv") if lang == language}
    )


class Modifier(NamedTuple):
    phrase: str
    language: str
    english: str  # how a Vietnamese one is rendered; "" when rendered by rule or English
    kind: str  # "compare", "approximate", "bound" or "total"


@cache
def modifiers(language: str | None = None) -> tuple[Modifier, ...]:
    """Words that qualify a number ("hơn", "khoảng", "more than"), of `language` or all."""
    return tuple(Modifier(*row) for row in rows("modifiers.tsv") if language in (None, row[1]))


class Unit(NamedTuple):
    vietnamese: str
    english: str  # singular
    kind: str  # "duration" or "times"


@cache
def units(kind: str | None = None) -> tuple[Unit, ...]:
    """Units counted after a number ("năm"/"year", "lần"/"time"), of `kind` or all."""
    return tuple(Unit(*row) for row in rows("units.tsv") if kind in (None, row[2]))


def english_plural(noun: str) -> str:
    """ "year" → "years", "century" → "centuries"."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


# -- dates -------------------------------------------------------------------------------------
@cache
def months(form: str | None = None) -> Mapping[str, int]:
    """English month word (lower-case) → month number, of `form` ("name" or "abbreviation")
    or all, in calendar order."""
    return MappingProxyType(
        {word: int(month) for word, month, kind in rows("months.tsv") if form in (None, kind)}
    )


@cache
def month_names() -> tuple[str, ...]:
    """The twelve English month names, lower-case, January first."""
    names = months("name")
    return tuple(sorted(names, key=names.__getitem__))


@cache
def ordinals(kind: str | None = None) -> Mapping[str, int]:
    """Ordinal of a quarter or half → its number ("third" → 3, "iv" → 4, "cuối" → 2), of
    `kind` ("ordinal", "roman" or "half") or all."""
    return MappingProxyType(
        {word: int(value) for word, value, k in rows("ordinals.tsv") if kind in (None, k)}
    )


# -- words -------------------------------------------------------------------------------------
@cache
def function_words(language: str, role: str) -> tuple[str, ...]:
    """Function words of `language` ("vi", "en") in `role` ("stop", "language", "focus",
    "question", "anaphora"; see the file's header), as written (Vietnamese accented)."""
    return tuple(
        word
        for word, lang, roles in rows("function_words.tsv")
        if lang == language and role in roles.split()
    )


@cache
def name_cues(role: str) -> tuple[str, ...]:
    """Phrases of `role` in `name_cues.tsv` ("person", "place", "organisation", "title", …)."""
    return tuple(phrase for phrase, r in rows("name_cues.tsv") if r == role)


@cache
def irregular_verbs() -> Mapping[str, str]:
    """English verb → irregular past tense ("win" → "won")."""
    return MappingProxyType({verb: past for verb, past in rows("irregular_verbs.tsv")})


@cache
def english_verbs() -> tuple[str, ...]:
    """Verbs a "did/does …" question may end its subject on (the statement rewrite)."""
    return _words("verbs_en.txt")


@cache
def abbreviations() -> tuple[str, ...]:
    """Tokens that end with a period without ending a sentence ("tp", "mr", "v.v")."""
    return _words("abbreviations.txt")


@cache
def classifiers() -> tuple[str, ...]:
    """Vietnamese classifiers between a number and its noun ("cái", "con", "chiếc")."""
    return _words("classifiers.txt")


@cache
def question_phrases() -> tuple[str, ...]:
    """Vietnamese question phrases ("bao nhiêu", "ở đâu") the diacritic restorer always knows."""
    return _words("question_phrases.txt")


@cache
def figure_units() -> tuple[str, ...]:
    """Units that may follow a figure in a news sentence ("tỷ", "usd", "dự án", "%")."""
    return _words("figure_units.txt")


@cache
def relative_dates() -> Mapping[str, str]:
    """Relative date phrase → what it means ("năm ngoái" → "last year"); the resolvers of the
    meanings are `qa.ingest.dates`'s."""
    return MappingProxyType({phrase: means for phrase, means in rows("relative_dates.tsv")})


@cache
def latest_words() -> tuple[str, ...]:
    """Words of a question asking for the newest figure ("moi nhat" folded, "latest")."""
    return _words("latest_words.txt")


@cache
def glossary(name: str = "glossary_en_vi.tsv") -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The English → Vietnamese glossary: (English phrase as written, its Vietnamese renderings),
    in file order. `name` may be another file's path (a test's glossary)."""
    return tuple(
        (row[0], tuple(v.strip() for v in "\t".join(row[1:]).split("|") if v.strip()))
        for row in rows(name)
    )


def alternation(phrases: Iterable[str], spaces: str = r"\ ") -> str:
    r"""A regular-expression alternation of `phrases`, longest first (so that "nghìn tỷ" is
    tried before "nghìn"), each escaped; a space inside a phrase becomes `spaces` (e.g.
    `r"\s+"`)."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", spaces) for p in ordered)
