"""A server killed (SIGKILL) at any point of an upload, a replacement or a delete: after the
restart each article is wholly present or wholly absent, in the corpus folder and the index.

The server is a real one (uvicorn + the JSON API) in a child process, forked for each run from
one process that imported everything once (a fresh interpreter per run cost ~2 s of imports, 100
times). The child counts the file system calls a write makes (mkdir, fsync, rename/replace,
unlink, rmdir, rmtree) and kills itself just before the n-th one. A first run of each operation
with no kill records how many there are; then the operation is repeated, killed once at every one
of those points. The parent restarts (a fresh `QA` over the folders, as `qa serve` does) and
checks the article against the two states it may be in, byte for byte, that `qa verify` finds
corpus and index in agreement, and that no journal or temporary file is left.
"""

from __future__ import annotations

import hashlib
import json
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import REPO, SMALL_ARTICLES, HashEmbedder, free_port, small_qa

from qa import QA, Settings

NEW = "Huế đón 3 triệu lượt khách năm 2025, theo Sở Du lịch Thừa Thiên Huế.\n"
CHANGED = "Cần Thơ xuất khẩu 2 triệu tấn gạo trong năm. Chợ nổi Cái Răng họp từ 4 giờ sáng.\n"
# (operation, article file, bytes before (None: absent), bytes after (None: absent))
OPERATIONS = {
    "add": ("hue.txt", None, NEW.encode()),
    "replace": ("can_tho.txt", SMALL_ARTICLES["can_tho.txt"].encode(), CHANGED.encode()),
    "delete": ("da_nang.md", SMALL_ARTICLES["da_nang.md"].encode(), None),
}

CHILD = textwrap.dedent(
    """
    import json, os, shutil, signal, sys, traceback
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import uvicorn
    from conftest import HashEmbedder
    from qa import QA, Settings
    from qa.serve.http import create_api

    def serve(corpus, index, kill_at, trace, port):
        trace = Path(trace)
        calls, armed = [], [False]

        def counted(name, real):
            def call(*args, **kwargs):
                if armed[0]:
                    calls.append(name)
                    if len(calls) == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)
            return call

        for name in ("mkdir", "fsync", "rename", "replace", "unlink", "rmdir"):
            setattr(os, name, counted(name, getattr(os, name)))
        shutil.rmtree = counted("rmtree", shutil.rmtree)

        def armed_call(method):
            def call(self, *args, **kwargs):
                armed[0] = True
                try:
                    return method(self, *args, **kwargs)
                finally:
                    armed[0] = False
                    trace.write_text("\\n".join(calls))
            return call

        QA.add_documents = armed_call(QA.add_documents)
        QA.remove_document = armed_call(QA.remove_document)
        settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index), chunk_chars=160)
        qa = QA(settings, embedder=HashEmbedder())
        qa.documents()
        uvicorn.run(create_api(qa, settings, api_key=""), host="127.0.0.1", port=port,
                    log_level="warning")

    # A fork server: the imports above are paid once, not once per kill point. Each job (a line
    # of JSON on stdin) is served by a forked child, a fresh process from here on, and its pid
    # goes back on stdout. The next line on stdin says the parent is done: the child, unless it
    # killed itself, is stopped, and its exit code (-9: killed) goes back. Only then is it
    # reaped, so its pid cannot be another process's while the parent watches it.
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the protocol's
            try:
                serve(**json.loads(line))
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        print(json.dumps({"pid": pid}), flush=True)
        sys.stdin.readline()
        os.kill(pid, signal.SIGTERM)  # a dead child (a zombie until reaped) ignores it
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
    """
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("write-crash")
    small_qa(root)
    return root


@dataclass
class ForkServer:
    """The CHILD process: it forks one server per `run_server` (errors in `log`)."""

    process: subprocess.Popen
    log: Path

    def reply(self, timeout: float = 60.0) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        assert line, f"no reply from the fork server: {self.log.read_text()[-2000:]}"
        return json.loads(line)


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    log = tmp_path_factory.mktemp("fork-server") / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(REPO / "tests")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    yield ForkServer(process, log)
    process.stdin.close()
    process.wait(timeout=60)


def alive(pid: int) -> bool:
    """Whether the fork server's child still runs (ended, it is a zombie until reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_server(
    forks: ForkServer, root: Path, kill_at: int, operation: str
) -> tuple[int | None, list[str]]:
    """Start a child server, run `operation` over HTTP; (exit code, calls made)."""
    port, trace = free_port(), root / "trace.txt"
    job = {
        "corpus": str(root / "corpus"),
        "index": str(root / "index"),
        "kill_at": kill_at,
        "trace": str(trace),
        "port": port,
    }
    forks.process.stdin.write(json.dumps(job) + "\n")
    forks.process.stdin.flush()
    pid = forks.reply()["pid"]
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert alive(pid) and time.monotonic() < deadline, forks.log.read_text()[-2000:]
        time.sleep(0.05)
    name, _, after = OPERATIONS[operation]
    try:
        if operation == "delete":
            response = httpx.delete(f"{url}/v1/documents/{Path(name).stem}", timeout=60)
        else:
            body = {"name": name, "text": after.decode()}
            response = httpx.post(f"{url}/v1/documents", json=body, timeout=60)
        assert response.status_code in (200, 201), response.text
    except httpx.HTTPError:
        pass  # killed mid-request
    forks.process.stdin.write("done\n")  # the fork server stops the child if it still runs
    forks.process.stdin.flush()
    code = forks.reply()["code"]
    calls = trace.read_text().split("\n") if trace.exists() else []
    return code, calls


def kill_points(
    forks: ForkServer, baseline: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, int]:
    points = {}
    for operation in OPERATIONS:
        root = tmp_path_factory.mktemp(f"trace-{operation}")
        shutil.copytree(baseline, root, dirs_exist_ok=True)
        _, calls = run_server(forks, root, 0, operation)
        points[operation] = len(calls)
    return points


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_whole(root: Path, operation: str) -> str:
    """Restart, then: the article is in its old or its new state, in both places."""
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", chunk_chars=160)
    qa = QA(settings, embedder=HashEmbedder())
    indexed = {d.doc_id: d for d in qa.documents()}  # the first load recovers pending writes
    name, before, after = OPERATIONS[operation]
    path, doc_id = settings.corpus_dir / name, Path(name).stem
    on_disk = path.read_bytes() if path.exists() else None
    assert on_disk in (before, after), on_disk  # never truncated, never a mix
    if on_disk is None:
        assert doc_id not in indexed
    else:
        assert indexed[doc_id].sha256 == sha(on_disk.decode("utf-8").replace("\r\n", "\n"))
    assert qa.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}
    for other, text in SMALL_ARTICLES.items():
        if other != name:
            assert (settings.corpus_dir / other).read_text(encoding="utf-8") == text
    assert not (settings.corpus_dir / ".qa-journal").exists()
    assert not list(settings.index_dir.glob(".tmp-gen-*"))
    assert not (settings.index_dir / "CURRENT.tmp").exists()
    return "new" if on_disk == after else "old"


def test_killed_writes_leave_each_article_whole(forks, baseline, tmp_path_factory):
    points = kill_points(forks, baseline, tmp_path_factory)
    assert sum(points.values()) >= 20, points
    outcomes: dict[str, list[str]] = {}
    for operation, count in points.items():
        for kill_at in range(1, count + 1):
            root = tmp_path_factory.mktemp(f"{operation}-{kill_at}")
            shutil.copytree(baseline, root, dirs_exist_ok=True)
            code, _ = run_server(forks, root, kill_at, operation)
            assert code == -signal.SIGKILL, (operation, kill_at, code)
            outcomes.setdefault(operation, []).append(check_whole(root, operation))
    for operation, seen in outcomes.items():  # the kills landed before and after the commit
        assert {"old", "new"} <= set(seen), (operation, seen)
    print(f"\nkill points: {points}; outcomes: {outcomes}")


def test_verify_repair_finishes_a_write_cut_after_its_commit(baseline, tmp_path, monkeypatch):
    """The index generation was published, the files not yet swapped (a crash right after the
    commit): `qa verify --repair` finishes the write; the CLI needs no model for it."""
    from qa.index import corpus_writes

    shutil.copytree(baseline, tmp_path, dirs_exist_ok=True)
    settings = Settings(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", chunk_chars=160
    )
    qa = QA(settings, embedder=HashEmbedder())

    def crash(self):
        raise KeyboardInterrupt  # stands for the kill: nothing after the commit runs

    monkeypatch.setattr(corpus_writes._Transaction, "apply", crash)
    with pytest.raises(KeyboardInterrupt):
        qa.add_document("hue.txt", NEW.encode())
    assert not (settings.corpus_dir / "hue.txt").exists()  # indexed, not yet in the folder
    monkeypatch.undo()
    where = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    result = subprocess.run(
        [sys.executable, "-m", "qa.serve.cli", "verify", "--repair", *where],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "finished an interrupted write (add hue)" in result.stdout
    assert "index matches the corpus" in result.stdout
    assert (settings.corpus_dir / "hue.txt").read_bytes() == NEW.encode()
