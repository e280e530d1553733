"""Fluent answers from a generator, behind the grounding guard; the extractive answer stays the
safe default.

`make_generator(spec)` is the factory (like `make_embedder`):

* "none" (default): no generator, answers are extractive;
* "transformers:<model id or local path>": a causal LM on the CPU through transformers, loaded
  on first use, greedy decoding, the tokenizer's chat template when it has one, else a plain
  prompt. A path ending in ".gguf" is loaded with transformers' GGUF support (`gguf_file=`;
  needs the `gguf` and `accelerate` packages, see the `slow` extra);
* "openai:<base_url>#<model>": any OpenAI-compatible chat-completions server over HTTP
  (`<base_url>/chat/completions`), API key from QA_GENERATOR_API_KEY, streaming with SSE.

`generate_answer` asks the generator with the passages the extractive stage ranked, checks the
output with `qa.answering.grounding.check` and returns the generated answer only if it passed; otherwise,
and on any generator error, the extractive answer with a `grounding` record saying why.
Streaming is offered by the backends (`Generator.stream`) but not by `QA`: nothing generated may
be shown before the guard has read all of it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from qa.answering.compose import MESSAGES
from qa.answering.grounding import Failure, check, record, renumber
from qa.errors import QAError
from qa.text import detect_language, nfc
from qa.types import Answer, Chunk, Citation, Document

Message = dict[str, str]


class UnknownGenerator(QAError, ValueError):
    """A generator spec that is not "none", "transformers:..." or "openai:<url>#<model>"."""


class GeneratorError(RuntimeError):
    """A generator backend failed: load error, timeout, HTTP error, malformed response."""


class Generator(Protocol):
    """Text from chat messages ([{"role": "system"|"user"|"assistant", "content": ...}])."""

    name: str

    def generate(self, messages: list[Message], max_tokens: int) -> str: ...

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]: ...


def make_generator(spec: str | None, timeout: float = 30.0) -> Generator | None:
    """The generator named by `spec` (see the module docstring), or None for "none"."""
    spec = (spec or "none").strip()
    if spec.lower() in ("none", "off", "extractive"):
        return None
    kind, _, rest = spec.partition(":")
    if kind == "transformers" and rest:
        return TransformersGenerator(rest, timeout=timeout)
    if kind == "openai" and rest:
        base_url, _, model = rest.partition("#")
        if base_url.startswith(("http://", "https://")) and model:
            return OpenAIGenerator(
                base_url, model, timeout=timeout, api_key=os.environ.get("QA_GENERATOR_API_KEY")
            )
    raise UnknownGenerator(
        f"unknown generator {spec!r}: use 'none', 'transformers:<model id or path>' "
        "or 'openai:<base_url>#<model>'"
    )


# -- prompting ---------------------------------------------------------------------------------
LANGUAGE_RULES = {
    "en": (
        "Write the answer in English. The passages are in Vietnamese: translate what you use. "
        "In Vietnamese numbers the comma is the decimal mark and the dot separates thousands: "
        '"3,073 tỷ USD" is 3.073 billion USD, "58.000" is 58,000, "14/11" is November 14.'
    ),
    "vi": "Trả lời bằng tiếng Việt.",
}


def build_messages(question: str, language: str, passages: Sequence[str]) -> list[Message]:
    """Chat messages asking for an answer to `question` from the numbered `passages` only."""
    not_found = MESSAGES.get(language, MESSAGES["vi"])["not_found"]
    system = (
        "You answer questions about news articles using only the numbered passages you are "
        "given. " + LANGUAGE_RULES.get(language, LANGUAGE_RULES["vi"]) + " "
        "After every sentence, write the number of the passage it comes from in square "
        "brackets, like [1] or [1][2]. Use only facts stated in the passages and copy every "
        "number, amount, percentage and date exactly. If the passages do not answer the "
        f'question, reply only: "{not_found}" Answer in one to three sentences.'
    )
    numbered = "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, 1))
    user = f"Passages:\n{numbered}\n\nQuestion: {question.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# How an answer to a plain prompt begins: with a citation, in the question's language. Base
# models (no chat template) hardly ever write [n] markers on their own; started with one, they
# continue it ("According to passage [1], 16 Dutch companies ..."), and the guard can check them.
ANSWER_STARTS = {"en": "According to passage [", "vi": "Theo đoạn ["}


def answer_start(messages: Sequence[Message]) -> str:
    """The start of a plain-prompt answer, in the language of the prompt's question."""
    question = messages[-1]["content"].rsplit("Question:", 1)[-1] if messages else ""
    return ANSWER_STARTS.get(detect_language(question), ANSWER_STARTS["vi"])


def plain_prompt(messages: Sequence[Message]) -> str:
    """One text for models without a chat template: instructions, passages, the question, then
    "Answer: " and `answer_start(messages)`, which the model continues."""
    parts = [m["content"].strip() for m in messages if m.get("content")]
    return "\n\n".join(parts) + "\nAnswer: " + answer_start(messages)


def passages_for(
    answer: Answer,
    documents: dict[str, Document],
    chunk: Callable[[str], Chunk | None],
    min_chars: int = 100,
) -> list[Citation]:
    """The passages given to the generator: the extractive answer's citations, then its related
    sentences, numbered 1..n. A sentence shorter than `min_chars` is widened with its neighbours
    inside its chunk, so the model sees some context; the citation then quotes the wider span
    (still exact: `document.text[start:end] == quote`)."""
    passages: list[Citation] = []
    seen: set[tuple[str, int, int]] = set()
    for citation in [*answer.citations, *answer.related]:
        start, end = citation.start, citation.end
        owner = chunk(citation.chunk_id) if end - start < min_chars else None
        if owner is not None and (start, end) in owner.sentences:
            spans = list(owner.sentences)
            low = high = spans.index((start, end))
            while spans[high][1] - spans[low][0] < min_chars and (
                low > 0 or high < len(spans) - 1
            ):  # the next sentence first, then the one before
                if high < len(spans) - 1:
                    high += 1
                if spans[high][1] - spans[low][0] < min_chars and low > 0:
                    low -= 1
            start, end = spans[low][0], spans[high][1]
        if (citation.doc_id, start, end) in seen:
            continue
        seen.add((citation.doc_id, start, end))
        text = documents[citation.doc_id].text[start:end]
        passages.append(replace(citation, n=len(passages) + 1, quote=text, start=start, end=end))
    return passages


# -- from generated text to an answer ----------------------------------------------------------
_THINK_RE = re.compile(r"<think>.*?</think>", re.S)
_LABEL_RE = re.compile(r"^\s*(?:answer|trả lời|câu trả lời)\s*:\s*", re.I)


def clean_generated(text: str) -> str:
    """NFC, without reasoning blocks, an "Answer:" label or surrounding white space."""
    text = _THINK_RE.sub("", nfc(text))
    return _LABEL_RE.sub("", text).strip()


def _fallback(
    answer: Answer,
    generator: Generator,
    note: str,
    failed: Sequence[Failure] = (),
    checked: bool = False,
) -> Answer:
    return replace(
        answer, mode="extractive", grounding=record(checked, False, failed, generator.name, note)
    )


def generate_answer(
    generator: Generator, extractive: Answer, passages: list[Citation], max_tokens: int = 256
) -> Answer:
    """The generated answer if it passes the guard, else `extractive` with the reason.

    The generated answer cites the passages its text cites, renumbered 1..m in order of first
    citation (markers rewritten to match); the other passages become `related`.
    """
    if not extractive.found or not passages:
        return _fallback(
            extractive, generator, "not generated: the articles do not answer the question"
        )
    quotes = [p.quote for p in passages]
    messages = build_messages(extractive.question, extractive.language, quotes)
    try:
        text = clean_generated(generator.generate(messages, max_tokens))
    except Exception as exc:  # a backend must never take the answer down with it
        kind = "" if isinstance(exc, GeneratorError) else f"{type(exc).__name__}: "
        return _fallback(
            extractive, generator, f"generator failed ({kind}{exc}); showing the extractive answer"
        )
    verdict = check(text, quotes, extractive.language)
    if not verdict.passed:
        return _fallback(
            extractive,
            generator,
            "the generated answer failed the grounding check; showing the extractive answer",
            verdict.failed,
            checked=True,
        )
    order = {old: new for new, old in enumerate(verdict.cited, 1)}
    cited = [replace(passages[old - 1], n=new) for old, new in order.items()]
    others = [p for i, p in enumerate(passages, 1) if i not in order]
    return replace(
        extractive,
        answer=renumber(text, order),
        citations=cited,
        related=[replace(p, n=len(cited) + i) for i, p in enumerate(others, 1)],
        mode=f"generated:{generator.name}",
        grounding=record(True, True, (), generator.name, ""),
    )


# -- transformers backend ----------------------------------------------------------------------
class TransformersGenerator:
    """A local causal LM (model id, folder, or .gguf file) on the CPU, greedy decoding."""

    # A plain prompt has no end-of-turn token: the answer is one line (a base model goes on with
    # another "Question:" or more passages after it).
    STOP = "\n"

    def __init__(self, source: str, timeout: float = 30.0) -> None:
        self.source = source
        self.name = f"transformers:{Path(source).name or source}"
        self.timeout = timeout
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._error: GeneratorError | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._model, self._tokenizer
        if self._error is not None:  # do not pay a failing load on every question
            raise self._error
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = Path(self.source).expanduser()
            where, options = self.source, {}
            if path.suffix.lower() == ".gguf":
                if not path.is_file():
                    raise GeneratorError(f"no GGUF file at {path}")
                where, options = str(path.parent), {"gguf_file": path.name}
            elif path.exists():
                where = str(path)
            if path.exists():
                options["local_files_only"] = True
            tokenizer = AutoTokenizer.from_pretrained(where, **options)
            model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **options)
            model.eval()
        except GeneratorError as exc:
            self._error = exc
            raise
        except Exception as exc:
            self._error = GeneratorError(f"cannot load {self.source}: {type(exc).__name__}: {exc}")
            raise self._error from exc
        self._model, self._tokenizer = model, tokenizer
        return model, tokenizer

    def _inputs(self, messages: list[Message]) -> tuple[Any, str | None]:
        """Token ids for `messages`, and the answer start a plain prompt ends with (None when the
        tokenizer's chat template is used)."""
        tokenizer = self._tokenizer
        if getattr(tokenizer, "chat_template", None):
            options = {"add_generation_prompt": True, "return_tensors": "pt", "return_dict": True}
            try:
                return tokenizer.apply_chat_template(messages, **options), None
            except Exception:  # templates without a system role (Gemma): fold it into the user turn
                system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
                rest = [dict(m) for m in messages if m["role"] != "system"]
                if rest and rest[0]["role"] == "user":
                    rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
                return tokenizer.apply_chat_template(rest, **options), None
        return tokenizer(plain_prompt(messages), return_tensors="pt"), answer_start(messages)

    def _options(
        self,
        inputs: Any,
        max_tokens: int,
        plain: bool,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer = self._tokenizer
        prompt_length = inputs["input_ids"].shape[1]
        stop = self.STOP

        class StopOnText(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # type: ignore[no-untyped-def]
                return stop in tokenizer.decode(
                    input_ids[0, prompt_length:], skip_special_tokens=True
                )

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # type: ignore[no-untyped-def]
                return cancel is not None and cancel.is_set()

        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id
        options: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_tokens,
            "do_sample": False,
            "max_time": self.timeout,
            "pad_token_id": pad,
        }
        criteria = [StopOnText()] if plain else []
        if cancel is not None:
            criteria.append(Cancelled())
        if criteria:
            options["stopping_criteria"] = StoppingCriteriaList(criteria)
        return options

    def _text(self, continuation: str, start: str | None) -> str:
        """The answer: the model's continuation, after the plain prompt's answer start and up
        to the end of its line."""
        if start is None:
            return continuation.strip()
        return (start + continuation).split(self.STOP, 1)[0].strip()

    def generate(self, messages: list[Message], max_tokens: int) -> str:
        import torch

        with self._lock:
            model, tokenizer = self._load()
            inputs, start = self._inputs(messages)
            with torch.inference_mode():
                output = model.generate(**self._options(inputs, max_tokens, start is not None))
            new = output[0, inputs["input_ids"].shape[1] :]
            return self._text(tokenizer.decode(new, skip_special_tokens=True), start)

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        with self._lock:
            model, tokenizer = self._load()
            inputs, start = self._inputs(messages)
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
            cancel = threading.Event()
            options = {
                **self._options(inputs, max_tokens, start is not None, cancel),
                "streamer": streamer,
            }
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.inference_mode():
                        model.generate(**options)
                except BaseException as exc:  # surfaced to the consumer below
                    failure.append(exc)
                    streamer.end()

            worker = threading.Thread(target=run, name="generate", daemon=True)
            worker.start()
            raw, emitted = "", ""
            try:
                for piece in streamer:
                    raw += piece
                    text = self._text(raw, start)
                    if len(text) > len(emitted) and text.startswith(emitted):
                        yield text[len(emitted) :]
                        emitted = text
                    if start is not None and self.STOP in raw:
                        break
            finally:
                cancel.set()
            worker.join()
            if failure:
                raise GeneratorError(f"{self.name}: {failure[0]}") from failure[0]


# -- OpenAI-compatible HTTP backend --------------------------------------------------------------
class OpenAIGenerator:
    """Chat completions over HTTP: POST <base_url>/chat/completions, temperature 0."""

    def __init__(
        self, base_url: str, model: str, timeout: float = 30.0, api_key: str | None = None
    ) -> None:
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=self._headers)

    def _payload(self, messages: list[Message], max_tokens: int, stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": stream,
        }

    def _error(self, exc: Exception) -> GeneratorError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return GeneratorError(
                f"{self.name}: no answer from {self.url} within {self.timeout:g}s"
            )
        if isinstance(exc, httpx.HTTPError):
            return GeneratorError(f"{self.name}: cannot reach {self.url}: {exc}")
        return GeneratorError(f"{self.name}: {exc}")

    def _status(self, response: Any) -> None:
        if response.status_code >= 400:
            body = " ".join(response.text.split())[:200]
            raise GeneratorError(
                f"{self.name}: HTTP {response.status_code} from {self.url}: {body}"
            )

    def generate(self, messages: list[Message], max_tokens: int) -> str:
        import httpx

        try:
            response = self._client.post(self.url, json=self._payload(messages, max_tokens, False))
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        self._status(response)
        return self._content(response)

    def _content(self, response: Any) -> str:
        """The text of a (non-streamed) chat completion."""
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(
                f"{self.name}: malformed response from {self.url}: {response.text[:200]!r}"
            ) from exc
        if not isinstance(content, str):
            raise GeneratorError(f"{self.name}: malformed response: content is not text")
        return content

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        """Text pieces as the server sends them (SSE `data: {...}` lines up to `data: [DONE]`);
        the whole stream must arrive within the timeout."""
        import httpx

        deadline = time.monotonic() + self.timeout
        payload = self._payload(messages, max_tokens, True)
        try:
            with self._client.stream("POST", self.url, json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    self._status(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()  # a server that ignored "stream": one whole completion
                    yield self._content(response)
                    return
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise GeneratorError(
                            f"{self.name}: stream from {self.url} exceeded {self.timeout:g}s"
                        )
                    line = line.strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, event:/id: fields
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    try:
                        choice = json.loads(data)["choices"][0]
                        piece = (choice.get("delta") or {}).get("content") or ""
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                        raise GeneratorError(
                            f"{self.name}: malformed stream event from {self.url}: {data[:200]!r}"
                        ) from exc
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        self._client.close()
