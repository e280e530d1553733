"""XQuAD as the reader's training data: questions with their variants, Vietnamese paragraphs cut
into chunks (sentences and ~128-token groups), training examples (a question, a chunk, the gold
token span or "no answer") and length-bucketed batches. Read by `train.reader`; all files under
benchmarks/data/xquad/ (CC BY-SA 4.0), read from the repository only."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.xquad import unaccent
from qa.neural.tokenizer import get_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "xquad"
LANGS = ("vi", "en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "zh")
CHUNK_TOKENS = 128

# ----------------------------------------------------------------------------- data


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass
class Item:
    qid: str
    article: int
    paragraph: int
    text: dict[str, str]  # variant -> question
    answer: str  # gold span in the Vietnamese paragraph
    start: int  # its char offset (NFC paragraph)


@dataclass
class Chunk:
    key: str
    article: int
    paragraph: int
    start: int  # char range in the NFC paragraph
    end: int
    text: str
    lang: str = "vi"  # the paragraph's language


def data_files(langs: tuple[str, ...] = LANGS) -> list[Path]:
    return [DATA / f"xquad.{lang}.json" for lang in langs]


def load_items(langs: tuple[str, ...] = LANGS) -> tuple[list[list[str]], list[Item]]:
    """Vietnamese paragraphs (NFC) per article, and every question with its variants."""
    per_lang = {lang: read_lang(lang) for lang in langs}
    questions = {
        lang: {q["id"]: q["question"] for a in d for p in a["paragraphs"] for q in p["qas"]}
        for lang, d in per_lang.items()
    }
    paragraphs, items = [], []
    for a, article in enumerate(per_lang["vi"]):
        paragraphs.append([])
        for p, para in enumerate(article["paragraphs"]):
            context = nfc(para["context"])
            paragraphs[-1].append(context)
            for qa in para["qas"]:
                gold = gold_span(para["context"], context, qa)
                if gold is None:
                    continue
                text = {lang: nfc(questions[lang].get(qa["id"], "")) for lang in langs}
                text["vi_unaccented"] = unaccent(text["vi"])
                items.append(Item(qa["id"], a, p, text, *gold))
    return paragraphs, items


def load_own(lang: str, articles: range) -> tuple[list[Chunk], list[Item]]:
    """Questions of one language over that language's own paragraphs (the other half of the
    data: 12 times as many distinct passages and spans as the Vietnamese paragraphs alone): the
    paragraphs' chunks and the items, the span given in the own paragraph."""
    chunks, items = [], []
    for a, article in enumerate(read_lang(lang)):
        if a not in articles:
            continue
        for p, para in enumerate(article["paragraphs"]):
            context = nfc(para["context"])
            chunks += chunk_paragraph(a, p, context, lang)
            for qa in para["qas"]:
                gold = gold_span(para["context"], context, qa)
                if gold is not None:
                    items.append(Item(qa["id"], a, p, {lang: nfc(qa["question"])}, *gold))
    return chunks, items


def read_lang(lang: str) -> list[dict]:
    return json.loads((DATA / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]


def gold_span(raw: str, context: str, qa: dict) -> tuple[str, int] | None:
    """The first gold answer and its char offset in the NFC paragraph (found by search when
    normalisation moved it; None when it is not there at all)."""
    gold = qa["answers"][0]
    start = len(nfc(raw[: gold["answer_start"]]))
    answer = nfc(gold["text"])
    if context[start : start + len(answer)] != answer:
        start = context.find(answer)
        if start < 0:
            return None
    return answer, start


# after . ! ? … and a space; after the CJK full stops; after the Devanagari danda and a space
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+|(?<=[。！？])\s*|(?<=[।])\s+")


# Thai marks no sentence end: a space separates phrases and sentences alike
_THAI_END = re.compile(r"\s+")


def sentences(text: str, lang: str = "vi") -> list[tuple[int, int]]:
    """[start, end) of each sentence (split after . ! ? … followed by space)."""
    spans, a = [], 0
    for m in (_THAI_END if lang == "th" else _SENTENCE_END).finditer(text):
        if m.start() > a:
            spans.append((a, m.start()))
        a = m.end()
    if a < len(text):
        spans.append((a, len(text)))
    return spans


def chunk_paragraph(article: int, paragraph: int, text: str, lang: str = "vi") -> list[Chunk]:
    """Two views of a paragraph: each sentence (very short ones joined to the next), and
    consecutive sentences grouped greedily up to CHUNK_TOKENS tokens."""
    tok = get_tokenizer()
    sents = sentences(text, lang)
    lengths = [len(tok.ids(text[a:b])) for a, b in sents]
    chunks: list[tuple[int, int]] = []
    # sentences
    a = None
    for (s, e), n in zip(sents, lengths, strict=True):
        a = s if a is None else a
        if n >= 8 or e == len(text):
            chunks.append((a, e))
            a = None
    if a is not None:
        chunks.append((a, sents[-1][1]))
    # groups
    group: list[int] = []
    for i, n in enumerate(lengths):
        if group and sum(lengths[j] for j in group) + n > CHUNK_TOKENS:
            chunks.append((sents[group[0]][0], sents[group[-1]][1]))
            group = []
        group.append(i)
    if group:
        chunks.append((sents[group[0]][0], sents[group[-1]][1]))
    seen, out = set(), []
    for s, e in chunks:
        if (s, e) not in seen:
            seen.add((s, e))
            tag = "" if lang == "vi" else lang
            key = f"c{tag}{article:02d}_{paragraph:02d}_{s}_{e}"
            out.append(Chunk(key, article, paragraph, s, e, text[s:e], lang))
    return out


def group_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """The grouped view of one paragraph (what the held-out evaluation reads): the chunks that
    tile the paragraph with the fewest pieces."""
    best: dict[int, list[Chunk]] = {0: []}
    for c in sorted(chunks, key=lambda c: (c.start, c.end)):
        if c.start in best and (c.end not in best or len(best[c.end]) > len(best[c.start]) + 1):
            best[c.end] = [*best[c.start], c]
    return best[max(best)]


def evaluation_chunks(all_chunks: list[Chunk], article: int, paragraph: int) -> list[Chunk]:
    return group_chunks([c for c in all_chunks if (c.article, c.paragraph) == (article, paragraph)])


def question_key(qid: str, variant: str) -> str:
    return f"q{qid}_{variant}"


@dataclass
class Example:
    question: str  # cache key
    chunk: str  # cache key
    start: int  # answer token positions relative to the chunk's content, -1 = no answer
    end: int
    group: str = ""  # a question's gold chunk and its negatives read together (`--listwise`)


@functools.lru_cache(maxsize=4096)
def chunk_offsets(text: str) -> list[tuple[int, int]]:
    return get_tokenizer().encode(text).offsets


def token_span(chunk: Chunk, item: Item) -> tuple[int, int] | None:
    """Token positions (in the chunk's content) of the gold answer, or None if the answer is not
    inside the chunk (or starts/ends inside a token, which the reader cannot output)."""
    a, b = item.start - chunk.start, item.start + len(item.answer) - chunk.start
    if a < 0 or b > len(chunk.text):
        return None
    offsets = chunk_offsets(chunk.text)
    starts = [i for i, (s, e) in enumerate(offsets) if s <= a < e or (s >= a and s < b)]
    ends = [i for i, (s, e) in enumerate(offsets) if s < b <= e or (e <= b and e > a)]
    if not starts or not ends:
        return None
    return starts[0], ends[-1]


KEPT_VARIANTS = ("vi", "en", "vi_unaccented")  # the product's questions: asked every epoch


def make_examples(
    items: list[Item],
    chunks: list[Chunk],
    variants,
    rng: np.random.Generator,
    negatives: float,
    sample: int | None = None,
    listwise: int = 0,
) -> list[Example]:
    """Per question and variant, the gold chunk with its token span and (with probability
    `negatives`) a chunk of the same article without the answer. With `sample`, each question is
    asked in the kept variants and `sample` others drawn per question: the same Vietnamese span
    asked 13 times an epoch is what the reader learned by heart. With `listwise` K, the gold
    chunk comes with K chunks of its article without the answer instead, as one group: the
    product reads a question's few candidate sentences together and ranks them by the model's
    scores, so training compares them too (`reader_steps.batch_loss`)."""
    by_article: dict[int, list[Chunk]] = {}
    for c in chunks:
        by_article.setdefault(c.article, []).append(c)
    spans: dict[tuple[str, str], tuple[int, int] | None] = {}
    out = []
    for it in items:
        own = by_article[it.article]
        positives = []
        for c in own:
            if c.paragraph != it.paragraph:
                continue
            key = (it.qid, c.key)
            if key not in spans:
                spans[key] = token_span(c, it)
            if spans[key] is not None:
                positives.append((c, spans[key]))
        others = [
            c
            for c in own
            if c.paragraph != it.paragraph
            or not (c.start <= it.start < c.end or c.start < it.start + len(it.answer) <= c.end)
        ]
        # negatives that hold the answer's text elsewhere ("Denver Broncos" in many sentences)
        # are left out of a group: its softmax would teach to pass over the answer
        clean = [c for c in others if it.answer not in c.text] if listwise else []
        for v in variants if sample is None else sample_variants(variants, sample, rng):
            if not it.text.get(v):
                continue
            q = question_key(it.qid, v)
            if listwise:
                out += grouped(q, positives, clean, it.paragraph, listwise, rng)
                continue
            if positives:
                c, (s, e) = positives[rng.integers(len(positives))]
                out.append(Example(q, c.key, s, e))
            if others and rng.random() < negatives:
                same = [c for c in others if c.paragraph == it.paragraph]
                pool = same if same and rng.random() < 0.5 else others
                out.append(Example(q, pool[rng.integers(len(pool))].key, -1, -1))
    return out


def grouped(
    question: str,
    positives: list[tuple[Chunk, tuple[int, int]]],
    others: list[Chunk],
    paragraph: int,
    k: int,
    rng: np.random.Generator,
) -> list[Example]:
    """One gold chunk and k distinct chunks without the answer, (k + 1) // 2 from the gold
    paragraph where it has them (the nearest sentences: the hardest to tell apart), as a group."""
    if not positives or not others:
        return []
    c, (s, e) = positives[rng.integers(len(positives))]
    group = f"{question}|{c.key}"
    same = [o for o in others if o.paragraph == paragraph]
    rest = [o for o in others if o.paragraph != paragraph]
    near = [same[i] for i in rng.permutation(len(same))[: (k + 1) // 2]]
    far = [rest[i] for i in rng.permutation(len(rest))[: k - len(near)]]
    negatives = [Example(question, o.key, -1, -1, group) for o in near + far]
    return [Example(question, c.key, s, e, group), *negatives]


def sample_variants(variants, k: int, rng: np.random.Generator) -> list[str]:
    kept = [v for v in variants if v in KEPT_VARIANTS]
    rest = [v for v in variants if v not in KEPT_VARIANTS]
    return kept + [rest[i] for i in rng.permutation(len(rest))[:k]]


def bucketed(examples: list[Example], cache, batch: int, seed: int, window: int = 32) -> list[int]:
    """A shuffled order in which each batch holds examples of similar length (less padding):
    windows of `window` batches of the shuffled examples, sorted by length inside a window,
    cut into batches, the batches shuffled. Grouped examples keep their group together."""
    if any(e.group for e in examples):
        return bucketed_groups(examples, cache, batch, seed, window)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(examples))
    out: list[int] = []
    size = window * batch
    for a in range(0, len(order), size):
        part = sorted(
            order[a : a + size],
            key=lambda i: cache[examples[i].question].shape[0] + cache[examples[i].chunk].shape[0],
        )
        batches = [part[b : b + batch] for b in range(0, len(part), batch)]
        for k in rng.permutation(len(batches)):
            out.extend(int(i) for i in batches[k])
    return out


def bucketed_groups(
    examples: list[Example], cache, batch: int, seed: int, window: int = 32
) -> list[int]:
    """`bucketed` for grouped examples: the groups shuffled, sorted by their longest member
    inside windows, and laid out whole, so that a batch of a multiple of the group size holds
    whole groups."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.group or f"#{i}", []).append(i)
    members = list(groups.values())

    def length(i: int) -> int:
        return cache[examples[i].question].shape[0] + cache[examples[i].chunk].shape[0]

    order = rng.permutation(len(members))
    per = max(1, batch // len(members[0]))  # groups per batch
    out: list[int] = []
    for a in range(0, len(order), window * per):
        part = sorted(order[a : a + window * per], key=lambda g: max(map(length, members[g])))
        runs = [part[b : b + per] for b in range(0, len(part), per)]
        whole = len(runs) - (len(runs[-1]) < per)  # a short last run stays last
        for k in [*rng.permutation(whole), *range(whole, len(runs))]:
            out.extend(i for g in runs[k] for i in members[g])
    return out
