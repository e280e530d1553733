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
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from qa import lexicon
from qa.text import STOPWORDS_FOLDED, fold, folded_words, terms, words
from qa.types import Chunk, Sentence


def query_terms(text: str) -> list[str]:
    """Terms of a query without stand-alone question/function words (bigrams are kept)."""
    tokens = folded_words(text)
    bigrams = [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
    return [t for t in tokens if t not in STOPWORDS_FOLDED] + bigrams


def _idf(size: int, df: int) -> float:
    return math.log(1 + (size - df + 0.5) / (df + 0.5))


def shard_of(doc_id: str, shards: int) -> int:
    """The shard that holds a document: a stable hash of its id (the same in every process)."""
    return zlib.crc32(doc_id.encode("utf-8")) % shards


def best_rows(
    scores: np.ndarray, n: int, rows: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The `n` best positive scores as (row, score), best first, ties broken by the lower row:
    one total order, so the best of the shards' bests are exactly the best of the whole."""
    rows = np.arange(len(scores)) if rows is None else rows
    hit = np.flatnonzero(scores > 0)
    order = hit[np.lexsort((rows[hit], -scores[hit]))][:n]
    return [(int(rows[i]), float(scores[i])) for i in order]


class BM25Shard:
    """An inverted index over some texts (whole documents), scored with given statistics.

    Alone it is plain Okapi BM25 over its own texts; inside a `BM25` of several shards the
    coordinator passes the global document frequencies (as term weights) and average length,
    so a text scores the same as in one index over everything.
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(texts)
        postings: dict[str, list[int]] = defaultdict(list)  # term -> [row, tf, row, tf, ...]
        lengths = np.zeros(self.size, dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(terms(text))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                postings[term] += (i, tf)
        # One flat layout: the postings of term t are rows/tfs[offsets[id[t]]:offsets[id[t]+1]],
        # 8 bytes a posting; as Python tuples they took ~36 KB per XQuAD chunk (chunk + sentence
        # indexes), the memory that decides how many chunks a shard can hold.
        self._term_id = {term: n for n, term in enumerate(postings)}
        flat = np.fromiter(
            (x for pairs in postings.values() for x in pairs), dtype=np.int64
        ).reshape(-1, 2)
        self._rows, self._tfs = flat[:, 0].astype(np.int32), flat[:, 1].astype(np.float32)
        self._offsets = np.cumsum([0, *(len(p) // 2 for p in postings.values())], dtype=np.int64)
        self.total_len = int(lengths.sum(dtype=np.float64))
        self._lengths = lengths
        self.set_average_length(self.total_len / self.size if self.size else 1.0)

    def set_average_length(self, avg_len: float) -> None:
        """Length normalisation against `avg_len` (the whole collection's, when sharded)."""
        self.avg_len = avg_len
        self._norm = self.k1 * (1 - self.b + self.b * self._lengths / max(avg_len, 1e-9))

    def _span(self, term: str) -> slice:
        n = self._term_id.get(term)
        return slice(0, 0) if n is None else slice(self._offsets[n], self._offsets[n + 1])

    def df(self, term: str) -> int:
        span = self._span(term)
        return int(span.stop - span.start)

    def scores(self, weights: dict[str, float]) -> np.ndarray:
        """Score of every text, shape (size,), for terms weighted by their (global) idf."""
        out = np.zeros(self.size, dtype=np.float32)
        for term, idf in weights.items():
            span = self._span(term)
            idx, tf = self._rows[span], self._tfs[span]
            if len(idx):
                out[idx] += idf * tf * (self.k1 + 1) / (tf + self._norm[idx])
        return out


class BM25:
    """Okapi BM25 over texts, optionally sharded by document; `scores()` gives one score per text.

    With `shards` > 1 (and each text's `doc_ids`), every shard holds the texts of whole
    documents (`shard_of`) — the unit that would live beside a vector-store shard on its own
    machine. A query is answered the way Elasticsearch's "DFS query then fetch" does: the
    document frequencies of its terms are summed over the shards first (one small round trip),
    each shard scores its texts with those global idf weights and the global average length,
    and the shards' top-n are merged. Every score, and so the top-n, equals the unsharded
    index's (tested); only `best`/`score_rows` are needed at query time, never a full array.
    """

    def __init__(
        self,
        texts: Sequence[str],
        k1: float = 1.2,
        b: float = 0.75,
        doc_ids: Sequence[str] | None = None,
        shards: int = 1,
    ) -> None:
        if shards < 1 or (shards > 1 and (doc_ids is None or len(doc_ids) != len(texts))):
            raise ValueError("sharding needs shards >= 1 and one document id per text")
        owner = [shard_of(d, shards) for d in doc_ids] if shards > 1 else [0] * len(texts)
        self.rows = [np.flatnonzero(np.array(owner, int) == s) for s in range(shards)]
        self.shards = [BM25Shard([texts[r] for r in rows], k1, b) for rows in self.rows]
        self.size = len(texts)
        self.avg_len = sum(s.total_len for s in self.shards) / self.size if self.size else 1.0
        for shard in self.shards:
            shard.set_average_length(self.avg_len)

    @classmethod
    def by_document(cls, records: Sequence[Chunk] | Sequence[Sentence], shards: int = 1) -> BM25:
        """BM25 over the texts of chunks or sentences, in `shards` shards by their document."""
        return cls([r.text for r in records], doc_ids=[r.doc_id for r in records], shards=shards)

    def df(self, term: str) -> int:
        return sum(shard.df(term) for shard in self.shards)

    def idf(self, term: str) -> float:
        return _idf(self.size, self.df(term))

    def weights(self, query: Iterable[str]) -> dict[str, float]:
        """Global idf of each distinct query term found somewhere, in a fixed (sorted) order so
        that every shard adds the same float32 terms in the same order."""
        found = {t: self.df(t) for t in sorted(set(query))}
        return {t: _idf(self.size, df) for t, df in found.items() if df}

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """BM25 score of every text for the given query terms, shape (size,)."""
        weights = self.weights(query)
        out = np.zeros(self.size, dtype=np.float32)
        for rows, shard in zip(self.rows, self.shards, strict=True):
            out[rows] = shard.scores(weights)
        return out

    def best(self, query: Iterable[str], n: int) -> list[tuple[int, float]]:
        """The n best-scoring texts with a positive score, as (row, score), best first."""
        weights = self.weights(query)
        found = [
            hit
            for rows, shard in zip(self.rows, self.shards, strict=True)
            for hit in best_rows(shard.scores(weights), n, rows)
        ]
        merged = np.array([s for _, s in found], np.float32)
        return best_rows(merged, n, np.array([r for r, _ in found], np.int64))

    def score_rows(self, query: Iterable[str], rows: np.ndarray) -> np.ndarray:
        """Scores of the given rows (candidates from the other channel), shape (len(rows),)."""
        weights = self.weights(query)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        for held, shard in zip(self.rows, self.shards, strict=True):
            mine = np.isin(rows, held)
            if mine.any():
                out[mine] = shard.scores(weights)[np.searchsorted(held, rows[mine])]
        return out


GLOSSARY_PATH = lexicon.LEXICON_DIR / "glossary_en_vi.tsv"


def glossary_entries(path: Path = GLOSSARY_PATH) -> list[tuple[str, list[str]]]:
    """The glossary's lines as (English phrase as written, its Vietnamese renderings); comments
    and blank lines left out (read by `qa.lexicon.glossary`). Read by `Glossary` (lower-cased,
    for retrieval) and by `qa.answering.english` (capitalised entries are the English names of
    places)."""
    return [(english, list(renderings)) for english, renderings in lexicon.glossary(str(path))]


class Glossary:
    """English → Vietnamese phrase glossary so that BM25 can read English questions.

    Dense retrieval carries English questions, but on a corpus about one story the cosines of
    e5-small sit within hundredths of each other; the words "export", "Dutch", "Shenzhen" mean
    "xuất khẩu", "Hà Lan", "Thâm Quyến" in the articles, and matching them sharpens the ranking.
    """

    def __init__(self, path: Path = GLOSSARY_PATH, max_words: int = 4) -> None:
        self.entries = {
            english.lower(): renderings for english, renderings in glossary_entries(path)
        }
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


# Question phrases the corpus may not contain but queries do (the lexicon's question_phrases.txt);
# counted once each so that "bao nhieu" becomes "bao nhiêu" even over a corpus without questions.
_SEED = " ".join(f"{phrase}." for phrase in lexicon.question_phrases())


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
