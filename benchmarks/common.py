"""Shared timing helper for the benchmarks: medians of per-call cost, same run."""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

# Run from a checkout without installing: make `edgeclaims` and `tests` importable.
ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def median_seconds(call: Callable[[], object], *, number: int = 2000, repeat: int = 15) -> float:
    """Median seconds per call over ``repeat`` runs of ``number`` calls."""
    call()  # warm caches and lazy imports outside the measurement
    runs = timeit.repeat(call, number=number, repeat=repeat)
    return statistics.median(run / number for run in runs)


def interleaved_medians(
    calls: dict[str, Callable[[], object]], *, number: int = 200, rounds: int = 41
) -> list[tuple[str, float]]:
    """Median seconds per call of each callable, timed in alternating bursts.

    Each round runs ``number`` calls of every callable in turn, so slow
    spells of the machine (another process, frequency changes) and cache
    pressure fall on all of them alike; a ratio of two medians compares
    like with like.
    """
    for call in calls.values():
        call()  # warm caches and lazy imports outside the measurement
    samples: dict[str, list[float]] = {name: [] for name in calls}
    clock = time.perf_counter
    for _ in range(rounds):
        for name, call in calls.items():
            started = clock()
            for _ in range(number):
                call()
            samples[name].append((clock() - started) / number)
    return [(name, statistics.median(times)) for name, times in samples.items()]


def report(rows: list[tuple[str, float]], ratios: list[tuple[str, str, str, float]]) -> None:
    """Print per-call medians, then each ratio with its budget and verdict."""
    times = dict(rows)
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1e6:9.2f} µs")
    print()
    for label, numerator, denominator, budget in ratios:
        ratio = times[numerator] / times[denominator]
        verdict = "within" if ratio <= budget else "OVER"
        print(f"  {label:<58} {ratio:6.3f}×  (budget ≤ {budget}×, {verdict})")
