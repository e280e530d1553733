"""What every generator backend shares: the `Generator` protocol, its errors, and the plain
prompt for models without a chat template."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from qa.errors import QAError
from qa.text import detect_language

Message = dict[str, str]


class UnknownGenerator(QAError, ValueError):
    """A generator spec that is not "none", "transformers:...", "llamacpp:<path.gguf>" or
    "openai:<url>#<model>"."""


class GeneratorError(RuntimeError):
    """A generator backend failed: load error, timeout, HTTP error, malformed response."""


class Generator(Protocol):
    """Text from chat messages ([{"role": "system"|"user"|"assistant", "content": ...}])."""

    name: str

    def generate(self, messages: list[Message], max_tokens: int) -> str: ...

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]: ...


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


# A plain prompt has no end-of-turn token: the answer is one line (a base model goes on with
# another "Question:" or more passages after it).
PLAIN_STOP = "\n"


def plain_answer(continuation: str, start: str | None) -> str:
    """The answer in a model's output: with a plain prompt (`start` is its answer start), the
    start and the continuation up to the end of its line; with a chat template (None), all of it."""
    if start is None:
        return continuation.strip()
    return (start + continuation).split(PLAIN_STOP, 1)[0].strip()


def answer_pieces(pieces: Iterable[str], start: str | None) -> Iterator[str]:
    """What `plain_answer` would return, piece by piece as the model's `pieces` arrive (the
    answer start comes with the first); stops reading at the end of a plain answer's line."""
    raw, emitted = "", ""
    for piece in pieces:
        raw += piece
        text = plain_answer(raw, start)
        if len(text) > len(emitted) and text.startswith(emitted):
            yield text[len(emitted) :]
            emitted = text
        if start is not None and PLAIN_STOP in raw:
            return
