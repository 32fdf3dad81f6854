"""Where one numpy engine step spends its time: ``python -m benchmarks.profile_engine``.

Times the stages of a training step separately on one shape (forward pass,
loss, output delta, the delta recursion with its parameter gradients, the
SGD update) next to the step's matrix products alone, counts minor page
faults per step, and prints ``cProfile``'s busiest functions.  This is the
profile the engine's optimisations were judged by; the stages are the
engine's own functions, called as ``backward`` calls them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from manual_backprop import engine
from manual_backprop.backend import NUMPY
from manual_backprop.cli import OneLineParser
from manual_backprop.optimizers import SGD

from .ceiling import step_gemms
from .implementations import LEARNING_RATE
from .shapes import PRESETS, Shape, build_problem
from .timing import PAUSE_SECONDS

# Every preset's shapes by label (``deep-narrow-B64``, ``small-B256``), and
# the quick preset's by plain name: the first of that name (``small`` is
# ``small-B32``).
SHAPES = {f"{s.name}-B{s.batch}": s for p in PRESETS.values() for s in p.shapes}
PLAIN = {s.name: s for s in reversed(PRESETS["quick"].shapes)}


def resolve_shape(text: str) -> Shape:
    """A shape by label (``small-B256``) or by plain name (``small``)."""
    if text in SHAPES:
        return SHAPES[text]
    if text in PLAIN:
        return PLAIN[text]
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a shape; use a name of the quick preset "
        f"({', '.join(sorted(PLAIN))}) or a label with its batch size "
        f"({', '.join(sorted(SHAPES))})"
    )


def _repeats(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, the number of timed samples per "
            f"stage (e.g. 7); received {text!r}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    # The docstring's first line, less the command that the usage shows.
    first = (__doc__ or "").partition("\n")[0].partition(": ``")[0]
    parser = OneLineParser(
        prog="python -m benchmarks.profile_engine", description=f"{first}."
    )
    small = PLAIN["small"]
    parser.add_argument(
        "--shape",
        type=resolve_shape,
        default="deep-narrow",
        metavar="SHAPE",
        help="the shape to profile: a name of the quick preset "
        f"({', '.join(sorted(PLAIN))}; small, which has several batch "
        f"sizes, means its first, {small.name}-B{small.batch}) or a label "
        "with the batch size "
        f"({', '.join(sorted(SHAPES))}); default: deep-narrow",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="the dtype of the parameters and data (default: float32)",
    )
    parser.add_argument(
        "--repeats",
        type=_repeats,
        default=7,
        metavar="N",
        help="timed samples per stage, of which the median is printed "
        "(a positive integer; default: 7)",
    )
    return parser


def _time(fn: Callable[[], Any], repeats: int, inner: int) -> float:
    samples = []
    for _ in range(repeats):
        time.sleep(PAUSE_SECONDS)
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def train_grads(spec: Any, params: Any, x: Any, labels: Any) -> Any:
    """``backward`` as a training step calls it (no ``∂L/∂x``)."""
    return engine.backward(spec, params, x, labels, check=False, input_grad=False)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)

    problem = build_problem(args.shape, args.dtype)
    spec, params, x, labels = problem.spec, problem.params, problem.x, problem.labels
    fwd = engine._forward(spec, params, x, NUMPY)
    grads = train_grads(spec, params, x, labels)
    sgd = SGD(LEARNING_RATE)

    stages: dict[str, Callable[[], Any]] = {
        "forward (z = x Wᵀ + b, y = f(z))": lambda: engine._forward(
            spec, params, x, NUMPY
        ),
        "loss value": lambda: engine.loss_value(spec, fwd, labels, NUMPY),
        "output delta δⁿ": lambda: engine.output_delta(spec, fwd, labels, NUMPY),
        "whole backward() (forward included)": lambda: train_grads(
            spec, params, x, labels
        ),
        "SGD update": lambda: sgd.step(params, grads.param_grads()),
        "matrix products alone": step_gemms(problem.shape, args.dtype, "numpy"),
    }
    once = time.perf_counter()
    stages["whole backward() (forward included)"]()
    inner = max(1, int(0.05 / max(time.perf_counter() - once, 1e-6)))

    print(f"{problem.shape.label} {args.dtype}, median of {args.repeats} samples")
    results = {name: _time(fn, args.repeats, inner) for name, fn in stages.items()}
    for name, seconds in results.items():
        print(f"  {name:40s} {seconds * 1e6:10.1f} µs")
    ratio = (
        results["whole backward() (forward included)"]
        / results["matrix products alone"]
    )
    print(f"  backward() ÷ matrix products alone: {ratio:.2f}")

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(inner):
        params = sgd.step(params, train_grads(spec, params, x, labels).param_grads())
    per_step = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / inner
    print(f"  minor page faults per training step: {per_step:.1f}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(inner):
        train_grads(spec, params, x, labels)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
