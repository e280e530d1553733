"""The neural reader: given a question and a few candidate passages (sentences or short chunks),
the best answer spans with their character offsets, and each passage's no-answer score.

The model is the rebuilt multilingual-e5-small (`qa.neural.encoder`) with LoRA adapters. With
`split` = 0 (version 2 on) every layer reads the question ("query: …") and one passage
("passage: …") together, positions running on from the question into the passage, as a BERT
reader does. With `split` > 0 it is cut in two, as DeFormer does: the bottom layers (frozen) read
question and passage apart — the question once for all passages — and only the top layers, with
the adapters, read them together (cheaper, and measurably worse: version 1). A linear head gives
start/end logits per token. A span scores start + end logit; the
question's <s> position is the "no answer" span (SQuAD 2.0 style), so a passage's no-answer score
is comparable with its spans' scores.

Trained by `train/reader.py` (outside the product package); what training changes (adapters,
top-layer norms, head) ships as `qa/data/reader/reader.safetensors` with `reader.json`.

    reader = get_reader()
    readings = reader.read("How many points did the Panthers' defense give up?", passages)
    best = readings[0]; passages[best.passage][best.start:best.end]
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from qa.neural.e5file import MODEL_SHA256
from qa.neural.encoder import E5Encoder, build_encoder
from qa.neural.tokenizer import Tokenizer, get_tokenizer

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "reader"
WEIGHTS = "reader.safetensors"
MANIFEST = "reader.json"
LORA_TARGETS = ("q", "k", "v", "ao", "fi", "fo")
QUESTION_TOKENS = 64  # content tokens of the question kept
WINDOW_TOKENS = 192  # content tokens of a passage per window; longer passages slide
WINDOW_STRIDE = 128


@dataclass(frozen=True)
class ReaderConfig:
    split: int = 8  # bottom layers read question and passage apart (frozen); 0: all joint
    rank: int = 16
    alpha: float = 32.0
    max_answer_tokens: int = 30


@dataclass(frozen=True)
class SpanReading:
    passage: int  # index into the passages given
    start: int  # char offsets into passages[passage]
    end: int
    score: float  # span score (start + end logits)
    no_answer: float  # that passage's no-answer score (start + end logit of "no answer")


class LoRALinear(nn.Module):
    """y = W x + b + (alpha / r) · B A x, with W, b frozen."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale


class ReaderModel(nn.Module):
    """Encoder (frozen) + LoRA on the top layers + trainable top-layer norms + span head."""

    def __init__(self, encoder: E5Encoder, config: ReaderConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder
        encoder.requires_grad_(False)
        for layer in encoder.layers[config.split :]:
            for name in LORA_TARGETS:
                setattr(layer, name, LoRALinear(getattr(layer, name), config.rank, config.alpha))
            for ln in (layer.aln, layer.oln):
                ln.requires_grad_(True)
        self.head = nn.Linear(encoder.config.hidden, 2)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def trainable(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.named_parameters() if v.requires_grad}

    def load_trained(self, tensors: dict[str, torch.Tensor]) -> None:
        own = self.trainable()
        missing = set(own) - set(tensors)
        extra = set(tensors) - set(own)
        if missing or extra:
            raise ValueError(
                f"reader weights: missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
            )
        with torch.no_grad():
            for k, v in tensors.items():
                own[k].copy_(v.to(own[k].dtype))

    @torch.no_grad()
    def merge_adapters(self) -> None:
        """Fold each LoRA update into its base weight (inference: one matmul, not three)."""
        for layer in self.encoder.layers[self.config.split :]:
            for name in LORA_TARGETS:
                mod = getattr(layer, name)
                if isinstance(mod, LoRALinear):
                    mod.base.weight += (mod.lora_b @ mod.lora_a) * mod.scale
                    setattr(layer, name, mod.base)

    def bottom(self, seqs: list[list[int]]) -> list[torch.Tensor]:
        """The frozen bottom layers over each sequence alone -> [len, hidden] per sequence. With
        split 0 there are none: the word embeddings, to which `top` adds the joint positions."""
        if not seqs:
            return []
        if self.config.split == 0:
            return [self.encoder.word(torch.tensor([s]))[0] for s in seqs]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), 1, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        enc = self.encoder
        x = enc.run_layers(enc.embed_tokens(ids), enc.attention_bias(mask), 0, self.config.split)
        return [x[i, : len(s)] for i, s in enumerate(seqs)]

    def top(
        self, questions: list[torch.Tensor], passages: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top layers over each (question states, passage states) pair, concatenated.
        Returns start and end logits [n, width] (padding at -inf) and the question lengths."""
        n = len(passages)
        lengths = [q.shape[0] + p.shape[0] for q, p in zip(questions, passages, strict=True)]
        width = max(lengths)
        hidden = passages[0].shape[-1]
        x = passages[0].new_zeros((n, width, hidden))
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, (q, p) in enumerate(zip(questions, passages, strict=True)):
            x[i, : q.shape[0]] = q
            x[i, q.shape[0] : lengths[i]] = p
            mask[i, : lengths[i]] = 1
        enc = self.encoder
        if self.config.split == 0:  # positions count on from the question into the passage
            x = enc.eln(x + enc.pos[:width][None].to(x.dtype) + enc.token_type[0].to(x.dtype))
        x = enc.run_layers(x, enc.attention_bias(mask, x.dtype), self.config.split, None)
        logits = self.head(x).float()
        neg = torch.finfo(torch.float32).min
        logits = logits.masked_fill(mask[..., None] == 0, neg)
        qlen = torch.tensor([q.shape[0] for q in questions])
        return logits[..., 0], logits[..., 1], qlen


def question_ids(tok: Tokenizer, question: str) -> list[int]:
    return [tok.bos, *tok.ids("query: " + question)[:QUESTION_TOKENS], tok.eos]


def passage_prefix(tok: Tokenizer) -> list[int]:
    return tok.ids("passage:")


def best_spans(
    start: torch.Tensor,
    end: torch.Tensor,
    first: int,
    last: int,
    valid_start: list[bool],
    valid_end: list[bool],
    max_tokens: int,
    k: int,
) -> list[tuple[float, int, int]]:
    """The k best (score, i, j) with first <= i <= j < last, j - i < max_tokens, token i a
    valid start and j a valid end (positions relative to `first`)."""
    s = start[first:last]
    e = end[first:last]
    n = s.shape[0]
    if n == 0:
        return []
    scores = s[:, None] + e[None, :]
    idx = torch.arange(n)
    band = (idx[None, :] >= idx[:, None]) & (idx[None, :] - idx[:, None] < max_tokens)
    ok = band & torch.tensor(valid_start)[:, None] & torch.tensor(valid_end)[None, :]
    scores = scores.masked_fill(~ok, float("-inf"))
    flat = scores.flatten()
    k = min(k, int(ok.sum()))
    if k <= 0:
        return []
    values, where = torch.topk(flat, k)
    return [(float(v), int(w) // n, int(w) % n) for v, w in zip(values, where, strict=True)]


class NeuralReader:
    """Loads the base encoder and the trained weights once (lazily, thread-safe)."""

    def __init__(self, directory: Path = DATA_DIR, threads: int = 0):
        self.directory = Path(directory)
        # torch threads one `read` may use (`Settings.threads`); 0: torch's default (all cores)
        self.threads = threads
        self._lock = threading.Lock()
        self._model: ReaderModel | None = None
        self.manifest: dict = {}

    @property
    def version(self) -> str:
        """The shipped weights' version and checksum prefix ("" when none are installed): what
        fitted tables that read this reader's scores are keyed by."""
        if not self.available():
            return ""
        manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        return f"{manifest.get('version', '')}-{manifest.get('weights_sha256', '')[:12]}"

    def available(self) -> bool:
        return (self.directory / WEIGHTS).is_file() and (self.directory / MANIFEST).is_file()

    def model(self) -> ReaderModel:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> ReaderModel:
        manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("base_sha256") != MODEL_SHA256:
            raise ValueError("reader weights were trained on another base file")
        weights = self.directory / WEIGHTS
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != manifest.get("weights_sha256"):
            raise ValueError(f"{weights}: sha256 {digest} differs from the manifest")
        config = ReaderConfig(**manifest["config"])
        model = ReaderModel(build_encoder(), config)
        model.load_trained(load_file(str(weights)))
        model.merge_adapters()
        model.eval()
        self.manifest = manifest
        return model

    @torch.inference_mode()
    def read(self, question: str, passages: list[str], top: int = 5) -> list[SpanReading]:
        """The `top` best spans over all passages, and each passage's best span, best first
        (a long passage can hold all of the `top` best, and every passage needs its own)."""
        if not passages or not question.strip():
            return []
        model = self.model()
        question = as_asked(question)
        if self.threads:
            # per calling thread, as the embedder does: a server's request threads each read
            # with their own count instead of all fanning out over every core
            torch.set_num_threads(self.threads)
        tok = get_tokenizer()
        prefix = passage_prefix(tok)
        windows: list[tuple[int, list[int], list[tuple[int, int]]]] = []
        for p, text in enumerate(passages):
            enc = tok.encode(text)
            n = len(enc.ids)
            starts = list(range(0, max(n - WINDOW_TOKENS, 0) + 1, WINDOW_STRIDE))
            if starts[-1] + WINDOW_TOKENS < n:
                starts.append(n - WINDOW_TOKENS)
            for a in starts:
                b = min(a + WINDOW_TOKENS, n)
                windows.append((p, enc.ids[a:b], enc.offsets[a:b]))
        seqs = [question_ids(tok, question)] + [
            [tok.bos, *prefix, *ids, tok.eos] for _, ids, _ in windows
        ]
        states = model.bottom(seqs)
        q = states[0]
        # one window at a time: batched, every window is padded to the longest (a 200-token
        # list sentence beside three short ones read 4 x 200 tokens, 3 times the work)
        logits = [model.top([q], [p]) for p in states[1:]]
        start, end = [s[0] for s, _, _ in logits], [e[0] for _, e, _ in logits]
        first = q.shape[0] + 1 + len(prefix)
        no_answer: dict[int, float] = {}
        found: dict[tuple[int, int, int], float] = {}
        for w, (p, _ids, offsets) in enumerate(windows):
            na = float(start[w][0] + end[w][0])
            no_answer[p] = min(no_answer.get(p, na), na)
            valid = [a < b for a, b in offsets]
            spans = best_spans(
                start[w],
                end[w],
                first,
                first + len(offsets),
                valid,
                valid,
                model.config.max_answer_tokens,
                top,
            )
            for score, i, j in spans:
                key = (p, offsets[i][0], offsets[j][1])
                found[key] = max(found.get(key, score), score)
        ranked = sorted(found.items(), key=lambda kv: -kv[1])
        own: dict[int, tuple] = {}
        for item in ranked:
            own.setdefault(item[0][0], item)
        kept = set(ranked[:top]) | set(own.values())
        ranked = [item for item in ranked if item in kept]
        return [
            SpanReading(passage=p, start=a, end=b, score=s, no_answer=no_answer[p])
            for (p, a, b), s in ranked
        ]


def as_asked(text: str) -> str:
    """The question as the model was trained to read one: every XQuAD question ends with a
    question mark, and without it the model misread the page's own example ("Hải Phòng thu hút
    bao nhiêu vốn đầu tư nước ngoài" → "5", of "5 loại hình giao thông")."""
    text = text.rstrip()
    return text if text.endswith(("?", "？")) else text.rstrip(".!") + "?"


_lock = threading.Lock()
_reader: NeuralReader | None = None


def get_reader(threads: int | None = None) -> NeuralReader:
    """The process-wide reader over the shipped weights (loaded on first `read`); `threads`,
    when given, is how many torch threads a `read` uses from now on (0: torch's default)."""
    global _reader
    with _lock:
        if _reader is None:
            _reader = NeuralReader()
        if threads is not None:
            _reader.threads = threads
        return _reader
