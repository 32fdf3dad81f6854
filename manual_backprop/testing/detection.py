"""Hunting the mutation catalogue: which property catches each mistake, how soon.

:func:`hunt` searches, with ``hypothesis.find``, for a case on which some
property fails for a broken copy of the engine
(:func:`~manual_backprop.testing.mutations.mutated_engine`).  It counts the
examples tried until the first failure, then lets Hypothesis shrink the
failing case, and reports the property that fails on the shrunk case and
the shrunk network's size.  Properties run cheapest first; the first that
fails is the one reported:

1. the framework-free identities of :mod:`manual_backprop.testing.properties`
   (bias = Σδ, ∂W = δᵀx, output scaling, batch repetition, permutation),
2. float64 central differences of the engine's own loss,
3. the cross-check against TensorFlow (with SGD steps for an optimizer
   mistake),
4. the identities that take one run per example (mean of example
   gradients, weighting by repetition).

Run as a command it prints (or writes) the catalogue's table::

    python -m manual_backprop.testing.mutations --report docs/properties.md
    python -m manual_backprop.testing.mutations --check   # snippets only

With ``--only NAME`` (repeatable) and ``--report``, only those rows of the
table the file holds are hunted again and replaced; the note gets a line
for the run and a totals line recomputed from all the rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from . import properties as P
from .mutations import MUTATIONS, MutatedEngine, mutated_engine
from .strategies import Case, SGDSetting, cases, sgd_settings

TENSORFLOW = "engine agrees with TensorFlow"
NOT_CAUGHT = "NOT CAUGHT"

# Hunts draw narrower networks than the general strategy (widths ≤ 16,
# batches ≤ 8) to keep the catalogue test inside CI's budget; the
# mistakes here do not need width to show.
HUNT_LIMITS = {"max_width": 16, "max_batch": 8}


@dataclass
class Detection:
    """How the suite caught one mutation (or that it did not)."""

    name: str
    summary: str
    caught: bool
    caught_by: str = ""
    examples: int = 0
    calls: int = 0
    seconds: float = 0.0
    depth: int = 0
    widths: tuple[int, ...] = ()
    batch: int = 0
    case: Case | None = None
    sgd: SGDSetting | None = None
    message: str = ""
    unfocused_examples: int | None = None  # None: not measured; 0: not caught

    def row(self) -> str:
        summary = self.summary.replace("|", "\\|")
        focus = ", ".join(
            f"{k}={'/'.join(v) if isinstance(v, tuple) else v}"
            for k, v in MUTATIONS[self.name].focus.items()
        )
        unfocused = ""
        if self.unfocused_examples is not None:
            unfocused = f" {self.unfocused_examples or 'not within budget'} |"
        if not self.caught:
            row = f"| `{self.name}` | {summary} | {focus or 'none'} | {NOT_CAUGHT} |"
            return row + " | |" + unfocused
        size = "-".join(map(str, self.widths))
        row = (
            f"| `{self.name}` | {summary} | {focus or 'none'} | {self.caught_by} | "
            f"{self.examples} | {self.depth} ({size}, B={self.batch}) |"
        )
        return row + unfocused


Check = tuple[str, Callable[[Case, MutatedEngine, SGDSetting | None], Any]]


def _framework_free(
    fn: Callable[..., P.PropertyResult],
) -> Callable[[Case, MutatedEngine, SGDSetting | None], Any]:
    def run(case: Case, engine: MutatedEngine, sgd: SGDSetting | None) -> Any:
        return fn(case, engine.backward)

    return run


def _tensorflow(case: Case, engine: MutatedEngine, sgd: SGDSetting | None) -> Any:
    from .checks import tensorflow_check

    try:
        return tensorflow_check(
            case, engine=engine, sgd=sgd, engine_name=f"mutation:{engine.name}"
        )
    except Exception as err:  # the broken engine raised inside the check
        result = P.PropertyResult(TENSORFLOW, case)
        result.error = f"{type(err).__name__}: {err}"
        return result


CHECKS: tuple[Check, ...] = (
    (
        "bias gradient is the batch sum of delta",
        _framework_free(P.bias_gradient_is_batch_sum_of_delta),
    ),
    (
        "weight gradient is delta times the layer input",
        _framework_free(P.weight_gradient_is_delta_times_layer_input),
    ),
    (
        "scaling outputs and targets scales the loss and gradients",
        _framework_free(P.scaling_outputs_and_targets_scales_loss_and_gradients),
    ),
    (
        "repeating the batch leaves the mean gradient unchanged",
        _framework_free(P.repeating_the_batch_leaves_mean_gradient_unchanged),
    ),
    (
        "permuting the batch permutes only rows",
        _framework_free(P.permuting_the_batch_permutes_only_rows),
    ),
    (
        "engine agrees with float64 central differences",
        _framework_free(P.central_differences),
    ),
    (TENSORFLOW, _tensorflow),
    (
        "mean gradient is the mean of example gradients",
        _framework_free(P.mean_gradient_is_mean_of_example_gradients),
    ),
    (
        "weighting examples weights their gradients",
        _framework_free(P.weighting_examples_weights_their_gradients),
    ),
)


def first_failure(
    case: Case,
    engine: MutatedEngine,
    sgd: SGDSetting | None = None,
    checks: Sequence[Check] = CHECKS,
) -> tuple[str, Any] | None:
    """The first check (cheapest first) that fails on ``case``, or ``None``."""
    for name, check in checks:
        result = check(case, engine, sgd)
        if not result.passed:
            return name, result
    return None


def hunt(
    name: str,
    *,
    max_examples: int = 300,
    derandomize: bool = True,
    use_tensorflow: bool = True,
    focused: bool = True,
) -> Detection:
    """Search for a case that exposes mutation ``name``; shrink it.

    ``focused=False`` hunts with the general strategy (only the hunt's width
    and batch limits), to show how soon the unaimed suite finds it.
    """
    mutation = MUTATIONS[name]
    engine = mutated_engine(name)
    checks = [c for c in CHECKS if use_tensorflow or c[0] != TENSORFLOW]
    if mutation.sgd:
        checks = [c for c in checks if c[0] == TENSORFLOW]

    focus = {**HUNT_LIMITS, **(mutation.focus if focused else {})}
    sgd_strategy: st.SearchStrategy[Any] = st.none()
    if mutation.sgd:
        kinds = ("nesterov",) if "nesterov" in name else ("momentum", "nesterov")
        sgd_strategy = sgd_settings(kinds=kinds).filter(
            lambda s: s.steps >= mutation.steps
        )
    strategy = st.tuples(cases(**focus), sgd_strategy)

    calls = [0]
    first = [0]

    def exposes(drawn: tuple[Case, Any]) -> bool:
        calls[0] += 1
        found = first_failure(drawn[0], engine, drawn[1], checks) is not None
        if found and not first[0]:
            first[0] = calls[0]
        return found

    start = time.perf_counter()
    detection = Detection(name, mutation.summary, caught=False)
    try:
        case, sgd = find(
            strategy,
            exposes,
            settings=settings(
                max_examples=max_examples,
                derandomize=derandomize,
                database=None,
                deadline=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            ),
        )
    except (NoSuchExample, Unsatisfiable):
        detection.seconds = time.perf_counter() - start
        detection.calls = calls[0]
        return detection

    detection.seconds = time.perf_counter() - start
    failed = first_failure(case, engine, sgd, checks)
    detection.caught = failed is not None
    if failed is not None:
        detection.caught_by, result = failed
        detection.message = result.summary()
    detection.examples = first[0]
    detection.calls = calls[0]
    detection.case = case
    detection.sgd = sgd
    detection.depth = case.spec.depth
    detection.widths = case.spec.widths
    detection.batch = case.batch
    return detection


TABLE_HEAD = (
    "| mutation | the mistake | hunt focus | caught by (on the shrunk case) | "
    "examples to first detection | shrunk network: layers (widths, batch) |\n"
    "|---|---|---|---|---|---|"
)
UNFOCUSED_HEAD = " examples, unfocused hunt |"
NOT_MEASURED = "–"  # the unfocused cell of a row hunted without --unfocused


def _head(unfocused: bool) -> str:
    if not unfocused:
        return TABLE_HEAD
    lines = TABLE_HEAD.split("\n")
    return lines[0] + UNFOCUSED_HEAD + "\n" + lines[1] + "---|"


def _cells(row: str) -> list[str]:
    """A table row's cells, split at the pipes the summary does not escape."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _padded(row: str, columns: int) -> str:
    missing = columns - len(_cells(row))
    return row + f" {NOT_MEASURED} |" * max(missing, 0)


def report_table(detections: Sequence[Detection]) -> str:
    return _table([d.row() for d in detections])


def _table(rows: Sequence[str]) -> str:
    unfocused = any(len(_cells(r)) > 6 for r in rows)
    columns = 7 if unfocused else 6
    return "\n".join([_head(unfocused), *(_padded(r, columns) for r in rows)])


MARK_BEGIN = "<!-- mutation table: begin (generated) -->"
MARK_END = "<!-- mutation table: end -->"
# A partial run's note (``--only``) starts so; so does the totals line
# that a merged table gets, recomputed from its rows.
UPDATED = "Rows hunted by "
TOTALS = "The table: "
_ROW_NAME = re.compile(r"^\|\s*`(\w+)`\s*\|")
_ONLY = re.compile(r"--only[ =](\w+)")


@dataclass(frozen=True)
class ReportTotals:
    """What the table written holds: rows caught, rows in all."""

    caught: int
    rows: int


def _split_block(block: str) -> tuple[str, list[str], str]:
    """A generated block's note, its table rows and what follows them."""
    lines = block.split("\n")
    start = next(
        (i for i, line in enumerate(lines) if line.startswith("| mutation |")),
        len(lines),
    )
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [line for line in lines[start:end] if _ROW_NAME.match(line)]
    note = "\n".join(lines[:start]).strip()
    return note, rows, "\n".join(lines[end:]).strip()


def _merge_rows(old: Sequence[str], new: Sequence[Detection]) -> list[str]:
    """``old`` with the rows of ``new`` put in.

    A row ``old`` holds is replaced where it stands; a new one goes after
    the last row that comes before it in the catalogue.
    """
    rows: dict[str, str] = {}
    for line in old:
        match = _ROW_NAME.match(line)
        if match:
            rows[match.group(1)] = line
    order = {name: i for i, name in enumerate(MUTATIONS)}
    names = list(rows)
    for d in new:
        if d.name not in rows:
            rank = order[d.name]
            at = [i + 1 for i, n in enumerate(names) if order.get(n, rank) < rank]
            names.insert(max(at, default=0), d.name)
        rows[d.name] = d.row()
    return [rows[n] for n in names]


def _merge_note(old: str, update: str, totals: str) -> str:
    """``old`` less its totals line and the updates ``update`` supersedes."""
    hunted = set(_ONLY.findall(update))
    kept = [
        line
        for line in old.split("\n\n")
        if not line.startswith(TOTALS)
        and not (line.startswith(UPDATED) and set(_ONLY.findall(line)) <= hunted)
    ]
    return "\n\n".join([*(k.strip() for k in kept if k.strip()), update, totals])


def _missed(rows: Sequence[str]) -> str:
    """``; not caught: a, b`` for the rows not caught, else nothing."""
    missed = [_cells(r)[0] for r in rows if _cells(r)[3] == NOT_CAUGHT]
    return f"; not caught: {', '.join(missed)}" if missed else ""


def _totals(rows: Sequence[str]) -> ReportTotals:
    caught = sum(_cells(r)[3] != NOT_CAUGHT for r in rows)
    return ReportTotals(caught, len(rows))


def write_report(
    path: str, detections: Sequence[Detection], note: str, *, update: bool = False
) -> ReportTotals:
    """Write the generated table between the markers in ``path``.

    By default the table is replaced.  With ``update`` (a run with
    ``--only``) only the rows of ``detections`` are replaced, or added, in
    a table that ``path`` already holds: every other row stays, ``note``
    is added to the table's note (replacing earlier updates of no other
    rows) and a totals line is recomputed from the merged rows.  Without a
    table there, the rows hunted are written.  The file is written
    atomically.
    """
    from pathlib import Path

    from ..spec import write_atomic

    target = Path(path)
    text = target.read_text() if target.exists() else ""
    marked = MARK_BEGIN in text and MARK_END in text
    head = tail = ""
    if marked:
        head, rest = text.split(MARK_BEGIN, 1)
        old_block, tail = rest.split(MARK_END, 1)
    rows = [d.row() for d in detections]
    after = ""
    if update and marked:
        old_note, old_rows, after = _split_block(old_block)
        if old_rows:
            rows = _merge_rows(old_rows, detections)
            totals = _totals(rows)
            note = _merge_note(
                old_note,
                note,
                f"{TOTALS}{totals.caught} of {totals.rows} caught{_missed(rows)}.",
            )
    table = _table(rows) + (f"\n\n{after}" if after else "")
    block = f"{MARK_BEGIN}\n{note}\n\n{table}\n{MARK_END}"
    if marked:
        text = head + block + tail
    else:
        text = text + ("\n" if text else "") + block + "\n"
    write_atomic(target, text.encode())
    return _totals(rows)
