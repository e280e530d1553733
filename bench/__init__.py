"""Benchmarks (`make bench`, see `__main__`): each module has `run`, `markdown` and `plot`.

The plotting helpers live here so that every `plot` draws and saves the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (there is no display), imported on use so
    that running a benchmark does not need matplotlib until it draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> list[Path]:
    """Write `fig` as a PNG and free it; returns what a module's `plot` returns."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return [path]
