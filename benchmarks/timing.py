"""Timing with the hygiene a noisy shared machine needs.

* Inputs are built before timing; a sample times only calls of ``step``.
* The first call (tracing, XLA compilation, first touch of memory) is timed
  on its own and reported apart; then every step gets one untimed call
  before the rounds, and, unless it is a long step, one more per block.
* A sample is an inner loop of calls lasting at least ``sample_seconds``,
  reported as the mean time per call; the figures are the median and the
  spread (min-max) over all samples.
* Implementations are interleaved: every round runs one block per
  implementation, in a rotated order, after a pause of ``PAUSE_SECONDS``.
  OpenBLAS's worker threads busy-spin for about 0.1 s after a call, and
  the machine's speed drifts by tens of percent over minutes, so only
  ratios of figures measured in the same rounds are trusted.
* Minor page faults per call are counted with ``getrusage`` around the
  samples (they reveal the allocator trap that ``manual_backprop.backend``
  avoids).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAUSE_SECONDS = 0.15  # longer than OpenBLAS's ~0.1 s spin after a call


@dataclass
class Timings:
    """Samples (seconds per call) and page faults for one implementation."""

    samples: list[float] = field(default_factory=list)
    faults: list[float] = field(default_factory=list)
    first_call: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median if self.samples else None,
            "min_s": self.low if self.samples else None,
            "max_s": self.high if self.samples else None,
            "samples_s": self.samples,
            "n_samples": len(self.samples),
            "minor_faults_per_call": (
                statistics.median(self.faults) if self.faults else None
            ),
            "first_call_s": self.first_call,
        }


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed_first_call(step: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of the very first call (tracing included) and its result."""
    start = time.perf_counter()
    result = step()
    return time.perf_counter() - start, result


def inner_count(step: Callable[[], Any], sample_seconds: float) -> int:
    """How many calls make one sample last at least ``sample_seconds``."""
    start = time.perf_counter()
    step()
    once = time.perf_counter() - start
    return max(1, int(sample_seconds / max(once, 1e-7)) + 1)


def sample(step: Callable[[], Any], inner: int) -> tuple[float, float]:
    """One sample: mean seconds per call and minor page faults per call."""
    faults = _minor_faults()
    start = time.perf_counter()
    for _ in range(inner):
        step()
    elapsed = time.perf_counter() - start
    return elapsed / inner, (_minor_faults() - faults) / inner


def interleaved(
    steps: dict[str, Callable[[], Any]],
    timings: dict[str, Timings],
    *,
    rounds: int,
    samples_per_block: int,
    sample_seconds: float,
    warm_up: bool,
    tick: Callable[[str], None] | None = None,
) -> None:
    """Time every step in rounds of blocks, one block per step per round."""
    names = list(steps)
    inner = {name: 1 for name in names}
    for name in names:
        time.sleep(PAUSE_SECONDS)
        if warm_up:
            inner[name] = inner_count(steps[name], sample_seconds)
        else:
            # One untimed call even for long steps: the call after the
            # traced first one can still be slow (the engine's [4096]×4
            # step in tf.function took 1.4× its steady time there).
            steps[name]()

    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(PAUSE_SECONDS)
            if warm_up:
                steps[name]()
            for _ in range(samples_per_block):
                seconds, faults = sample(steps[name], inner[name])
                timings[name].samples.append(seconds)
                timings[name].faults.append(faults)
            if tick is not None:
                tick(name)
