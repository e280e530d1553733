"""`python -m train.reader --smoke`: a few training steps on a tiny sample, an export the
reader loads, spans with valid offsets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qa.neural.reader import MANIFEST, WEIGHTS, NeuralReader, SpanReading

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_training_exports_a_loadable_reader(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "train.reader", "train", "--smoke", "--runs", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    out = tmp_path / "smoke" / "export"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["weights_sha256"] and manifest["base_sha256"]
    assert set(manifest["held_out"]) == {"vi", "en", "vi_unaccented"}
    assert (out / WEIGHTS).stat().st_size < 5_000_000  # adapters and head only
    assert (tmp_path / "smoke" / "last.safetensors").is_file()  # a checkpoint to resume from

    passages = ["Đội thủ Panthers đã thua 308 điểm.", "Trời hôm nay đẹp."]
    readings = NeuralReader(out).read("Panthers thua bao nhiêu điểm?", passages, top=3)
    assert readings and all(isinstance(r, SpanReading) for r in readings)
    for r in readings:
        assert 0 <= r.start < r.end <= len(passages[r.passage])
    assert [r.score for r in readings] == sorted((r.score for r in readings), reverse=True)
