"""Linear scores fit listwise on data, stored as JSON: the sentence ranker (`rerank`) and the
reader's span scorer (`span_score`). Each question's candidates (sentences, or spans of one
sentence) form a list; the weights maximise the softmax probability of its gold ones.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def load(path: Path, features: tuple[str, ...]) -> dict[str, dict]:
    """The fitted groups of the table at `path` ({group: {"coef": [...], ...}}); empty when
    it does not exist or was fit on other features."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if table.get("features") != list(features):
        return {}
    return table["groups"]


def fit(rows: list[dict], l2: float, n_features: int) -> list[float]:
    """Weights maximising the mean log softmax-probability of the gold items (rows of
    candidate features `x` with gold marks `y`)."""
    import numpy as np
    from scipy.optimize import minimize

    data = [(np.array(r["x"]), np.array(r["y"], float)) for r in rows if r["x"] and any(r["y"])]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in data:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            gold = float((p * y).sum()) + 1e-12
            total -= math.log(gold)
            grad += x.T @ (p - p * y / gold)
        return total / len(data) + l2 * float(w @ w), grad / len(data) + 2 * l2 * w

    return minimize(loss, np.zeros(n_features), jac=True, method="L-BFGS-B").x.tolist()
