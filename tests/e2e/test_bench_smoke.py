"""Smoke tests of the speed, ingest and scale benchmarks: tiny sizes, so `make test` stays fast.

They check the contract the orchestrator relies on (run → JSON-able dict → markdown table →
PNG) and the sanity of the measurements (exact search is exact, HNSW is close, parallel indexing
writes the serial index), not speed.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import corpus, generation, ingest, news, scale, speed
from bench.corpus import corpus_questions


def test_scale_10k(tmp_path: Path, milvus_server) -> None:
    result = scale.run(
        quick=True,
        sizes=(10_000,),
        milvus_sizes=(10_000,),
        server=milvus_server,
        milvus_indexes=("FLAT",),
    )
    json.dumps(result)
    rows = result["results"]["10000"]
    assert rows["Flat"]["recall@10"] == 1.0
    assert rows["HNSW32"]["recall@10"] > 0.8
    assert rows["IVF"]["recall@10"] > 0.5
    assert rows["HNSW32"]["params"] == {"efSearch": 64, "efConstruction": 40}
    assert list(rows) == ["Flat", "IVF", "HNSW32"]
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in rows.values())
    # The Milvus server through qa.index.vectorstore (FLAT: exact, so it finds what Flat finds up
    # to float ties; HNSW/IVF are checked in test_vectorstore); all there after a restart.
    milvus = result["milvus"]["10000"]["FLAT"]
    assert milvus["params"] == {"build": {}, "search": {}}
    assert milvus["recall@10"] > 0.99 and milvus["index_in_use"]
    assert milvus["insert_per_s"] > 0 and milvus["build_s"] > 0
    assert milvus["rss_bytes"] > milvus["rss_empty_bytes"] > 0
    assert milvus["disk_bytes"] > milvus["disk_empty_bytes"] + 10_000 * 1536
    assert milvus["restart"]["count"] == 10_000
    text = scale.markdown(result)
    assert text.startswith("### ")
    assert "| vectors | index | build (s) | memory |" in text
    assert "| 10,000 | `FLAT` | exact |" in text
    assert "On the Milvus server at 10,000: `?index=FLAT` (exact)" in text
    assert [p.name for p in scale.plot(result, tmp_path)] == ["scale.png"]
    assert (tmp_path / "scale.png").stat().st_size > 1000


def test_speed_corpus_latency(tmp_path: Path) -> None:
    result = speed.run(quick=True, parts=("corpus",), calls=3)
    json.dumps(result)
    for lang in ("vi", "en"):
        r = result["latency"]["corpus"][lang]
        assert r["answer_ms"]["n"] == 3
        assert 0 < r["answer_ms"]["p50"] <= r["answer_ms"]["p99"]
        assert r["embed_ms"]["p50"] > 0
    text = speed.markdown(result)
    assert text.startswith("### ")
    assert "| index | language | calls | p50 | p95 | p99 |" in text
    paths = speed.plot(result, tmp_path)
    assert paths and all(p.stat().st_size > 1000 for p in paths)


def test_ingest_serial_vs_threads(tmp_path: Path) -> None:
    result = ingest.run(quick=True, modes=("serial", "threads"), paragraphs=3)
    json.dumps(result)
    serial, threads = result["modes"]["serial"], result["modes"]["threads"]
    assert result["paragraphs"] == 3
    assert serial["reference"] and threads["identical"] and threads["same_ids"]
    assert threads["max_abs_diff"] <= 1e-5
    for r in (serial, threads):
        assert r["chunks"] >= 3 and r["embedded_texts"] > r["chunks"]
        assert r["seconds"] > 0 and r["chunks_per_s"] > 0 and r["texts_per_s"] > 0
    assert (serial["chunks"], serial["embedded_texts"]) == (
        threads["chunks"],
        threads["embedded_texts"],
    )
    assert threads["speedup"] > 0
    text = ingest.markdown(result)
    assert text.startswith("### ")
    assert "| 2 threads | `qa index --workers 2` |" in text
    assert [p.name for p in ingest.plot(result, tmp_path)] == ["ingest.png"]
    assert (tmp_path / "ingest.png").stat().st_size > 1000


def test_corpus_questions_among_distractors(tmp_path: Path) -> None:
    result = corpus.run(quick=True)
    json.dumps(result)
    assert result["distractors"] == 40
    for setting in ("alone", "with distractors"):
        assert result[setting]["vi"]["n"] == 22
        # every VI fact is quoted, but vi-readme-leader's when it is refused (a known miss, see
        # tests/test_answers.py)
        assert result[setting]["vi"]["any cited"] >= 21 / 22
        for group in ("vi", "en"):  # same-topic questions the articles cannot answer
            assert result[setting][f"unanswerable {group}"]["refused"] > 0.5
    text = corpus.markdown(result)
    assert "| index | questions | n | first cited |" in text
    assert [p.name for p in corpus.plot(result, tmp_path)] == ["corpus.png"]


def test_news_copies_folded(tmp_path: Path) -> None:
    result = news.run(quick=True)
    json.dumps(result)
    assert (result["originals"], result["copied"], result["articles"]) == (15, 5, 25)
    for rows in result["retrieval"].values():
        assert rows["no folding"]["copy slots"] > 0.2  # copies crowd the top 5
        assert rows["folded"]["copy slots"] == 0.0
        assert rows["folded"]["stories"] > rows["no folding"]["stories"]
        assert rows["folded"]["gold@5"] >= rows["no folding"]["gold@5"]
    assert result["detection"]["recall"] == 1.0 and result["detection"]["precision"] == 1.0
    text = news.markdown(result)
    assert "| VI | folded |" in text and "copy slots" in text
    assert [p.name for p in news.plot(result, tmp_path)] == ["news.png"]


def test_generation_with_a_tiny_gguf(tmp_path: Path, tiny_gguf: dict[str, Path]) -> None:
    """The generation section's contract, with llama.cpp on the tiny random GGUF (conftest)
    instead of Gemma: its words never cite, so the guard catches every answer."""
    result = generation.run(quick=True, model=tiny_gguf["plain"], threads=(1,))
    json.dumps(result)
    one = result["threads"]["1"]
    summary = one["summary"]
    every_sixth = len(corpus_questions()[::6])  # quick: every 6th question of the TSV
    assert summary["questions"] == every_sixth and 0 < summary["asked"] <= every_sixth
    assert summary["passed"] == 0 and sum(summary["caught"].values()) == summary["asked"]
    # the tiny GGUF fails on the longest prompt of the larger question set (en-deputy-director:
    # "generator failed", no tokens); every other asked question generated tokens
    ran = [r for r in one["rows"] if r["asked"] and not r["caught"].startswith("generator failed")]
    assert ran and all(r["tokens"] > 0 and r["cpu"] > 0 for r in ran)
    assert summary["shown_holds"] == summary["extractive_holds"]  # extractive shown every time
    text = generation.markdown(result)
    assert "| 1 | " in text and "| caught because | answers |" in text
    assert [p.name for p in generation.plot(result, tmp_path)] == ["generation.png"]
    assert generation.holds_fact("Over USD 3.073 billion [1]", "3,073 tỷ USD")
    assert not generation.holds_fact("USD 3.073 million [1]", "3,073 tỷ USD")
    assert generation.holds_fact("He was Lê Tiến Châu.", "Lê Tiến Châu")
