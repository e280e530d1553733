"""The `qa` subcommands (`cmd_<name>`, chosen by qa.serve.cli's parser): each reads its
parsed arguments, does its work through `QA` and prints plain lines or JSON; a `QAError` is left
to `main`, which prints it as one line and exits with 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qa.errors import DocumentError, InvalidQuestion, QAError
from qa.ingest.documents import SUFFIXES
from qa.ingest.feeds import read_feed
from qa.ingest.fetch import fetch, is_url, saved_page
from qa.pipeline import QA
from qa.serve.cli_format import format_answer, source_lines
from qa.settings import Settings
from qa.types import Answer


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of the environment, with the flags a subcommand was given on top."""
    return Settings.from_env().with_overrides(
        corpus_dir=getattr(args, "corpus", None),
        index_dir=getattr(args, "index", None),
        embedder=getattr(args, "embedder", None),
        generator=getattr(args, "generator", None),
        embed_workers=getattr(args, "workers", None),
        ray_address=getattr(args, "ray", None),
        port=getattr(args, "port", None),
    )


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    print(
        f"\rembedding [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        end="",
        file=sys.stderr,
    )
    if done >= total:
        print(file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    qa = QA(settings_from(args))
    report = qa.index(rebuild=args.rebuild, progress=None if args.quiet else _progress)
    print(
        f"indexed {report.chunks} chunks in {report.seconds:.1f}s: "
        f"{len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed "
        f"({report.embedded_texts} texts embedded) -> {qa.settings.index_dir}/{report.generation}"
    )
    for a, b, overlap in report.near_duplicates:
        print(f"near-duplicate: {a} ~ {b} ({overlap:.0%} of sentences shared)")
    return 0


def _filters(args: argparse.Namespace, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """since/until/sources from the flags, overridden by a --jsonl request's own fields."""
    given = {k: getattr(args, k, None) for k in ("since", "until", "sources")}
    return {k: (request or {}).get(k, v) for k, v in given.items()}


def _ask_one(
    qa: QA,
    question: str,
    history: list[str] | None,
    k: int | None,
    as_json: bool,
    filters: dict[str, Any],
) -> str:
    from qa.serve.stream import plain_answer

    answer = qa.answer(question, history=history, k=k, **filters)
    if as_json:  # the text plain, as every door sends it; the quotes exact (data)
        return json.dumps(plain_answer(answer).to_dict(), ensure_ascii=False)
    return format_answer(plain_answer(answer, citations=True))  # for a terminal: all plain


def _print_stream(answer: Answer, as_json: bool) -> None:
    """`qa ask --stream`: the events of qa.serve.stream as they come — one JSON line each with
    --json, else the text as it arrives, then the sources."""
    from qa.serve.stream import answer_events, plain_answer

    for event, data in answer_events(answer):
        if as_json:
            print(json.dumps({"event": event, "data": data}, ensure_ascii=False), flush=True)
        elif event == "delta":
            print(data["text"], end="", flush=True)
    if not as_json:
        lines = source_lines(plain_answer(answer, citations=True))
        print("\n\n" + "\n".join(lines) if lines else "", flush=True)


def cmd_ask(args: argparse.Namespace) -> int:
    qa = QA(settings_from(args))
    if args.jsonl:
        status = 0
        for line_no, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                request: Any = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("each line must be a JSON object")
                question, history = request.get("question"), request.get("history")
                answer = _ask_one(qa, question, history, args.k, True, _filters(args, request))
                print(answer, flush=True)
            except (QAError, ValueError) as exc:
                status = 2
                print(
                    json.dumps({"error": str(exc), "line": line_no}, ensure_ascii=False), flush=True
                )
        return status
    if not args.question:
        raise InvalidQuestion("give a question, or --jsonl to read questions from stdin")
    question = " ".join(args.question)
    if args.stream:
        answer = qa.answer(question, history=args.history or None, k=args.k, **_filters(args))
        _print_stream(answer, args.json)
        return 0
    print(_ask_one(qa, question, args.history or None, args.k, args.json, _filters(args)))
    return 0


def _named_page(url: str, qa: QA) -> tuple[str, bytes]:
    """A fetched page as an article file: named after the URL, the URL kept in the page."""
    page = fetch(url, qa.settings.max_document_bytes, qa.settings.fetch_timeout)
    return saved_page(page)


def cmd_add(args: argparse.Namespace) -> int:
    qa = QA(settings_from(args))
    files: list[tuple[str, bytes]] = []
    for given in args.paths:
        path = Path(given)
        if is_url(given):
            files.append(_named_page(given, qa))
        elif path.is_dir():
            files += [
                (p.name, p.read_bytes())
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUFFIXES
            ]
        elif path.is_file():
            files.append((path.name, path.read_bytes()))
        else:
            raise DocumentError(f"{given}: no such file, folder or URL")
    limit, timeout = qa.settings.max_document_bytes, qa.settings.fetch_timeout
    for feed in args.feed or []:
        if is_url(feed):
            fetched = fetch(feed, limit, timeout)
            data, url = fetched.data, fetched.url
        elif Path(feed).is_file():
            data, url = Path(feed).read_bytes(), ""
        else:
            raise DocumentError(f"{feed}: no such feed file or URL")
        follow = (lambda link: fetch(link, limit, timeout).text()) if args.follow else None
        files += read_feed(data, url, fetch_page=follow)
    if not files:
        raise DocumentError("nothing to add: give article files, folders, URLs or --feed")
    documents, report = qa.add_documents(files)
    for doc in documents:
        state = (
            "added"
            if doc.doc_id in report.added
            else "updated"
            if doc.doc_id in report.updated
            else "unchanged"
        )
        dated = " · ".join(p for p in (doc.source, doc.date) if p)
        print(f"{state}: {doc.doc_id}  {doc.title}{f'  ({dated})' if dated else ''}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    QA(settings_from(args)).remove_document(args.doc_id)
    print(f"removed: {args.doc_id}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    qa = QA(settings_from(args))
    for doc in qa.documents():
        n = qa.chunk_count(doc.doc_id)
        print(
            f"{doc.doc_id}\t{n} chunk{'' if n == 1 else 's'}\t{doc.date or '-'}\t"
            f"{doc.source or '-'}\t{doc.title}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    doc = QA(settings_from(args)).document(args.doc_id)
    print(
        json.dumps(doc.to_dict(), ensure_ascii=False, indent=2)
        if args.json
        else f"# {doc.title}\n\n{doc.text}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    qa = QA(settings_from(args))
    if args.repair:
        for line in qa.recover():  # half-done adds/removes: finished or rolled back
            print(line)
    drift = qa.verify()
    if args.repair and any(drift.values()):
        report = qa.index(rebuild=bool(drift["damaged"]), progress=None)
        print(
            f"re-indexed: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed -> {report.generation}"
        )
        drift = qa.verify()
    for kind, ids in drift.items():
        for doc_id in ids:
            print(f"{kind}: {doc_id}")
    if any(drift.values()):
        print("index and corpus differ: run `qa verify --repair` (or `qa index --rebuild`)")
        return 1
    print("index matches the corpus")
    return 0


def say(message: str) -> None:
    """One line of `qa serve` progress on stderr (stdout stays free for the server's own log)."""
    print(f"qa serve: {message}", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.serve import server  # light: the web stack loads in server.serve

    settings = settings_from(args)
    sock = server.open_socket(settings, args.host, args.insecure_no_token)  # before the slow start
    say(f"starting on {args.host}:{settings.port}; loading the web stack (FastAPI, Gradio)")
    server.serve(settings, sock, say)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from qa.serve.mcp_server import serve_stdio

    serve_stdio(settings_from(args))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from qa.conversations import ConversationStore

    settings = settings_from(args)
    store = (
        ConversationStore(Path(args.db)) if args.db else ConversationStore.for_settings(settings)
    )
    rows = [json.dumps(row, ensure_ascii=False) + "\n" for row in store.rated_turns()]
    if args.out == "-":
        sys.stdout.writelines(rows)
    else:
        Path(args.out).write_text("".join(rows), encoding="utf-8")
        print(f"{len(rows)} rated answers -> {args.out}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """`python -m bench ARGS` of the repository this package is installed from: the benchmarks
    (top-level `bench/`) are not part of the product, which imports nothing from them."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").is_file():
        print(
            "error: `qa bench` runs the benchmarks of a checkout of the repository (bench/), "
            "and this installation has none",
            file=sys.stderr,
        )
        return 2
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest  # `qa bench -- --quick`
    return subprocess.call([sys.executable, "-m", "bench", *rest], env=env)


def cmd_users(args: argparse.Namespace) -> int:
    """`qa users add NAME [--role read|admin]`, `qa users remove NAME`, `qa users list`."""
    from qa.serve.users import Users, users_path

    settings = settings_from(args)
    users = Users(Path(args.file) if args.file else users_path(settings))
    if args.action == "add":
        token = users.add(args.name, args.role)
        print(f"added {args.name} ({args.role}); their token (shown only now):", file=sys.stderr)
        print(token)
        return 0
    if args.action == "remove":
        if not users.remove(args.name):
            raise QAError(f"no user named {args.name!r}")
        print(f"removed {args.name}: their token and sessions no longer work")
        return 0
    for user in users.listing():
        print(f"{user['name']}\t{user['role']}\t{user['created']}")
    return 0
