"""Hypothesis strategies for network descriptions, parameters, batches and labels.

Everything here draws *cases*: a :class:`Case` holds a ``NetworkSpec``, its
parameters, an input batch ``x`` of shape ``(B, n_0)`` and labels fitting
the loss, all in the description's dtype.  Import them in your own tests::

    from hypothesis import given
    from manual_backprop.testing.strategies import cases

    @given(cases(max_depth=3))
    def test_my_property(case): ...

Shrinking goes toward the smallest network: depth is drawn first as an
integer from 1 (so it shrinks to one layer), widths and the batch size from
1, activations from lists that start with ``"linear"`` and ``"relu"``, the
loss path from lists that start with the plainest path, and the value
*region* (see :data:`REGIONS`) from a list that starts with ``"plain"``.

Array values are not drawn element by element: a network of eight 64-wide
layers has 30,000 numbers, and Hypothesis draws and shrinks them slowly.  A
drawn 32-bit seed feeds numpy's PCG64 instead, and the *structure* around
it (which rows sit exactly on a kink, how the values are scaled, which
labels are hard) is drawn by Hypothesis and shrinks.  A failing case is
written out in full by ``manual_backprop.replay.save_case``, so the seed
never needs to be reproduced by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import strategies as st

from ..params import LayerParams, Params, init_params
from ..spec import (
    DEFAULT_ELU_ALPHA,
    DEFAULT_NEGATIVE_SLOPE,
    DTYPES,
    LOSSES,
    Activation,
    NetworkSpec,
)

# Simplest first: Hypothesis shrinks a sampled_from toward its first entry.
ACTIVATION_ORDER = (
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "leaky_relu",
    "elu",
    "hard_sigmoid",
    "softplus",
    "softsign",
    "selu",
    "silu",
    "gelu",
    "gelu_tanh",
    "exponential",
    "softmax",
)

# spec.LOSSES is already simplest first: the regressions, then the
# cross-entropies.
LOSS_ORDER = LOSSES

# A few values each, so that a reference traced per activation parameter
# traces a handful of times, not once per example.  The defaults come first.
NEGATIVE_SLOPES = (DEFAULT_NEGATIVE_SLOPE, 0.3, 0.01, 0.5)
ELU_ALPHAS = (DEFAULT_ELU_ALPHA, 0.5, 1.7)
HUBER_DELTAS = (1.0, 0.5, 2.0)  # powers of two: label = output ± delta is exact

# The value regions a case can be drawn from, plainest first.
REGIONS = ("plain", "kinks", "saturated", "tiny", "large")

# Loss paths, plainest first ("plain" is the only path of a regression loss).
PATHS = ("plain", "logits", "fused", "probabilities")

# Bounds that keep every value finite in float32 through eight layers:
# |z| ≤ 1000 in general (sigmoid, tanh and softmax are fully saturated long
# before that), and z ≤ 8 before an "exponential" unit (exp(8) ≈ 2981;
# eight such layers in a row still stay below float32's 3.4e38 backwards).
Z_LIMIT = 1000.0
EXP_Z_LIMIT = 8.0

# Gradients above this are rejected (float32 overflows at 3.4e38; the
# cross-check's tolerances multiply magnitudes, so leave headroom).
GRADIENT_LIMIT = 1e25

# Kink positions, in z, of the activations whose derivative jumps there.
KINK_VALUES = {
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "elu": (0.0,),
    "selu": (0.0,),
    "hard_sigmoid": (-3.0, 3.0),
}


@dataclass(frozen=True)
class Case:
    """One drawn example: a network, its parameters, a batch and labels.

    ``region`` names the value region it was drawn from (see
    :data:`REGIONS`), ``seed`` the PCG64 seed of its numbers, and
    ``exact_units`` lists ``(layer, unit)`` pairs whose pre-activation was
    built to sit exactly on a kink (a zero row of ``W_l`` and a bias equal
    to the kink), for the failure report.
    """

    spec: NetworkSpec
    params: Params
    x: np.ndarray
    labels: np.ndarray
    region: str = "plain"
    seed: int = 0
    exact_units: tuple[tuple[int, int], ...] = field(default=())

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])

    @property
    def size(self) -> int:
        """The number of parameters."""
        return int(sum(W.size + b.size for W, b in self.params))

    def astype(self, dtype: str) -> Case:
        """The same case in another dtype (float32 → float64 is exact)."""
        spec = replace(self.spec, dtype=dtype)
        params = tuple(
            LayerParams(W.astype(dtype), b.astype(dtype)) for W, b in self.params
        )
        labels = self.labels
        if labels.dtype.kind == "f":
            labels = labels.astype(dtype)
        return replace(
            self, spec=spec, params=params, x=self.x.astype(dtype), labels=labels
        )

    def __repr__(self) -> str:
        # Hypothesis prints the falsifying example with repr(): keep it to
        # one line a person can read; the arrays go to the replay file.
        return (
            f"Case({self.spec.describe()}, batch={self.batch}, "
            f"region={self.region!r}, seed={self.seed})"
        )


# Network descriptions.


def activations(
    names: tuple[str, ...] = ACTIVATION_ORDER,
) -> st.SearchStrategy[Activation]:
    """One activation from ``names``, with leaky_relu's slope and elu's alpha.

    Avoids: arbitrary slopes and alphas.  They come from the short lists
    ``NEGATIVE_SLOPES`` and ``ELU_ALPHAS`` (Keras's defaults first, and the
    layer default 0.3 that differs from the function's 0.2), so that a
    reference traced per parameter value stays cheap.  ``alpha ≠ 1`` is what
    gives elu a kink at 0.
    """

    def build(name: str) -> st.SearchStrategy[Activation]:
        if name == "leaky_relu":
            return st.sampled_from(NEGATIVE_SLOPES).map(
                lambda s: Activation(name, negative_slope=s)
            )
        if name == "elu":
            return st.sampled_from(ELU_ALPHAS).map(lambda a: Activation(name, alpha=a))
        return st.just(Activation(name))

    return st.sampled_from(names).flatmap(build)


def widths(max_width: int = 64) -> st.SearchStrategy[int]:
    """A layer width in ``1 … max_width``, mostly at most 8.

    Avoids: spending the run on wide layers.  Most widths come from 1 … 8
    (the first branch, which is also where shrinking goes); one in three
    from the whole range, so 64-wide sums are still exercised.
    """
    small = st.integers(1, min(8, max_width))
    if max_width <= 8:
        return small
    return st.one_of(small, small, st.integers(1, max_width))


def _output_choices(loss: str, path: str) -> tuple[str, ...]:
    """Which last activations a loss path accepts (plainest first)."""
    if path == "plain":
        return tuple(a for a in ACTIVATION_ORDER if a != "softmax")
    if path == "logits":
        # After sigmoid or softmax, Keras reads the cached logits instead:
        # NetworkSpec refuses that description as ambiguous.
        return tuple(a for a in ACTIVATION_ORDER if a not in ("softmax", "sigmoid"))
    if path == "fused":
        return ("sigmoid",) if loss == "binary_crossentropy" else ("softmax",)
    if loss == "binary_crossentropy":
        return ("sigmoid", "hard_sigmoid", "softmax")
    return ("softmax", "sigmoid")


@st.composite
def network_specs(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = 8,
    max_width: int = 64,
    dtypes: tuple[str, ...] = DTYPES,
    losses: tuple[str, ...] = LOSS_ORDER,
    hidden: tuple[str, ...] = ACTIVATION_ORDER,
    outputs: tuple[str, ...] | None = None,
    paths: tuple[str, ...] = PATHS,
) -> NetworkSpec:
    """A valid ``NetworkSpec``: depth, widths, activations, loss path, dtype.

    Every loss can be drawn with every path it has: a regression loss has
    the plain one; a cross-entropy has ``from_logits=True`` (any last
    activation but softmax and sigmoid, the logits read raw), the fused path (sigmoid
    for binary, softmax for categorical; ``fused=True``) and the literal
    clipped-probability path (``fused=False``).

    Avoids: descriptions Keras itself cannot evaluate: categorical
    cross-entropy on probabilities only follows softmax or sigmoid, whose
    outputs are positive (a relu output row can sum to 0, and 0/0 is not a
    gradient); binary cross-entropy on probabilities only follows sigmoid,
    hard_sigmoid or softmax, whose outputs lie in [0, 1].

    Args:
        min_depth, max_depth: the number of dense layers (1 … 8).
        max_width: the largest width of any layer and of the input.
        dtypes, losses: what may be drawn (``losses`` in the plainest-first
            order of :data:`LOSS_ORDER`).
        hidden: activations for layers 1 … n−1.
        outputs: activations allowed at layer n (those the loss path does
            not accept are dropped); default: all.
        paths: loss paths allowed (see :data:`PATHS`).
    """
    loss = draw(st.sampled_from(losses))
    if loss in ("mean_squared_error", "mean_absolute_error", "huber"):
        loss_paths = ["plain"]
    else:
        loss_paths = [p for p in PATHS[1:] if p in paths]
    if not loss_paths:
        loss_paths = ["plain"] if loss in LOSS_ORDER[:3] else ["logits"]
    path = draw(st.sampled_from(loss_paths))

    allowed = _output_choices(loss, path)
    if outputs is not None:
        narrowed = tuple(a for a in allowed if a in outputs)
        allowed = narrowed or allowed
    last = draw(activations(allowed))

    depth = draw(st.integers(min_depth, max_depth))
    hidden_acts = [draw(activations(hidden)) for _ in range(depth - 1)]
    sizes = [draw(widths(max_width)) for _ in range(depth + 1)]

    huber_delta = 1.0
    if loss == "huber":
        huber_delta = draw(st.sampled_from(HUBER_DELTAS))

    return NetworkSpec(
        widths=tuple(sizes),
        activations=(*hidden_acts, last),
        loss=loss,
        dtype=draw(st.sampled_from(dtypes)),
        from_logits=path == "logits",
        fused=(path == "fused") if path in ("fused", "probabilities") else None,
        huber_delta=huber_delta,
    )


# Numbers: parameters, inputs and labels for a given description.


def _glorot(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in))


# Per region: (weight scale, bias scale, input scale).  Powers of two, so
# rescaling never rounds.
_SCALES = {
    "plain": (1.0, 0.25, 1.0),
    "kinks": (1.0, 0.25, 1.0),
    "saturated": (16.0, 2.0, 4.0),
    "tiny": (2.0**-10, 2.0**-12, 2.0**-10),
    "large": (1.0, 4.0, 256.0),
}


def _tame(
    spec: NetworkSpec,
    Ws: list[np.ndarray],
    bs: list[np.ndarray],
    exact: list[np.ndarray],
    x: np.ndarray,
) -> None:
    """Halve a layer's W (and free biases) until its |z| stays in bounds.

    Works in float64, layer by layer, on the arrays in place.  Halving is
    exact, and rows built to sit on a kink (``exact``) are zero rows whose
    bias is left alone, so they stay exactly on the kink.
    """
    from .. import activations as acts

    x_l = x
    for layer, act in enumerate(spec.activations):
        limit = EXP_Z_LIMIT if act.name == "exponential" else Z_LIMIT
        for _ in range(200):
            z = x_l @ Ws[layer].T + bs[layer]
            top = np.max(z) if act.name == "exponential" else np.max(np.abs(z))
            if top <= limit:
                break
            Ws[layer] *= 0.5
            bs[layer] = np.where(exact[layer], bs[layer], 0.5 * bs[layer])
        with np.errstate(over="ignore"):
            x_l = acts.forward(act, z, np, _erf64)


def _erf64(z: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(z)


@st.composite
def parameters_and_inputs(
    draw: st.DrawFn,
    spec: NetworkSpec,
    *,
    regions: tuple[str, ...] = REGIONS,
    max_batch: int = 64,
) -> tuple[Params, np.ndarray, str, int, list[np.ndarray]]:
    """Parameters, an input batch, the region, the seed and the kink rows.

    Regions (:data:`REGIONS`), drawn plainest first:

    * ``plain``: Glorot-uniform ``W`` (Keras's default), small random ``b``
      (a zero bias would hide a bias gradient summed the wrong way in ``z``
      alone), standard-normal inputs.
    * ``kinks``: as plain, and in every layer whose activation has a kink
      (relu, leaky_relu, elu, selu, hard_sigmoid) some units get a zero row of
      ``W_l`` and a bias exactly at the kink (0, or ±3 for hard_sigmoid),
      so ``z`` is exactly the kink for the whole batch in any summation
      order, in the engine and in TensorFlow alike.
    * ``saturated``: weights ×16 and inputs ×4, so sigmoid, tanh and
      softmax sit at 0 or 1 and their gradients underflow or cancel.
    * ``tiny``: weights and inputs ×2⁻¹⁰ (pre-activations near 1e-6 and
      below, still normal floats through eight layers).
    * ``large``: inputs ×256 and biases ×4.

    Avoids: overflow.  Layer by layer (in float64) a layer's ``W`` is
    halved until ``|z| ≤ 1000``, or ``z ≤ 8`` before an exponential unit
    (``exp`` overflows float32 at 88.7, and chained exponentials blow up
    much sooner).  Halving is exact, so kink rows stay exact.
    """
    region = draw(st.sampled_from(regions))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.one_of(st.integers(1, 4), st.integers(1, max_batch)))
    w_scale, b_scale, x_scale = _SCALES[region]
    rng = np.random.default_rng(seed)

    Ws, bs, exact = [], [], []
    for (n_out, n_in), _ in spec.layer_shapes():
        Ws.append(_glorot(rng, n_out, n_in) * w_scale)
        bs.append(rng.normal(0.0, 1.0, size=n_out) * b_scale)
        exact.append(np.zeros(n_out, dtype=bool))

    if region == "kinks":
        for layer, act in enumerate(spec.activations):
            where = KINK_VALUES.get(act.name)
            if not where:
                continue
            n_out = spec.widths[layer + 1]
            # At least one unit per kinked layer; unit 0 first, so the
            # shrunk case has the kink in its first column.
            count = draw(st.integers(1, n_out))
            for unit in range(count):
                Ws[layer][unit, :] = 0.0
                bs[layer][unit] = draw(st.sampled_from(where))
                exact[layer][unit] = True

    x = rng.normal(0.0, 1.0, size=(batch, spec.n_inputs)) * x_scale
    _tame(spec, Ws, bs, exact, x)

    params = tuple(
        LayerParams(W.astype(spec.dtype), b.astype(spec.dtype))
        for W, b in zip(Ws, bs, strict=True)
    )
    return params, x.astype(spec.dtype), region, seed, exact


def _dyadic_simplex(rng: np.random.Generator, batch: int, n: int) -> np.ndarray:
    """Rows of non-negative multiples of 2⁻⁸ summing to exactly 1."""
    total = 256
    cuts = np.sort(rng.integers(0, total + 1, size=(batch, n - 1)), axis=1)
    edges = np.concatenate(
        [np.zeros((batch, 1)), cuts, np.full((batch, 1), total)], axis=1
    )
    return np.diff(edges, axis=1) / total


@st.composite
def labels_for(
    draw: st.DrawFn,
    spec: NetworkSpec,
    outputs: np.ndarray,
    *,
    seed: int = 0,
    exact_outputs: np.ndarray | None = None,
) -> np.ndarray:
    """Labels that fit the loss, given the network's float64 ``outputs``.

    * regression losses: real numbers near the outputs' scale; where an
      output unit is exact (``exact_outputs``: a linear last layer with a
      zero row), some labels equal it exactly, or differ from it by exactly
      ``huber_delta``, to reach MAE's ``sign(0)`` and Huber's branch point;
    * binary cross-entropy: hard 0/1 labels or soft ones in [0, 1];
    * categorical cross-entropy: one-hot rows, or soft rows on the simplex
      made of multiples of 2⁻⁸ so that every row sums to exactly 1 in either
      dtype.  Avoids un-normalised rows: TensorFlow's fused softmax
      cross-entropy gradient ``softmax(z) − t`` is the true derivative only
      when ``Σ t = 1``;
    * sparse categorical cross-entropy: integer classes in ``0 … n_n − 1``.
    """
    rng = np.random.default_rng(seed ^ 0x5EED)
    batch, n = map(int, outputs.shape)
    loss = spec.loss

    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, n, size=batch).astype(np.int64)

    if loss == "categorical_crossentropy":
        if draw(st.booleans()):
            t = _dyadic_simplex(rng, batch, n)
        else:
            t = np.eye(n)[rng.integers(0, n, size=batch)]
        return t.astype(spec.dtype)

    if loss == "binary_crossentropy":
        if draw(st.booleans()):
            t = rng.uniform(0.0, 1.0, size=(batch, n))
        else:
            t = rng.integers(0, 2, size=(batch, n)).astype(np.float64)
        return t.astype(spec.dtype)

    scale = max(1.0, float(np.max(np.abs(outputs)))) if outputs.size else 1.0
    t = outputs + rng.normal(0.0, 1.0, size=(batch, n)) * min(scale, 4.0)
    if exact_outputs is not None and exact_outputs.any():
        offsets = (0.0, spec.huber_delta, -spec.huber_delta)
        for unit in np.flatnonzero(exact_outputs):
            offset = draw(st.sampled_from(offsets))
            t[:, unit] = outputs[:, unit] + offset
    return t.astype(spec.dtype)


def fixed_case(
    dtype: str = "float32", widths: tuple[int, ...] = (4, 6, 3)
) -> tuple[NetworkSpec, Params, np.ndarray, np.ndarray]:
    """One seeded case, not a search: tanh hidden layers, a softmax output
    with categorical cross-entropy, a batch of 5 with one-hot labels.  For
    tests that need a concrete network rather than a drawn one."""
    depth = len(widths) - 1
    names = ("tanh",) * (depth - 1) + ("softmax",)
    acts = tuple(Activation(name) for name in names)
    spec = NetworkSpec(widths, acts, "categorical_crossentropy", dtype)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, widths[0])).astype(dtype)
    labels = np.eye(widths[-1], dtype=dtype)[rng.integers(0, widths[-1], size=5)]
    return spec, init_params(spec, seed=1), x, labels


def _finite_case(case: Case) -> bool:
    """The real engine finds finite, bounded, normal values for the case.

    Refused: a case whose labels came out non-finite (regression labels
    follow the outputs, which can overflow), any inf or NaN, a magnitude
    past ``GRADIENT_LIMIT``, and subnormal values: below the dtype's
    smallest normal number one library may flush to 0 where another keeps
    a subnormal (TensorFlow's float64 sigmoid of -709 is 0, numpy's
    9e-309), and a normalisation then turns that 0 into 0/0.
    """
    from ..engine import backward
    from ..errors import NonFiniteError

    with np.errstate(all="ignore"):
        try:
            grads = backward(case.spec, case.params, case.x, case.labels)
        except (FloatingPointError, NonFiniteError):
            return False
    arrays = [grads.loss, grads.outputs, grads.input_grad]
    for g in grads.layers:
        arrays += [g.pre_activation, g.output, g.delta, g.weight_grad, g.bias_grad]
    tiny = np.finfo(case.spec.dtype).tiny
    for a in map(np.abs, arrays):
        if not (np.all(np.isfinite(a)) and np.all(a < GRADIENT_LIMIT)):
            return False
        if np.any((a > 0) & (a < tiny)):
            return False
    return True


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = 8,
    max_width: int = 64,
    max_batch: int = 64,
    dtypes: tuple[str, ...] = DTYPES,
    losses: tuple[str, ...] = LOSS_ORDER,
    hidden: tuple[str, ...] = ACTIVATION_ORDER,
    outputs: tuple[str, ...] | None = None,
    paths: tuple[str, ...] = PATHS,
    regions: tuple[str, ...] = REGIONS,
) -> Case:
    """A whole :class:`Case`: description, parameters, batch and labels.

    The keyword arguments narrow the search (see :func:`network_specs` and
    :func:`parameters_and_inputs`); the defaults cover everything.

    Avoids: cases whose values overflow.  Parameters are tamed layer by
    layer (see :func:`parameters_and_inputs`), and the few cases where the
    real engine still meets a non-finite value or a gradient above 1e25 are
    filtered out (rare: deep chains of exponential units).  Kink rows make
    ``z`` exactly the kink; nothing else is placed near one on purpose.
    """
    spec = draw(
        network_specs(
            min_depth=min_depth,
            max_depth=max_depth,
            max_width=max_width,
            dtypes=dtypes,
            losses=losses,
            hidden=hidden,
            outputs=outputs,
            paths=paths,
        )
    )
    params, x, region, seed, exact = draw(
        parameters_and_inputs(spec, regions=regions, max_batch=max_batch)
    )

    from ..engine import forward

    with np.errstate(all="ignore"):
        y = np.asarray(forward(spec, params, x).outputs, dtype=np.float64)
    exact_outputs = None
    if spec.activations[-1].name == "linear":
        exact_outputs = exact[-1]
    # A linear output layer has no kink of its own; give MAE and Huber
    # theirs with zero rows whose bias is a multiple of 1/4.
    if (
        region == "kinks"
        and spec.activations[-1].name == "linear"
        and spec.loss in ("mean_absolute_error", "huber")
    ):
        W_n, b_n = params[-1]
        count = draw(st.integers(1, spec.n_outputs))
        W_n = W_n.copy()
        b_n = b_n.copy()
        W_n[:count] = 0
        b_n[:count] = np.round(b_n[:count] * 4) / 4
        params = (*params[:-1], LayerParams(W_n, b_n))
        exact_outputs = np.arange(spec.n_outputs) < count
        with np.errstate(all="ignore"):
            y = np.asarray(forward(spec, params, x).outputs, dtype=np.float64)
    t = draw(labels_for(spec, y, seed=seed, exact_outputs=exact_outputs))

    units = tuple(
        (layer + 1, int(unit))
        for layer, mask in enumerate(exact)
        for unit in np.flatnonzero(mask)
    )
    case = Case(spec, params, x, t, region=region, seed=seed, exact_units=units)
    if not _finite_case(case):
        from hypothesis import reject

        reject()
    return case


@dataclass(frozen=True)
class SGDSetting:
    """An SGD configuration to check: Keras's SGD against the engine's."""

    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    steps: int = 1


@st.composite
def sgd_settings(
    draw: st.DrawFn,
    *,
    kinds: tuple[str, ...] = ("plain", "momentum", "nesterov"),
    max_steps: int = 3,
) -> SGDSetting:
    """Plain SGD, momentum or Nesterov, for 1 … ``max_steps`` steps.

    Avoids: learning rates that make several steps diverge; they come from
    (0.01, 0.1), Keras's default first, and momentum from (0.9, 0.5).
    """
    kind = draw(st.sampled_from(kinds))
    momentum = 0.0 if kind == "plain" else draw(st.sampled_from((0.9, 0.5)))
    return SGDSetting(
        learning_rate=draw(st.sampled_from((0.01, 0.1))),
        momentum=momentum,
        nesterov=kind == "nesterov",
        steps=draw(st.integers(1, max_steps)),
    )


# An SGD run moves every parameter by at most this share of max(1, max|θ|).
GENTLE_STEP = 0.1


def sgd_is_gentle(case: Case, sgd: SGDSetting) -> bool:
    """Whether ``sgd``'s steps stay small next to the parameters.

    A run of several steps compares the engine and Keras at parameters the
    first step produced; where one step moves a parameter far (a huge
    gradient from stacked exponential units, say), the next gradients are
    taken where the network is chaotic and two correct implementations part
    by far more than round-off.  Checks of SGD keep to cases where
    ``η · max|g| · steps / (1 − μ)`` is at most 0.1 of ``max(1, max|θ|)``
    at every step of the real engine's float64 run.

    Several steps are also left out for cases drawn on a kink (region
    ``"kinks"``): the first step moves ``z`` off the kink by an amount set
    by round-off, so at the next step two correct implementations may sit
    on opposite sides of it and take different derivatives.  One step from
    a kink is checked (it pins the kink convention).
    """
    from ..engine import backward

    if sgd.steps > 1 and case.region == "kinks":
        return False

    from ..optimizers import SGD

    # The bound holds at every step of the engine's own float64 run, not
    # only at the start: stacked exponential units can be gentle at the
    # start and overflow after one step (and then both sides are NaN).
    wide = case.astype("float64")
    reach = sgd.learning_rate * sgd.steps / (1.0 - sgd.momentum)
    optimizer = SGD(sgd.learning_rate, sgd.momentum, sgd.nesterov)
    params = wide.params
    with np.errstate(all="ignore"):
        for _ in range(sgd.steps):
            grads = backward(wide.spec, params, wide.x, wide.labels, check=False)
            for (W, b), g in zip(params, grads.layers, strict=True):
                for value, grad in ((W, g.weight_grad), (b, g.bias_grad)):
                    size = max(1.0, float(np.max(np.abs(value), initial=0.0)))
                    step = reach * float(np.max(np.abs(grad), initial=0.0))
                    if not step <= GENTLE_STEP * size:  # NaN fails too
                        return False
            params = optimizer.step(params, grads.param_grads())
    return all(np.all(np.isfinite(a)) for pair in params for a in pair)
