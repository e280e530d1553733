"""Any OpenAI-compatible chat-completions server over HTTP (vLLM, Ollama, llama.cpp's server)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from qa.answering.backends.base import GeneratorError, Message


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
