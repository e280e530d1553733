"""The learning-rate schedule and the --deadline clock: warm-up, then cosine decay on whichever
runs out first, the steps or the wall-clock time to the deadline. Pure arithmetic on steps and
time, apart from the trainer so it reads (and tests) on its own."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable


def lr_factor(step: int, total: int, warmup: int, time_progress: float = 0.0) -> float:
    """Linear warm-up, then cosine to 0.1 over the steps or the time to the deadline,
    whichever runs out first (so a slow machine still ends on a decayed learning rate)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = max(step_progress(step, total, warmup), time_progress)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def step_progress(step: int, total: int, warmup: int) -> float:
    return max(step - warmup, 0) / max(total - warmup, 1)


def schedule_clock(args: argparse.Namespace, step: int, warmup: int) -> Callable[[], float]:
    """The time part of the schedule for this process: from where the steps stand when it starts
    (0 for a new run, the resumed step's progress for a resumed one — sessions apart, the wall
    clock between them means nothing) to 1 at --deadline."""
    end_at = deadline_epoch(args.deadline)
    if end_at is None:
        return lambda: 0.0
    start, p0 = time.time(), step_progress(step, args.steps, warmup)
    span = max(end_at - start, 1.0)
    return lambda: p0 + (1 - p0) * (time.time() - start) / span


def deadline_epoch(deadline: str) -> float | None:
    """Seconds since the epoch of the next HH:MM UTC."""
    if not deadline:
        return None
    hh, mm = (int(x) for x in deadline.split(":"))
    now = time.time()
    day = now - now % 86400
    at = day + hh * 3600 + mm * 60
    return at if at > now - 43200 else at + 86400


def deadline_passed(deadline: str) -> bool:
    at = deadline_epoch(deadline)
    return at is not None and time.time() >= at
