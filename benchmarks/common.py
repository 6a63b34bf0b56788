"""Timing, memory and printing helpers shared by every benchmark.

Times are wall-clock (`time.perf_counter`). Each figure is the best of several rounds, the usual
`timeit` practice: noise from other processes only ever adds time, so the minimum is the most
repeatable estimate of what the code itself costs. The median is kept alongside for the notes.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

#: What a figure counts; `rate` is the only one where more is better.
Unit = Literal["rate", "seconds", "bytes", "hashes"]


@dataclass(frozen=True)
class Timing:
    """Seconds per operation over several rounds of `number` operations each."""

    rounds: tuple[float, ...]
    number: int

    @property
    def best(self) -> float:
        """The fastest round, per operation."""
        return min(self.rounds) / self.number

    @property
    def median(self) -> float:
        """The median round, per operation."""
        return statistics.median(self.rounds) / self.number

    @property
    def rate(self) -> float:
        """Operations per second at the best round."""
        return 1.0 / self.best if self.best > 0 else math.inf


class Run(NamedTuple):
    """Something to time: `fn` is called `calls` times a round, and each call does `items` operations."""

    fn: Callable[[], object]
    calls: int = 1
    items: int = 1


def _round(run: Run) -> float:
    fn = run.fn
    start = time.perf_counter()
    for _ in range(run.calls):
        fn()
    return time.perf_counter() - start


def side_by_side(*runs: Run, repeat: int) -> list[Timing]:
    """Time each run in alternating rounds, so drift in the machine hits ours and the reference alike.

    The collector is off while timing, as `timeit` does, so one run does not pay for another's garbage.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        rounds: list[list[float]] = [[] for _ in runs]
        for _ in range(repeat):
            for run, times in zip(runs, rounds, strict=True):
                times.append(_round(run))
        return [Timing(tuple(times), run.calls * run.items) for run, times in zip(runs, rounds, strict=True)]
    finally:
        if enabled:
            gc.enable()


def best_of(fn: Callable[[], object], *, number: int, repeat: int) -> Timing:
    """Time `repeat` rounds of `number` calls of `fn`."""
    return side_by_side(Run(fn, number), repeat=repeat)[0]


def time_once(fn: Callable[[], object], *, operations: int) -> Timing:
    """One timed call of `fn` that performs `operations` operations itself (for runs that change state)."""
    start = time.perf_counter()
    fn()
    return Timing((time.perf_counter() - start,), operations)


def peak_memory(fn: Callable[[], object]) -> tuple[object, int]:
    """The result of `fn()` and the peak bytes Python allocated while it ran (tracemalloc; slows `fn`)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


# --- figures and the table ---------------------------------------------------------------------------


def format_value(value: float, unit: Unit) -> str:
    """A figure with its unit, in a size a reader takes in at a glance."""
    if unit == "rate":
        return f"{value:,.0f} /s" if value >= 100 else f"{value:,.1f} /s"
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if value >= scale:
                return f"{value / scale:,.2f} {suffix}"
        return f"{value * 1e9:,.0f} ns"
    if unit == "bytes":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:,.1f} {suffix}"
        return f"{value:,.0f} B"
    return f"{value:,.1f} hashes" if value != int(value) else f"{value:,.0f} hashes"


@dataclass(frozen=True)
class Row:
    """One measurement: our figure beside the reference's, in the same unit."""

    measurement: str
    ours: float
    reference: float
    reference_name: str
    unit: Unit

    @property
    def ratio(self) -> float:
        """Ours' cost over the reference's: time (or bytes, or hashes) per item; 1.00 is no overhead."""
        if self.unit == "rate":
            return self.reference / self.ours if self.ours else math.inf
        return self.ours / self.reference if self.reference else math.inf


@dataclass
class Report:
    """What one benchmark found: its rows and the notes a reader needs to read them."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def compare(self, measurement: str, ours: float, reference: float, *, unit: Unit, against: str) -> Row:
        """Add a row comparing our figure with the reference's, both measured in this run."""
        row = Row(measurement, ours, reference, against, unit)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        """Add a line printed under the table."""
        self.notes.append(text)


HEADERS = ("measurement", "ours", "reference", "ratio", "reference is")


def format_ratio(ratio: float) -> str:
    """Three significant figures are all a ratio between two timings can carry."""
    if not math.isfinite(ratio):
        return "n/a"
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text table."""
    cells = [HEADERS] + [
        (r.measurement, format_value(r.ours, r.unit), format_value(r.reference, r.unit),
         format_ratio(r.ratio), r.reference_name)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join([row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]),
                                row[3].rjust(widths[3]), row[4]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
