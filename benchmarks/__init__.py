"""Speed and memory, measured beside a reference in the same run and printed as ratios.

Benchmarks are not tests: they assert nothing about time. Each one registers itself here with
`@benchmark(...)`; `python -m benchmarks` (or `make bench`) runs them and prints the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.common import Report

#: Modules whose benchmarks the runner loads, in the order they are printed.
MODULES = ("benchmarks.signing", "benchmarks.sealing", "benchmarks.intake", "benchmarks.opening",
           "benchmarks.evaluation",
           "benchmarks.evaluation_room", "benchmarks.cash_release", "benchmarks.guarantees_callbacks",
           "benchmarks.cluster")


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: its dotted name, what it compares, and the function that measures."""

    name: str
    title: str
    comparison: str
    run: Callable[[Report, bool], None]


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, *, title: str, comparison: str) -> Callable:
    """Register `fn(report, quick)` under `name`; `comparison` says what is set beside what."""

    def register(fn: Callable[[Report, bool], None]) -> Callable[[Report, bool], None]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, title, comparison, fn)
        return fn

    return register


def select(names: list[str]) -> list[Benchmark]:
    """The benchmarks named exactly or by a dotted prefix (`signing` selects `signing.*`); all if none."""
    if not names:
        return list(REGISTRY.values())
    chosen: list[Benchmark] = []
    for name in names:
        matches = [b for b in REGISTRY.values() if b.name == name or b.name.startswith(name + ".")]
        if not matches:
            raise LookupError(f"no benchmark is named {name!r}; known: {', '.join(REGISTRY)}")
        chosen += [b for b in matches if b not in chosen]
    return chosen
