"""The sweep's results as JSON, Markdown tables, target checks and PNG plots.

Every file is written atomically (``manual_backprop.spec.write_atomic``).
"""

from __future__ import annotations

import io
import json
import operator
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from manual_backprop.spec import write_atomic

from .shapes import GEMM_BOUND_INTENSITY

ENGINES = (
    "engine-numpy",
    "engine-numpy-1blas",
    "engine-tf-function",
    "engine-tf-xla",
)
GPU_ENGINES = ("engine-cupy", "engine-tf-function-gpu")
HAND_FUSED = "numpy-hand-fused"  # not the engine: numpy's own floor

# The targets, as numbers.
EAGER_SPEEDUP_TARGET = 20.0  # engine vs eager tape, networks up to 1e5 params
SMALL_NETWORK_PARAMS = 100_000
GEMM_BOUND_TARGET = 1.10  # step / its matmuls alone, GEMM-bound shapes
DEEP_NARROW_TARGET = 1.5  # the same for the 20-layer, 64-wide network
# A step cannot really take less than 0.9 of its own matrix products: below
# that, other jobs slowed the products-alone samples, and the check says so
# instead of counting the target as met.
IMPLAUSIBLE_BELOW = 0.9


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"


def _cell(entry: dict[str, Any]) -> str:
    if entry.get("status") != "ok":
        return entry.get("status", "–").split(" (")[0]  # details in the JSON
    return (
        f"{seconds(entry['median_s'])} "
        f"({seconds(entry['min_s'])}–{seconds(entry['max_s'])})"
    )


def _median(row: dict[str, Any], name: str) -> float | None:
    entry = row["implementations"].get(name, {})
    return entry.get("median_s") if entry.get("status") == "ok" else None


def best_engine(row: dict[str, Any], names: tuple[str, ...] = ENGINES) -> str | None:
    timed = [(m, n) for n in names if (m := _median(row, n)) is not None]
    return min(timed)[1] if timed else None


def _timed(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    """An implementation's timings, or a family's products alone
    (``matmuls:numpy``); None if it was not timed."""
    if name.startswith("matmuls:"):
        return row.get("matmuls_alone", {}).get(name.removeprefix("matmuls:"))
    entry = row["implementations"].get(name, {})
    return entry if entry.get("status") == "ok" else None


def per_round(row: dict[str, Any], top: str, bottom: str) -> list[float] | None:
    """``top``'s time ÷ ``bottom``'s, round by round.

    The two ran in the same rounds, one block each, close in time; the
    ratio of each round's block medians cancels the slow drift of a shared
    machine that a ratio of overall medians still carries.
    """
    timed = [_timed(row, name) for name in (top, bottom)]
    entries = [e for e in timed if e is not None]
    if len(entries) < 2:
        return None
    k = row.get("samples_per_block", 1)
    blocks = [
        [e["samples_s"][i : i + k] for i in range(0, len(e["samples_s"]), k)]
        for e in entries
    ]
    return [
        statistics.median(a) / statistics.median(b)
        for a, b in zip(*blocks, strict=True)
    ]


def ratios(row: dict[str, Any]) -> dict[str, Any]:
    """The ratios the targets speak of, for one shape."""
    best = best_engine(row)
    out: dict[str, Any] = {"best_engine": best}
    eager = _median(row, "tape-eager")
    function = _median(row, "tape-function")
    if best is not None:
        t_best = row["implementations"][best]["median_s"]
        entry = row["implementations"][best]
        out["eager_tape_over_best_engine"] = eager / t_best if eager else None
        out["best_engine_over_tape_function"] = t_best / function if function else None
        out["best_engine_over_tape_function_rounds"] = per_round(
            row, best, "tape-function"
        )
        out["eager_tape_over_best_engine_rounds"] = per_round(row, "tape-eager", best)
        out["best_engine_step_over_matmuls"] = entry.get("step_over_matmuls")
        # The same ratios from each implementation's fastest sample: on a
        # busy machine the medians carry the other jobs' noise.
        low = row["implementations"]
        function_low = low.get("tape-function", {}).get("min_s")
        out["best_engine_over_tape_function_min"] = (
            entry["min_s"] / function_low if function_low else None
        )
        eager_low = low.get("tape-eager", {}).get("min_s")
        out["eager_tape_over_best_engine_min"] = (
            eager_low / entry["min_s"] if eager_low else None
        )
        family = entry.get("matmul_family")
        out["best_engine_step_over_matmuls_rounds"] = per_round(
            row, best, f"matmuls:{family}"
        )
        alone = row["matmuls_alone"].get(family, {}).get("min_s")
        out["best_engine_step_over_matmuls_min"] = (
            entry["min_s"] / alone if alone else None
        )
    numpy_entry = row["implementations"].get("engine-numpy", {})
    out["engine_numpy_step_over_matmuls"] = numpy_entry.get("step_over_matmuls")
    fused = row["implementations"].get(HAND_FUSED, {})
    out["hand_fused_step_over_matmuls"] = fused.get("step_over_matmuls")
    out["engine_numpy_over_hand_fused"] = (
        numpy_entry["median_s"] / fused["median_s"]
        if numpy_entry.get("median_s") and fused.get("median_s")
        else None
    )
    out["eager_tape_over_engine_numpy"] = (
        eager / numpy_entry["median_s"]
        if eager and numpy_entry.get("median_s")
        else None
    )
    return out


def _check(
    target: str,
    shape: str,
    value: float,
    fastest: float | None,
    meets: Callable[[float], bool],
    rounds: list[float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One target's verdict, from the medians and from the fastest samples.

    ``met`` judges the ratio of medians; ``met_on_fastest`` the ratio of
    the fastest samples, which other jobs on a shared machine disturb
    least.  The report says which held.
    """
    return {
        "target": target,
        "shape": shape,
        "value": value,
        "value_of_fastest_samples": fastest,
        "met": meets(value),
        "met_on_fastest": meets(fastest) if fastest is not None else None,
        "value_per_round": rounds,
        "rounds_met": sum(map(meets, rounds)) if rounds else None,
        **extra,
    }


def target_checks(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, met or not, with the figures behind it."""
    checks = []
    for row in run["shapes"]:
        r = ratios(row)
        label = row["label"]
        if row["params"] <= SMALL_NETWORK_PARAMS and r.get(
            "eager_tape_over_best_engine"
        ):
            checks.append(
                _check(
                    f"engine ≥ {EAGER_SPEEDUP_TARGET:g}× faster than the eager "
                    "tape (≤ 1e5 parameters)",
                    label,
                    r["eager_tape_over_best_engine"],
                    r.get("eager_tape_over_best_engine_min"),
                    partial(operator.le, EAGER_SPEEDUP_TARGET),  # target ≤ value
                    r.get("eager_tape_over_best_engine_rounds"),
                )
            )
        if r.get("best_engine_over_tape_function"):
            checks.append(
                _check(
                    "best engine backend no slower than the tape in "
                    "tf.function (time ratio ≤ 1)",
                    label,
                    r["best_engine_over_tape_function"],
                    r.get("best_engine_over_tape_function_min"),
                    partial(operator.ge, 1.0),  # 1 ≥ value
                    r.get("best_engine_over_tape_function_rounds"),
                )
            )
        limit = None
        if row["gemm_bound"]:
            limit = GEMM_BOUND_TARGET
        elif row["shape"] == "deep-narrow":
            limit = DEEP_NARROW_TARGET
        if limit is not None and r.get("best_engine_step_over_matmuls"):
            value = r["best_engine_step_over_matmuls"]
            why = "20 × 64" if row["shape"] == "deep-narrow" else "GEMM-bound"
            check = _check(
                f"step ≤ {limit:g}× its matrix products alone ({why}, "
                f"{row['gemm_intensity']:.0f} FLOPs per elementwise value; "
                f"{r['best_engine']})",
                label,
                value,
                r.get("best_engine_step_over_matmuls_min"),
                partial(operator.ge, limit),  # limit ≥ value
                r.get("best_engine_step_over_matmuls_rounds"),
                hand_fused_numpy=r.get("hand_fused_step_over_matmuls"),
            )
            if value < IMPLAUSIBLE_BELOW:
                check["met"] = check["met_on_fastest"] = None
            checks.append(check)
    return checks


def markdown(results: dict[str, Any], command: str) -> str:
    env = results["environment"]
    lines = [
        f"Command: `{command}` (preset {results['preset']}, "
        f"{results['wall_seconds']:.0f} s).",
        "",
        f"Machine: {env['cpu']}, {env['cpu_count']} CPUs; numpy {env['numpy']}"
        + (f", TensorFlow {env['tensorflow']}" if env.get("tensorflow") else "")
        + f"; GPU: {', '.join(env['gpus_nvidia_smi']) or 'no GPU visible'}; "
        f"load average at start {_load(env.get('load_average_at_start'))}, "
        f"at end {_load(env.get('load_average_at_end'))}.",
        "",
    ]
    for run in results["runs"]:
        lines += _run_markdown(run)
    if results.get("memory", {}).get("rows"):
        lines += _memory_markdown(results["memory"])
    return "\n".join(lines) + "\n"


def _load(values: list[float] | None) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _run_markdown(run: dict[str, Any]) -> list[str]:
    dtype = run["dtype"]
    ceil = run["ceiling"]
    names = list(run["shapes"][0]["implementations"]) if run["shapes"] else []
    gpu_note = _gpu_note(run, names)
    if gpu_note is not None:
        names = [
            n
            for n in names
            if run["shapes"][0]["implementations"][n]["device"] == "cpu"
        ]
    ceiling_text = ", ".join(
        f"{k} {ceil['gflops_best_sample'][k]:.0f} (median {v:.0f})"
        for k, v in ceil["gflops"].items()
    )
    lines = [
        f"### {dtype}",
        "",
        f"Matrix-multiply ceiling ({ceil['n']}² square GEMM, GFLOP/s of the "
        f"fastest sample, the limit the shares below are taken of): "
        f"{ceiling_text}.",
        "",
        "Time per training step (forward, backward, SGD update): median "
        "(min–max) over the samples.",
        "",
        "| shape | params | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for row in run["shapes"]:
        cells = [_cell(row["implementations"][n]) for n in names]
        lines.append(
            f"| {row['label']} | {row['params']:,} | " + " | ".join(cells) + " |"
        )

    if gpu_note is not None:
        lines += ["", gpu_note]
    lines += [
        "",
        "Ratios (same process, same rounds). *speed-up* = eager tape time ÷ "
        "engine time; *vs tape-function* = best engine time ÷ tape-in-"
        "tf.function time (≤ 1 is no slower); *÷ matmuls* = step time ÷ the "
        "same step's matrix products timed alone with the same library. "
        "Ratios of medians; in brackets, the same ratio of the fastest "
        "samples, which a busy machine disturbs less. The best engine is the "
        "engine backend with the lowest median. *hand-fused* is "
        f"{HAND_FUSED}, the same step written for numpy with preallocated "
        "buffers and in-place operations: not the engine, but the floor for "
        "a numpy program (`benchmarks/fused.py`).",
        "",
        "| shape | best engine | speed-up vs eager tape | best engine vs "
        "tape-function | best engine ÷ matmuls | engine-numpy ÷ matmuls | "
        "hand-fused ÷ matmuls | engine-numpy ÷ hand-fused | "
        "% of ceiling: " + " / ".join(names) + " |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in run["shapes"]:
        r = ratios(row)
        fractions = " / ".join(
            f"{100 * e['fraction_of_ceiling']:.1f}"
            if e.get("fraction_of_ceiling") is not None
            else "–"
            for e in (row["implementations"][n] for n in names)
        )
        lines.append(
            f"| {row['label']} | {r['best_engine'] or '–'} | "
            f"{_x(r.get('eager_tape_over_best_engine'))} | "
            f"{_x(r.get('best_engine_over_tape_function'))} "
            f"({_x(r.get('best_engine_over_tape_function_min'))}) | "
            f"{_x(r.get('best_engine_step_over_matmuls'))} "
            f"({_x(r.get('best_engine_step_over_matmuls_min'))}) | "
            f"{_x(r.get('engine_numpy_step_over_matmuls'))} | "
            f"{_x(r.get('hand_fused_step_over_matmuls'))} | "
            f"{_x(r.get('engine_numpy_over_hand_fused'))} | {fractions} |"
        )

    lines += [
        "",
        "First call (tracing and XLA compilation included; reported apart from "
        "the timings above) and minor page faults per step:",
        "",
        "| shape | " + " | ".join(f"{n} first call" for n in names) + " | "
        "engine-numpy faults/step |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for row in run["shapes"]:
        impls = row["implementations"]
        firsts = [seconds(impls[n].get("first_call_s")) for n in names]
        faults = impls.get("engine-numpy", {}).get("minor_faults_per_call")
        lines.append(
            f"| {row['label']} | " + " | ".join(firsts) + f" | {_faults(faults)} |"
        )

    lines += [
        "",
        "Targets (GEMM-bound: the step's products do at least "
        f"{GEMM_BOUND_INTENSITY} FLOPs for every value its elementwise work "
        "touches, B × n_l per layer plus every parameter; "
        "`benchmarks/shapes.py`):",
        "",
    ]
    for check in target_checks(run):
        if check["met"] is None:
            mark = (
                "no verdict: below 0.9, so the products-alone samples were "
                "slowed by other jobs"
            )
        elif check["met"] and check["met_on_fastest"] is not False:
            mark = "met"
        elif check["met"] or check["met_on_fastest"]:
            which = "medians" if check["met"] else "fastest samples"
            mark = f"met by the {which} only"
        else:
            mark = "**not met**"
        fastest = check.get("value_of_fastest_samples")
        also = f" (fastest samples: {fastest:.3g}"
        rounds = check.get("value_per_round")
        if rounds:
            also += (
                f"; round by round {min(rounds):.3g}–{max(rounds):.3g}, "
                f"met in {check['rounds_met']} of {len(rounds)}"
            )
        also = also + ")" if fastest else ""
        floor = check.get("hand_fused_numpy")
        if floor:
            also += f"; hand-fused numpy: {floor:.3g}"
        lines.append(
            f"- {check['target']}, {check['shape']}: {check['value']:.3g}{also}"
            f" — {mark}"
        )
    lines.append("")
    return lines


def _gpu_note(run: dict[str, Any], names: list[str]) -> str | None:
    """One line for the GPU columns when none of them ran, else None.

    Each column is named with its own reason (its status in the JSON),
    columns that share one reason together, in the columns' order.
    """
    gpu = [
        n for n in names if run["shapes"][0]["implementations"][n]["device"] == "gpu"
    ]
    by_reason: dict[str, list[str]] = {}
    for n in gpu:
        statuses = [row["implementations"][n].get("status") for row in run["shapes"]]
        if "ok" in statuses:
            return None
        reason = " / ".join(dict.fromkeys(str(s) for s in statuses))
        by_reason.setdefault(reason, []).append(n)
    if not gpu:
        return None
    parts = [f"{', '.join(cols)}: {reason}" for reason, cols in by_reason.items()]
    return f"GPU columns: {'; '.join(parts)}."


def _faults(value: float | None) -> str:
    """Faults per step: 3 significant digits below 10 (0.214), else 1 decimal."""
    if value is None:
        return "–"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"


def _x(value: float | None) -> str:
    return f"{value:.3g}×" if value is not None else "–"


def _memory_markdown(mem: dict[str, Any]) -> list[str]:
    lines = [
        f"### Peak memory ({mem['dtype']}, a fresh process per row)",
        "",
        "`peak RSS` is the whole process's peak (`VmHWM`), imports included "
        "(TensorFlow alone is about 0.5 GiB); `step` is peak minus the RSS "
        "after building weights, data and the step.",
        "",
        "| shape | implementation | peak RSS MiB | step MiB | device peak MiB |",
        "|---|---|---|---|---|",
    ]
    for row in mem["rows"]:
        if "error" in row:
            lines.append(
                f"| {row['shape']} | {row['implementation']} | {row['error']} | | |"
            )
            continue
        device = row.get("device_peak_mib")
        lines.append(
            f"| {row['shape']} | {row['implementation']} | "
            f"{row['peak_rss_mib']:.0f} | {row['step_mib']:.0f} | "
            f"{'–' if device is None else f'{device:.0f}'} |"
        )
    lines.append("")
    return lines


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    """Time against size, speed-up against the eager tape, share of ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for run in results["runs"]:
        rows = run["shapes"]
        if not rows:
            continue
        names = [
            n
            for n in rows[0]["implementations"]
            if any(r["implementations"][n].get("status") == "ok" for r in rows)
        ]
        order = sorted(range(len(rows)), key=lambda i: rows[i]["gemm_flops"])
        rows = [rows[i] for i in order]
        labels = [r["label"] for r in rows]

        fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
        ax = axes[0]
        for n in names:
            points = [
                (r["gemm_flops"], r["implementations"][n]["median_s"])
                for r in rows
                if r["implementations"][n].get("status") == "ok"
            ]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=n)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("matrix-product FLOPs per step")
        ax.set_ylabel("seconds per training step (median)")
        ax.set_title(f"Time against size ({run['dtype']})")
        ax.legend(fontsize=8)

        width = 0.8 / max(1, len(names))
        any_speedup = False
        for ax, key, title in (
            (axes[1], "speedup", "Speed-up against the eager tape"),
            (axes[2], "fraction", "Share of the matmul ceiling"),
        ):
            for k, n in enumerate(names):
                values = []
                for r in rows:
                    e = r["implementations"][n]
                    eager = _median(r, "tape-eager")
                    if key == "speedup":
                        ok = e.get("status") == "ok" and eager
                        values.append(eager / e["median_s"] if ok else 0.0)
                        any_speedup = any_speedup or bool(ok)
                    else:
                        values.append(e.get("fraction_of_ceiling") or 0.0)
                xs = [i + k * width for i in range(len(rows))]
                ax.bar(xs, values, width=width, label=n)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))])
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{title} ({run['dtype']})")
            if key == "speedup" and any_speedup:
                ax.set_yscale("log")
                ax.axhline(1.0, color="black", linewidth=0.8)
                ax.set_ylabel("eager-tape time ÷ time (higher is faster)")
            else:
                ax.set_ylabel("achieved GEMM FLOP/s ÷ ceiling")
            ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        path = out / f"bench-{run['dtype']}.png"
        write_atomic(path, buffer.getvalue())
        written.append(path)
    return written


def write_all(results: dict[str, Any], out: Path, command: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    for run in results["runs"]:
        run["ratios"] = {row["label"]: ratios(row) for row in run["shapes"]}
        run["targets"] = target_checks(run)
    results["command"] = command
    paths = {"json": out / "bench.json", "markdown": out / "bench.md"}
    write_atomic(paths["json"], json.dumps(results, indent=2, default=str).encode())
    write_atomic(paths["markdown"], markdown(results, command).encode())
    for k, path in enumerate(plots(results, out)):
        paths[f"png{k}"] = path
    return paths
