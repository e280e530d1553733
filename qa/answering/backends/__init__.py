"""Generator backends, chosen by name with `make_generator(spec)` (like `make_embedder`):

* "none" (default): no generator, answers are extractive;
* "transformers:<model id or local path>": a causal LM on the CPU through transformers, loaded
  on first use, greedy decoding, the tokenizer's chat template when it has one, else a plain
  prompt. A path ending in ".gguf" is loaded with transformers' GGUF support (`gguf_file=`,
  needs `gguf` and `accelerate`), which de-quantises it: use "llamacpp:" for a GGUF;
* "llamacpp:<path.gguf>": a GGUF model in-process through llama.cpp (the `xllamacpp` wheel,
  `llamacpp` extra), `threads` CPU threads (1 by default), the way to run a GGUF here;
* "openai:<base_url>#<model>": any OpenAI-compatible chat-completions server over HTTP
  (`<base_url>/chat/completions`), API key from QA_GENERATOR_API_KEY, streaming with SSE.
"""

from __future__ import annotations

import os

from qa.answering.backends.base import (
    Generator,
    GeneratorError,
    Message,
    UnknownGenerator,
    answer_start,
    plain_prompt,
)
from qa.answering.backends.llamacpp import LlamaCppGenerator
from qa.answering.backends.openai_http import OpenAIGenerator
from qa.answering.backends.transformers_lm import TransformersGenerator

__all__ = [
    "Generator",
    "GeneratorError",
    "LlamaCppGenerator",
    "Message",
    "OpenAIGenerator",
    "TransformersGenerator",
    "UnknownGenerator",
    "answer_start",
    "make_generator",
    "plain_prompt",
]


def make_generator(spec: str | None, timeout: float = 30.0, threads: int = 1) -> Generator | None:
    """The generator named by `spec` (see the module docstring), or None for "none". `threads`
    is for the backends that compute on this machine's CPU (llamacpp)."""
    spec = (spec or "none").strip()
    if spec.lower() in ("none", "off", "extractive"):
        return None
    kind, _, rest = spec.partition(":")
    if kind == "transformers" and rest:
        return TransformersGenerator(rest, timeout=timeout)
    if kind == "llamacpp" and rest.lower().endswith(".gguf"):
        return LlamaCppGenerator(rest, timeout=timeout, threads=threads)
    if kind == "openai" and rest:
        base_url, _, model = rest.partition("#")
        if base_url.startswith(("http://", "https://")) and model:
            return OpenAIGenerator(
                base_url, model, timeout=timeout, api_key=os.environ.get("QA_GENERATOR_API_KEY")
            )
    raise UnknownGenerator(
        f"unknown generator {spec!r}: use 'none', 'llamacpp:<path.gguf>', "
        "'transformers:<model id or path>' or 'openai:<base_url>#<model>'"
    )
