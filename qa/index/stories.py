"""Syndicated copies: articles that are one story, found at index time and kept in the manifest.

A wire story appears in several outlets with another headline, lead line or footer, sometimes
with a figure edited. Two articles are copies of one story when

* their word 5-gram shingles (folded, so a copy without accents still matches) overlap: the
  Jaccard similarity estimated by MinHash (datasketch; candidates from MinHashLSH) is at least
  `JACCARD`, or at least `JACCARD_REWRITE` when their dense vectors (mean chunk vector) are
  nearly the same (`COSINE`, a lightly rewritten copy); and
* they were published within `DAYS` of each other when both dates are known: a monthly report
  written from the same template ("Chỉ số CPI tháng 3 ...") is a new story every month.

Stories are the connected groups of that relation. They are recomputed on every index run
(about a millisecond per article) and stored in the generation's manifest as plain JSON with a
version, so a reader needs no computation and no pickle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.ingest.dates import parse_period
from qa.text import folded_words
from qa.types import Chunk, Document

if TYPE_CHECKING:
    from datasketch import MinHash

VERSION = 1
SHINGLE = 5
NUM_PERM = 128
JACCARD = 0.5
JACCARD_REWRITE = 0.2
COSINE = 0.96
DAYS = 7


@dataclass(frozen=True)
class Stories:
    """Groups of documents that are copies of one story (only groups of two or more)."""

    groups: tuple[tuple[str, ...], ...] = ()
    pairs: tuple[tuple[str, str, float, float], ...] = ()  # (a, b, jaccard, cosine) edges

    @cached_property
    def _of(self) -> dict[str, int]:
        return {d: i for i, group in enumerate(self.groups) for d in group}

    def story(self, doc_id: str) -> str:
        """A stable key of the document's story (its first member), the doc id when alone."""
        i = self._of.get(doc_id)
        return doc_id if i is None else self.groups[i][0]

    def copies(self, doc_id: str) -> tuple[str, ...]:
        """The other documents of the story, in id order."""
        i = self._of.get(doc_id)
        return () if i is None else tuple(d for d in self.groups[i] if d != doc_id)

    def to_manifest(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "method": f"minhash{NUM_PERM} over folded word {SHINGLE}-grams + mean chunk vector",
            "thresholds": {
                "jaccard": JACCARD,
                "jaccard_rewrite": JACCARD_REWRITE,
                "cosine": COSINE,
                "days": DAYS,
            },
            "groups": [list(g) for g in self.groups],
            "pairs": [list(p) for p in self.pairs],
        }

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Stories:
        """The stories of a loaded generation; none for generations written before stories
        (or by another version of this module: they are recomputed at the next index run)."""
        entry = manifest.get("stories") or {}
        if entry.get("version") != VERSION:
            return cls()
        return cls(
            tuple(tuple(g) for g in entry.get("groups", [])),
            tuple((a, b, float(j), float(c)) for a, b, j, c in entry.get("pairs", [])),
        )


def signature(text: str) -> MinHash:
    """MinHash of the text's folded word 5-grams (the whole text when it is shorter)."""
    tokens = folded_words(text)
    shingles = {" ".join(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1))}
    # datasketch pulls in scipy (0.9 s): imported where an index is built, not by every
    # `import qa` (the CLI, the server's start, a question)
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


def _mean_vectors(
    documents: list[Document], chunks: list[Chunk], vectors: np.ndarray
) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for i, chunk in enumerate(chunks):
        rows.setdefault(chunk.doc_id, []).append(i)
    means = {}
    for doc in documents:
        if rows.get(doc.doc_id):
            mean = vectors[rows[doc.doc_id]].mean(axis=0)
            means[doc.doc_id] = mean / (np.linalg.norm(mean) or 1.0)
    return means


def _close_in_time(a: Document, b: Document) -> bool:
    pa, pb = parse_period(a.date), parse_period(b.date)
    if pa is None or pb is None:
        return True
    gap = max((pa.start - pb.end).days, (pb.start - pa.end).days, 0)
    return gap <= DAYS


def _groups(
    ids: Iterable[str], edges: list[tuple[str, str, float, float]]
) -> list[tuple[str, ...]]:
    parent = {i: i for i in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _, _ in edges:
        parent[root(a)] = root(b)
    members: dict[str, list[str]] = {}
    for i in parent:
        members.setdefault(root(i), []).append(i)
    return sorted(tuple(sorted(g)) for g in members.values() if len(g) > 1)


def find_stories(documents: list[Document], chunks: list[Chunk], vectors: np.ndarray) -> Stories:
    """The stories of a corpus: MinHashLSH candidates, confirmed by estimated Jaccard, dense
    cosine of the mean chunk vectors (`vectors`: (n_chunks, dim), unit rows) and dates."""
    if len(documents) < 2:
        return Stories()
    signatures = {d.doc_id: signature(d.text) for d in documents}
    means = _mean_vectors(documents, chunks, vectors)
    by_id = {d.doc_id: d for d in documents}
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=JACCARD_REWRITE, num_perm=NUM_PERM)
    for doc_id, minhash in signatures.items():
        lsh.insert(doc_id, minhash)
    edges = []
    for a, minhash in signatures.items():
        for b in lsh.query(minhash):
            if b <= a or not _close_in_time(by_id[a], by_id[b]):
                continue
            jaccard = float(minhash.jaccard(signatures[b]))
            cosine = float(means[a] @ means[b]) if a in means and b in means else 0.0
            if jaccard >= JACCARD or (jaccard >= JACCARD_REWRITE and cosine >= COSINE):
                edges.append((a, b, round(jaccard, 3), round(cosine, 4)))
    edges.sort()
    return Stories(tuple(_groups(signatures, edges)), tuple(edges))
