"""What the page's handlers accept: only the values the page's own components can produce.

Every input of a Gradio handler is a JSON value the *client* sends (through `/gradio_api/
queue/join`, `/call/<name>`, `/run/<name>`, by handler number or name), and Gradio turns some
shapes into files before the handler runs: a `FileData` dict (`{"path": ..., "meta": {"_type":
"gradio.FileData"}}`) anywhere in a value is copied into its cache folder, and a Chatbot message
whose content is a component (`{"type": "component", "component": "file", "value": {"path":
...}}`) or a file (`{"type": "file", "file": {...}}`) builds that component around a server path
— which copies the file into the cache, from where `/gradio_api/file=` serves it. None of our
components produces such a value in the browser: the chat's bubbles are text, the textboxes send
strings, the dropdowns strings, and the one file input (the corpus upload) a `FileData` that
Gradio's upload route returned in this process.

`guard(demo)` checks every input of every handler against that, before Gradio preprocesses
anything (so before any copy): a value of another shape is refused with one message that names
neither the path nor whether it exists. The check is by component class, so a component added
later without a rule here accepts no file-like value at all (`_no_files`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

REFUSED = "this input is not something the page sends; reload the page"
# Keys that make Gradio treat a dict as a file or a component (FileData, Chatbot content parts).
_FILE_KEYS = frozenset({"path", "url", "meta", "file", "component", "orig_name", "is_stream"})
_MESSAGE_KEYS = frozenset({"role", "content", "metadata", "options"})
_ROLES = frozenset({"user", "assistant"})
_SCALARS = (str, int, float, bool, type(None))


class InputRefused(gr.Error):
    """An input value no component of the page can produce (shown to the client as is)."""

    def __init__(self) -> None:
        super().__init__(REFUSED, print_exception=False)


def _file_like(value: Any, depth: int = 0) -> bool:
    """True when `value` holds, at any depth, a dict Gradio could read as a file or component
    (or nests deeper than any value of the page)."""
    if depth > 8:
        return True
    if isinstance(value, dict):
        if _FILE_KEYS & value.keys() or value.get("type") in ("file", "component"):
            return True
        return any(_file_like(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_file_like(v, depth + 1) for v in value)
    return False


def _no_files(value: Any, component: Any, received: set[str]) -> bool:
    return not _file_like(value)


def _text(value: Any, component: Any, received: set[str]) -> bool:
    return value is None or isinstance(value, str)


def _choice(value: Any, component: Any, received: set[str]) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, _SCALARS) and not isinstance(v, bool) for v in value)
    return isinstance(value, _SCALARS)


def _text_part(part: Any) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type", "text") == "text"
        and set(part) <= {"type", "text"}
        and isinstance(part.get("text"), str)
    )


def _message(message: Any) -> bool:
    if not isinstance(message, dict) or not set(message) <= _MESSAGE_KEYS:
        return False
    if message.get("role") not in _ROLES:
        return False
    content = message.get("content")
    if isinstance(content, list):
        if not all(_text_part(p) for p in content):
            return False
    elif not isinstance(content, str) and not _text_part(content):
        return False
    metadata = message.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, _SCALARS) for v in metadata.values())
    ):
        return False
    options = message.get("options")
    return options is None or (
        isinstance(options, list)
        and all(
            isinstance(o, dict) and all(isinstance(v, _SCALARS) for v in o.values())
            for o in options
        )
    )


def _chat(value: Any, component: Any, received: set[str]) -> bool:
    """A chat history whose every message is plain text (the page's bubbles)."""
    return value is None or (isinstance(value, list) and all(_message(m) for m in value))


def _received_file(value: Any, component: Any, received: set[str]) -> bool:
    """Nothing, or a FileData naming a file Gradio's upload route returned in this process."""
    if value is None:
        return True
    if not isinstance(value, dict) or value.get("meta") != {"_type": "gradio.FileData"}:
        return False
    path = value.get("path")
    # Gradio reads `path` (the browser also sends the file's `url` on this server; unused).
    return isinstance(path, str) and path in received and not value.get("is_stream")


def _index(value: Any, component: Any, received: set[str]) -> bool:
    """An Examples table: the number of a sample, or a sample's (text) values."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, type(None))):
        return True
    return isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)


Rule = Callable[[Any, Any, set[str]], bool]
# Most specific first (isinstance): a component class without a rule gets `_no_files`.
RULES: tuple[tuple[type, Rule], ...] = (
    (gr.Chatbot, _chat),
    (gr.File, _received_file),
    (gr.Dropdown, _choice),
    (gr.Textbox, _text),
    (gr.HTML, _text),
    (gr.Markdown, _text),
    (gr.Dataset, _index),
)


def rule_for(component: Any) -> Rule:
    for cls, rule in RULES:
        if isinstance(component, cls):
            return rule
    return _no_files


def check_inputs(block_fn: Any, inputs: list[Any], received: set[str]) -> None:
    """Raise `InputRefused` unless every input value is one its component can produce (file
    inputs: only files in `received`). A stateful component (gr.State) keeps its value on the
    server and ignores what the client sends; it may not carry a file-like value either."""
    if not isinstance(inputs, list):
        raise InputRefused()
    for component, value in zip(block_fn.inputs, inputs, strict=False):
        rule = _no_files if getattr(component, "stateful", False) else rule_for(component)
        if not rule(value, component, received) or (
            rule is not _received_file and _file_like(value)
        ):
            raise InputRefused()


def guard(demo: gr.Blocks) -> gr.Blocks:
    """Check every handler's inputs before Gradio preprocesses them (and copies any file).

    `Blocks.preprocess_data` is where every route that runs a handler (queue, /call, /run, by
    number or by name) hands the client's values to the components; the check runs first.
    """
    original = demo.preprocess_data
    received: set[str] = demo.upload_file_set

    @functools.wraps(original)
    async def preprocess_data(block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        check_inputs(block_fn, inputs, received)
        return await original(block_fn, inputs, *args, **kwargs)

    demo.preprocess_data = preprocess_data  # type: ignore[method-assign]
    return demo
