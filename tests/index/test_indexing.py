"""qa.index.build and the QA corpus operations: incremental indexing with the `HashEmbedder`.

Counting the embedder's calls shows what was (re-)embedded: unchanged documents never are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_ARTICLES, HashEmbedder, assert_index_matches_embedder

from qa import QA, DocumentError, Settings, UnknownDocument
from qa.index.store import current_generation, load_index
from qa.ingest.chunking import chunk_document
from qa.ingest.documents import read_corpus

ALL = ["can_tho", "da_nang", "hai_phong"]


def texts_of(settings: Settings, doc_id: str) -> list[str]:
    """What indexing must embed for one document: its chunks, then its sentences."""
    doc = next(d for d in read_corpus(settings.corpus_dir) if d.doc_id == doc_id)
    chunks, sentences = chunk_document(
        doc.text, doc_id, settings.chunk_chars, settings.chunk_overlap
    )
    return [c.text for c in chunks] + [s.text for s in sentences]


def vectors_by_record(settings: Settings) -> dict[tuple, np.ndarray]:
    data = load_index(settings.index_dir)
    out: dict[tuple, np.ndarray] = {}
    for chunk, vector in zip(data.chunks, data.chunk_vectors, strict=True):
        out[("chunk", chunk.chunk_id, chunk.text)] = vector
    for sentence, vector in zip(data.sentences, data.sentence_vectors, strict=True):
        out[("sentence", sentence.doc_id, sentence.start, sentence.text)] = vector
    return out


def test_first_run_embeds_every_chunk_and_sentence(small_settings: Settings) -> None:
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index()
    assert sorted(report.added) == ALL
    assert report.updated == report.unchanged == report.removed == []
    expected = [t for d in report.added for t in texts_of(small_settings, d)]
    assert sorted(embedder.texts_embedded) == sorted(expected)
    assert report.embedded_texts == len(expected)
    assert {kind for _, kind in embedder.calls} == {"passage"}
    assert report.chunks == len(load_index(small_settings.index_dir).chunks)
    assert report.generation == current_generation(small_settings.index_dir)
    assert_index_matches_embedder(small_settings)


def test_unchanged_documents_are_not_re_embedded(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    before = vectors_by_record(small_settings)
    embedder = HashEmbedder()  # a new process would start with a new embedder
    report = QA(small_settings, embedder=embedder).index()
    assert sorted(report.unchanged) == ALL
    assert report.added == report.updated == report.removed == []
    assert report.embedded_texts == 0
    assert embedder.texts_embedded == []
    after = vectors_by_record(small_settings)
    assert before.keys() == after.keys()


def test_edited_document_alone_is_re_embedded(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    before = vectors_by_record(small_settings)
    path = small_settings.corpus_dir / "da_nang.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("8 triệu", "9 triệu"), encoding="utf-8"
    )
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index()
    assert report.updated == ["da_nang"]
    assert sorted(report.unchanged) == ["can_tho", "hai_phong"]
    assert report.added == report.removed == []
    assert sorted(embedder.texts_embedded) == sorted(texts_of(small_settings, "da_nang"))
    assert report.embedded_texts == len(embedder.texts_embedded)
    after = vectors_by_record(small_settings)
    for key, vector in after.items():
        if "da_nang" not in key[1]:
            np.testing.assert_array_equal(vector, before[key])  # reused, not recomputed
    data = load_index(small_settings.index_dir)
    assert "9 triệu lượt khách" in data.documents["da_nang"].text
    assert not any("8 triệu" in c.text for c in data.chunks)
    assert_index_matches_embedder(small_settings)


def test_new_document_alone_is_embedded(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    (small_settings.corpus_dir / "hue.txt").write_text(
        "Huế có 5 di sản thế giới. Sông Hương chảy qua thành phố.", encoding="utf-8"
    )
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index()
    assert report.added == ["hue"]
    assert sorted(report.unchanged) == ALL
    assert sorted(embedder.texts_embedded) == sorted(texts_of(small_settings, "hue"))
    assert_index_matches_embedder(small_settings)


def test_removed_document_disappears(small_settings: Settings) -> None:
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index()
    (small_settings.corpus_dir / "can_tho.txt").unlink()
    embedder = HashEmbedder()
    qa = QA(small_settings, embedder=embedder)
    report = qa.index()
    assert report.removed == ["can_tho"]
    assert sorted(report.unchanged) == ["da_nang", "hai_phong"]
    assert embedder.texts_embedded == []
    data = load_index(small_settings.index_dir)
    assert "can_tho" not in data.documents
    assert "can_tho" not in data.manifest["documents"]
    assert all(c.doc_id != "can_tho" for c in data.chunks)
    assert all(s.doc_id != "can_tho" for s in data.sentences)
    answer = qa.answer("Cần Thơ xuất khẩu bao nhiêu tấn gạo?")
    assert all(c.doc_id != "can_tho" for c in [*answer.citations, *answer.related])
    assert all(h.doc_id != "can_tho" for h in qa.search("Cần Thơ gạo chợ nổi", k=10))
    with pytest.raises(UnknownDocument):
        qa.document("can_tho")
    assert_index_matches_embedder(small_settings)


def test_add_edit_remove_in_one_run(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    corpus = small_settings.corpus_dir
    (corpus / "hue.txt").write_text("Huế có 5 di sản thế giới.", encoding="utf-8")
    (corpus / "can_tho.txt").write_text("Cần Thơ có chợ nổi Cái Răng.", encoding="utf-8")
    (corpus / "da_nang.md").unlink()
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index()
    assert (report.added, report.updated, report.removed, report.unchanged) == (
        ["hue"],
        ["can_tho"],
        ["da_nang"],
        ["hai_phong"],
    )
    assert sorted(embedder.texts_embedded) == sorted(
        texts_of(small_settings, "can_tho") + texts_of(small_settings, "hue")
    )
    assert_index_matches_embedder(small_settings)


def test_rebuild_re_embeds_everything(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    old = current_generation(small_settings.index_dir)
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index(rebuild=True)
    assert sorted(report.added) == ALL
    assert report.embedded_texts == len(embedder.texts_embedded) > 0
    assert report.generation != old
    assert_index_matches_embedder(small_settings)


def test_other_chunking_settings_re_embed_everything(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    wider = small_settings.with_overrides(chunk_chars=400)
    embedder = HashEmbedder()
    report = QA(wider, embedder=embedder).index()
    assert sorted(report.updated) == ALL
    assert sorted(embedder.texts_embedded) == sorted([t for d in ALL for t in texts_of(wider, d)])
    assert load_index(wider.index_dir).manifest["chunking"]["max_chars"] == 400
    assert_index_matches_embedder(wider)


def test_front_matter_edit_is_published_without_re_embedding(small_settings: Settings) -> None:
    """A new title or date changes no text (so no vectors), but citations and `qa list` must
    show the new metadata: the index has to be re-published."""
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index()
    path = small_settings.corpus_dir / "hai_phong.txt"
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace("title: Hải Phòng thu hút đầu tư", "title: Tiêu đề mới")
        .replace("date: 2023-11-17", "date: 2023-11-18"),
        encoding="utf-8",
    )
    embedder = HashEmbedder()
    report = QA(small_settings, embedder=embedder).index()
    assert embedder.texts_embedded == []
    assert report.embedded_texts == 0
    document = qa.document("hai_phong")
    assert (document.title, document.date) == ("Tiêu đề mới", "2023-11-18")
    answer = qa.answer("Cảng Lạch Huyện đón bao nhiêu tàu container?")
    cited = [c for c in [*answer.citations, *answer.related] if c.doc_id == "hai_phong"]
    assert cited and all((c.title, c.date) == ("Tiêu đề mới", "2023-11-18") for c in cited)


def test_bad_file_stops_the_run_before_anything_is_written(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    generation = current_generation(small_settings.index_dir)
    folders = sorted(p.name for p in small_settings.index_dir.iterdir())
    (small_settings.corpus_dir / "hue.txt").write_text("Huế có 5 di sản.", encoding="utf-8")
    (small_settings.corpus_dir / "broken.txt").write_bytes(b"\xff\xfe\xfa broken")
    embedder = HashEmbedder()
    with pytest.raises(DocumentError, match=r"broken\.txt"):
        QA(small_settings, embedder=embedder).index()
    assert embedder.calls == []
    assert current_generation(small_settings.index_dir) == generation
    assert sorted(p.name for p in small_settings.index_dir.iterdir()) == folders


def test_empty_corpus_gives_an_empty_index_that_answers_not_found(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    qa = QA(settings, embedder=HashEmbedder())
    report = qa.index()
    assert report.chunks == 0 and report.embedded_texts == 0
    assert qa.documents() == []
    assert qa.search("Hải Phòng") == []
    answer = qa.answer("Hải Phòng có bao nhiêu dự án?")
    assert not answer.found and answer.citations == [] and answer.related == []


def test_near_duplicate_articles_are_reported(small_settings: Settings) -> None:
    copy = "Bản đăng lại từ báo khác.\n\n" + SMALL_ARTICLES["can_tho.txt"]
    (small_settings.corpus_dir / "can_tho_copy.txt").write_text(copy, encoding="utf-8")
    report = QA(small_settings, embedder=HashEmbedder()).index()
    assert [(a, b) for a, b, _ in report.near_duplicates] == [("can_tho", "can_tho_copy")]
    assert report.near_duplicates[0][2] >= 0.8
    manifest = load_index(small_settings.index_dir).manifest
    assert manifest["near_duplicates"] == [list(p) for p in report.near_duplicates]


def test_progress_reports_every_batch(small_settings: Settings) -> None:
    settings = small_settings.with_overrides(embed_batch=4)
    calls: list[tuple[int, int]] = []
    report = QA(settings, embedder=HashEmbedder()).index(
        progress=lambda done, total: calls.append((done, total))
    )
    total = report.embedded_texts
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) == -(-total // 4)


# -- corpus operations through QA --------------------------------------------------------------
def test_add_document_writes_the_file_and_indexes_only_it(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    embedder = HashEmbedder()
    qa = QA(small_settings, embedder=embedder)
    document, report = qa.add_document("../../Huế 2024.txt", "Huế có 5 di sản.".encode())
    assert document.doc_id == "Hu_2024"
    assert (small_settings.corpus_dir / "Hu_2024.txt").read_text(encoding="utf-8") == (
        "Huế có 5 di sản."
    )
    assert not (small_settings.corpus_dir.parent.parent / "Huế 2024.txt").exists()
    assert report.added == ["Hu_2024"]
    assert sorted(embedder.texts_embedded) == sorted(texts_of(small_settings, "Hu_2024"))
    again = QA(small_settings, embedder=HashEmbedder())
    _, report = again.add_document("Hu_2024.txt", "Huế có 5 di sản.".encode())
    assert report.embedded_texts == 0  # same content: nothing to do


def test_bad_batch_leaves_corpus_and_index_unchanged(small_settings: Settings) -> None:
    QA(small_settings, embedder=HashEmbedder()).index()
    before_files = sorted(p.name for p in small_settings.corpus_dir.iterdir())
    generation = current_generation(small_settings.index_dir)
    qa = QA(small_settings, embedder=HashEmbedder())
    with pytest.raises(DocumentError, match=r"bad\.txt"):
        qa.add_documents([("good.txt", "Bài tốt.".encode()), ("bad.txt", b"\xff\xfe\xfa")])
    with pytest.raises(DocumentError, match="same document id"):
        qa.add_documents([("x.txt", "Một.".encode()), ("x.md", b"Hai.")])
    assert sorted(p.name for p in small_settings.corpus_dir.iterdir()) == before_files
    assert current_generation(small_settings.index_dir) == generation


def test_remove_document_deletes_file_and_index_entry(small_settings: Settings) -> None:
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index()
    report = qa.remove_document("da_nang")
    assert report.removed == ["da_nang"]
    assert not (small_settings.corpus_dir / "da_nang.md").exists()
    assert {d.doc_id for d in qa.documents()} == {"can_tho", "hai_phong"}
    with pytest.raises(UnknownDocument, match="unknown document id 'da_nang'"):
        qa.remove_document("da_nang")
    with pytest.raises(DocumentError, match="invalid document id"):
        qa.remove_document("../corpus")


def test_verify_reports_drift(small_settings: Settings) -> None:
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index()
    assert qa.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}
    corpus = small_settings.corpus_dir
    (corpus / "hue.txt").write_text("Huế có 5 di sản.", encoding="utf-8")
    (corpus / "can_tho.txt").write_text("Cần Thơ đổi nội dung.", encoding="utf-8")
    (corpus / "da_nang.md").unlink()
    assert qa.verify() == {
        "new": ["hue"],
        "changed": ["can_tho"],
        "missing": ["da_nang"],
        "damaged": [],
    }
    qa.index()
    assert qa.verify() == {"new": [], "changed": [], "missing": [], "damaged": []}


def test_chunk_count_and_documents(small_settings: Settings) -> None:
    qa = QA(small_settings, embedder=HashEmbedder())
    qa.index()
    data = load_index(small_settings.index_dir)
    for doc_id in ALL:
        assert qa.chunk_count(doc_id) == sum(c.doc_id == doc_id for c in data.chunks) > 0
    assert qa.document("hai_phong").title == "Hải Phòng thu hút đầu tư"
    assert qa.document("hai_phong").date == "2023-11-17"
