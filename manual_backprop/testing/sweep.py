"""The no-false-alarm sweep: many random cases through the cross-check.

::

    python -m manual_backprop.testing.sweep --cases 10000 \\
        --dtype float32 --dtype float64 [--workers N] [--json FILE] \\
        [--checkpoint-dir DIR] [--properties tensorflow|framework-free|all]

Each example draws one case per dtype from
``manual_backprop.testing.strategies.cases`` (every depth 1–8, width,
activation, loss path and value region) and sends it through
``manual_backprop.crosscheck.cross_check`` against TensorFlow; one example
in four also runs one to three SGD steps (plain, momentum or Nesterov)
against Keras's SGD, where the steps stay small
(``strategies.sgd_is_gentle``).  ``--properties framework-free`` runs the
numpy-only identities of ``manual_backprop.testing.properties`` instead
(no TensorFlow), ``all`` both.  It prints the number of failures (a
correct engine must have none), the distribution of error / tolerance per
quantity or property (quantiles and the largest), and the throughput in
verified networks per second.  Failing cases are written as replay files.

``--workers N`` shards the examples over N processes (each pays
TensorFlow's import once, about 3 s and 0.5 GiB; on 2 cores one or two
workers is best); each worker draws from its own seed, so the shards do
not overlap.  ``--checkpoint-dir`` keeps every worker's figures so far
(every 100 examples), and ``--summarize DIR`` prints them for a run still
going or one that was stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

QUANTILES = (0.5, 0.9, 0.99, 0.999)


@dataclass
class ShardResult:
    """What one worker saw for one dtype."""

    dtype: str
    cases: int = 0
    seconds: float = 0.0
    ratios: dict[str, list[float]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    worst: dict[str, Any] = field(default_factory=dict)
    sgd_cases: int = 0
    what: str = "tensorflow"
    # Cases with a row whose tolerance is at least its values (the row
    # could not see a 100 % error): agreement there proves little.
    blind_cases: int = 0


def _run_shard(
    args: tuple[tuple[str, ...], int, int, str | None, str, str | None],
) -> list[ShardResult]:
    """One worker: ``n_cases`` distinct cases per dtype, drawn side by side.

    Every ``CHECKPOINT_EVERY`` examples the worker's figures so far are
    written to ``checkpoint_dir`` (if given), so an interrupted run still
    has its figures: ``--summarize DIR`` reads them.
    """
    dtypes, n_cases, seed, replay_dir, which, checkpoint_dir = args
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from . import properties
    from .checks import case_key, save_failure, tensorflow_check
    from .strategies import cases, sgd_is_gentle, sgd_settings

    use_tf = which in ("tensorflow", "all")
    use_free = which in ("framework-free", "all")
    if use_tf:
        import tf_reference  # noqa: F401  (import once, before the clock starts)

    results = {d: ShardResult(d, what=which) for d in dtypes}
    ratios: dict[str, defaultdict[str, list[float]]] = {
        d: defaultdict(list) for d in dtypes
    }
    start = time.perf_counter()
    examples = [0]

    def record_failure(dtype: str, case: Any, prop: str, summary: str, sgd: Any):
        path = save_failure(case, prop, sgd=sgd, directory=replay_dir)
        results[dtype].failures.append(
            {
                "case": repr(case),
                "summary": summary,
                "replay": str(path) if path else None,
            }
        )

    seen: dict[str, set[str]] = {d: set() for d in dtypes}
    parent = os.getppid()

    def check(dtype: str, case: Any, sgd: Any) -> None:
        if os.getppid() != parent:
            # The sweep that started this worker was killed: a pool worker
            # is not told, and would run on for its whole quota.
            raise SystemExit("the sweep was stopped")
        result = results[dtype]
        key = case_key(case, "")
        if result.cases >= n_cases or key in seen[dtype]:
            return  # Hypothesis repeats its simplest cases; count each once
        seen[dtype].add(key)
        result.cases += 1
        if use_free:
            for name, prop in properties.FRAMEWORK_FREE.items():
                outcome = prop(case)
                if not outcome.conclusive:
                    continue
                ratios[dtype][f"property: {name}"].append(outcome.max_ratio)
                if not outcome.passed:
                    record_failure(dtype, case, name, outcome.summary(), None)
        if not use_tf:
            return
        if sgd is not None and not sgd_is_gentle(case, sgd):
            sgd = None  # see strategies.sgd_is_gentle
        report = tensorflow_check(case, sgd=sgd)
        result.sgd_cases += sgd is not None
        result.blind_cases += bool(report.blind_rows)
        for comparison in report.comparisons:
            ratios[dtype][comparison.quantity].append(float(comparison.ratio))
        if report.worst_ratio > result.worst.get("ratio", -1.0):
            result.worst = {"ratio": report.worst_ratio, "case": repr(case)}
        if not report.passed:
            prop_name = "sweep: engine agrees with TensorFlow"
            record_failure(dtype, case, prop_name, report.summary(), sgd)

    def snapshot() -> list[ShardResult]:
        for d in dtypes:
            results[d].seconds = time.perf_counter() - start
            results[d].ratios = {k: list(v) for k, v in ratios[d].items()}
        return list(results.values())

    @hypothesis_seed(seed)
    @settings(
        # Room for the repeats skipped above (about 40 % of the first few
        # hundred examples, fewer later); examples after the quota are no-ops.
        max_examples=2 * n_cases + 200,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.tuples(*(cases(dtypes=(d,)) for d in dtypes)),
        st.one_of(st.none(), st.none(), st.none(), sgd_settings()),
    )
    def sweep(drawn: tuple[Any, ...], sgd: Any) -> None:
        if all(results[d].cases >= n_cases for d in dtypes):
            return
        for dtype, case in zip(dtypes, drawn, strict=True):
            check(dtype, case, sgd)
        examples[0] += 1
        if checkpoint_dir and examples[0] % CHECKPOINT_EVERY == 0:
            _write_checkpoint(checkpoint_dir, seed, snapshot())

    sweep()
    shards = snapshot()
    if checkpoint_dir:
        _write_checkpoint(checkpoint_dir, seed, shards)
    return shards


CHECKPOINT_EVERY = 100


def _write_checkpoint(directory: str, seed: int, shards: list[ShardResult]) -> None:
    from dataclasses import asdict

    from ..spec import write_atomic

    payload = [asdict(s) for s in shards]
    path = os.path.join(directory, f"shard-{seed}.json")
    write_atomic(path, json.dumps(payload).encode())


def _read_checkpoints(directory: str) -> list[ShardResult]:
    import glob

    shards = []
    for path in sorted(glob.glob(os.path.join(directory, "shard-*.json"))):
        with open(path) as handle:
            shards += [ShardResult(**s) for s in json.load(handle)]
    return shards


def _merge(shards: list[ShardResult]) -> dict[str, Any]:
    by_dtype: dict[str, Any] = {}
    for dtype in sorted({s.dtype for s in shards}):
        mine = [s for s in shards if s.dtype == dtype]
        ratios: dict[str, list[float]] = defaultdict(list)
        for s in mine:
            for quantity, values in s.ratios.items():
                ratios[quantity].extend(values)
        every = np.concatenate([np.asarray(v) for v in ratios.values()])
        cases = sum(s.cases for s in mine)
        # Workers run side by side, each checking every dtype in turn:
        # throughput is all networks checked over the slowest worker's time.
        seconds = max(s.seconds for s in shards)
        every_case = sum(s.cases for s in shards)
        worst = max(mine, key=lambda s: s.worst.get("ratio", -1)).worst
        by_dtype[dtype] = {
            "cases": cases,
            "sgd_cases": sum(s.sgd_cases for s in mine),
            "blind_cases": sum(s.blind_cases for s in mine),
            "failures": sum(len(s.failures) for s in mine),
            "failed_cases": [f for s in mine for f in s.failures],
            "worst_ratio": float(every.max()) if every.size else 0.0,
            "what": shards[0].what,
            "worst_case": worst.get("case"),
            "quantiles": _quantiles(every),
            "per_quantity": {
                q: {**_quantiles(np.asarray(v)), "count": len(v)}
                for q, v in sorted(ratios.items())
            },
            "seconds": seconds,
            "networks_per_second": every_case / seconds if seconds else 0.0,
        }
    return by_dtype


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    out = {f"q{q * 100:g}": float(np.quantile(values, q)) for q in QUANTILES}
    out["max"] = float(values.max())
    return out


def format_summary(by_dtype: dict[str, Any], command: str, what: str = "") -> str:
    """A plain-text summary (also the README's table rows)."""
    lines = [f"command: {command}", f"checks: {what or 'tensorflow'}", ""]
    lines.append(
        "| dtype | cases (with SGD) | failures | worst error/tolerance | "
        "median | 99th pct | 99.9th pct | cases with blind rows | "
        "networks/s (all dtypes) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for dtype, r in by_dtype.items():
        q = r["quantiles"]
        lines.append(
            f"| {dtype} | {r['cases']} ({r['sgd_cases']}) | {r['failures']} | "
            f"{r['worst_ratio']:.3g} | {q.get('q50', 0):.2g} | "
            f"{q.get('q99', 0):.2g} | {q.get('q99.9', 0):.2g} | "
            f"{r.get('blind_cases', 0)} | {r['networks_per_second']:.1f} |"
        )
    for dtype, r in by_dtype.items():
        lines += ["", f"{dtype}: error/tolerance per quantity"]
        lines.append("| quantity | count | median | 99th pct | max |")
        lines.append("|---|---|---|---|---|")
        for quantity, q in r["per_quantity"].items():
            lines.append(
                f"| {quantity} | {q['count']} | {q.get('q50', 0):.2g} | "
                f"{q.get('q99', 0):.2g} | {q.get('max', 0):.3g} |"
            )
        for failure in r["failed_cases"][:10]:
            lines += ["", failure["summary"]]
            if failure["replay"]:
                lines.append(
                    f"  replay: manual-backprop verify --replay {failure['replay']}"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    from .cli import sweep_main

    raise SystemExit(sweep_main())
