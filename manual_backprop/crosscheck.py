"""The cross-check: the engine against TensorFlow, settled against float64.

``cross_check`` runs three computations of one case:

1. the engine under test, at the description's dtype;
2. TensorFlow (``tf_reference.reference_gradients``), at the same dtype;
3. the truth: the same network in float64 end to end.  The truth is
   TensorFlow's float64 run (``tf_reference`` in float64), not the
   engine's, so that a mistake made by the engine cannot hide in its own
   yardstick.  When the description is already float64, the truth *is*
   TensorFlow's run at that dtype; the verdict then cannot take sides (it
   reports ``engine`` for any failure, and the report says so).

``compare`` does the judging with numpy alone, so tests can call it
without TensorFlow: every quantity gets the elementwise tolerance of
``manual_backprop.tolerance`` and a row in the report.

TensorFlow is imported only inside these functions, through
``tf_reference``; importing this module does not import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import engine as _engine
from .engine import Gradients, check_inputs, check_labels
from .errors import ManualBackpropError
from .optimizers import SGD
from .params import LayerParams, Params, check_params, init_params
from .report import Comparison, Element, Report
from .spec import (
    ACTIVATIONS,
    CROSS_ENTROPIES,
    DTYPES,
    LOSSES,
    Activation,
    NetworkSpec,
)
from .tolerance import SAFETY, Bounds, roundoff_bounds

WORST_SHOWN = 3
"""How many of the worst elements a failing comparison keeps for the report."""

BackwardFn = Callable[..., Gradients]

MODES = ("function", "eager")


@dataclass(frozen=True)
class SGDCheck:
    """Run ``steps`` SGD steps on the same batch in the engine and in Keras.

    ``optimizer_factory`` builds the engine's optimizer (the mutation
    catalogue passes a broken copy's class).
    """

    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    steps: int = 1
    optimizer_factory: Callable[..., Any] = SGD

    def to_dict(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "steps": self.steps,
        }


def float64_case(
    spec: NetworkSpec, params: Params, x: Any, labels: Any
) -> tuple[NetworkSpec, Params, np.ndarray, np.ndarray]:
    """The same case in float64 (exact: float32 → float64 loses nothing)."""
    spec64 = replace(spec, dtype="float64")
    params64 = tuple(
        LayerParams(np.asarray(W, np.float64), np.asarray(b, np.float64))
        for W, b in params
    )
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        labels = labels.astype(np.float64)
    return spec64, params64, np.asarray(x, np.float64), labels


def check_finite(params: Params, x: Any, labels: Any) -> None:
    """Refuse NaN or infinite inputs: NaN compares equal to nothing, and a
    cross-check of it would prove nothing."""
    named = [("x", x), ("labels", labels)]
    for layer, (W, b) in enumerate(params, start=1):
        named += [(f"layer {layer} W", W), (f"layer {layer} b", b)]
    for name, array in named:
        values = np.asarray(array)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            bad = int(np.size(values) - np.isfinite(values).sum())
            raise ManualBackpropError(
                f"{name} holds {bad} NaN or infinite value(s) of "
                f"{np.size(values)}; a cross-check needs finite numbers. "
                "Fix or drop them."
            )


def _reference() -> Any:
    import tf_reference

    return tf_reference


def cross_check(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    *,
    mode: str = "function",
    engine: BackwardFn = _engine.backward,
    sgd: SGDCheck | None = None,
    engine_name: str = "engine",
) -> Report:
    """Check the engine against TensorFlow on one case; see the module doc.

    Args:
        spec: the network description.
        params: one ``(W_l, b_l)`` per layer, ``W_l`` of shape
            ``(n_l, n_{l-1})``, in ``spec.dtype``.
        x: inputs ``(B, n_0)`` in ``spec.dtype``.
        labels: as ``engine.backward`` takes them.
        mode: TensorFlow's execution mode, ``"function"`` or ``"eager"``.
        engine: the backward pass under test (``engine.backward``'s
            signature).
        sgd: also compare the parameters after SGD steps against Keras.
        engine_name: how the report names the engine under test.

    Returns:
        a :class:`~manual_backprop.report.Report`.
    """
    params = check_params(spec, params)
    check_inputs(spec, x)
    check_labels(spec, labels, batch=np.shape(x)[0])
    check_finite(params, x, labels)
    if mode not in MODES:
        raise ManualBackpropError(
            f"mode must be 'function' or 'eager'; received {mode!r}."
        )
    tf_reference = _reference()

    engine_result = engine(spec, params, x, labels)
    reference_result = tf_reference.reference_gradients(
        spec, params, x, labels, mode=mode
    )
    if spec.dtype == "float64":
        truth_result = reference_result
        truth = "TensorFlow's own float64 run (no higher precision to appeal to)"
    else:
        case64 = float64_case(spec, params, x, labels)
        truth_result = tf_reference.reference_gradients(*case64, mode=mode)
        truth = "TensorFlow in float64"

    report, bounds = _judge(
        spec,
        params,
        x,
        labels,
        (engine_result, reference_result, truth_result),
        mode=mode,
        truth=truth,
        engine_name=engine_name,
    )
    report.mode_note = tf_reference.execution_mode_note(mode)

    if sgd is not None:
        first = (reference_result, truth_result, bounds)
        rows = _sgd_rows(spec, params, x, labels, engine, sgd, mode, first)
        report.comparisons.extend(rows)
        report.sgd = sgd.to_dict()
    return report


def compare(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    engine_result: Gradients,
    reference_result: Gradients,
    truth_result: Gradients,
    *,
    mode: str = "function",
    truth: str = "float64",
    engine_name: str = "engine",
) -> Report:
    """Judge the engine's and the reference's results against the truth.

    Pure numpy.  ``truth_result`` is the float64 run; its ``z``, ``y`` and
    ``δ`` set the tolerances (see ``manual_backprop.tolerance``).
    """
    results = (engine_result, reference_result, truth_result)
    options = {"mode": mode, "truth": truth, "engine_name": engine_name}
    return _judge(spec, params, x, labels, results, **options)[0]


def _judge(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    results: tuple[Gradients, Gradients, Gradients],
    *,
    mode: str,
    truth: str,
    engine_name: str,
) -> tuple[Report, Bounds]:
    engine_result, reference_result, truth_result = results
    with np.errstate(all="ignore"):  # a non-finite truth gives NaN bounds
        bounds = roundoff_bounds(
            spec, params, x, labels, truth_result, (engine_result, reference_result)
        )
    notes = []
    if spec.dtype == "float64" and truth_result is reference_result:
        notes.append(
            "the description is float64, so the truth is TensorFlow's own run "
            "and a failure is charged to the engine by default"
        )
    kinks = sum(bounds.kinks_straddled)
    if kinks or bounds.loss_straddled:
        notes.append(
            f"round-off put the runs on different sides of {kinks} activation "
            f"kink(s) and {bounds.loss_straddled} loss clip/sign point(s); "
            "the jumps seen there were added to the tolerance"
        )

    rows: list[Comparison] = []
    u = bounds.unit_roundoff

    def add(
        layer: int | None, quantity: str, e: Any, r: Any, t: Any, E: Any, why: str
    ) -> None:
        rule = _rule(why, u, bounds.floor)
        tol = bounds.tolerance(E)
        rows.append(_compare_one(layer, quantity, e, r, t, tol, rule))

    add(
        None,
        "loss",
        engine_result.loss,
        reference_result.loss,
        truth_result.loss,
        bounds.loss,
        "Σ|∂L/∂y|·E(y) + the loss's own terms",
    )
    add(
        None,
        "outputs",
        engine_result.outputs,
        reference_result.outputs,
        truth_result.outputs,
        bounds.outputs,
        "the forward bound E(y_n)",
    )
    for layer in range(spec.depth, 0, -1):
        i = layer - 1
        e, r, t = (res.layers[i] if len(res.layers) > i else None for res in results)
        straddles = bounds.kinks_straddled[i]
        kink = f", plus the jumps at {straddles} straddled kink(s)" if straddles else ""
        why = {
            "delta": f"(|f'| + E(f'))·E(W δ) + |W δ|·E(f'){kink}",
            "weight_grad": "(B+1)·u·|δ|ᵀ|x| + E(δ)ᵀ(|x| + E(x)) + |δ|ᵀE(x)",
            "bias_grad": "B·u·Σ|δ| + ΣE(δ)",
        }
        E = {
            "delta": bounds.deltas[i],
            "weight_grad": bounds.weight_grads[i],
            "bias_grad": bounds.bias_grads[i],
        }
        for quantity in ("delta", "weight_grad", "bias_grad"):
            add(
                layer,
                quantity,
                _get(e, quantity),
                _get(r, quantity),
                _get(t, quantity),
                E[quantity],
                why[quantity],
            )
    add(
        None,
        "input_grad",
        engine_result.input_grad,
        reference_result.input_grad,
        truth_result.input_grad,
        bounds.input_grad,
        "(n_1+1)·u·|δ¹||W_1| + E(δ¹)|W_1|",
    )

    report = Report(
        spec=spec,
        mode=mode,
        comparisons=rows,
        truth=truth,
        engine_name=engine_name,
        notes=notes,
    )
    return report, bounds


def _rule(why: str, u: float, floor: float) -> str:
    return (
        f"tol = {SAFETY:g}·E + {floor:.2g} with E = {why}, u = {u:.3g} "
        "(first-order round-off bound, manual_backprop.tolerance)"
    )


def _get(layer: Any, name: str) -> Any:
    return None if layer is None else getattr(layer, name, None)


def _compare_one(
    layer: int | None,
    quantity: str,
    engine_value: Any,
    reference_value: Any,
    truth_value: Any,
    tolerance: Any,
    rule: str,
) -> Comparison:
    values = (engine_value, reference_value, truth_value)
    shapes = [None if v is None else np.shape(v) for v in values]
    if engine_value is None or reference_value is None or len(set(shapes)) != 1:
        return Comparison(
            layer=layer,
            quantity=quantity,
            shape=tuple(shapes[1] or ()),
            max_abs=np.inf,
            max_rel=np.inf,
            tolerance=0.0,
            ratio=np.inf,
            worst_index=(),
            engine_value=np.nan,
            reference_value=np.nan,
            truth_value=np.nan,
            verdict="engine" if shapes[0] != shapes[2] else "tensorflow",
            passed=False,
            rule=f"shapes differ: engine {shapes[0]}, TensorFlow {shapes[1]}, "
            f"float64 {shapes[2]}",
        )

    dtype = np.asarray(engine_value).dtype.name
    e = np.asarray(engine_value, dtype=np.float64)
    r = np.asarray(reference_value, dtype=np.float64)
    t = np.asarray(truth_value, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), e.shape)

    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(e - r)
        # inf or NaN never agrees, not even with itself: an overflow on
        # both sides proves nothing about either gradient.
        lost = ~np.isfinite(e) & ~np.isfinite(r)
        same = (e == r) & np.isfinite(e)
        diff = np.where(same, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
        ratio = np.where(diff == 0, 0.0, diff / np.where(tol > 0, tol, np.inf))
        ratio = np.where((diff > 0) & ~(tol > 0), np.inf, ratio)
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        # Relative to the larger of the two values: at most 2, and 1 where
        # one side is exactly 0, so a tiny reference cannot blow it up.
        scale = np.maximum(np.abs(r), np.abs(e))
        rel = np.where(diff == 0, 0.0, diff / np.where(scale > 0, scale, 1.0))

    failing = ratio > 1
    flat_ratio = ratio.reshape(-1)
    known = (t != 0) & np.isfinite(t)
    blind = float(np.mean(tol[known] >= np.abs(t[known]))) if known.any() else 0.0
    flat = int(np.argmax(flat_ratio))
    worst_index = tuple(int(i) for i in np.unravel_index(flat, e.shape))

    def element(k: int) -> Element:
        return Element(
            tuple(int(i) for i in np.unravel_index(k, e.shape)),
            float(e.reshape(-1)[k]),
            float(r.reshape(-1)[k]),
            float(t.reshape(-1)[k]),
            float(tol.reshape(-1)[k]),
        )

    order = np.argsort(-flat_ratio, kind="stable")[:WORST_SHOWN]
    shown = tuple(element(int(k)) for k in order if flat_ratio[k] > 1)
    worst = element(flat)
    ev, rv, tv, tw = worst.engine, worst.reference, worst.truth, worst.tolerance
    passed = not failing.any()
    verdict = "agree" if passed else _verdict(ev, rv, tv, tw)
    if not passed and lost.reshape(-1)[flat]:
        verdict = "out-of-range"  # neither side can be judged
        wider = ", or use float64" if dtype == "float32" else ""
        rule = (
            f"both sides are non-finite (engine {ev}, TensorFlow {rv}; "
            f"float64 truth {tv:.3g}): this case cannot be checked in "
            f"{dtype}; scale the inputs or weights down{wider}"
        )
    elif not passed and not np.isfinite(tv):
        # The float64 run itself overflowed or divided 0 by 0: a truth of
        # inf or NaN favours neither side, so who is wrong is unknown.
        verdict = "out-of-range"
        rule = (
            f"the float64 truth is {tv} (engine {ev:.6g}, TensorFlow "
            f"{rv:.6g}): it cannot tell who is wrong; scale the inputs or "
            "weights into a range where the float64 run stays finite"
        )
    return Comparison(
        layer=layer,
        quantity=quantity,
        shape=tuple(e.shape),
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        tolerance=tw,
        ratio=float(flat_ratio[flat]),
        worst_index=worst_index,
        engine_value=ev,
        reference_value=rv,
        truth_value=tv,
        verdict=verdict,
        passed=passed,
        rule=rule,
        n_failing=int(failing.sum()),
        worst=shown,
        blind=blind,
    )


def _verdict(engine: float, reference: float, truth: float, tol: float) -> str:
    """Who is further from the truth, measured in tolerances."""
    off_engine = _off(engine, truth, tol)
    off_reference = _off(reference, truth, tol)
    if off_engine > 1 and off_engine >= off_reference:
        return "engine"
    if off_reference > 1:
        return "tensorflow"
    return "round-off"


def _off(value: float, truth: float, tol: float) -> float:
    if value == truth:
        return 0.0
    error = abs(value - truth)
    if not np.isfinite(error) or tol <= 0:
        return np.inf
    return error / tol


# SGD: parameters after a few steps, the engine's optimizer against Keras.


def _sgd_rows(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    engine: BackwardFn,
    sgd: SGDCheck,
    mode: str,
    first: tuple[Gradients, Gradients, Bounds],
) -> list[Comparison]:
    """Rows comparing the parameters after ``sgd.steps`` steps.

    ``first`` holds TensorFlow's and the truth's gradients and their bounds
    at the starting parameters (already computed by the cross-check).  Each
    later step's bound is taken afresh on the float64 trajectory, with the
    engine's and TensorFlow's own ``z`` at that step, so a kink or clip that
    round-off straddles only at step 2 is seen there.
    """
    tf_reference = _reference()
    steps = sgd.steps
    options = {
        "learning_rate": sgd.learning_rate,
        "momentum": sgd.momentum,
        "nesterov": sgd.nesterov,
        "mode": mode,
    }

    optimizer = sgd.optimizer_factory(
        learning_rate=sgd.learning_rate, momentum=sgd.momentum, nesterov=sgd.nesterov
    )
    # Steps after the first run unchecked: the parameters are the engine's
    # own, and where a step diverges they turn inf or NaN, which the rows
    # below must report (out-of-range, or the engine's fault if Keras stays
    # finite), not refuse as bad input.
    ours, engine_runs = params, []
    with np.errstate(all="ignore"):
        for k in range(steps):
            engine_runs.append(engine(spec, ours, x, labels, check=k == 0))
            ours = optimizer.step(ours, engine_runs[-1].param_grads())

    # Keras's trajectory: each prefix of the steps replayed from the start,
    # so that its velocities are Keras's own.
    def trajectory(spec_: NetworkSpec, start: Params, x_: Any, t_: Any) -> list:
        batches = [(x_, t_)] * steps
        return [start] + [
            tf_reference.keras_sgd(spec_, start, batches[:k], **options)
            for k in range(1, steps + 1)
        ]

    theirs = trajectory(spec, params, x, labels)
    if spec.dtype == "float64":
        spec64, x64, labels64, truth = spec, x, labels, theirs
    else:
        spec64, params64, x64, labels64 = float64_case(spec, params, x, labels)
        truth = trajectory(spec64, params64, x64, labels64)

    _, truth_grads, bounds = first
    per_step = [(truth_grads, bounds)]
    with np.errstate(all="ignore"):  # a diverged run gives NaN bounds
        for k in range(1, steps):
            ref_k = tf_reference.reference_gradients(
                spec, theirs[k], x, labels, mode=mode
            )
            truth_k = ref_k
            if spec.dtype != "float64":
                truth_k = tf_reference.reference_gradients(
                    spec64, truth[k], x64, labels64, mode=mode
                )
            observed = (engine_runs[k], ref_k)
            bounds_k = roundoff_bounds(spec, truth[k], x, labels, truth_k, observed)
            per_step.append((truth_k, bounds_k))

        def sensitivity(k: int, errors: list[tuple[np.ndarray, np.ndarray]]) -> Any:
            return gradient_drift(
                spec64, truth[k], x64, labels64, per_step[k][0], errors, mode
            )

        E = sgd_bounds(params, per_step, sgd, sensitivity)
    rule = _rule(
        f"{steps} step(s) of η·(E(∂L/∂w) + drift) + 3u·(|w| + η|g| + μ|v|), "
        "each step's gradient bound taken on the float64 trajectory, drift = "
        "how far the float64 gradient moves when w moves by its own bound",
        bounds.unit_roundoff,
        bounds.floor,
    )
    rows = []
    for layer in range(1, spec.depth + 1):
        i = layer - 1
        for k, quantity in enumerate(("W_after_sgd", "b_after_sgd")):
            tol = bounds.tolerance(E[i][k])
            final = (ours[i][k], theirs[-1][i][k], truth[-1][i][k])
            rows.append(_compare_one(layer, quantity, *final, tol, rule))
    return rows


def sgd_bounds(
    params: Params,
    per_step: Sequence[tuple[Gradients, Bounds]],
    sgd: SGDCheck,
    sensitivity: Callable[[int, list[tuple[np.ndarray, np.ndarray]]], Any]
    | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bounds on ``W`` and ``b`` after the SGD steps on one batch.

    ``per_step[k]`` is the float64 gradient at step ``k`` and its bound.
    Each step adds the velocity's bound (``μ·E(v) + η·E(g)`` plus its own
    rounding), ``η·E(g)`` for Nesterov's extra gradient term, and the
    update's rounding ``3u·(|w| + η|g| + μ|v|)``.

    From the second step on, the parameters already carry an error, and the
    gradient taken at them moves with it (through the Hessian, and further
    where a step is large).  ``sensitivity(k, E(w))`` measures that move on
    the float64 trajectory (see :func:`gradient_drift`) and it joins
    ``E(g)``.  Without it, float64 runs of three steps with a large
    learning rate failed at 9× the bound in the no-false-alarm sweep.
    """
    u = per_step[0][1].unit_roundoff
    eta, mu = sgd.learning_rate, sgd.momentum

    # One state per parameter array: |w|, |v| and the bounds E(v), E(w).
    states = []
    for W, b in params:
        pair = []
        for start in (W, b):
            w = np.abs(np.asarray(start, np.float64))
            zero = np.zeros_like(w)
            pair.append({"w": w, "v": zero, "Ev": zero, "Ew": zero})
        states.append(pair)

    for k, (truth, bounds) in enumerate(per_step):
        drift = None
        if k > 0 and sensitivity is not None:
            drift = sensitivity(k, [(a["Ew"], b["Ew"]) for a, b in states])

        for i, pair in enumerate(states):
            layer = truth.layers[i]
            for kind, st in enumerate(pair):
                g = np.abs(np.asarray((layer.weight_grad, layer.bias_grad)[kind]))
                Eg = (bounds.weight_grads[i], bounds.bias_grads[i])[kind]
                if drift is not None:
                    Eg = Eg + drift[i][kind]

                st["v"] = mu * st["v"] + eta * g
                st["Ev"] = mu * st["Ev"] + eta * Eg + 2 * u * (mu * st["v"] + eta * g)
                step = st["Ev"] if mu else eta * Eg
                if sgd.nesterov:
                    step = mu * st["Ev"] + eta * Eg
                st["Ew"] = st["Ew"] + step + 3 * u * (st["w"] + st["v"] + eta * g)
                st["w"] = st["w"] + st["v"]

    return [(a["Ew"], b["Ew"]) for a, b in states]


def gradient_drift(
    spec64: NetworkSpec,
    params64: Params,
    x64: Any,
    labels64: Any,
    truth: Gradients,
    errors: Sequence[tuple[np.ndarray, np.ndarray]],
    mode: str,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """How far the float64 gradient moves when ``w`` moves by its bound.

    The parameters are moved by ``E(w)`` with two sign patterns, all ``+``
    and a fixed random ``±`` (seeded, so reruns agree); the larger change of
    each gradient element is kept.  This is a measured first-order estimate,
    not a proof: a pattern that happened to cancel could understate it, and
    the factor 2 of the tolerance covers that.
    """
    rng = np.random.default_rng(0)
    tf_reference = _reference()
    drift = [
        (np.zeros_like(L.weight_grad), np.zeros_like(L.bias_grad)) for L in truth.layers
    ]

    # A worst-case E(w) can be large enough to leave the region where the
    # gradient is near-linear (or to overflow an exponential unit).  The
    # move is then shrunk to at most 1e-3 of |w| and the change scaled back
    # up: the first-order estimate the bound needs, without the overflow.
    largest = max(
        float(np.max(E / (np.abs(p) + np.finfo(np.float64).tiny), initial=0.0))
        for pair, errs in zip(params64, errors, strict=True)
        for p, E in zip(pair, errs, strict=True)
    )
    c = 1.0 if largest <= 1e-3 else 1e-3 / largest

    for random_signs in (False, True):
        moved = []
        for (W, b), (EW, Eb) in zip(params64, errors, strict=True):
            sW = rng.choice((-1.0, 1.0), size=EW.shape) if random_signs else 1.0
            sb = rng.choice((-1.0, 1.0), size=Eb.shape) if random_signs else 1.0
            moved.append(LayerParams(W + c * sW * EW, b + c * sb * Eb))
        there = tf_reference.reference_gradients(
            spec64, tuple(moved), x64, labels64, mode=mode
        )
        for i, (a, b) in enumerate(zip(there.layers, truth.layers, strict=True)):
            dW = np.abs(a.weight_grad - b.weight_grad) / c
            db = np.abs(a.bias_grad - b.bias_grad) / c
            drift[i] = (np.fmax(drift[i][0], dW), np.fmax(drift[i][1], db))

    # A gradient that is not finite next to w has no first-order drift to
    # offer: the bound is then unbounded there, and the report says so by
    # an infinite tolerance rather than a NaN.
    return [
        (np.nan_to_num(dW, nan=np.inf), np.nan_to_num(db, nan=np.inf))
        for dW, db in drift
    ]


# Random cases, drawn from a seeded numpy generator (not Hypothesis: the
# command line wants them fast and reproducible from one seed).

ELEMENTWISE = tuple(a for a in ACTIVATIONS if a != "softmax")


def random_spec(
    rng: np.random.Generator,
    *,
    dtype: str | None = None,
    max_depth: int = 4,
    max_width: int = 16,
) -> NetworkSpec:
    """A random description: depth, widths, activations, loss and dtype.

    Cross-entropies get an output they can read: a sigmoid or softmax
    (fused, Keras's default, or one time in five the clipped-probability
    path) or a linear layer with ``from_logits``;
    regression losses get any elementwise activation.  Hidden layers draw
    from every activation, softmax included (over two units at least).
    """
    depth = int(rng.integers(1, max_depth + 1))
    widths = [int(w) for w in rng.integers(1, max_width + 1, size=depth + 1)]
    hidden: list[Activation] = []
    for layer in range(1, depth):
        name = str(rng.choice([*ELEMENTWISE, "softmax"]))
        if name == "softmax":
            # A softmax over one unit is the constant 1: every gradient
            # through it is exactly 0, and the check would prove nothing.
            widths[layer] = max(widths[layer], 2)
        if name == "leaky_relu":
            hidden.append(
                Activation(name, negative_slope=float(rng.choice([0.2, 0.3])))
            )
        elif name == "elu":
            hidden.append(Activation(name, alpha=float(rng.choice([1.0, 0.5]))))
        else:
            hidden.append(Activation(name))

    loss = str(rng.choice(LOSSES))
    from_logits = False
    if loss in CROSS_ENTROPIES:
        from_logits = bool(rng.random() < 0.3)
        if from_logits:
            last = "linear"
        elif loss == "binary_crossentropy":
            last = "sigmoid"
        else:
            last = "softmax"
            widths[-1] = max(widths[-1], 2)
    else:
        last = str(rng.choice(ELEMENTWISE))
    if loss == "sparse_categorical_crossentropy":
        widths[-1] = max(widths[-1], 2)
    # One in five of the sigmoid/softmax cross-entropies takes the literal
    # clipped-probability path instead of Keras's fused one.
    unfused = last in ("sigmoid", "softmax") and bool(rng.random() < 0.2)
    return NetworkSpec(
        widths=tuple(widths),
        activations=(*hidden, Activation(last)),
        loss=loss,
        dtype=dtype or str(rng.choice(DTYPES)),
        from_logits=from_logits,
        fused=False if unfused else None,
    )


def random_batch(
    spec: NetworkSpec, rng: np.random.Generator, batch: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``N(0, scale²)`` and labels the loss accepts."""
    n_out = spec.n_outputs
    x = (scale * rng.standard_normal((batch, spec.n_inputs))).astype(spec.dtype)
    if spec.loss == "sparse_categorical_crossentropy":
        return x, rng.integers(0, n_out, size=batch)
    if spec.loss == "categorical_crossentropy":
        labels = np.eye(n_out)[rng.integers(0, n_out, size=batch)]
        if rng.random() < 0.3:  # soft labels, rows summing to 1
            labels = rng.dirichlet(np.ones(n_out), size=batch)
        return x, labels.astype(spec.dtype)
    if spec.loss == "binary_crossentropy":
        labels = rng.integers(0, 2, size=(batch, n_out)).astype(float)
        if rng.random() < 0.3:
            labels = rng.random((batch, n_out))
        return x, labels.astype(spec.dtype)
    return x, rng.standard_normal((batch, n_out)).astype(spec.dtype)


def random_case(
    rng: np.random.Generator,
    *,
    dtype: str | None = None,
    max_depth: int = 4,
    max_width: int = 16,
    max_batch: int = 8,
    saturate: bool = False,
) -> tuple[NetworkSpec, Params, np.ndarray, np.ndarray]:
    """A random description with Glorot parameters and a batch.

    With ``saturate``, inputs and weights are scaled up (inputs to a
    standard deviation of up to 30, weights up to 3×) so that sigmoid,
    tanh and softmax units saturate.  Cases that overflow are drawn again
    (see ``TAME_LIMIT``).
    """
    while True:
        spec = random_spec(rng, dtype=dtype, max_depth=max_depth, max_width=max_width)
        params = init_params(spec, seed=int(rng.integers(2**31)))
        scale = 1.0
        if saturate:
            scale = float(rng.choice([1.0, 5.0, 30.0]))
            gain = float(rng.choice([1.0, 2.0, 3.0]))
            params = tuple(
                LayerParams((gain * W).astype(spec.dtype), b) for W, b in params
            )
        batch = int(rng.integers(1, max_batch + 1))
        x, labels = random_batch(spec, rng, batch, scale)
        if _tame(spec, params, x):
            return spec, params, x, labels


TAME_LIMIT = 1e4
"""Random cases keep every ``|z|`` below this: beyond it exponential
layers overflow, and an overflow is not round-off (engine and TensorFlow
then disagree on inf − inf, which says nothing about backprop)."""


def _tame(spec: NetworkSpec, params: Params, x: np.ndarray) -> bool:
    """No ``|z|`` above ``TAME_LIMIT`` and no gradient near overflow."""
    n_out = spec.n_outputs
    labels = (
        np.zeros(x.shape[0], dtype=np.int64)
        if spec.loss == "sparse_categorical_crossentropy"
        else np.full((x.shape[0], n_out), 1 / n_out, dtype=spec.dtype)
    )
    with np.errstate(all="ignore"):
        grads = _engine.backward(spec, params, x, labels)
    ceiling = float(np.finfo(spec.dtype).max) * 1e-6
    forward_ok = all(
        np.isfinite(g.output).all() and np.abs(g.pre_activation).max() <= TAME_LIMIT
        for g in grads.layers
    )
    arrays = [g.delta for g in grads.layers] + [grads.input_grad]
    return forward_ok and all(
        np.isfinite(a).all() and np.abs(a).max() < ceiling for a in arrays
    )
