"""A local causal LM through transformers: a model id or an HF folder, on the CPU."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.answering.backends.base import (
    PLAIN_STOP,
    GeneratorError,
    Message,
    answer_pieces,
    answer_start,
    plain_answer,
    plain_prompt,
)


class TransformersGenerator:
    """A local causal LM (model id, folder, or .gguf file) on the CPU, greedy decoding."""

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
        stop = PLAIN_STOP

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

    def generate(self, messages: list[Message], max_tokens: int) -> str:
        import torch

        with self._lock:
            model, tokenizer = self._load()
            inputs, start = self._inputs(messages)
            with torch.inference_mode():
                output = model.generate(**self._options(inputs, max_tokens, start is not None))
            new = output[0, inputs["input_ids"].shape[1] :]
            return plain_answer(tokenizer.decode(new, skip_special_tokens=True), start)

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
            try:
                yield from answer_pieces(streamer, start)
            finally:
                cancel.set()
            worker.join()
            if failure:
                raise GeneratorError(f"{self.name}: {failure[0]}") from failure[0]
