"""qa.index.store: generations + CURRENT pointer, checksums, typed errors, the writer lock.

Everything runs with the deterministic `HashEmbedder` (tests/conftest.py): no model is loaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import HashEmbedder, assert_index_matches_embedder

from qa import QA, IndexCorrupt, IndexLocked, IndexMismatch, IndexMissing, Settings
from qa.index.store import current_generation, load_index, read_manifest, writer_lock

FILES = ("documents.jsonl", "chunks.jsonl", "chunks.faiss", "sentences.jsonl", "sentences.npy")
QUESTION = "Cảng Lạch Huyện đón bao nhiêu tàu container?"


def built(settings: Settings, embedder: HashEmbedder | None = None) -> QA:
    qa = QA(settings, embedder=embedder or HashEmbedder())
    qa.index()
    return qa


def live_folder(settings: Settings) -> Path:
    name = current_generation(settings.index_dir)
    assert name is not None
    return settings.index_dir / name


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*") if p.is_dir())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_answers_cite_exact_text(qa: QA) -> None:
    answer = qa.answer(QUESTION)
    documents = {d.doc_id: d for d in qa.documents()}
    assert answer.citations or answer.related
    for c in [*answer.citations, *answer.related]:
        assert documents[c.doc_id].text[c.start : c.end] == c.quote


# -- layout -------------------------------------------------------------------------------------
def test_a_generation_holds_every_file_with_its_checksum(small_settings: Settings) -> None:
    qa = built(small_settings)
    folder = live_folder(small_settings)
    assert folder.name.startswith("gen-")
    assert (small_settings.index_dir / "CURRENT").read_text(encoding="utf-8") == folder.name + "\n"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == 1
    assert set(manifest["files"]) == set(FILES)
    for name in FILES:
        assert manifest["files"][name] == sha256(folder / name)
    assert manifest["embedder"] == {"name": "hash", "fingerprint": "hash-64-plain", "dim": 64}
    assert manifest["chunking"]["max_chars"] == 160
    assert set(manifest["documents"]) == {"hai_phong", "da_nang", "can_tho"}
    data = load_index(small_settings.index_dir)
    assert manifest["counts"] == {
        "documents": 3,
        "chunks": len(data.chunks),
        "sentences": len(data.sentences),
    }
    assert data.chunk_vectors.dtype == np.float32 == data.sentence_vectors.dtype
    assert data.chunk_vectors.shape == (len(data.chunks), 64)
    assert data.generation == folder.name
    assert_answers_cite_exact_text(qa)


def test_records_and_vectors_line_up(small_settings: Settings) -> None:
    embedder = HashEmbedder()
    built(small_settings, embedder)
    assert_index_matches_embedder(small_settings, embedder)


def test_each_change_publishes_a_new_generation_and_keeps_two(small_settings: Settings) -> None:
    qa = built(small_settings)
    seen = [current_generation(small_settings.index_dir)]
    for i in range(3):
        (small_settings.corpus_dir / f"extra_{i}.txt").write_text(
            f"Bài bổ sung số {i} về cảng biển.", encoding="utf-8"
        )
        report = qa.index()
        seen.append(current_generation(small_settings.index_dir))
        assert report.generation == seen[-1]
        assert (small_settings.index_dir / seen[-1]).is_dir()
    assert len(set(seen)) == 4  # a new name every time
    left = generations(small_settings.index_dir)
    assert left == sorted(seen[-2:])  # the live one and the one before it
    assert not list(small_settings.index_dir.glob(".tmp-gen-*"))
    assert not (small_settings.index_dir / "CURRENT.tmp").exists()


def test_unchanged_corpus_keeps_the_generation(small_settings: Settings) -> None:
    qa = built(small_settings)
    before = current_generation(small_settings.index_dir)
    report = qa.index()
    assert report.generation == before == current_generation(small_settings.index_dir)
    assert generations(small_settings.index_dir) == [before]


def test_a_reader_picks_up_a_new_generation(small_settings: Settings) -> None:
    reader = built(small_settings)
    assert {d.doc_id for d in reader.documents()} == {"hai_phong", "da_nang", "can_tho"}
    writer = QA(small_settings, embedder=HashEmbedder())
    writer.add_document("hue.txt", "Huế có 5 di sản thế giới. Sông Hương chảy qua.".encode())
    assert "hue" in {d.doc_id for d in reader.documents()}  # re-loaded, no restart
    answer = reader.answer("Huế có bao nhiêu di sản thế giới?")
    assert answer.citations and answer.citations[0].doc_id == "hue"


def test_old_generation_stays_readable_after_a_swap(small_settings: Settings) -> None:
    built(small_settings)
    old = current_generation(small_settings.index_dir)
    (small_settings.corpus_dir / "can_tho.txt").unlink()
    QA(small_settings, embedder=HashEmbedder()).index()
    assert current_generation(small_settings.index_dir) != old
    folder = small_settings.index_dir / old
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in FILES:  # the previous generation is intact for readers that still hold it
        assert manifest["files"][name] == sha256(folder / name)


# -- missing, corrupt, mismatched ----------------------------------------------------------------
def test_no_index_is_index_missing(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index")
    with pytest.raises(IndexMissing, match="qa index"):
        load_index(settings.index_dir)
    qa = QA(settings, embedder=HashEmbedder())
    with pytest.raises(IndexMissing):
        qa.answer("Hải Phòng có bao nhiêu dự án?")
    with pytest.raises(IndexMissing):
        qa.search("Hải Phòng")
    with pytest.raises(IndexMissing):
        qa.documents()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [truncate, flip_a_byte, delete], ids=lambda f: f.__name__)
@pytest.mark.parametrize("filename", FILES)
def test_damaged_file_is_index_corrupt_and_rebuild_recovers(
    small_settings: Settings, filename: str, damage
) -> None:
    built(small_settings)
    damage(live_folder(small_settings) / filename)

    with pytest.raises(IndexCorrupt) as raised:
        load_index(small_settings.index_dir)
    message = str(raised.value)
    assert filename in message and "qa index --rebuild" in message
    assert "\n" not in message

    qa = QA(small_settings, embedder=HashEmbedder())
    with pytest.raises(IndexCorrupt):
        qa.answer(QUESTION)
    assert qa.verify()["damaged"] == [filename]
    with pytest.raises(IndexCorrupt):  # an incremental run does not build on damaged data
        qa.index()

    report = qa.index(rebuild=True)
    assert sorted(report.added) == ["can_tho", "da_nang", "hai_phong"]
    load_index(small_settings.index_dir)
    assert qa.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}
    assert_answers_cite_exact_text(qa)


@pytest.mark.parametrize(
    ("damage", "error", "pattern"),
    [
        (lambda p: p.unlink(), IndexCorrupt, "manifest.json is missing"),
        (lambda p: p.write_text("{not json", encoding="utf-8"), IndexCorrupt, "not valid JSON"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00"), IndexCorrupt, "not valid JSON"),
        (lambda p: truncate(p), IndexCorrupt, "not valid JSON"),
        (
            lambda p: p.write_text(
                json.dumps({**json.loads(p.read_text(encoding="utf-8")), "format_version": 99}),
                encoding="utf-8",
            ),
            IndexMismatch,
            "format 99 is not 1",
        ),
    ],
    ids=["deleted", "garbage", "binary", "truncated", "future-format"],
)
def test_damaged_manifest_is_a_typed_error_and_rebuild_recovers(
    small_settings: Settings, damage, error: type[Exception], pattern: str
) -> None:
    built(small_settings)
    damage(live_folder(small_settings) / "manifest.json")
    with pytest.raises(error, match=pattern):
        load_index(small_settings.index_dir)
    qa = QA(small_settings, embedder=HashEmbedder())
    with pytest.raises(error):
        qa.answer(QUESTION)
    qa.index(rebuild=True)
    assert_answers_cite_exact_text(qa)


def test_current_pointing_nowhere_is_index_corrupt(small_settings: Settings) -> None:
    built(small_settings)
    (small_settings.index_dir / "CURRENT").write_text("gen-does-not-exist\n", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match=r"manifest\.json is missing"):
        load_index(small_settings.index_dir)
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index(rebuild=True)
    assert_answers_cite_exact_text(qa)


def rewrite_with_checksum(folder: Path, filename: str, content: bytes) -> None:
    """Damage a file *and* update its checksum: only parsing can catch it now."""
    (folder / filename).write_bytes(content)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][filename] = hashlib.sha256(content).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_unparsable_records_with_valid_checksums_are_index_corrupt(
    small_settings: Settings,
) -> None:
    built(small_settings)
    rewrite_with_checksum(live_folder(small_settings), "chunks.jsonl", b'{"chunk_id": 1}\n')
    with pytest.raises(IndexCorrupt, match="cannot parse index"):
        load_index(small_settings.index_dir)


def test_records_and_vectors_that_disagree_are_index_corrupt(small_settings: Settings) -> None:
    built(small_settings)
    folder = live_folder(small_settings)
    lines = (folder / "sentences.jsonl").read_bytes().splitlines(keepends=True)
    rewrite_with_checksum(folder, "sentences.jsonl", b"".join(lines[:-1]))
    with pytest.raises(IndexCorrupt, match="records and vectors disagree"):
        load_index(small_settings.index_dir)


@pytest.mark.parametrize(
    "other",
    [HashEmbedder(dim=32), HashEmbedder(salt="other"), HashEmbedder(name="other-model")],
    ids=["other-dim", "other-space", "other-name"],
)
def test_index_of_another_embedder_is_index_mismatch(
    small_settings: Settings, other: HashEmbedder
) -> None:
    built(small_settings, HashEmbedder())
    qa = QA(small_settings, embedder=other)
    with pytest.raises(IndexMismatch) as raised:
        qa.answer(QUESTION)
    message = str(raised.value)
    assert "hash-64-plain" in message and other.fingerprint in message
    assert "--rebuild" in message
    with pytest.raises(IndexMismatch):
        qa.index()  # vectors of two spaces are never mixed
    assert other.calls == []  # refused before embedding anything
    report = qa.index(rebuild=True)
    assert sorted(report.added) == ["can_tho", "da_nang", "hai_phong"]
    assert load_index(small_settings.index_dir).manifest["embedder"]["fingerprint"] == (
        other.fingerprint
    )
    assert_answers_cite_exact_text(qa)
    with pytest.raises(IndexMismatch):  # and now the first embedder is the stranger
        QA(small_settings, embedder=HashEmbedder()).answer(QUESTION)


def test_read_manifest_returns_the_live_generation(small_settings: Settings) -> None:
    built(small_settings)
    name, manifest = read_manifest(small_settings.index_dir)
    assert name == current_generation(small_settings.index_dir)
    assert manifest["counts"]["documents"] == 3


# -- the writer lock --------------------------------------------------------------------------
def test_second_writer_in_the_same_process_gets_index_locked(small_settings: Settings) -> None:
    qa = built(small_settings)
    generation = current_generation(small_settings.index_dir)
    with writer_lock(small_settings.index_dir):
        with pytest.raises(IndexLocked, match="another process is writing"):
            QA(small_settings, embedder=HashEmbedder()).index(rebuild=True)
        assert_answers_cite_exact_text(qa)  # readers are not blocked by a writer
    assert current_generation(small_settings.index_dir) == generation
    QA(small_settings, embedder=HashEmbedder()).index(rebuild=True)  # free again


HOLDER = textwrap.dedent(
    """
    import fcntl, select, sys
    handle = open(sys.argv[1], "a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("locked", flush=True)
    select.select([sys.stdin], [], [], 30)  # hold until told, at most 30 s (never hang a test)
    """
)


def test_second_writer_process_gets_index_locked(small_settings: Settings) -> None:
    qa = built(small_settings)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(small_settings.index_dir / ".lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (small_settings.corpus_dir / "hue.txt").write_text("Huế có 5 di sản.", encoding="utf-8")
        started = time.monotonic()
        with pytest.raises(IndexLocked):
            qa.index()
        assert time.monotonic() - started < 5  # fails fast, does not wait
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    assert "hue" in qa.index().added


def test_lock_is_released_after_a_failed_run(small_settings: Settings) -> None:
    built(small_settings)
    with pytest.raises(IndexMismatch):  # raised while the lock is held
        QA(small_settings, embedder=HashEmbedder(dim=32)).index()
    with open(small_settings.index_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if still held
        fcntl.flock(handle, fcntl.LOCK_UN)
