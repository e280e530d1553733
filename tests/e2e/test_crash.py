"""A process killed (SIGKILL) at any point of `qa index` leaves a loadable, consistent index.

Each case runs indexing in a child process that kills itself at one point: after N embedded
batches, while the new generation is being written, just before CURRENT is swapped, just
after. The parent then loads the index, checks it is the old or the new one (never a mix), that
answers cite real text of present documents, and that the next `qa index` finishes the job.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa import QA, Settings
from qa.index.store import load_index

ROOT = Path(__file__).resolve().parents[2]
NEW_ARTICLE = (
    "Cảng Lạch Huyện đón 12 tàu container trong tháng 1. Đây là kỷ lục mới của cảng.\n\n"
    "Theo Ban quản lý cảng, sản lượng hàng hóa tăng 25% so với cùng kỳ.\n"
)

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import qa.index.store as store
    from qa import QA, Settings

    point, n = sys.argv[3], int(sys.argv[4])
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    calls = {"batches": 0, "fsync": 0}

    def progress(done, total):
        calls["batches"] += 1
        if point == "batches" and calls["batches"] >= n:
            die()

    real_replace, real_rename, real_fsync = os.replace, os.rename, store.fsync_path

    def replace(src, dst):
        if point == "before_current" and str(dst).endswith("CURRENT"):
            die()
        real_replace(src, dst)
        if point == "after_current" and str(dst).endswith("CURRENT"):
            die()

    def fsync(path):
        calls["fsync"] += 1
        if point == "writing" and calls["fsync"] >= n:
            die()
        real_fsync(path)

    store.os.replace = replace
    store.fsync_path = fsync
    settings = Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]), embed_batch=8)
    QA(settings).index(rebuild=True, progress=progress)  # re-embed all: many batches
    print("finished")
    """
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the two real articles, built once and copied per case."""
    root = tmp_path_factory.mktemp("crash-base")
    corpus = root / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    QA(Settings(corpus_dir=corpus, index_dir=root / "index")).index()
    return root


@pytest.mark.parametrize(
    ("point", "n"),
    [
        ("batches", 1),
        ("batches", 2),
        ("writing", 1),
        ("writing", 4),
        ("before_current", 0),
        ("after_current", 0),
    ],
)
def test_killed_indexing_leaves_old_or_new_index(
    baseline: Path, tmp_path: Path, point: str, n: int
) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(baseline / "corpus", corpus)
    shutil.copytree(baseline / "index", index)
    old = load_index(index)
    (corpus / "lach_huyen.txt").write_text(NEW_ARTICLE, encoding="utf-8")

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), str(index), point, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert "finished" not in child.stdout

    data = load_index(index)  # verifies checksums and record/vector counts
    expected_new = point == "after_current"
    assert set(data.documents) == set(old.documents) | ({"lach_huyen"} if expected_new else set())
    assert data.generation != old.generation if expected_new else data.generation == old.generation

    settings = Settings(corpus_dir=corpus, index_dir=index)
    answer = QA(settings).answer("Hải Phòng thu hút bao nhiêu vốn đầu tư nước ngoài?")
    for citation in [*answer.citations, *answer.related]:
        assert data.documents[citation.doc_id].text[citation.start : citation.end] == citation.quote
    assert any("3,073 tỷ USD" in c.quote for c in answer.citations)

    report = QA(settings).index()  # the interrupted work is finished by the next run
    assert ("lach_huyen" in report.unchanged) if expected_new else ("lach_huyen" in report.added)
    assert not list(index.glob(".tmp-gen-*")), "abandoned temp folders are collected"
    answer = QA(settings).answer("Cảng Lạch Huyện đón bao nhiêu tàu container trong tháng 1?")
    assert answer.found and "12 tàu container" in answer.citations[0].quote


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_one(baseline: Path, tmp_path: Path):
    """A no-op `qa index` holds the writer lock, so it removes what a killed writer left."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(baseline / "corpus", corpus)
    shutil.copytree(baseline / "index", index)
    qa = QA(Settings(corpus_dir=corpus, index_dir=index))
    qa.index()  # paths are part of the index: settle them for this copy first
    (index / ".tmp-gen-20260101T000000-000000000-1").mkdir()
    (index / ".tmp-gen-20260101T000000-000000000-1" / "chunks.jsonl").write_text("{}\n")
    (index / "CURRENT.tmp").write_text("gen-x\n")
    live = (index / "CURRENT").read_text()
    report = qa.index()
    assert not report.added and not report.updated and not report.removed  # a no-op run
    assert not list(index.glob(".tmp-*")) and not (index / "CURRENT.tmp").exists()
    assert (index / "CURRENT").read_text() == live
