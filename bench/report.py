"""One benchmark figure and its `BENCH` line, the only thing `make bench` prints on stdout."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

#: What every line looks like; scripts comparing runs parse it.
LINE = re.compile(
    r"^BENCH (?P<name>[a-z0-9_]+) (?P<value>\d+(\.\d+)?) (?P<unit>\S+) "
    r"baseline=(?P<baseline>\d+(\.\d+)?) ratio=(?P<ratio>\d+(\.\d+)?)$"
)


def number(value: float) -> str:
    """Four significant digits and never an exponent, so the lines stay easy to parse."""
    if value == 0 or not math.isfinite(value):
        return "0"
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


@dataclass(frozen=True, slots=True)
class Figure:
    """A measured value and the baseline measured in the same run."""

    name: str
    value: float
    unit: str
    baseline: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline

    def line(self) -> str:
        return (
            f"BENCH {self.name} {number(self.value)} {self.unit} "
            f"baseline={number(self.baseline)} ratio={number(self.ratio)}"
        )


def progress(message: str) -> None:
    """Progress and details for the person waiting: stderr, never the figures' stdout."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def best_seconds(run: Callable[[], object], rounds: int) -> float:
    """The fastest of `rounds` runs: the least disturbed by other work on a shared machine."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best
