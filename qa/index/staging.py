"""Embeddings kept on disk while `qa index` runs, so that an interrupted run resumes.

Embedding is the whole cost of indexing (~10 chunks/s on 2 cores). Every batch of vectors is
written the moment it exists, atomically (temp file, then rename), to `<index_dir>/.staging/`
as the texts' keys (blake2b of the text) and their vectors; the next run with the same embedder
reads them back instead of embedding those texts again, whatever killed the previous one (the
process, the machine, a Ray worker, the vector store). Keys are content hashes, so a corpus
edited between the two runs still reuses every text that did not change. Once a generation is
published the directory is removed; a staging written by another embedder is discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

STAGING = ".staging"


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class Staging:
    """The staged vectors of one index directory for one embedder (fingerprint, dim)."""

    def __init__(self, index_dir: Path, fingerprint: str, dim: int) -> None:
        self.dir = Path(index_dir) / STAGING
        self.meta = {"fingerprint": fingerprint, "dim": dim}
        if self.dir.exists() and self._staged_meta() != self.meta:
            self.clear()
        self._written = 0

    def _staged_meta(self) -> dict | None:
        """The embedder the staging was written by; None if unknown (missing, or cut short by
        a full disk): such a staging cannot be trusted and is cleared."""
        try:
            return json.loads((self.dir / "embedder.json").read_text())
        except (OSError, ValueError):
            return None

    def load(self) -> dict[str, np.ndarray]:
        """Every staged vector by text key (damaged files, e.g. cut by a full disk, skipped)."""
        found: dict[str, np.ndarray] = {}
        for path in sorted(self.dir.glob("*.npz")) if self.dir.exists() else []:
            try:
                with np.load(path, allow_pickle=False) as saved:
                    keys, vectors = saved["keys"], saved["vectors"]
            except (OSError, ValueError, KeyError):
                continue
            if vectors.shape[1:] == (self.meta["dim"],):
                found.update(zip((str(k) for k in keys), vectors, strict=True))
        return found

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        """Stage one batch (durable before this returns)."""
        if not texts:
            return
        if not self.dir.exists():
            self.dir.mkdir(parents=True)
            tmp = self.dir / ".embedder.json.tmp"
            tmp.write_text(json.dumps(self.meta))
            tmp.replace(self.dir / "embedder.json")
        self._written += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self._written}"
        tmp = self.dir / f".{name}.tmp.npz"
        keys = np.array([text_key(t) for t in texts], dtype=str)
        with open(tmp, "wb") as handle:
            np.savez(handle, keys=keys, vectors=np.asarray(vectors, np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.dir / f"{name}.npz")

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
