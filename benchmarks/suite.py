"""The sweep: every shape, every implementation, interleaved, checked.

For each dtype: the square-GEMM ceiling of every matrix library in use;
then for each shape, every available implementation is built and its first
call timed (tracing and compilation included) and checked against the numpy
engine's gradients; the checked ones, together with the shape's matrix
products timed alone, are then timed in interleaved rounds (``timing``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from manual_backprop.engine import backward

from . import ceiling, environment, memory
from .implementations import (
    GRADIENT_TOLERANCE,
    IMPLEMENTATIONS,
    Implementation,
    gradient_error,
)
from .shapes import Preset, Problem, Shape, build_problem
from .timing import Timings, interleaved, timed_first_call

# A step of more than 2e10 GEMM FLOPs lasts 0.1 s or more even at the 2-core
# ceiling (about 200 GFLOP/s in float32): it is timed one call per sample,
# after one untimed call (not one per block), in ``Preset.big_rounds`` rounds.
BIG_STEP_FLOPS = 2e10
MATMULS = "matmuls:"  # prefix of the matrix-products-alone entries


def is_big(shape: Shape) -> bool:
    return shape.gemm_flops > BIG_STEP_FLOPS


def reference_gradients(problem: Problem) -> list[np.ndarray]:
    grads = backward(problem.spec, problem.params, problem.x, problem.labels)
    return [a for pair in grads.param_grads() for a in pair]


def run_shape(
    shape: Shape,
    dtype: str,
    preset: Preset,
    impls: list[Implementation],
    tick: Callable[[str], None],
) -> dict[str, Any]:
    problem = build_problem(shape, dtype)
    reference = reference_gradients(problem)
    tolerance = GRADIENT_TOLERANCE[dtype]
    row: dict[str, Any] = {
        "shape": shape.name,
        "label": shape.label,
        "widths": list(shape.widths),
        "batch": shape.batch,
        "params": shape.n_params,
        "gemm_flops": shape.gemm_flops,
        "gemm_intensity": shape.gemm_intensity,
        "gemm_bound": shape.gemm_bound,
        "loss": problem.spec.loss,
        "implementations": {},
    }

    steps: dict[str, Callable[[], Any]] = {}
    timings: dict[str, Timings] = {}
    families: dict[str, str] = {}
    for impl in impls:
        entry: dict[str, Any] = {"description": impl.description, "device": impl.device}
        row["implementations"][impl.name] = entry
        reason = impl.unavailable()
        if reason is not None:
            entry["status"] = reason
            continue
        built = impl.build(problem)
        first, grads = timed_first_call(built.step)
        error = gradient_error(built.to_numpy(grads), reference)
        entry.update(first_call_s=first, gradient_error=error, tolerance=tolerance)
        if not error <= tolerance:
            entry["status"] = f"WRONG: gradient error {error:.2e} > {tolerance:.0e}"
            continue
        entry["status"] = "ok"
        entry["matmul_family"] = built.matmul_family
        steps[impl.name] = built.step
        families[impl.name] = built.matmul_family
        timings[impl.name] = Timings(first_call=first)

    for family in sorted(set(families.values())):
        steps[MATMULS + family] = ceiling.step_gemms(shape, dtype, family)
        timings[MATMULS + family] = Timings()

    big = is_big(shape)
    interleaved(
        steps,
        timings,
        rounds=preset.big_rounds if big else preset.rounds,
        samples_per_block=1 if big else preset.samples_per_block,
        sample_seconds=preset.sample_seconds,
        warm_up=not big,
        tick=tick,
    )

    row["matmuls_alone"] = {
        name[len(MATMULS) :]: timings[name].to_dict()
        for name in steps
        if name.startswith(MATMULS)
    }
    for name, family in families.items():
        entry = row["implementations"][name]
        entry.update(timings[name].to_dict())
        alone = timings[MATMULS + family].median
        entry["step_over_matmuls"] = timings[name].median / alone
        entry["achieved_gflops"] = shape.gemm_flops / timings[name].median / 1e9
    row["big_step"] = big
    row["samples_per_block"] = 1 if big else preset.samples_per_block
    return row


def run_ceiling(
    dtype: str, n: int, families: list[str], preset: Preset
) -> dict[str, Any]:
    steps = {family: ceiling.square_gemm(n, dtype, family) for family in families}
    timings = {family: Timings() for family in families}
    interleaved(
        steps,
        timings,
        rounds=preset.rounds,
        samples_per_block=1,
        sample_seconds=preset.sample_seconds,
        warm_up=True,
    )
    flops = ceiling.square_flops(n)
    return {
        "n": n,
        "gflops": {f: flops / timings[f].median / 1e9 for f in families},
        "gflops_best_sample": {f: flops / timings[f].low / 1e9 for f in families},
        "timings": {f: timings[f].to_dict() for f in families},
    }


def _ceiling_families(impls: list[Implementation]) -> list[str]:
    families = ["numpy"]
    names = {impl.name for impl in impls if impl.unavailable() is None}
    if any(
        name.startswith(("engine-tf", "tape")) and "gpu" not in name for name in names
    ):
        families.append("tf-cpu")
    if "engine-cupy" in names:
        families.append("cupy")
    if any(name.endswith("-gpu") for name in names):
        families.append("tf-gpu")
    return families


def add_ceiling_fractions(row: dict[str, Any], ceil: dict[str, Any]) -> None:
    # The ceiling is the fastest sample's rate, not the median's: it is a
    # limit, and on a shared machine whose speed jumps between two levels
    # (seen here: the same GEMM at 0.085 s and at 0.155 s) a median of the
    # slow level would put steps above 100 % of it.
    rates = ceil["gflops_best_sample"]
    cpu = max(v for k, v in rates.items() if k in ("numpy", "tf-cpu"))
    gpu = [v for k, v in rates.items() if k in ("cupy", "tf-gpu")]
    for entry in row["implementations"].values():
        if entry.get("achieved_gflops") is None:
            continue
        limit = cpu if entry["device"] == "cpu" else max(gpu)
        entry["fraction_of_ceiling"] = entry["achieved_gflops"] / limit


def run(
    preset: Preset,
    impl_names: list[str] | None,
    shape_names: list[str] | None,
    dtypes: list[str] | None,
    with_memory: bool,
    progress: Callable[[int], Any],
) -> dict[str, Any]:
    """The whole sweep; ``progress(total)`` returns a bar with ``update``."""
    impls = [i for i in IMPLEMENTATIONS if impl_names is None or i.name in impl_names]
    shapes = [s for s in preset.shapes if shape_names is None or s.name in shape_names]
    dtypes = dtypes or list(preset.dtypes)
    started = time.time()
    env = environment.describe(
        with_tensorflow=any(i.name.startswith(("engine-tf", "tape")) for i in impls)
    )

    available = [i for i in impls if i.unavailable() is None]
    extra_families = sum(
        any(i.name == name for i in available)
        for name in ("engine-numpy-1blas", "tape-xla", "tape-xla-gpu")
    )
    n_entries = len(available) + len(_ceiling_families(impls)) + extra_families
    total = len(dtypes) * sum(
        (preset.big_rounds if is_big(s) else preset.rounds) * n_entries for s in shapes
    )
    bar = progress(total)
    results: dict[str, Any] = {"preset": preset.name, "environment": env, "runs": []}

    for dtype in dtypes:
        bar.set_description(f"{dtype} ceiling")
        families = _ceiling_families(impls)
        ceil = run_ceiling(dtype, preset.ceiling_n, families, preset)
        rows = []
        for shape in shapes:
            bar.set_description(f"{dtype} {shape.label}")
            row = run_shape(shape, dtype, preset, impls, lambda _: bar.update(1))
            add_ceiling_fractions(row, ceil)
            rows.append(row)
        results["runs"].append({"dtype": dtype, "ceiling": ceil, "shapes": rows})

    if with_memory:
        dtype = dtypes[0]
        memory_rows = []
        for shape in shapes:
            if shape.name not in preset.memory_shapes:
                continue
            for impl in impls:
                if impl.unavailable() is not None:
                    continue
                bar.set_description(f"memory {shape.label} {impl.name}")
                figures = memory.measure(impl.name, shape, dtype, timeout=300)
                memory_rows.append(
                    {"shape": shape.label, "implementation": impl.name, **figures}
                )
        results["memory"] = {
            "dtype": dtype,
            "method": memory.__doc__.strip().splitlines()[0],
            "rows": memory_rows,
        }

    bar.close()
    env["load_average_at_end"] = environment.load_average()
    results["wall_seconds"] = time.time() - started
    return results
