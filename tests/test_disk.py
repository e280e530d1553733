"""Writes on a full disk and on a read-only file system: a typed error, no temp file left, and no
byte of any article lost.

Corpus and index live on a small tmpfs mounted for the test (root only; skipped with the reason
otherwise). The full-disk sweep leaves 0, 1, 2, ... pages free and tries a replacement of an
existing article at each level — the issue's case, where the old rollback truncated the original
— so that ENOSPC strikes at every stage: staging the new bytes, the journal, each file of the new
index generation, the CURRENT pointer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import REPO, SMALL_ARTICLES, HashEmbedder, fill, read_only, small_qa

from qa import QA, Settings
from qa.errors import StorageDenied, StorageFull, StorageReadOnly
from qa.index.corpus_writes import storage_error
from qa.serve.http import create_api

REPLACEMENT = ("Cần Thơ xuất khẩu 2 triệu tấn gạo trong năm 2025. " * 20).encode()


def snapshot(qa: QA) -> dict[str, bytes]:
    """Every file of corpus and index (the lock file aside): what a failed write must keep."""
    files = {}
    for folder in (qa.settings.corpus_dir, qa.settings.index_dir):
        for path in folder.rglob("*"):
            if path.is_file() and path.name != ".lock":
                files[str(path)] = path.read_bytes()
    return files


def assert_no_temporaries(qa: QA) -> None:
    assert not (qa.settings.corpus_dir / ".qa-journal").exists()
    assert not list(qa.settings.index_dir.glob(".tmp-*"))
    assert not (qa.settings.index_dir / "CURRENT.tmp").exists()


def test_full_disk_at_every_stage_loses_nothing(small_fs: Path):
    qa = small_qa(small_fs)
    outcomes = {"refused": 0, "stored": 0}
    for free in range(0, 48):
        before = snapshot(qa)
        filler = fill(small_fs, free)
        try:
            qa.add_document("can_tho.txt", REPLACEMENT + f" Lần {free}.".encode())
        except StorageFull as exc:
            assert "no space" in str(exc) and str(small_fs) not in str(exc)
            assert snapshot(qa) == before, f"{free} pages free: files changed"
            outcomes["refused"] += 1
        else:
            outcomes["stored"] += 1
            assert (qa.settings.corpus_dir / "can_tho.txt").read_bytes().startswith(REPLACEMENT)
        finally:
            filler.unlink()
        assert_no_temporaries(qa)
        assert qa.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}
    assert outcomes["refused"] >= 10 and outcomes["stored"] >= 1, outcomes
    print(f"\nfull disk: {outcomes}")


def test_full_disk_add_and_remove_change_nothing(small_fs: Path):
    qa = small_qa(small_fs)
    filler = fill(small_fs, 0)
    before = snapshot(qa)
    with pytest.raises(StorageFull):
        qa.add_document("hue.txt", "Huế đón 3 triệu khách.".encode())
    with pytest.raises(StorageFull):
        qa.remove_document("da_nang")
    assert snapshot(qa) == before
    assert_no_temporaries(qa)
    assert qa.index().generation  # a no-op `qa index` needs no space
    filler.unlink()
    qa.remove_document("da_nang")  # and with space back, everything works again
    assert "da_nang" not in {d.doc_id for d in qa.documents()}


def test_full_disk_over_http_is_507(small_fs: Path, live_server):
    qa = small_qa(small_fs)
    server = live_server(create_api(qa, qa.settings, api_key=""))
    filler = fill(small_fs, 0)
    before = snapshot(qa)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post("/v1/documents", json={"name": "can_tho.txt", "text": "Mới."})
            assert response.status_code == 507 and set(response.json()) == {"error"}
            assert str(small_fs) not in response.text
            response = client.delete("/v1/documents/da_nang")
            assert response.status_code == 507
    finally:
        filler.unlink()
    assert snapshot(qa) == before


def test_read_only_file_system(small_fs: Path, live_server):
    qa = small_qa(small_fs)
    server = live_server(create_api(qa, qa.settings, api_key=""))
    before = snapshot(qa)
    with read_only(small_fs):
        with pytest.raises(StorageReadOnly, match="read-only"):
            qa.add_document("hue.txt", "Huế đón 3 triệu khách.".encode())
        with pytest.raises(StorageReadOnly):
            qa.remove_document("da_nang")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post("/v1/documents", json={"name": "x.txt", "text": "Mới."})
            assert response.status_code == 503 and "read-only" in response.json()["error"]
            answer = client.post(
                "/v1/answer", json={"question": "Cần Thơ xuất khẩu bao nhiêu gạo?"}
            )
            assert answer.status_code == 200  # reading still works
        fresh = QA(qa.settings, embedder=HashEmbedder())
        assert len(fresh.documents()) == 3
    assert snapshot(qa) == before


def test_cli_says_one_line_and_exits_2(small_fs: Path, tmp_path: Path):
    """`qa add` / `qa index` on a full or read-only disk: one line on stderr, exit 2."""
    corpus = small_fs / "corpus"
    corpus.mkdir()
    (corpus / "can_tho.txt").write_text(SMALL_ARTICLES["can_tho.txt"], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "qa.serve.cli"]
    where = ["--corpus", str(corpus), "--index", str(small_fs / "index")]
    assert subprocess.run([*base, "index", "--quiet", *where], env=env).returncode == 0
    article = tmp_path / "hue.txt"
    article.write_text("Huế đón 3 triệu lượt khách năm 2025.\n", encoding="utf-8")
    digest = hashlib.sha256((corpus / "can_tho.txt").read_bytes()).hexdigest()
    filler = fill(small_fs, 0)
    try:
        result = subprocess.run(
            [*base, "add", str(article), *where], env=env, capture_output=True, text=True
        )
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: no space left") and "Traceback" not in result.stderr
    finally:
        filler.unlink()
    with read_only(small_fs):
        (tmp_path / "x").touch()
        result = subprocess.run(
            [*base, "add", str(article), *where], env=env, capture_output=True, text=True
        )
        assert result.returncode == 2 and "read-only" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert hashlib.sha256((corpus / "can_tho.txt").read_bytes()).hexdigest() == digest
    assert not (corpus / "hue.txt").exists()


def test_permission_errors_are_typed(tmp_path: Path):
    """Root ignores file modes, so EACCES is checked on the mapping itself."""
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    denied = OSError(13, "Permission denied", str(tmp_path / "index" / "CURRENT"))
    error = storage_error(denied, settings)
    assert isinstance(error, StorageDenied) and "index folder" in str(error)
    assert str(tmp_path) not in str(error)
    assert storage_error(OSError(5, "I/O error"), settings) is None  # not a storage condition
