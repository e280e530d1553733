"""An English question turned into a statement with the extracted fact, from safe material
only: the asker's own words, reordered, and the short answer ("How many Chinese investment
projects does Hai Phong have?" + "405" → "Hai Phong has 405 Chinese investment projects.").

Only a few question shapes are rewritten, those whose statement order is certain; anything
else returns None and the short answer leads alone. A Vietnamese phrase (type "other") is
never put inside an English sentence.
"""

from __future__ import annotations

import re

from qa import lexicon

_IRREGULAR = dict(lexicon.irregular_verbs())
_TYPED = ("count", "amount", "percent", "date", "person", "organisation", "place", "list")


def _past(verb: str) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    return verb + "ed"


def _third(verb: str) -> str:
    if verb == "have":
        return "has"
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _conjugate(aux: str, verb: str) -> str:
    return {"does": _third(verb), "did": _past(verb)}.get(aux.lower(), verb)


def _date_phrase(value: str) -> str:
    return f"on {value}" if re.match(r"\d{1,2}[ –]", value) else f"in {value}"


def _sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:]


# Verbs a do-support question may end on (the lexicon's verbs_en.txt); the subject is everything
# before the first of them. A clause without one is not rewritten (its word order is not certain).
VERBS = frozenset(lexicon.english_verbs())


def _subject_verb_rest(clause: str) -> tuple[str, str, str] | None:
    """Split "Hai Phong attract by 31 October 2023" into subject, verb and rest at the first
    known verb after the first word."""
    words = clause.split(" ")
    for i, word in enumerate(words[1:], 1):
        if word in VERBS:
            return " ".join(words[:i]), word, " ".join(words[i + 1 :])
    return None


def _do_support(aux: str, clause: str) -> tuple[str, str, str] | None:
    """ "did" + "Hai Phong attract by 2023" → ("Hai Phong", "attracted", "by 2023")."""
    parts = _subject_verb_rest(clause)
    if parts is None:
        return None
    subject, verb, rest = parts
    return subject, _conjugate(aux, verb), rest


def statement(question: str, value: str, kind: str) -> str | None:
    """The question as a statement holding `value` (already in English), or None."""
    if kind not in _TYPED and kind != "period":
        return None
    q = re.sub(r"\s+", " ", question.strip()).rstrip("?").strip()
    rules = (
        _how_many_aux,
        _how_many_subject,
        _what_is,
        _who,
        _when,
        _which_aux,
        _which_subject,
    )
    for rule in rules:
        text = rule(q, value, kind)
        if text:
            return _sentence(text)
    return None


def _how_many_aux(q: str, value: str, kind: str) -> str | None:
    match = re.match(r"^[Hh]ow (many|much) ?(.*?) (do|does|did) (.+)$", q)
    if not match or kind not in ("count", "amount", "percent"):
        return None
    _, thing, aux, clause = match.groups()
    parts = _do_support(aux, clause)
    if parts is None:
        return None
    subject, verb, rest = parts
    object_ = f"{value} {thing}" if match.group(1).lower() == "many" else value
    if match.group(1).lower() == "much" and thing:
        object_ = f"{value} of {thing}"
    return f"{subject} {verb} {object_} {rest}"


def _how_many_subject(q: str, value: str, kind: str) -> str | None:
    match = re.match(
        r"(?i)^how many ([a-z' -]+?) ((?:were|was|have|has|had) [a-z]+|[a-z]+ed) (.+)$", q
    )
    if not match or kind != "count":
        return None
    thing, verb, rest = match.groups()
    return f"{value} {thing} {verb} {rest}"


def _what_is(q: str, value: str, kind: str) -> str | None:
    match = re.match(r"(?i)^(?:what|who) (is|was|are|were) (the .+)$", q)
    if not match or kind == "date":
        return None
    verb, subject = match.groups()
    return f"{subject} {verb} {value}"


def _who(q: str, value: str, kind: str) -> str | None:
    match = re.match(r"(?i)^who ([a-z]+ed|led|won|held|signed|leads|heads|runs) (.+)$", q)
    if not match or kind not in ("person", "organisation", "list"):
        return None
    return f"{value} {match.group(1)} {match.group(2)}"


def _when(q: str, value: str, kind: str) -> str | None:
    if kind != "date":
        return None
    match = re.match(r"^[Ww]hen (was|were|is|did|does|do) (.+)$", q)
    if not match:
        return None
    aux, clause = match.groups()
    if aux.lower() in ("was", "were", "is"):
        held = re.match(r"^(.+?) ((?:[a-z]+ed|held|built|born|founded|signed)(?: .*)?)$", clause)
        if held:
            return f"{held.group(1)} {aux} {held.group(2)} {_date_phrase(value)}"
        return f"{clause} {aux} {_date_phrase(value)}"
    parts = _do_support(aux, clause)
    if parts is None:
        return None
    subject, verb, rest = parts
    return f"{subject} {verb} {rest} {_date_phrase(value)}"


def _which_aux(q: str, value: str, kind: str) -> str | None:
    match = re.match(r"^(?:[Ww]hich|[Ww]hat) [a-z ]+? (did|does|do) (.+)$", q)
    if not match or kind not in ("organisation", "place", "person", "list"):
        return None
    parts = _do_support(*match.groups())
    if parts is None:
        return None
    subject, verb, rest = parts
    return f"{subject} {verb} {value} {rest}"


def _which_subject(q: str, value: str, kind: str) -> str | None:
    match = re.match(r"(?i)^(?:which|what) [a-z ]+? ([a-z]+ed|led|won|held) (.+)$", q)
    if not match or kind not in ("organisation", "place", "person", "list"):
        return None
    return f"{value} {match.group(1)} {match.group(2)}"
