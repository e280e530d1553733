"""Smoke test of the concurrency benchmark: two real `qa serve` processes, tiny sizes.

Checks the contract (run → JSON-able dict → markdown → PNG) and that every cell was measured
against servers that answered, not speed.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import concurrency


def test_concurrency_idle_smoke(tmp_path: Path) -> None:
    result = concurrency.run(conditions=("idle",), requests=4, cold_runs=0)
    json.dumps(result)
    idle = result["results"]["idle"]
    assert set(idle["cells"]) == {f"{s}/{n}" for s in ("default", "tuned") for n in (1, 4, 16)}
    assert idle["cells"]["tuned/1"]["n"] == 4 and idle["cells"]["tuned/16"]["n"] == 32
    assert all(0 < c["p50"] <= c["p95"] for c in idle["cells"].values())
    assert all(c["server_cpu_ms_per_answer"] > 0 for c in idle["cells"].values())
    assert idle["python_api"]["tuned"]["n"] == 4
    assert all(s > 0 for s in idle["serve_start_s"].values())
    text = concurrency.markdown(result)
    assert text.startswith("### ")
    assert "| idle | | 16 HTTP | 1 (tuned) |" in text
    assert "| idle | [" in text and "Python API, 1 caller | all cores (default) |" in text
    assert idle["cold_start"] == {} and text.rstrip().endswith("| — | — |")
    assert [p.name for p in concurrency.plot(result, tmp_path)] == ["concurrency.png"]
    assert (tmp_path / "concurrency.png").stat().st_size > 1000
