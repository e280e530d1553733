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
        [
            *(sys.executable, "-m", "train.reader", "train", "--smoke", "--runs", str(tmp_path)),
            *("--own", "--variants", "1"),  # the data of version 3: own paragraphs, sampled asks
        ],
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
    assert "own paragraph" in manifest["data"]["train"]
    assert "--own --variants 1" in manifest["recipe"]["command"]

    passages = ["Đội thủ Panthers đã thua 308 điểm.", "Trời hôm nay đẹp."]
    readings = NeuralReader(out).read("Panthers thua bao nhiêu điểm?", passages, top=3)
    assert readings and all(isinstance(r, SpanReading) for r in readings)
    for r in readings:
        assert 0 <= r.start < r.end <= len(passages[r.passage])
    assert [r.score for r in readings] == sorted((r.score for r in readings), reverse=True)


def test_recipe_names_the_starting_weights(tmp_path):
    """With --init DIR the manifest's recipe carries the sha256 of DIR's weights; without, none."""
    import hashlib
    from types import SimpleNamespace

    from train.reader import parse
    from train.reader_export import recipe

    (tmp_path / WEIGHTS).write_bytes(b"starting weights")
    run = SimpleNamespace(
        args=parse(["--init", str(tmp_path)]),
        langs=("vi", "en"),
        config=SimpleNamespace(split=0, rank=8),
    )
    got = recipe(run, {"step": 3}, {"step": 4})
    assert got["init_weights_sha256"] == hashlib.sha256(b"starting weights").hexdigest()
    assert f"--init {tmp_path}" in got["command"]
    # the hash taken when training began wins over the folder as it is at export
    began = {"step": 4, "args": {"init_sha256": "0" * 64}}
    assert recipe(run, {"step": 3}, began)["init_weights_sha256"] == "0" * 64
    run.args = parse([])
    assert "init_weights_sha256" not in recipe(run, {"step": 3}, {"step": 4})


def test_joint_reader_reads_the_pair_as_the_encoder_does():
    """split 0: untrained adapters change nothing, so the reader's states over (question,
    passage) are the plain encoder's over "<s> query: q </s><s> passage: p </s>" — positions run
    on from the question into the passage. (split 8 reads them apart: another sum.)"""
    import torch

    from qa.neural.encoder import build_encoder, get_encoder
    from qa.neural.reader import ReaderConfig, ReaderModel, passage_prefix, question_ids
    from qa.neural.tokenizer import get_tokenizer

    tok = get_tokenizer()
    q = question_ids(tok, "Hải Phòng có bao nhiêu dự án của Hà Lan?")
    p = [
        tok.bos,
        *passage_prefix(tok),
        *tok.ids("Có 16 dự án của Hà Lan, vốn 280 triệu USD."),
        tok.eos,
    ]
    model = ReaderModel(build_encoder(), ReaderConfig(split=0))  # its own: adapters go in
    captured: list[torch.Tensor] = []
    model.head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    with torch.no_grad():
        model.top(*([s] for s in model.bottom([q, p])))
        plain = get_encoder()(torch.tensor([q + p]))
    assert torch.allclose(captured[0], plain, atol=1e-4)


def test_each_language_over_its_own_paragraph():
    """Version 3's other half of the data: questions over their own language's paragraph. The
    gold span sits where the item says, in a chunk the reader can read (Thai marks no sentence
    end and Chinese no space: both still cut into chunks of at most ~128 tokens)."""
    from qa.neural.tokenizer import get_tokenizer
    from train.reader_data import load_own, token_span

    tok = get_tokenizer()
    for lang in ("th", "zh", "en"):
        chunks, items = load_own(lang, range(0, 2))
        assert len(items) > 40 and all(
            c.lang == lang and c.key.startswith(f"c{lang}") for c in chunks
        )
        assert max(len(tok.ids(c.text)) for c in chunks) <= 160
        by_paragraph = {}
        for c in chunks:
            by_paragraph.setdefault((c.article, c.paragraph), []).append(c)
        spans = 0
        for it in items:
            own = by_paragraph[(it.article, it.paragraph)]
            holder = [c for c in own if c.start <= it.start and it.start + len(it.answer) <= c.end]
            assert it.text[lang] and holder
            assert holder[0].text[it.start - holder[0].start :].startswith(it.answer)
            spans += any(token_span(c, it) is not None for c in own)
        assert spans >= 0.9 * len(items), (lang, spans, len(items))


def test_listwise_groups_hold_the_gold_chunk_and_negatives_together():
    """--listwise K: each question's gold chunk comes with K chunks of its article that do not
    hold the answer, as one group, and the batch order keeps every group whole and in one batch
    of 4 x (K + 1) windows."""
    import numpy as np

    from train.reader_data import bucketed, chunk_paragraph, load_items, make_examples

    paragraphs, items = load_items(("vi", "en"))
    items = [it for it in items if it.article == 0][:12]
    chunks = [c for p, text in enumerate(paragraphs[0]) for c in chunk_paragraph(0, p, text)]
    rng = np.random.default_rng(0)
    examples = make_examples(items, chunks, ("vi", "en"), rng, 0.5, listwise=3)
    groups: dict[str, list] = {}
    for e in examples:
        groups.setdefault(e.group, []).append(e)
    assert "" not in groups and len(groups) >= 20
    text = {c.key: c.text for c in chunks}
    for members in groups.values():
        gold = [e for e in members if e.start >= 0]
        assert len(members) == 4 and len(gold) == 1
        assert len({e.chunk for e in members}) == 4 and len({e.question for e in members}) == 1
        item = next(it for it in items if gold[0].question.startswith(f"q{it.qid}_"))
        assert all(item.answer not in text[e.chunk] for e in members if e.start < 0)  # anywhere
    cache = {k: np.zeros((len(k) % 7 + 3, 2)) for e in examples for k in (e.question, e.chunk)}
    order = bucketed(examples, cache, batch=16, seed=1)
    assert sorted(order) == list(range(len(examples)))
    for b in range(0, len(order), 16):
        batch_groups = [examples[i].group for i in order[b : b + 16]]
        assert all(batch_groups.count(g) == 4 for g in batch_groups)


def test_shared_normalisation_compares_the_windows_of_a_group():
    """The shared-normalisation loss is low when the gold window's span outscores the negative
    windows' spans, high when a negative window holds the best span (each window's own softmax
    cannot tell these apart), and zero without a whole group in the batch."""
    import torch

    from train.reader_data import Example
    from train.reader_steps import shared_norm_loss

    batch = [Example("q", "gold", 1, 2, "g"), Example("q", "other", -1, -1, "g")]
    content = [(3, 7), (3, 7)]
    start, end = torch.zeros(2, 8), torch.zeros(2, 8)
    start[0, 4], end[0, 5] = 5.0, 5.0  # the gold span, token 1..2 of the gold window
    right = shared_norm_loss(batch, start, end, content)
    start[1, 3], end[1, 4] = 9.0, 9.0  # the negative window's span now scores higher
    wrong = shared_norm_loss(batch, start, end, content)
    assert right < 0.1 < 3.0 < wrong
    assert float(shared_norm_loss(batch[:1], start, end, content)) == 0.0
