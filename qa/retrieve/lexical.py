"""The lexical channel: BM25 over diacritic-folded Vietnamese syllables and syllable bigrams.

Vietnamese words are mostly two syllables ("đầu tư", "doanh nghiệp"), so bigrams of folded
syllables act as words without a word segmenter, and folding makes "dau tu" match "đầu tư".
Also here: `DiacriticRestorer`, which puts the accents back on an unaccented query using the
corpus' own syllable statistics, because the dense model cannot read unaccented Vietnamese.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from qa.text import STOPWORDS_FOLDED, fold, folded_words, words


def terms(text: str) -> list[str]:
    """Folded syllables plus adjacent-syllable bigrams (joined by "_")."""
    tokens = folded_words(text)
    return tokens + [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def query_terms(text: str) -> list[str]:
    """Terms of a query without stand-alone question/function words (bigrams are kept)."""
    tokens = folded_words(text)
    bigrams = [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
    return [t for t in tokens if t not in STOPWORDS_FOLDED] + bigrams


class BM25:
    """Okapi BM25 with an in-memory inverted index; `scores()` returns one score per text."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(texts)
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.size, dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(terms(text))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                self.postings[term].append((i, tf))
        self.avg_len = float(lengths.mean()) if self.size else 1.0
        self._norm = k1 * (1 - b + b * lengths / max(self.avg_len, 1e-9))

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """BM25 score of every text for the given query terms, shape (size,)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(query):
            posting = self.postings.get(term)
            if not posting:
                continue
            idx = np.fromiter((i for i, _ in posting), dtype=np.int64, count=len(posting))
            tf = np.fromiter((t for _, t in posting), dtype=np.float32, count=len(posting))
            out[idx] += self.idf(term) * tf * (self.k1 + 1) / (tf + self._norm[idx])
        return out


GLOSSARY_PATH = Path(__file__).resolve().parents[1] / "data" / "glossary_en_vi.tsv"


class Glossary:
    """English → Vietnamese phrase glossary so that BM25 can read English questions.

    Dense retrieval carries English questions, but on a corpus about one story the cosines of
    e5-small sit within hundredths of each other; the words "export", "Dutch", "Shenzhen" mean
    "xuất khẩu", "Hà Lan", "Thâm Quyến" in the articles, and matching them sharpens the ranking.
    """

    def __init__(self, path: Path = GLOSSARY_PATH, max_words: int = 4) -> None:
        self.entries: dict[str, list[str]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            english, _, vietnamese = line.partition("\t")
            self.entries[english.strip().lower()] = [
                v.strip() for v in vietnamese.split("|") if v.strip()
            ]
        self.max_words = max_words

    def _lookup(self, phrase: str) -> list[str] | None:
        if phrase in self.entries:
            return self.entries[phrase]
        for suffix, replacement in (
            ("ies", "y"),
            ("es", ""),
            ("s", ""),
            ("ed", ""),
            ("ed", "e"),
            ("ing", ""),
        ):
            if phrase.endswith(suffix) and phrase[: -len(suffix)] + replacement in self.entries:
                return self.entries[phrase[: -len(suffix)] + replacement]
        return None

    def translate(self, text: str) -> list[str]:
        """Vietnamese renderings of the English phrases found in `text` (longest match first)."""
        tokens = re.findall(r"[a-z0-9'-]+", text.lower())
        found: list[str] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_words, len(tokens) - i), 0, -1):
                match = self._lookup(" ".join(tokens[i : i + n]))
                if match:
                    found.extend(match)
                    i += n
                    break
            else:
                i += 1
        return found


# Question phrases the corpus may not contain but queries do; counted once each so that
# "bao nhieu" becomes "bao nhiêu" even over a corpus without questions.
_SEED = (
    "bao nhiêu. ở đâu. khi nào. vào năm nào. là ai. là gì. như thế nào. tại sao. vì sao. "
    "có bao nhiêu. bao giờ. những ai. cái gì. được không. của ai. với ai. thế nào. nào."
)


class DiacriticRestorer:
    """Restore Vietnamese accents on a folded query with a syllable bigram model (Viterbi).

    Each folded syllable can be any accented syllable seen in the corpus that folds to it
    ("dau" → "đầu", "dấu", "dâu", ...); neighbours decide ("dau tu" → "đầu tư").
    """

    def __init__(self, texts: Iterable[str], bigram_weight: float = 2.0, max_options: int = 6):
        self.unigrams: Counter[str] = Counter()
        self.bigrams: Counter[tuple[str, str]] = Counter()
        for text in [*texts, _SEED]:
            tokens = words(text)
            self.unigrams.update(tokens)
            self.bigrams.update(itertools.pairwise(tokens))
        options: dict[str, list[str]] = defaultdict(list)
        for token, _ in self.unigrams.most_common():
            key = fold(token)
            if len(options[key]) < max_options:
                options[key].append(token)
        self.options = dict(options)
        self.bigram_weight = bigram_weight

    def restore(self, text: str) -> str:
        """Return `text` with accents put back where the corpus makes them likely."""
        tokens = words(text)
        if not tokens:
            return text
        lattice = [self.options.get(fold(t), [t]) for t in tokens]
        totals = [sum(self.unigrams[o] for o in opts) or 1 for opts in lattice]
        best: list[dict[str, tuple[float, str | None]]] = []
        for i, opts in enumerate(lattice):
            column: dict[str, tuple[float, str | None]] = {}
            for option in opts:
                unary = math.log((self.unigrams[option] + 0.5) / (totals[i] + 0.5))
                if i == 0:
                    column[option] = (unary, None)
                    continue
                column[option] = max(
                    (
                        score
                        + unary
                        + self.bigram_weight * math.log1p(self.bigrams[(prev, option)]),
                        prev,
                    )
                    for prev, (score, _) in best[-1].items()
                )
            best.append(column)
        option = max(best[-1], key=lambda o: best[-1][o][0])
        restored = [option]
        for column in reversed(best[1:]):
            option = column[option][1] or option
            restored.append(option)
        return " ".join(reversed(restored))
