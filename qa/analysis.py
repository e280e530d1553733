"""The first stage: a question's text → one `Question` (qa.records), read by every later stage.

What it decides, once: the language and the retrieval kind (accented Vietnamese, unaccented
Vietnamese — whose accents are restored from the corpus' own statistics, because the dense
model cannot read unaccented text — or English, whose names and glossary translations are
what BM25 can match in Vietnamese text); whether it is a follow-up that needs the last turn;
what kind of fact it wants; the reader's view of it (`qa.answering.question`: answer type,
units, anchors); and the attribute it asks about, for the "not found" check.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from functools import lru_cache

from qa import lexicon
from qa.answering.english import ascii_form, english_names, known_places
from qa.answering.question import analyze as analyze_asked
from qa.answering.spans import names
from qa.records import Asked, Phrases, Question
from qa.retrieve.lexical import DiacriticRestorer, Glossary, query_terms
from qa.text import (
    EN_STOPWORDS,
    content_words,
    detect_language,
    fold,
    folded_words,
    has_diacritics,
    words,
)

# Words of a follow-up that point back to the previous turn (function_words.tsv, role anaphora).
_ANAPHORA = frozenset(
    lexicon.function_words("vi", "anaphora") + lexicon.function_words("en", "anaphora")
)
_NUMBER_Q = re.compile(
    r"\b(bao nhiêu|mấy|how many|how much|what percent\w*|what number|số lượng)\b", re.I
)
_DATE_Q = re.compile(
    r"\b(khi nào|bao giờ|ngày nào|năm nào|tháng nào|thời gian nào|lúc nào|when|what year|which year|"
    r"what date|what day|what month)\b",
    re.I,
)
_WH = frozenset("many much long often far percent percentage".split())
_GRAINS = {"year": "nam", "day": "ngay", "date": "ngay", "month": "thang"}
# Vietnamese function and question words (accented: "đâu" is a question word, "đầu" is not):
# function_words.tsv, role focus.
_VI_FUNCTION = frozenset(lexicon.function_words("vi", "focus"))


@lru_cache(maxsize=1)
def glossary() -> Glossary:
    """The shared English → Vietnamese glossary (read once)."""
    return Glossary()


def _english_terms(text: str) -> list[str]:
    """Names and numbers of an English question, folded: the part BM25 can match in Vietnamese."""
    tokens = re.findall(r"\w+", text)
    keep = [
        i
        for i, t in enumerate(tokens)
        if t[0].isdigit() or (t[0].isupper() and t.lower() not in EN_STOPWORDS and i > 0)
    ]
    folded = [fold(tokens[i]) for i in keep]
    bigrams = [
        f"{fold(tokens[a])}_{fold(tokens[b])}" for a, b in itertools.pairwise(keep) if b == a + 1
    ]
    return folded + bigrams


def _wants(question: str) -> str:
    """The kind of fact a question asks for: "number", "date" or ""."""
    return "number" if _NUMBER_Q.search(question) else "date" if _DATE_Q.search(question) else ""


def is_follow_up(question: str) -> bool:
    """Short questions and questions that point back ("Tại đó...", "their") need the last turn."""
    tokens = words(question)
    return any(t in _ANAPHORA for t in tokens) or len(content_words(question)) <= 2


# -- the reader's view -----------------------------------------------------------------------------
def _vietnamese(phrase: str) -> tuple[tuple[str, ...], ...]:
    """Folded Vietnamese renderings of an English noun (its last word first: "Chinese
    companies" → ("cong", "ty"), ("doanh", "nghiep"))."""
    for parts in (phrase.split()[-1:], phrase.split()):
        found = glossary().translate(" ".join(parts))
        if found:
            return tuple(tuple(folded_words(v)) for v in found)
    return ()


def asked_of(text: str, language: str) -> Asked:
    """The reader's analysis (`text` accented when Vietnamese). English nouns are looked up in
    the glossary ("workers" → "lao động") so that "58.000 lao động" is read whole."""
    asked = analyze_asked(text, language)
    if asked.language != "en":
        return asked
    units = tuple(v for (u,) in asked.units for v in _vietnamese(u))
    if asked.type == "date":
        head = tuple((_GRAINS[h],) for (h,) in asked.head if h in _GRAINS)
    else:
        head = tuple(v for (h,) in asked.head for v in _vietnamese(h))
    return replace(asked, units=units, head=head)


# -- the asked attribute -----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    """English names of places and organisations (lower case), from the glossary."""
    return frozenset(n.lower().removeprefix("the ") for n in english_names().values())


def _is_attribute(tokens: list[str], i: int) -> bool:
    """Whether English word i can name the asked attribute: lower-case words, and capitalised
    ones the glossary knows that are not places ("GDP", "World Cup"; not "Hai Phong")."""
    word = tokens[i]
    if not word[0].isupper():
        return True
    entries = glossary().entries
    pairs = [" ".join(tokens[j : j + 2]).lower() for j in (i - 1, i) if 0 <= j < len(tokens) - 1]
    known = [p for p in [word.lower(), *pairs] if p in entries]
    return bool(known) and not any(p in _place_names() for p in known)


def _singular(phrase: str) -> list[str]:
    """ "universities" → ["universities", "university"]; "companies", "workers", "taxes"."""
    forms = [phrase]
    if phrase.endswith("ies"):
        forms.append(phrase[:-3] + "y")
    if phrase.endswith("es"):
        forms.append(phrase[:-2])
    if phrase.endswith("s"):
        forms.append(phrase[:-1])
    return forms


def _english_phrases(tokens: list[str]) -> Phrases:
    """Glossary renderings of English words (two-word entries first), each as alternatives
    of folded syllable tuples; a word the glossary does not know is left out."""
    entries = glossary().entries
    out, i = [], 0
    while i < len(tokens):
        for n in (2, 1):
            phrase = " ".join(tokens[i : i + n])
            options = next((entries[p] for p in _singular(phrase) if p in entries), None)
            if len(tokens[i : i + n]) == n and options:
                out.append(tuple(tuple(folded_words(v)) for v in options))
                i += n
                break
        else:
            i += 1
    return tuple(out)


def _without_places(tokens: list[str]) -> list[str | None]:
    """Folded words with the known place names ("hai phong", "ha lan") blanked out."""
    out: list[str | None] = list(tokens)
    places = known_places()
    for n in (4, 3, 2, 1):
        for i in range(len(tokens) - n + 1):
            if all(w is not None for w in out[i : i + n]) and " ".join(tokens[i : i + n]) in places:
                out[i : i + n] = [None] * n
    return out


def attribute(text: str, language: str) -> Phrases:
    """What the question asks about, without the names it mentions: "Dân số Hải Phòng là bao
    nhiêu?" → dân số; "What is the population of Hai Phong?" → (glossary) dân số. Each entry
    holds alternative folded phrases. The "not found" decision checks that the evidence
    mentions them. `text` is accented when Vietnamese."""
    if language == "en":
        tokens = re.findall(r"[A-Za-z]+", text)
        plain = [w.lower() for i, w in enumerate(tokens) if i == 0 or _is_attribute(tokens, i)]
        return _english_phrases([w for w in plain if w not in EN_STOPWORDS and w not in _WH])
    named = [(s.start, s.end) for s in names(text, known_places())]
    kept = [
        None
        if any(a <= m.start() < b for a, b in named)
        or m.group(0).lower() in _VI_FUNCTION
        or m.group(0).isdigit()
        else fold(m.group(0))
        for m in re.finditer(r"\w+", text)
    ]
    runs: list[list[str]] = [[]]
    for word in _without_places([w or "" for w in kept]):
        if word:
            runs[-1].append(word)
        else:
            runs.append([])
    return tuple((tuple(run),) for run in runs if run)


# -- the stage ---------------------------------------------------------------------------------
class Analyzer:
    """Analyses questions against one corpus (its syllable statistics restore accents)."""

    def __init__(self, restorer: DiacriticRestorer) -> None:
        self.restorer = restorer
        self.glossary = glossary()

    def analyze(
        self,
        question: str,
        history: list[str] | None = None,
        said: str | None = None,
        follows: bool = False,
    ) -> Question:
        """Decide the retrieval kind, the dense text and lexical terms, and read the question.
        `history`: earlier questions of the conversation (the last one is read with a
        follow-up); `said`: the question as typed, when `question` is it without the time
        and outlet words; `follows`: read the last turn even when the question does not look
        like a follow-up (its pronoun was already resolved)."""
        # A question is one line: a pasted line break or text parts joined by "\n" (the
        # OpenAI door) read as a space ("bao nhiêu\nvốn" is still an amount asked).
        question = " ".join(question.split())
        language = detect_language(question)
        context = ""
        if history and (follows or is_follow_up(question)):
            context = " ".join(history[-1:])
        text = f"{context} {question}".strip()
        if language == "en":
            kind, dense_text = "en", text
            terms = _english_terms(text)
            for phrase in self.glossary.translate(text):
                terms += query_terms(phrase)
        else:
            accented = has_diacritics(question)
            kind = "vi" if accented else "vi_unaccented"
            dense_text = (
                text if accented and has_diacritics(context or "đ") else self.restorer.restore(text)
            )
            terms = query_terms(text)
        wants = _wants(question) or _wants(
            context
        )  # "Còn Hà Lan thì sao?" asks what the last turn asked
        focus = replace(self.analyze(question, said=said), wants=wants) if context else None
        # An unaccented question is read with its accents restored, as the dense channel reads it.
        read = dense_text if kind == "vi_unaccented" else question
        return Question(
            text=question,
            said=question if said is None else said,
            language=language,
            kind=kind,
            dense_text=dense_text,
            terms=tuple(terms),
            wants=wants,
            asked=asked_of(read, language),
            attribute=attribute(read, language),
            words=frozenset(t for t in terms if "_" not in t),
            focus=focus,
        )


# -- follow-ups ------------------------------------------------------------------------------------
_EN_POSSESSIVE = re.compile(r"\b(his|her|its|their)\b", re.I)
_EN_PERSONAL = re.compile(r"\b(he|she|it|they|them)\b", re.I)
_VI_POINTER = re.compile(r"\b(ông ấy|bà ấy|anh ấy|chị ấy|họ|nó|chúng)\b", re.I)
NAMED = ("person", "organisation", "place", "list")


def antecedent(short: str, short_type: str) -> str:
    """What a pronoun of the next question points back to: the last answer when it named
    someone or something ("Lê Tiến Châu"); "" otherwise (then the last turn is read as context
    instead: "What about their total capital?" after a question on Chinese companies)."""
    return short if short and short_type in NAMED else ""


def resolve(question: str, thing: str) -> str:
    """The question with its first pronoun replaced by `thing` ("What is his position?" →
    "What is Lê Tiến Châu's position?"); unchanged without one or without `thing`."""
    if not thing:
        return question
    if detect_language(question) == "en":
        # English keeps its letters: "Lê Tiến Châu (Le Tien Chau)" is asked as "Le Tien Chau".
        thing = ascii_form(re.sub(r"\s*\([^)]*\)", "", thing))
        if _EN_POSSESSIVE.search(question):
            owner = f"{thing}'" if thing.endswith("s") else f"{thing}'s"
            return _EN_POSSESSIVE.sub(owner, question, count=1)
        return _EN_PERSONAL.sub(thing, question, count=1)
    return _VI_POINTER.sub(thing, question, count=1)


def points_back(question: str) -> bool:
    """Whether the question holds a pronoun that `resolve` can replace."""
    pattern = (
        (_EN_POSSESSIVE, _EN_PERSONAL) if detect_language(question) == "en" else (_VI_POINTER,)
    )
    return any(p.search(question) for p in pattern)
