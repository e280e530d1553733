"""SQuAD-style answer scores (exact match, token F1) on folded word tokens: accents, case and
punctuation aside, so "Hai Phong" scores as "Hải Phòng". Light on purpose — the trainer
(`train.reader`) scores its checkpoints with these without loading the answering pipeline."""

from __future__ import annotations

import re
from collections import Counter

from qa.text import fold, nfc


def answer_tokens(text: str) -> list[str]:
    """Folded word tokens of an answer: what exact match and token F1 compare."""
    return re.findall(r"\w+", fold(nfc(text)))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall (SQuAD's F1)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, gold: str) -> float:
    """SQuAD-style exact match on folded word tokens (accents and punctuation aside)."""
    return float(answer_tokens(prediction) == answer_tokens(gold))
