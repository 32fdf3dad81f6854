"""Properties every correct backprop has, checked without any framework.

Each property takes a :class:`~manual_backprop.testing.strategies.Case` and
an engine (any callable with ``manual_backprop.engine.backward``'s
signature; the mutation catalogue passes broken copies) and returns a
:class:`PropertyResult`.

The identities hold exactly in real arithmetic.  They are checked on the
case converted to float64 (exact from float32), so the two sides differ by
float64 round-off only.  Its size comes from the project's tolerance
model, ``manual_backprop.tolerance.roundoff_bounds`` (a first-order bound
carried through the network with the magnitudes summed, so the
cancellation inside a saturated softmax or sigmoid is allowed for): each
side of an identity gets its own bound and the tolerance is their sum.
A fixed relative tolerance does not work here: on saturated networks a
correct ``δ`` is 1e-16 of the terms that cancel to make it, and a float64
identity fails by a factor of 1e8 against ``1e-9 · max|δ|`` (measured).
float32-specific behaviour (clip bounds rounded to float32, TensorFlow's
own round-off) is the business of the TensorFlow properties.

Kinks.  Where two computations of the same network place a pre-activation
on different sides of a kink (relu's 0, hard_sigmoid's ±3, a cross-entropy
clip bound, MAE's zero error, Huber's ±delta), an identity may
legitimately fail by a whole derivative jump.  Every property compares the
*branch signature* of its runs (which side of every kink each unit is on)
and reports such a case as inconclusive rather than as a failure.  Cases
drawn with a pre-activation *exactly* on a kink (zero rows) keep it there
in any summation order, so they stay conclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import Gradients
from ..engine import backward as engine_backward
from ..losses import EPSILON
from ..params import LayerParams
from ..spec import NetworkSpec
from .strategies import KINK_VALUES, Case

Engine = Callable[..., Gradients]

# Added to every identity's tolerance, times the larger |side|: 16 units of
# float64 round-off of the value itself (u = 2⁻⁵³).
RELATIVE_FLOOR = 16 * 2.0**-53

# Central differences: the step, relative to the largest |value| of the
# array perturbed (2⁻²⁰ ≈ 1e-6: truncation ~h² and round-off ~u/h balance
# near there in float64), and the safety factor on the error estimate.
FD_STEP = 2.0**-20
FD_SAFETY = 10.0
FD_RTOL = 1e-7  # of Σ|gᵢvᵢ|, the directional derivative's own terms


@dataclass(frozen=True)
class Finding:
    """One compared quantity: the largest error against its tolerance."""

    quantity: str
    layer: int | None
    error: float
    tolerance: float
    worst_index: tuple[int, ...] = ()
    actual: float = float("nan")
    expected: float = float("nan")

    @property
    def ratio(self) -> float:
        if self.tolerance > 0:
            return self.error / self.tolerance
        return 0.0 if self.error == 0 else float("inf")

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0

    def describe(self) -> str:
        where = f"layer {self.layer} " if self.layer is not None else ""
        return (
            f"{where}{self.quantity}: max error {self.error:.3g} at "
            f"{self.worst_index} (engine {self.actual:.9g}, expected "
            f"{self.expected:.9g}); tolerance {self.tolerance:.3g}, "
            f"ratio {self.ratio:.3g}"
        )


@dataclass
class PropertyResult:
    """What one property found on one case."""

    prop: str
    case: Case | None = None
    findings: list[Finding] = field(default_factory=list)
    inconclusive: str = ""  # why nothing could be concluded, if so
    error: str = ""  # the engine raised

    @property
    def passed(self) -> bool:
        return not self.error and all(f.passed for f in self.findings)

    @property
    def conclusive(self) -> bool:
        return not self.inconclusive

    @property
    def max_ratio(self) -> float:
        return max((f.ratio for f in self.findings), default=0.0)

    def summary(self) -> str:
        head = f"property {self.prop!r}"
        if self.case is not None:
            head += f" on {self.case!r}"
        if self.error:
            return f"{head}: the engine raised {self.error}"
        if self.inconclusive:
            return f"{head}: inconclusive ({self.inconclusive})"
        bad = sorted((f for f in self.findings if not f.passed), key=lambda f: -f.ratio)
        if not bad:
            return f"{head}: holds (worst ratio {self.max_ratio:.3g})"
        lines = [f"{head} FAILS:"]
        lines += [f"  {f.describe()}" for f in bad[:6]]
        return "\n".join(lines)


def compare(
    quantity: str, layer: int | None, actual: Any, expected: Any, tolerance: Any
) -> Finding:
    """``|actual − expected| ≤ tolerance`` elementwise; the worst element."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Finding(
            f"{quantity} (shape {a.shape}, expected {e.shape})",
            layer,
            float("inf"),
            0.0,
        )
    if a.size == 0:
        return Finding(quantity, layer, 0.0, 0.0)
    # Any float64 result carries a relative error of a few u of itself,
    # whatever the model says about the terms it was made from.
    tol = np.asarray(tolerance, dtype=np.float64) + RELATIVE_FLOOR * np.maximum(
        np.abs(a), np.abs(e)
    )
    tol = np.broadcast_to(tol, a.shape)
    diff = np.abs(a - e)
    diff = np.where(np.isnan(diff), np.inf, diff)
    with np.errstate(all="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / tol)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return Finding(
        quantity,
        layer,
        float(diff[index]),
        float(tol[index]),
        tuple(int(i) for i in index),
        float(a[index]),
        float(e[index]),
    )


def bounds(case: Case, run_of_case: Gradients) -> Any:
    """Round-off tolerances for one float64 run of ``case``.

    ``manual_backprop.tolerance.roundoff_bounds`` (the project's model: a
    first-order bound carried through the network with the magnitudes
    summed, so a cancellation inside a saturated softmax is allowed for),
    with ``run_of_case``, the run being judged, supplying the magnitudes of
    ``z``, ``y`` and ``δ``: a broken engine's own values set its
    tolerance, so an identity it satisfies is not failed because the real
    engine's values are smaller.  Turned into tolerances with the model's
    ``SAFETY · E + floor``.
    """
    from ..tolerance import roundoff_bounds

    E = roundoff_bounds(
        case.spec, case.params, case.x, case.labels, run_of_case, (run_of_case,)
    )
    return _Tolerances(E)


@dataclass(frozen=True)
class _Tolerances:
    E: Any

    def of(self, quantity: str, layer: int | None = None) -> np.ndarray:
        E = self.E
        if quantity == "loss":
            bound = E.loss
        elif quantity == "input_grad":
            bound = E.input_grad
        else:
            plural = {
                "delta": "deltas",
                "weight_grad": "weight_grads",
                "bias_grad": "bias_grads",
            }[quantity]
            assert layer is not None
            bound = getattr(E, plural)[layer - 1]
        return np.asarray(E.tolerance(bound), dtype=np.float64)


# Running an engine safely, and the branch signature.


def run(engine: Engine, spec: NetworkSpec, params: Any, x: Any, labels: Any) -> Any:
    """``engine(spec, params, x, labels)`` with numpy's warnings silenced."""
    with np.errstate(all="ignore"):
        return engine(spec, params, x, labels)


def signature(spec: NetworkSpec, grads: Gradients, labels: Any) -> np.ndarray:
    """Per example, which side of every kink each unit is on: ``(B, k)``.

    Columns: ``sign(z − k)`` for each kink ``k`` of each layer's activation
    (relu, leaky_relu, elu and selu at 0, hard_sigmoid at ±3); for the loss,
    ``sign(y − t)`` (mean absolute error), ``sign(|y − t| − delta)``
    (Huber) or the clip's sides, ``sign(p − 1e-7)`` and
    ``sign(p − (1 − 1e-7))`` (cross-entropies on probabilities).
    """
    columns = []
    for act, layer in zip(spec.activations, grads.layers, strict=True):
        z = np.asarray(layer.pre_activation, dtype=np.float64)
        for k in KINK_VALUES.get(act.name, ()):
            columns.append(np.sign(z - k))

    y = np.asarray(grads.outputs, dtype=np.float64)
    if spec.loss == "mean_absolute_error":
        columns.append(np.sign(y - labels))
    elif spec.loss == "huber":
        columns.append(np.sign(np.abs(y - labels) - spec.huber_delta))
    elif spec.loss_path == "probabilities":
        p = y
        if spec.loss == "categorical_crossentropy":
            p = y / np.sum(y, axis=-1, keepdims=True)
        lo = np.asarray(EPSILON, dtype=spec.dtype).astype(np.float64)
        hi = np.asarray(1.0 - EPSILON, dtype=spec.dtype).astype(np.float64)
        columns += [np.sign(p - lo), np.sign(p - hi)]

    if not columns:
        return np.zeros((y.shape[0], 0))
    return np.concatenate(columns, axis=1)


def _wide(case: Case) -> Case:
    return case if case.spec.dtype == "float64" else case.astype("float64")


def _guard(prop: str, case: Case, body: Callable[[PropertyResult], None]) -> Any:
    result = PropertyResult(prop, case)
    try:
        with np.errstate(all="ignore"):
            body(result)
    except Exception as err:  # a broken engine may raise anything
        result.error = f"{type(err).__name__}: {err}"
    return result


def _all_quantities(
    findings: list[Finding],
    a: Gradients,
    b: Gradients,
    tol_a: _Tolerances,
    tol_b: _Tolerances,
    *,
    rows: Callable[[Any], np.ndarray] | None = None,
) -> None:
    """Compare ``a`` with ``b``: loss, parameter gradients, and per-row
    quantities (``δ``, ``∂L/∂x``) of ``b`` mapped onto ``a``'s rows."""
    findings.append(
        compare("loss", None, a.loss, b.loss, tol_a.of("loss") + tol_b.of("loss"))
    )
    for layer in range(1, len(a) + 1):
        for quantity in ("weight_grad", "bias_grad"):
            findings.append(
                compare(
                    quantity,
                    layer,
                    getattr(a[layer], quantity),
                    getattr(b[layer], quantity),
                    tol_a.of(quantity, layer) + tol_b.of(quantity, layer),
                )
            )
        if rows is not None:
            findings.append(
                compare(
                    "delta",
                    layer,
                    a[layer].delta,
                    rows(b[layer].delta),
                    tol_a.of("delta", layer) + rows(tol_b.of("delta", layer)),
                )
            )
    if rows is not None:
        findings.append(
            compare(
                "input_grad",
                None,
                a.input_grad,
                rows(b.input_grad),
                tol_a.of("input_grad") + rows(tol_b.of("input_grad")),
            )
        )


# The properties.


def bias_gradient_is_batch_sum_of_delta(
    case: Case, engine: Engine = engine_backward
) -> PropertyResult:
    """``∂L/∂b_l = Σ_rows δˡ`` for every layer."""

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        g = run(engine, c.spec, c.params, c.x, c.labels)
        tol = bounds(c, g)
        for layer, lg in enumerate(g.layers, start=1):
            result.findings.append(
                compare(
                    "bias_grad",
                    layer,
                    lg.bias_grad,
                    np.asarray(lg.delta).sum(axis=0),
                    2 * tol.of("bias_grad", layer),
                )
            )

    return _guard("bias gradient is the batch sum of delta", case, body)


def weight_gradient_is_delta_times_layer_input(
    case: Case, engine: Engine = engine_backward
) -> PropertyResult:
    """``∂L/∂W_l = δˡᵀ x_l`` (batch-major), and ``∂L/∂x = δ¹ W_1``."""

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        g = run(engine, c.spec, c.params, c.x, c.labels)
        tol = bounds(c, g)
        for layer, lg in enumerate(g.layers, start=1):
            x_l = c.x if layer == 1 else np.asarray(g.layers[layer - 2].output)
            result.findings.append(
                compare(
                    "weight_grad",
                    layer,
                    lg.weight_grad,
                    np.asarray(lg.delta).T @ x_l,
                    2 * tol.of("weight_grad", layer),
                )
            )
        result.findings.append(
            compare(
                "input_grad",
                None,
                g.input_grad,
                np.asarray(g.layers[0].delta) @ c.params[0].W,
                2 * tol.of("input_grad"),
            )
        )

    return _guard("weight gradient is delta times the layer input", case, body)


def _rows(
    case: Case, index: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(index, dtype=np.intp)
    return case.x[rows], case.labels[rows]


def _subcase(case: Case, index: Sequence[int] | np.ndarray) -> Case:
    from dataclasses import replace

    x, t = _rows(case, index)
    return replace(case, x=x, labels=t)


def _split(case: Case, engine: Engine) -> tuple[list[Gradients], np.ndarray]:
    """One-example runs of every example, and their stacked signatures."""
    singles, sigs = [], []
    for b in range(case.batch):
        x_b, t_b = _rows(case, [b])
        g = run(engine, case.spec, case.params, x_b, t_b)
        singles.append(g)
        sigs.append(signature(case.spec, g, t_b))
    return singles, np.concatenate(sigs)


def mean_gradient_is_mean_of_example_gradients(
    case: Case, engine: Engine = engine_backward
) -> PropertyResult:
    """The batch-mean loss's gradients are the mean of one-example gradients.

    Also: each example's ``δ`` and ``∂L/∂x`` row in the batch is its
    one-example value divided by ``B``, and the loss is the mean loss.
    Tolerance: twice the whole batch's (a one-example run sums fewer
    terms than the batch run, so its bound is no larger).
    """

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        B = c.batch
        full = run(engine, c.spec, c.params, c.x, c.labels)
        singles, sig_single = _split(c, engine)
        if not np.array_equal(signature(c.spec, full, c.labels), sig_single):
            result.inconclusive = "an example sits on different kink sides"
            return
        tol = bounds(c, full)

        result.findings.append(
            compare(
                "loss",
                None,
                full.loss,
                np.mean([float(s.loss) for s in singles]),
                2 * tol.of("loss"),
            )
        )
        for layer in range(1, c.spec.depth + 1):
            for quantity in ("weight_grad", "bias_grad"):
                mean = sum(np.asarray(getattr(s[layer], quantity)) for s in singles)
                result.findings.append(
                    compare(
                        quantity,
                        layer,
                        getattr(full[layer], quantity),
                        mean / B,
                        2 * tol.of(quantity, layer),
                    )
                )
            stacked = np.concatenate([np.asarray(s[layer].delta) for s in singles])
            result.findings.append(
                compare(
                    "delta",
                    layer,
                    full[layer].delta,
                    stacked / B,
                    2 * tol.of("delta", layer),
                )
            )
        stacked = np.concatenate([np.asarray(s.input_grad) for s in singles])
        result.findings.append(
            compare(
                "input_grad",
                None,
                full.input_grad,
                stacked / B,
                2 * tol.of("input_grad"),
            )
        )

    return _guard("mean gradient is the mean of example gradients", case, body)


def permuting_the_batch_permutes_only_rows(
    case: Case, engine: Engine = engine_backward, *, seed: int = 0
) -> PropertyResult:
    """Shuffling the examples changes no parameter gradient and no loss.

    ``δˡ`` and ``∂L/∂x`` are permuted with the rows.  The permutation is
    the reversal when ``seed`` is 0 (it moves every row of a batch of two
    or more, except the middle one), else a seeded shuffle.
    """

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        B = c.batch
        if seed == 0:
            order = np.arange(B)[::-1]
        else:
            order = np.random.default_rng(seed).permutation(B)
        p = _subcase(c, order)
        a = run(engine, c.spec, c.params, c.x, c.labels)
        b = run(engine, c.spec, c.params, p.x, p.labels)
        if not np.array_equal(
            signature(c.spec, a, c.labels)[order], signature(c.spec, b, p.labels)
        ):
            result.inconclusive = "a unit changed kink side under the permutation"
            return
        inverse = np.argsort(order)
        _all_quantities(
            result.findings,
            a,
            b,
            bounds(c, a),
            bounds(p, b),
            rows=lambda r: np.asarray(r)[inverse],
        )

    return _guard("permuting the batch permutes only rows", case, body)


def repeating_the_batch_leaves_mean_gradient_unchanged(
    case: Case, engine: Engine = engine_backward, *, times: int = 3
) -> PropertyResult:
    """The batch repeated ``times`` times has the same loss and gradients.

    Its ``δ`` and ``∂L/∂x`` rows are the original ones divided by ``times``.
    """

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        r = _subcase(c, np.tile(np.arange(c.batch), times))
        a = run(engine, c.spec, c.params, c.x, c.labels)
        b = run(engine, c.spec, c.params, r.x, r.labels)
        if not np.array_equal(
            np.tile(signature(c.spec, a, c.labels), (times, 1)),
            signature(c.spec, b, r.labels),
        ):
            result.inconclusive = "a unit changed kink side when repeated"
            return

        def rows(values: Any) -> np.ndarray:
            return np.asarray(values)[: c.batch] * times

        _all_quantities(result.findings, a, b, bounds(c, a), bounds(r, b), rows=rows)

    return _guard("repeating the batch leaves the mean gradient unchanged", case, body)


def weighting_examples_weights_their_gradients(
    case: Case, engine: Engine = engine_backward, *, seed: int = 1
) -> PropertyResult:
    """Scaling an example's share of the loss scales its share of the gradient.

    Example ``b`` repeated ``k_b`` times (``k_b`` in 1 … 3) weights its loss
    by ``k_b / K`` (``K = Σ k``) in the batch mean; every parameter gradient
    must then be ``Σ_b k_b G_b / K`` with ``G_b`` the one-example gradient.
    """

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        k = np.random.default_rng(seed).integers(1, 4, size=c.batch)
        if c.batch == 1:
            k[0] = 2  # a lone example still repeats
        w = _subcase(c, np.repeat(np.arange(c.batch), k))
        weighted = run(engine, c.spec, c.params, w.x, w.labels)
        singles, sig_single = _split(c, engine)
        if not np.array_equal(
            signature(c.spec, weighted, w.labels), np.repeat(sig_single, k, axis=0)
        ):
            result.inconclusive = "an example sits on different kink sides"
            return
        tol = bounds(w, weighted)

        K = float(k.sum())
        result.findings.append(
            compare(
                "loss",
                None,
                weighted.loss,
                sum(kb * float(s.loss) for kb, s in zip(k, singles, strict=True)) / K,
                2 * tol.of("loss"),
            )
        )
        for layer in range(1, c.spec.depth + 1):
            for quantity in ("weight_grad", "bias_grad"):
                total = sum(
                    kb * np.asarray(getattr(s[layer], quantity))
                    for kb, s in zip(k, singles, strict=True)
                )
                result.findings.append(
                    compare(
                        quantity,
                        layer,
                        getattr(weighted[layer], quantity),
                        total / K,
                        2 * tol.of(quantity, layer),
                    )
                )

    return _guard("weighting examples weights their gradients", case, body)


# Degree of homogeneity of each regression loss in (output − target).
_HOMOGENEITY = {"mean_squared_error": 2, "mean_absolute_error": 1, "huber": 2}


def scaling_outputs_and_targets_scales_loss_and_gradients(
    case: Case, engine: Engine = engine_backward, *, c: float = 2.0
) -> PropertyResult:
    """Scaling the output layer and the targets by ``c`` scales the loss.

    For a regression loss on a linear output layer: ``W_n, b_n, t`` (and
    Huber's delta) times ``c`` make every error ``c`` times larger, the
    loss ``c^p`` times (``p = 2`` for MSE and Huber, 1 for MAE),
    ``∂L/∂W_n``, ``∂L/∂b_n`` and ``δⁿ`` ``c^{p−1}`` times, and every other
    gradient ``c^p`` times.  With ``c = 2`` this is exact in floating
    point up to the order of additions.  Other descriptions are
    inconclusive.
    """

    def body(result: PropertyResult) -> None:
        from dataclasses import replace

        cs = _wide(case)
        spec = cs.spec
        if spec.loss not in _HOMOGENEITY or spec.activations[-1].name != "linear":
            result.inconclusive = "needs a regression loss on a linear output"
            return
        p = _HOMOGENEITY[spec.loss]
        W_n, b_n = cs.params[-1]
        # Huber's delta is a length in output units: it scales with them.
        scaled_spec = spec
        if spec.loss == "huber":
            scaled_spec = replace(spec, huber_delta=spec.huber_delta * c)
        scaled = replace(
            cs,
            spec=scaled_spec,
            params=(*cs.params[:-1], LayerParams(W_n * c, b_n * c)),
            labels=cs.labels * c,
        )
        a = run(engine, spec, cs.params, cs.x, cs.labels)
        b = run(engine, scaled.spec, scaled.params, scaled.x, scaled.labels)
        tol_a, tol_b = bounds(cs, a), bounds(scaled, b)

        n = spec.depth
        result.findings.append(
            compare(
                "loss",
                None,
                b.loss,
                c**p * a.loss,
                tol_b.of("loss") + c**p * tol_a.of("loss"),
            )
        )
        for layer in range(1, n + 1):
            k = c ** (p - 1 if layer == n else p)
            for quantity in ("weight_grad", "bias_grad", "delta"):
                result.findings.append(
                    compare(
                        quantity,
                        layer,
                        getattr(b[layer], quantity),
                        k * np.asarray(getattr(a[layer], quantity)),
                        tol_b.of(quantity, layer) + k * tol_a.of(quantity, layer),
                    )
                )
        result.findings.append(
            compare(
                "input_grad",
                None,
                b.input_grad,
                c**p * np.asarray(a.input_grad),
                tol_b.of("input_grad") + c**p * tol_a.of("input_grad"),
            )
        )

    return _guard(
        "scaling outputs and targets scales the loss and gradients", case, body
    )


# Central differences.


def _perturbed(case: Case, which: tuple[int, str] | None, step: np.ndarray) -> Any:
    params = list(case.params)
    x = case.x
    if which is None:
        x = x + step
    else:
        layer, name = which
        W, b = params[layer - 1]
        if name == "W":
            W = W + step
        else:
            b = b + step
        params[layer - 1] = LayerParams(W, b)
    return tuple(params), x


def central_differences(
    case: Case,
    engine: Engine = engine_backward,
    *,
    seed: int = 0,
    loss_of: Callable[..., float] | None = None,
    gradients: Gradients | None = None,
    prop: str = "engine agrees with float64 central differences",
) -> PropertyResult:
    """Every gradient against float64 central differences of the loss.

    For each ``W_l``, ``b_l`` and ``x``, along one random direction ``v``
    (unit largest element): ``D(h) = (L(θ + hv) − L(θ − hv)) / 2h`` against
    ``⟨∂L/∂θ, v⟩``, with ``h = 2⁻²⁰ · max(1, max|θ|)``.  The tolerance
    is ``10 · (|D(2h) − D(h)| + 1e-13·(1 + |L|)/h) + 1e-7 · Σ|gᵢvᵢ|``: the
    first term is Richardson's estimate of ``D(h)``'s truncation error (3×
    it), the second its round-off, the third the directional derivative's
    own summation.  A comparison whose five points ``θ + {−2,−1,0,1,2}·hv``
    do not all share one branch signature (a kink between them) is left
    out; if all are, the result is inconclusive.

    ``loss_of(params, x)`` and ``gradients`` default to the engine's own
    loss and gradients; pass another implementation's (TensorFlow's) to
    check it instead.
    """

    def body(result: PropertyResult) -> None:
        c = _wide(case)
        rng = np.random.default_rng(seed)

        def evaluate(params: Any, x: Any) -> tuple[float, np.ndarray]:
            g = run(engine, c.spec, params, x, c.labels)
            return float(g.loss), signature(c.spec, g, c.labels)

        base = gradients or run(engine, c.spec, c.params, c.x, c.labels)
        loss0 = float(base.loss)
        sig0 = signature(c.spec, run(engine, c.spec, c.params, c.x, c.labels), c.labels)

        targets: list[tuple[tuple[int, str] | None, np.ndarray, np.ndarray]] = []
        for layer, (W, b) in enumerate(c.params, start=1):
            targets.append(((layer, "W"), W, np.asarray(base[layer].weight_grad)))
            targets.append(((layer, "b"), b, np.asarray(base[layer].bias_grad)))
        targets.append((None, c.x, np.asarray(base.input_grad)))

        skipped = 0
        for which, value, grad in targets:
            v = rng.normal(size=value.shape)
            v /= max(float(np.max(np.abs(v))), 1e-300)
            h = FD_STEP * max(1.0, float(np.max(np.abs(value))))
            losses, sigs = {}, {}
            for m in (-2, -1, 1, 2):
                params, x = _perturbed(c, which, m * h * v)
                if loss_of is not None:
                    losses[m] = float(loss_of(params, x))
                    sigs[m] = evaluate(params, x)[1]
                else:
                    losses[m], sigs[m] = evaluate(params, x)
            if not all(np.array_equal(sigs[m], sig0) for m in sigs):
                skipped += 1
                continue
            d1 = (losses[1] - losses[-1]) / (2 * h)
            d2 = (losses[2] - losses[-2]) / (4 * h)
            analytic = float(np.sum(grad * v))
            terms = float(np.sum(np.abs(grad * v)))
            tol = (
                FD_SAFETY * (abs(d2 - d1) + 1e-13 * (1 + abs(loss0)) / h)
                + FD_RTOL * terms
            )
            finding_layer = which[0] if which else None
            quantity = (
                "input_grad"
                if which is None
                else ("weight_grad" if which[1] == "W" else "bias_grad")
            )
            error = abs(analytic - d1)
            if not np.isfinite(error):
                error = float("inf")
            result.findings.append(
                Finding(f"{quantity}·v", finding_layer, error, tol, (), analytic, d1)
            )
        if not result.findings:
            result.inconclusive = f"a kink lies within the step for all {skipped}"

    return _guard(prop, case, body)


FRAMEWORK_FREE: dict[str, Callable[..., PropertyResult]] = {
    "bias gradient is the batch sum of delta": bias_gradient_is_batch_sum_of_delta,
    "weight gradient is delta times the layer input": (
        weight_gradient_is_delta_times_layer_input
    ),
    "mean gradient is the mean of example gradients": (
        mean_gradient_is_mean_of_example_gradients
    ),
    "permuting the batch permutes only rows": permuting_the_batch_permutes_only_rows,
    "repeating the batch leaves the mean gradient unchanged": (
        repeating_the_batch_leaves_mean_gradient_unchanged
    ),
    "weighting examples weights their gradients": (
        weighting_examples_weights_their_gradients
    ),
    "scaling outputs and targets scales the loss and gradients": (
        scaling_outputs_and_targets_scales_loss_and_gradients
    ),
    "engine agrees with float64 central differences": central_differences,
}
