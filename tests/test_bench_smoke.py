"""Smoke tests of the speed and scale benchmarks: tiny sizes, so `make test` stays fast.

They check the contract the orchestrator relies on (run → JSON-able dict → markdown table →
PNG) and the sanity of the measurements (exact search is exact, HNSW is close), not speed.
"""

from __future__ import annotations

import json
from pathlib import Path

from qa.bench import scale, speed


def test_scale_10k(tmp_path: Path) -> None:
    result = scale.run(quick=True, sizes=(10_000,))
    json.dumps(result)
    rows = result["results"]["10000"]
    assert rows["Flat"]["recall@10"] == 1.0
    assert rows["HNSW32"]["recall@10"] > 0.8
    assert rows["IVF"]["recall@10"] > 0.5
    assert rows["HNSW32"]["params"] == {"efSearch": 64, "efConstruction": 40}
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in rows.values())
    text = scale.markdown(result)
    assert text.startswith("### ")
    assert "| vectors | index | build (s) | memory |" in text
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
