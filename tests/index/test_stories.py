"""qa.index.stories: which articles are copies of one story, and how stories are kept."""

from __future__ import annotations

import numpy as np

from qa.index.build import index_corpus
from qa.index.store import load_index
from qa.index.stories import Stories, find_stories
from qa.ingest.documents import parse_document
from qa.settings import Settings
from qa.types import Chunk

STORY = (
    "Theo số liệu của Tổng cục Hải quan, tính đến hết ngày 31/10/2023, cả nước xuất khẩu 7,05 "
    "triệu tấn gạo, thu về 4,13 tỷ USD, tăng 38,5% về giá trị so với cùng kỳ năm 2022. Giá gạo "
    "xuất khẩu bình quân 10 tháng đạt 586 USD/tấn, tăng 15,6% so với cùng kỳ. Philippines tiếp "
    "tục là thị trường tiêu thụ gạo lớn nhất của Việt Nam, chiếm 37,8% tổng lượng gạo xuất khẩu."
)
OTHER = (
    "Sở Du lịch Đà Nẵng cho biết, 10 tháng năm 2023 thành phố đón 1,9 triệu lượt khách quốc tế, "
    "gấp 3,2 lần cùng kỳ năm 2022. Các khách sạn ven biển đạt công suất phòng 85%."
)


def doc(doc_id: str, text: str, date: str = "2023-11-09"):
    return parse_document(doc_id, f"---\ndate: {date}\nsource: {doc_id}\n---\n{text}")


def vectors(docs, directions: dict[str, np.ndarray] | None = None):
    """One chunk per document; its vector is given, or a fixed random direction per id."""
    rng = np.random.default_rng(0)
    chunks, rows = [], []
    for d in docs:
        chunks.append(Chunk(f"{d.doc_id}#0", d.doc_id, 0, len(d.text), d.text, ((0, len(d.text)),)))
        v = (directions or {}).get(d.doc_id, rng.normal(size=16))
        rows.append(v / np.linalg.norm(v))
    return chunks, np.array(rows, np.float32)


def test_copies_with_other_header_footer_and_a_changed_figure_are_one_story() -> None:
    docs = [
        doc("a", STORY),
        doc("b", "TIN NHANH — " + STORY + " Theo TTXVN.", "2023-11-10"),
        doc("c", STORY.replace("4,13 tỷ", "4,31 tỷ").lower(), "2023-11-10"),  # no capitals
        doc("d", OTHER),
    ]
    stories = find_stories(docs, *vectors(docs))
    assert stories.groups == (("a", "b", "c"),)
    assert stories.copies("a") == ("b", "c") and stories.copies("d") == ()
    assert stories.story("c") == stories.story("a") == "a" and stories.story("d") == "d"
    assert all(j >= 0.5 for _, _, j, _ in stories.pairs)


def test_a_template_a_month_later_is_a_new_story() -> None:
    docs = [doc("oct", STORY), doc("nov", STORY.replace("10 tháng", "11 tháng"), "2023-12-09")]
    assert find_stories(docs, *vectors(docs)).groups == ()
    undated = [doc("x", STORY, ""), doc("y", STORY.replace("4,13", "4,2"), "")]
    assert find_stories(undated, *vectors(undated)).groups == (("x", "y"),)


def test_a_rewrite_needs_close_vectors() -> None:
    half = STORY.split(". ")
    rewrite = (
        ". ".join(
            [
                half[0],
                "Đây là mức cao kỷ lục của ngành lúa gạo trong nhiều năm qua",
                "Nông dân phấn khởi vì giá lúa tăng cao",
            ]
        )
        + "."
    )
    docs = [doc("wire", STORY), doc("rewrite", rewrite)]
    same = np.ones(16)
    close = find_stories(docs, *vectors(docs, {"wire": same, "rewrite": same}))
    far = find_stories(docs, *vectors(docs))
    j = close.pairs[0][2] if close.pairs else 0.0
    assert 0.2 <= j < 0.5, j  # shared shingles of a rewrite: too few alone
    assert close.groups == (("rewrite", "wire"),) and far.groups == ()


def test_stories_are_kept_in_the_manifest(tmp_path, hash_embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text(f"---\ndate: 2023-11-09\n---\n{STORY}", encoding="utf-8")
    (corpus / "b.md").write_text(f"---\ndate: 2023-11-09\n---\n{STORY} Theo TTXVN.", "utf-8")
    (corpus / "d.md").write_text(OTHER, encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    index_corpus(settings, hash_embedder)
    manifest = load_index(settings.index_dir).manifest
    assert manifest["stories"]["version"] == 1 and manifest["stories"]["groups"] == [["a", "b"]]
    assert Stories.from_manifest(manifest).copies("b") == ("a",)
    assert Stories.from_manifest({}).groups == ()
    assert Stories.from_manifest({"stories": {"version": 99, "groups": [["a", "b"]]}}).groups == ()
    # a copy removed: the story goes with it, in a new generation
    (corpus / "b.md").unlink()
    report = index_corpus(settings, hash_embedder)
    assert report.removed == ["b"]
    assert load_index(settings.index_dir).manifest["stories"]["groups"] == []
