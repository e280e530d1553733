"""What the trainer computes on the reader model: the cache of bottom-layer states, a batch's
span loss and the held-out evaluation (best span over the gold paragraph's chunks, F1/EM).
Apart from `train.reader` (data, run folder, command line) so the model-side arithmetic reads on
its own. Imports `qa.`: import it after `train.reader` has set up its light `qa` package."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from bench.scores import exact, token_f1
from qa.neural import reader as R
from qa.neural.tokenizer import get_tokenizer
from train.checkpoints import save_atomic
from train.reader_data import Chunk, Example, Item, evaluation_chunks, question_key

TEST_VARIANTS = ("vi", "en", "vi_unaccented")


def build_cache(
    model: R.ReaderModel,
    items: list[Item],
    chunks: list[Chunk],
    variants_for: Callable[[Item], Sequence[str]],
    path: Path,
    batch_tokens: int = 2048,
    log: Callable[[str], None] = print,
) -> dict[str, torch.Tensor]:
    """Bottom-layer states (fp16) of every question variant and every chunk, saved in parts so
    an interrupted build resumes."""
    tok = get_tokenizer()
    prefix = R.passage_prefix(tok)
    seqs: dict[str, list[int]] = {}
    for c in chunks:
        seqs[c.key] = [tok.bos, *prefix, *tok.ids(c.text), tok.eos]
    for it in items:
        for v in variants_for(it):
            if it.text.get(v):
                seqs[question_key(it.qid, v)] = R.question_ids(tok, it.text[v])
    cache: dict[str, torch.Tensor] = {}
    parts = sorted(path.parent.glob(path.name + ".part*"))
    for part in parts:
        cache.update(load_file(str(part)))
    todo = sorted((k for k in seqs if k not in cache), key=lambda k: len(seqs[k]))
    log(f"cache: {len(seqs)} sequences, {len(cache)} cached, {len(todo)} to run")
    t0, pending, done = time.time(), {}, 0
    i = 0
    while i < len(todo):
        width = len(seqs[todo[min(i + 63, len(todo) - 1)]])
        n = max(1, min(64, batch_tokens // max(width, 1)))
        keys = todo[i : i + n]
        i += n
        with torch.inference_mode():
            states = model.bottom([seqs[k] for k in keys])
        for k, s in zip(keys, states, strict=True):
            pending[k] = s.to(torch.float16).clone()
        done += len(keys)
        if len(pending) >= 1500 or i >= len(todo):
            save_atomic(pending, path.parent / f"{path.name}.part{len(parts):04d}")
            parts.append(None)
            cache.update(pending)
            pending = {}
            log(f"cache: {done}/{len(todo)} in {time.time() - t0:.0f}s")
    return cache


def batch_loss(
    model: R.ReaderModel,
    cache: dict[str, torch.Tensor],
    batch: list[Example],
    prefix_len: int,
    shared: float = 0.0,
) -> torch.Tensor:
    """Each window's span loss (SQuAD 2.0: the gold span, or the question's <s> for "no
    answer"), plus `shared` times the grouped windows' shared-normalisation loss."""
    qs = [cache[e.question].float() for e in batch]
    ps = [cache[e.chunk].float() for e in batch]
    start, end, qlen = model.top(qs, ps)
    # valid positions: the question's <s> (no answer) and the passage's content tokens
    valid = torch.zeros_like(start, dtype=torch.bool)
    valid[:, 0] = True
    targets_s, targets_e, content = [], [], []
    for i, (e, p) in enumerate(zip(batch, ps, strict=True)):
        first = int(qlen[i]) + 1 + prefix_len
        last = int(qlen[i]) + p.shape[0] - 1
        valid[i, first:last] = True
        content.append((first, last))
        targets_s.append(0 if e.start < 0 else first + e.start)
        targets_e.append(0 if e.end < 0 else first + e.end)
    neg = torch.finfo(torch.float32).min
    start = start.masked_fill(~valid, neg)
    end = end.masked_fill(~valid, neg)
    ls = torch.nn.functional.cross_entropy(start, torch.tensor(targets_s))
    le = torch.nn.functional.cross_entropy(end, torch.tensor(targets_e))
    loss = (ls + le) / 2
    if shared:
        loss = loss + shared * shared_norm_loss(batch, start, end, content)
    return loss


def shared_norm_loss(
    batch: list[Example],
    start: torch.Tensor,
    end: torch.Tensor,
    content: list[tuple[int, int]],
) -> torch.Tensor:
    """Shared normalisation (Clark & Gardner 2018): one softmax over the content tokens of all
    the windows of a group (the gold chunk and its negatives), the target the gold span. A
    window's own softmax only says where in it the answer would be; this one makes span scores
    comparable across the candidate sentences, as the product compares them. Groups split
    across batches, or without their gold window here, are left out."""
    members: dict[str, list[int]] = {}
    for i, e in enumerate(batch):
        if e.group:
            members.setdefault(e.group, []).append(i)
    terms, ce = [], torch.nn.functional.cross_entropy
    for rows in members.values():
        gold = [i for i in rows if batch[i].start >= 0]
        if len(rows) < 2 or len(gold) != 1:
            continue
        before = sum(content[i][1] - content[i][0] for i in rows[: rows.index(gold[0])])
        s = torch.cat([start[i, content[i][0] : content[i][1]] for i in rows])
        e = torch.cat([end[i, content[i][0] : content[i][1]] for i in rows])
        ts = torch.tensor([before + batch[gold[0]].start])
        te = torch.tensor([before + batch[gold[0]].end])
        terms.append((ce(s[None], ts) + ce(e[None], te)) / 2)
    return torch.stack(terms).mean() if terms else start.new_zeros(())


@torch.no_grad()
def evaluate(
    model: R.ReaderModel,
    cache: dict[str, torch.Tensor],
    items: list[Item],
    chunks: list[Chunk],
    variants: Sequence[str] = TEST_VARIANTS,
    limit: int | None = None,
) -> dict:
    """Held-out reading with the gold paragraph's chunks given, as `NeuralReader.read` does:
    the best span over all chunks. F1/EM against the Vietnamese gold span."""
    model.eval()
    tok = get_tokenizer()
    prefix_len = len(R.passage_prefix(tok))
    results: dict[str, dict[str, float]] = {}
    sample = items[:limit] if limit else items
    offsets_of: dict[str, list[tuple[int, int]]] = {}
    for v in variants:
        f1s, ems = [], []
        for it in sample:
            key = question_key(it.qid, v)
            if key not in cache:
                continue
            own = evaluation_chunks(chunks, it.article, it.paragraph)
            q = cache[key].float()
            ps = [cache[c.key].float() for c in own]
            start, end, _ = model.top([q] * len(ps), ps)
            best = (float("-inf"), "")
            first = q.shape[0] + 1 + prefix_len
            for w, c in enumerate(own):
                if c.key not in offsets_of:
                    offsets_of[c.key] = tok.encode(c.text).offsets
                offs = offsets_of[c.key]
                valid = [a < b for a, b in offs]
                spans = R.best_spans(
                    start[w],
                    end[w],
                    first,
                    first + len(offs),
                    valid,
                    valid,
                    model.config.max_answer_tokens,
                    1,
                )
                if spans and spans[0][0] > best[0]:
                    _, i, j = spans[0]
                    best = (spans[0][0], c.text[offs[i][0] : offs[j][1]])
            f1s.append(token_f1(best[1], it.answer))
            ems.append(exact(best[1], it.answer))
        results[v] = {"n": len(f1s), "F1": float(np.mean(f1s)), "EM": float(np.mean(ems))}
    model.train()
    return results
