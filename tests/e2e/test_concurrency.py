"""Readers in other processes never see a torn index while one writer adds and removes articles.

8 reader processes load the live generation in a loop (checksums verified by `load_index`) and
check that it is whole: one vector per chunk and per sentence, every chunk and sentence is the
exact text of a document it names. Meanwhile this process adds and removes an article several
times. Every load must succeed and every loaded index must be one the writer published.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from qa import QA, Settings
from qa.index.store import read_manifest

READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from qa.index.store import load_index
    index_dir, stop_file = Path(sys.argv[1]), Path(sys.argv[2])
    seen, loads = set(), 0
    while not stop_file.exists() or loads < 3:
        data = load_index(index_dir)
        assert data.chunk_vectors.shape[0] == len(data.chunks) == data.search_index().ntotal
        assert data.sentence_vectors.shape[0] == len(data.sentences)
        for record in [*data.chunks, *data.sentences]:
            text = data.documents[record.doc_id].text
            assert text[record.start : record.end] == record.text
        seen.add(tuple(sorted(data.documents)))
        loads += 1
    print(json.dumps({"loads": loads, "seen": sorted(seen)}))
    """
)

ARTICLE = "Cảng Cái Lân đón 9 tàu container trong tuần. Sản lượng tăng 12% so với cùng kỳ.\n"


def test_readers_in_other_processes_never_see_a_torn_index(small_settings: Settings, hash_embedder):
    qa = QA(small_settings, embedder=hash_embedder)
    qa.index()
    stop = small_settings.index_dir.parent / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(small_settings.index_dir), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    published = {tuple(sorted(d.doc_id for d in qa.documents()))}
    try:
        time.sleep(2.0)  # let the readers start loading
        for i in range(4):
            qa.add_documents([(f"cai_lan_{i}.txt", ARTICLE.replace("9", str(10 + i)).encode())])
            published.add(tuple(sorted(d.doc_id for d in qa.documents())))
            qa.remove_document(f"cai_lan_{i}")
            published.add(tuple(sorted(d.doc_id for d in qa.documents())))
    finally:
        stop.touch()
    outputs = [reader.communicate(timeout=300) for reader in readers]
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err[-2000:]
        result = json.loads(out)
        assert result["loads"] >= 3
        assert {tuple(s) for s in result["seen"]} <= published  # only published states
    assert read_manifest(small_settings.index_dir)[1]["documents"].keys() == {
        d.doc_id for d in qa.documents()
    }
