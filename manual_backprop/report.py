"""The cross-check's report: one row per compared quantity, in a fixed order.

Rows come in backprop's reading order: the loss, the outputs, then for
``l = n … 1`` the layer's ``δˡ``, ``∂L/∂W_l`` and ``∂L/∂b_l``, then
``∂L/∂x``, then (when an SGD check ran) the parameters after the steps.
``first_divergent_delta`` is the first layer, in that order, whose ``δ``
fails: the place to start reading a bug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .spec import NetworkSpec

QUANTITIES = (
    "loss",
    "outputs",
    "delta",
    "weight_grad",
    "bias_grad",
    "input_grad",
    "W_after_sgd",
    "b_after_sgd",
)

VERDICTS = ("agree", "engine", "tensorflow", "round-off", "out-of-range")

_LABELS = {
    "loss": "L",
    "outputs": "y_n",
    "delta": "δ",
    "weight_grad": "∂L/∂W",
    "bias_grad": "∂L/∂b",
    "input_grad": "∂L/∂x",
    "W_after_sgd": "W+SGD",
    "b_after_sgd": "b+SGD",
}


@dataclass(frozen=True)
class Element:
    """One compared element: where, the three values and its tolerance."""

    index: tuple[int, ...]
    engine: float
    reference: float
    truth: float
    tolerance: float

    @property
    def ratio(self) -> float:
        return _ratio(abs(self.engine - self.reference), self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": list(self.index),
            "engine": json_number(self.engine),
            "reference": json_number(self.reference),
            "truth": json_number(self.truth),
            "tolerance": json_number(self.tolerance),
            "ratio": json_number(self.ratio),
        }


# A row is blind when in more than this share of its elements the
# tolerance is at least the float64 value itself.
BLIND_SHARE = 0.5


@dataclass(frozen=True)
class Comparison:
    """The engine against TensorFlow for one quantity of one layer.

    ``ratio`` is the largest ``|engine − reference| / tolerance`` over the
    elements (above 1 fails); ``max_rel`` the largest
    ``|engine − reference| / max(|engine|, |reference|)``; ``tolerance``
    and the three values are those of the worst element.  ``verdict``
    says who is further from the float64 truth when the comparison fails.
    """

    layer: int | None
    quantity: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    tolerance: float
    ratio: float
    worst_index: tuple[int, ...]
    engine_value: float
    reference_value: float
    truth_value: float
    verdict: str
    passed: bool
    rule: str
    n_failing: int = 0
    worst: tuple[Element, ...] = ()
    # The share of the elements (of nonzero truth) whose tolerance is at
    # least the value itself: there even a 100 % error would pass.
    blind: float = 0.0

    @property
    def sees_errors(self) -> bool:
        """Whether a 100 % error in most elements would fail this row."""
        return self.blind <= BLIND_SHARE

    @property
    def short_name(self) -> str:
        """``δ_3``-style label for narrow tables."""
        label = _LABELS.get(self.quantity, self.quantity)
        return label if self.layer is None else f"{label}_{self.layer}"

    @property
    def name(self) -> str:
        """``δ³``-style label for tables: the quantity and its layer."""
        label = _LABELS.get(self.quantity, self.quantity)
        return label if self.layer is None else f"{label} (layer {self.layer})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "quantity": self.quantity,
            "shape": list(self.shape),
            "max_abs": json_number(self.max_abs),
            "max_rel": json_number(self.max_rel),
            "tolerance": json_number(self.tolerance),
            "ratio": json_number(self.ratio),
            "worst_index": list(self.worst_index),
            "engine_value": json_number(self.engine_value),
            "reference_value": json_number(self.reference_value),
            "truth_value": json_number(self.truth_value),
            "verdict": self.verdict,
            "passed": self.passed,
            "n_failing": self.n_failing,
            "blind_fraction": json_number(self.blind),
            "rule": self.rule,
            "worst": [e.to_dict() for e in self.worst],
        }


@dataclass
class Report:
    """Everything one cross-check found, ready to print or to save."""

    spec: NetworkSpec
    mode: str
    comparisons: list[Comparison]
    truth: str
    engine_name: str = "engine"
    mode_note: str = ""
    notes: list[str] = field(default_factory=list)
    sgd: dict[str, Any] | None = None
    replay: str | None = None  # the case file a failure was saved to

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    @property
    def blind_rows(self) -> list[Comparison]:
        """Rows whose tolerance is as large as their values: they cannot
        see an error, so their agreement says nothing."""
        return [c for c in self.comparisons if not c.sees_errors]

    def blind_note(self) -> str | None:
        """What the blind rows mean and what to do, or None."""
        blind = self.blind_rows
        if not blind:
            return None
        names = ", ".join(c.short_name for c in blind[:6])
        more = f" and {len(blind) - 6} more" if len(blind) > 6 else ""
        if self.spec.dtype == "float32":
            fix = "check this network in float64 (--dtype float64)"
        else:
            fix = "no higher precision is at hand: check a shallower or narrower net"
        return (
            f"{len(blind)} of {len(self.comparisons)} comparisons cannot see "
            f"even a 100 % error ({names}{more}): the round-off bound there "
            "is at least the value itself in most elements, as it grows "
            f"with depth and width; {fix}"
        )

    @property
    def first_divergent_delta(self) -> int | None:
        """The first layer, from the output down, whose ``δ`` fails."""
        for c in self.comparisons:
            if c.quantity == "delta" and not c.passed:
                return c.layer
        return None

    @property
    def worst_ratio(self) -> float:
        ratios = [c.ratio for c in self.comparisons]
        return max(ratios) if ratios else 0.0

    @property
    def max_abs(self) -> float:
        """The largest ``|engine − TensorFlow|`` over every comparison."""
        values = [c.max_abs for c in self.comparisons]
        return max(values) if values else 0.0

    @property
    def worst(self) -> Comparison | None:
        """The comparison with the largest ratio."""
        if not self.comparisons:
            return None
        return max(self.comparisons, key=lambda c: _sortable(c.ratio))

    def summary(self) -> str:
        """Several lines a person can act on: what broke, where, by how much."""
        engine = "" if self.engine_name == "engine" else f"engine {self.engine_name}; "
        head = (
            f"{self.spec.describe()}; {engine}"
            f"TensorFlow mode {self.mode}; truth: {self.truth}"
        )
        if self.passed:
            worst = self.worst
            where = f" at {worst.name}" if worst else ""
            text = (
                f"PASS {head}\n"
                f"  all {len(self.comparisons)} comparisons agree; worst "
                f"error/tolerance {_fmt(self.worst_ratio)}{where}; largest "
                f"|engine − TensorFlow| {_fmt(self.max_abs)}"
            )
            blind = self.blind_note()
            return text + (f"\n  but {blind}" if blind else "")

        failures = self.failures
        first = failures[0]
        lines = [
            f"FAIL {head}",
            f"  {len(failures)} of {len(self.comparisons)} comparisons fail; "
            f"first in backprop order: {first.name}, "
            f"{first.n_failing} element(s) over tolerance, worst by a factor "
            f"{_fmt(first.ratio)}; verdict: {_verdict_words(first.verdict)}.",
        ]
        if first.worst:
            lines.append(f"  worst elements of {first.name}:")
        for element in first.worst:
            lines.append(
                f"    at {list(element.index)}: engine {_fmt(element.engine)}, "
                f"TensorFlow {_fmt(element.reference)}, float64 "
                f"{_fmt(element.truth)}; tolerance {_fmt(element.tolerance)} "
                f"(exceeded ×{_fmt(element.ratio)})"
            )
        lines.append(f"  tolerance rule: {first.rule}")
        delta = self.first_divergent_delta
        lines.append(
            "  first diverging δ: "
            + (f"layer {delta}" if delta is not None else "none (every δ agrees)")
        )
        others = [c.name for c in failures[1:6]]
        if others:
            more = len(failures) - 1 - len(others)
            tail = f" and {more} more" if more > 0 else ""
            lines.append(f"  also failing: {', '.join(others)}{tail}")
        lines.extend(f"  note: {note}" for note in self.notes)
        blind = self.blind_note()
        if blind:
            lines.append(f"  note: {blind}")
        return "\n".join(lines)

    def table(self) -> Any:
        """A ``rich.table.Table`` with one row per comparison."""
        from rich.markup import escape
        from rich.table import Table

        title = escape(f"{self.spec.describe()} — TensorFlow {self.mode}")
        table = Table(title=title, title_justify="left")
        for column in ("quantity", "shape", "max |Δ|", "max rel", "tol at worst"):
            table.add_column(
                column, justify="left" if column == "quantity" else "right"
            )
        table.add_column("error/tol", justify="right")
        table.add_column("verdict")
        for c in self.comparisons:
            style = None if c.passed else "bold red"
            table.add_row(
                c.short_name,
                "×".join(map(str, c.shape)) or "scalar",
                _fmt(c.max_abs),
                _fmt(c.max_rel),
                _fmt(c.tolerance),
                _fmt(c.ratio),
                ("ok" if c.sees_errors else "ok, blind") if c.passed else c.verdict,
                style=style,
            )
        return table

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record of the whole check."""
        return {
            "passed": self.passed,
            "spec": self.spec.to_dict(),
            "description": self.spec.describe(),
            "dtype": self.spec.dtype,
            "mode": self.mode,
            "mode_note": self.mode_note,
            "engine": self.engine_name,
            "truth": self.truth,
            "first_divergent_delta": self.first_divergent_delta,
            "worst_ratio": json_number(self.worst_ratio),
            "max_abs": json_number(self.max_abs),
            "blind": [c.short_name for c in self.blind_rows],
            "sgd": self.sgd,
            "notes": list(self.notes),
            "replay": self.replay,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "versions": versions(),
        }


def versions() -> dict[str, str | None]:
    """numpy's version, and TensorFlow's if it is already imported."""
    import sys

    tf = sys.modules.get("tensorflow")
    return {
        "numpy": np.__version__,
        "tensorflow": getattr(tf, "__version__", None),
        "python": sys.version.split()[0],
    }


def _ratio(error: float, tolerance: float) -> float:
    if error == 0:
        return 0.0
    if tolerance <= 0 or not math.isfinite(error):
        return math.inf
    return error / tolerance


def _sortable(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def json_number(value: Any) -> Any:
    """A float for JSON: non-finite values as the strings JSON lacks."""
    value = float(value)
    if math.isfinite(value):
        return value
    return str(value)


def _fmt(value: float) -> str:
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def _verdict_words(verdict: str) -> str:
    return {
        "engine": "the engine is further from the float64 truth",
        "tensorflow": "TensorFlow is further from the float64 truth",
        "round-off": (
            "both lie within tolerance of the float64 truth yet differ "
            "from each other beyond it: the tolerance model is too tight here"
        ),
        "out-of-range": (
            "neither can be judged: both are inf or NaN, so this case cannot "
            "be checked at its dtype"
        ),
        "agree": "agree",
    }.get(verdict, verdict)
