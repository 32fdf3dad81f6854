"""How far two correct float32 (or float64) backprops may disagree, per element.

A single ``rtol`` cannot serve: the round-off of ``z = W x + b`` grows with
the width summed and the magnitudes of the terms, it compounds with depth,
and an activation whose gradient is formed from its output (sigmoid, tanh,
elu, selu, exponential, as TensorFlow and this engine both do) keeps an
*absolute* error of about ``u`` in a saturated unit, where the true
derivative is far below ``u``: a 100 % relative error there is legitimate.
So every compared element gets its own absolute tolerance.

The rule
--------
Let ``u = eps/2`` be the unit round-off of the network's dtype
(``2**-24 ≈ 6.0e-8`` for float32, ``2**-53 ≈ 1.1e-16`` for float64).  A
first-order bound ``E`` on the error of one correct implementation is
carried through the network in float64, with absolute values, using the
float64 run (the "truth") for ``z``, ``y`` and ``δ``.  In these formulas a
sum of ``n`` terms costs ``(n + 1)·u`` times the sum of their magnitudes
(the textbook worst case; BLAS's blocked sums usually do far better), and
``|·|`` is elementwise:

* forward, ``x_1`` exact:
  ``E(z_l) = (n_{l-1} + 2)·u·(|x_l| |W_l|ᵀ + |b_l|) + E(x_l) |W_l|ᵀ``;
  ``E(y_l) = L_f·E(z_l) + C·u·M_f`` with ``C = C_FN = 8`` ulp per library
  function (measured: TensorFlow's tanh and sigmoid reach 8), ``L_f`` the
  largest ``|f'|`` on ``z ± E(z)`` and ``M_f`` the size of the terms ``f``
  forms (``|y|`` for most; ``|y|(2 + z²)`` for
  gelu's ``erfc(−z/√2)``; for elu and selu below 0 also ``e^z``, because
  TensorFlow's kernels form ``exp(z) − 1``, which cancels near 0, where the
  engine uses ``expm1``); softmax couples a row, so its
  ``E(y_i) = y_i·(E(z_i) + max_j E(z_j) + u·(…))``.
* the derivative ``f'``: ``E(f') = `` its change over ``z ± E(z)`` (kept on
  ``z``'s side of any kink) ``+`` its change when ``y`` moves by ``C·u·|y|``
  (for the activations whose gradient is formed from ``y``) ``+ C·u·M_d``
  (the size of the terms ``f'`` forms: ``y²`` for ``1 − y²``,
  ``|e| + 1`` for elu's ``e + 1``, …) ``+`` the kink jumps below.
* the output delta, by the loss path: fused or logits cross-entropy
  ``δ = (softmax(z) − t)/B``: ``E = (E(softmax) + C·u·(|s| + |t|))/B``
  (binary: sigmoid, ``/(B·n)``, and ``1 + |t| + s`` for the terms of the
  ``max(z, 0) − z·t + log1p(exp(−|z|))`` that TensorFlow differentiates);
  otherwise ``g = ∂L/∂y`` gets its own bound (its derivative in ``y``, taken
  at the worst point of ``y ± E(y)`` inside the clip, times ``E(y)``, plus
  its own terms) and is carried through the last activation like any layer.
* backward, ``g = δˡ⁺¹ W_{l+1}``:
  ``E(g) = (n_{l+1} + 1)·u·|δˡ⁺¹| |W_{l+1}| + E(δˡ⁺¹) |W_{l+1}|``;
  ``E(δˡ) = (|f'| + E(f'))·E(g) + |g|·E(f') + u·|δˡ|`` (softmax: its
  Jacobian-vector product's terms, with ``E(y)``).
* ``E(∂W) = (B + 1)·u·|δ|ᵀ|x| + E(δ)ᵀ(|x| + E(x)) + |δ|ᵀE(x)`` (the
  second-order term matters where both δ and x are nothing but round-off),
  ``E(∂b) = B·u·Σ|δ| + ΣE(δ)``, ``E(∂x) = E(g)`` at layer 1,
  ``E(L) = Σ|∂L/∂y|·(E(y) + u(|y| + |t|)) + u·Σ_b M_ℓ/B + B·u·|L|``, with
  ``M_ℓ`` the terms of ``ℓ`` weighted by their roundings (``C`` per log,
  ``n + 1`` per sum over the outputs).

Kinks: relu, leaky_relu, elu with alpha ≠ 1 and hard_sigmoid (±3)
(``activations.kinks``), selu at 0 (``selu'(0⁻) = 1.758``, ``selu'(0⁺) =
1.051``), the cross-entropies' clip of probabilities to
``[1e-7, 1 − 1e-7]`` and mean absolute error's ``sign(y − t)`` have
derivative jumps.  Round-off may legitimately put the engine and TensorFlow
on different sides (``z = 1e-9`` against ``z = -1e-9``).  For each pair of
the three observed points (the engine's ``z``, TensorFlow's ``z`` and the
float64 ``z``) whose segment contains a kink, the jump actually seen,
``|f'(z_a) − f'(z_b)|``, is added to ``E(f')`` (for a loss, to ``E(g)``,
for the whole row of a categorical loss) and carried down.  Where the three
points coincide, for example at an exact ``z = 0``, nothing is widened, so a
wrong ``relu'(0)`` is still caught; nor is it where a run's ``z`` (or
``y``) lies further than ``2·E(z)`` from the float64 one, since that is a
bug upstream, not round-off; the smooth terms above never cross a
kink either.  elu and selu pick their derivative's branch from the sign of
``y`` in TensorFlow, and a tiny negative ``z`` can give ``y = 0`` there, so
for them a pair of outputs on either side of 0 counts as a straddle too.

Underflow: every operation may also lose up to ``η``, the dtype's smallest
normal number, in absolute terms (TensorFlow flushes subnormals to zero on
CPU; an exp may underflow to 0 where float64 does not), so ``η`` joins each
sum, and ``η·(1 + |z|)`` each activation's own terms (silu's ``z·s`` and
its derivative ``s·(1 + z(1 − s))`` multiply a flushed ``s`` by up to
``1 + |z|``).

The tolerance is ``SAFETY · E + floor``: ``SAFETY = 2`` because two
implementations, each within ``E`` of the exact value, may differ by
``2E``; ``floor = FLOOR_TINY · η · max(widths, B)`` with ``FLOOR_TINY =
64`` is a last guard for results that are nothing but underflow.  Where the
float64 bound itself overflows it is held at ``BIG = 1e300``.

Measured (2026-12-03, 2-core CI-class machine, TensorFlow 2.21 on CPU), as
the largest ``|engine − TensorFlow| / tolerance`` over every compared
element of every case:

* ``manual-backprop verify --epochs 0 --random 2000 --max-depth 8
  --max-width 64 --dtype float32`` (random depth 1–8, widths 1–64, every
  activation and loss path, inputs with standard deviation up to 30 and
  weights up to 3× Glorot, so that units saturate): 2,001 checks, none
  failed, worst ratio 0.25.  The same with ``--random 1000 --dtype
  float64``: none failed, worst 0.31 (TensorFlow's float64 tanh is 7–8 ulp
  off where it saturates).  Further runs of the same generator (seeds not
  exposed): eager mode, 500 float32 networks, worst 0.28; the unfused
  probability path alone, 200 float32 (eager) and 200 float64 networks,
  worst 0.28 and 0.25.  Where round-off straddles a kink and the jump
  dominates, the ratio is 0.5 by construction (the jump is ``E`` itself).
* The property suite's sweep over its own Hypothesis strategies, which put
  ``z`` exactly on kinks on purpose (``python -m
  manual_backprop.testing.sweep --cases 1000 --dtype float32 --dtype
  float64``, one case in nine with SGD steps): no failure; worst 0.5
  (float32, a straddled kink) and 0.375 (float64).  The SGD rows' bound is
  the least tight: one case whose clip straddle appears only at step 2
  reached 0.61.
* Bugs from the mutation catalogue (``manual_backprop.testing.mutations``),
  on the random cases they change: a dropped ``f'``, a reshaped instead of
  transposed ``W``, a bias gradient averaged over the batch, a missing
  ``1/B``, derivatives taken at ``y`` instead of ``z``, the softmax
  Jacobian cut to its diagonal give worst ratios of at least 1.1e3 (medians
  3e4 to 1e6) in float32 and at least 6e11 in float64; relu'(0) = 1 at an
  exact zero gives about 1e36, since the bound there is only the underflow
  floor.

Known shortcomings, said plainly: the bound is first order (products of
two errors are dropped) except where a derivative is taken at the worst
point of its interval; it is a worst case, so it is loose for wide layers
(typical agreeing elements sit near 1e-4 of it), though still far below
what a real bug produces; it trusts the float64 run's ``z``, ``y`` and
``δ`` as magnitudes; and ``C_FN`` charges each library function 8 ulp, a
figure measured on TensorFlow 2.21's kernels on this CPU, not proved: a
build with less accurate kernels could need more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import activations, losses
from .backend import NUMPY
from .engine import Gradients
from .params import Params
from .spec import Activation, NetworkSpec

SAFETY = 2.0
"""Two implementations each within ``E`` of the exact value differ by ≤ 2E."""

C_FN = 8.0
"""Round-offs charged to one library function (exp, expm1, tanh, erfc, log,
a division).  Measured on 400,000 points in [−25, 25]: TensorFlow's tanh is
off by up to 8·u·|y| in float64 (it returns exactly −1 at z = −17.7) and
5.2·u·|y| in float32; its float32 sigmoid by up to 7.9·u·|y|; numpy's stay
within about 1·u."""

FLOOR_TINY = 64.0
"""Absolute floor, in units of the dtype's smallest normal number times the
largest width or batch: TensorFlow flushes subnormals to zero on CPU."""

# Derivatives that TensorFlow (and the engine) form from the output y.
FROM_OUTPUT = ("sigmoid", "tanh", "selu", "exponential")

_F64 = np.float64


@dataclass(frozen=True)
class Bounds:
    """First-order bounds ``E`` (absolute, float64) on one implementation's
    round-off, one array per compared quantity, shaped like that quantity.

    ``deltas[l-1]``, ``weight_grads[l-1]`` and ``bias_grads[l-1]`` belong to
    layer ``l``; ``kinks_straddled[l-1]`` counts the elements of layer ``l``
    where the runs fell on different sides of a kink, ``loss_straddled``
    those of the loss's clip or sign.
    """

    unit_roundoff: float
    loss: Any
    outputs: Any
    deltas: tuple[Any, ...]
    weight_grads: tuple[Any, ...]
    bias_grads: tuple[Any, ...]
    input_grad: Any
    kinks_straddled: tuple[int, ...]
    loss_straddled: int
    floor: float

    def tolerance(self, bound: Any) -> Any:
        """``SAFETY · E + floor``, elementwise."""
        return SAFETY * np.asarray(bound, dtype=_F64) + self.floor


def unit_roundoff(dtype: str) -> float:
    """``u = eps / 2`` of ``dtype``."""
    return float(np.finfo(dtype).eps) / 2


def _tiny_for(u: float) -> float:
    """``η``: the absolute error an underflow may add, the smallest normal
    number of the dtype whose unit round-off is ``u`` (TensorFlow flushes
    subnormals to zero, so a result below it may come out as 0)."""
    dtype = np.float32 if u > 1e-10 else np.float64
    return float(np.finfo(dtype).tiny)


BIG = 1e300
"""Where the float64 bound itself overflows, it is held at this value, so
that ``0 · bound`` stays 0 in the products that follow."""


def _safe(E: Any) -> np.ndarray:
    return np.minimum(np.nan_to_num(np.asarray(E, _F64), nan=BIG, posinf=BIG), BIG)


def _f64(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=_F64)


# Elementwise activations: value, derivative and the size of their terms.


_SPECIAL = NUMPY.erfc  # the special function exact gelu needs
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SELU_SCALE_ALPHA = activations.SELU_SCALE * activations.SELU_ALPHA


def _f(act: Activation, z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return activations.forward(act, z, np, _SPECIAL)


def _df(act: Activation, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return activations.derivative(act, z, y, np, _SPECIAL)


def _forward_terms(act: Activation, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``M_f``: the size of the terms ``f`` forms, for its own round-off."""
    name = act.name
    if name in ("linear", "relu"):
        return np.zeros_like(z)
    if name == "gelu":
        # z·erfc(−z/√2)/2: erfc's relative sensitivity to its argument w
        # grows like 2w², so a rounded argument costs about u·z².
        return np.abs(y) * (2 + z * z)
    if name == "gelu_tanh":
        a = activations.SQRT_2_OVER_PI * (z + activations.GELU_CUBIC * z**3)
        return np.abs(z) * (1 + np.abs(a) * (1 - np.tanh(a) ** 2))
    if name == "hard_sigmoid":
        return (np.abs(z) + 3) / 6
    if name in ("elu", "selu"):
        # TensorFlow's kernels form exp(z) − 1, not expm1(z): near z = 0⁻
        # the subtraction leaves an absolute error of about u, not u·|y|.
        scale = act.alpha if name == "elu" else _SELU_SCALE_ALPHA
        below = scale * (np.exp(np.minimum(z, 0)) + np.abs(np.expm1(np.minimum(z, 0))))
        return np.where(z > 0, np.abs(y), below + np.abs(y))
    return np.abs(y)


def _derivative_terms(
    act: Activation, z: np.ndarray, y: np.ndarray, d: np.ndarray
) -> np.ndarray:
    """``M_d``: the size of the terms ``f'`` forms, for its own round-off."""
    name = act.name
    ad = np.abs(d)
    if name == "tanh":
        return y * y + ad  # 1 − y²
    if name == "elu":
        e = np.expm1(np.minimum(z, 0))
        return np.where(z > 0, 0.0, act.alpha * (np.abs(e) + 1))  # e + 1
    if name == "selu":
        return np.where(y < 0, np.abs(y) + _SELU_SCALE_ALPHA, ad)  # y + scale·alpha
    if name == "silu":
        # s·(1 + z·(1 − s)): near s = 1 the rounded s leaves 1 − s with an
        # absolute error of u·s, which z then multiplies.
        s = 1 / (1 + np.exp(-np.clip(z, -700, 700)))
        return 2 * s * (1 + np.abs(z)) + ad
    if name == "gelu":
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
        cdf = np.abs(d - z * pdf)
        return (cdf + np.abs(z) * pdf) * (2 + z * z)
    if name == "gelu_tanh":
        c = activations.GELU_CUBIC
        a = activations.SQRT_2_OVER_PI * (z + c * z**3)
        return 1 + np.abs(z) * (1 + 3 * c * z * z) * (1 + np.abs(a))
    return 3 * ad


# Where TensorFlow picks the branch of the derivative from the output's
# sign (EluGrad and SeluGrad test ``y < 0``), a ``y`` rounded to 0 from a
# slightly negative ``z`` takes the other branch: the kink is also crossed
# when the outputs straddle 0.
OUTPUT_SIDED = ("elu", "selu")


def _kinks(act: Activation) -> tuple[float, ...]:
    return activations.kinks(act)


def _region_bounds(act: Activation, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The open interval between the kinks either side of each ``z``.

    A ``z`` sitting exactly on a kink gets the interval ``[z, z]``: the
    smooth terms then do not move it at all.
    """
    lo = np.full_like(z, -np.inf)
    hi = np.full_like(z, np.inf)
    for k in _kinks(act):
        on = z == k
        lo = np.where(z > k, np.maximum(lo, np.nextafter(k, np.inf)), lo)
        hi = np.where(z < k, np.minimum(hi, np.nextafter(k, -np.inf)), hi)
        lo = np.where(on, z, lo)
        hi = np.where(on, z, hi)
    return lo, hi


def _kink_jump(
    act: Activation,
    points: Sequence[tuple[np.ndarray, np.ndarray]],
    reach: np.ndarray,
) -> np.ndarray:
    """The derivative jumps actually seen between the observed ``z``.

    ``points`` are ``(z, y)`` pairs in float64, the truth's first, then the
    runs'.  For every pair whose segment contains a kink,
    ``|f'(z_a) − f'(z_b)|``, but only where both points lie within
    ``reach`` (the round-off bound) of the truth's ``z``: a ``z`` further
    off is a bug in the forward pass, not round-off, and earns nothing.
    """
    kinks = _kinks(act)
    z0 = points[0][0]
    jump = np.zeros_like(z0)
    if not kinks:
        return jump
    near = [np.abs(z - z0) <= reach for z, _ in points]
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            (za, ya), (zb, yb) = points[i], points[j]
            crosses = _crosses(za, zb, kinks)
            if act.name in OUTPUT_SIDED:
                crosses |= _crosses(ya, yb, (0.0,))
            crosses &= near[i] & near[j]
            if crosses.any():
                seen = np.abs(_df(act, za, ya) - _df(act, zb, yb))
                jump = np.maximum(jump, np.where(crosses, seen, 0.0))
    return jump


@dataclass(frozen=True)
class _LayerForward:
    z: np.ndarray
    y: np.ndarray
    Ez: np.ndarray
    Ey: np.ndarray


def _softmax_error(z: np.ndarray, s: np.ndarray, Ez: np.ndarray, u: float) -> Any:
    """``E(softmax(z))`` row by row, given ``E(z)``."""
    n = z.shape[-1]
    m = np.max(z, axis=-1, keepdims=True)
    spread = np.abs(z - m)
    own = spread + np.sum(s * spread, axis=-1, keepdims=True) + n + 4
    relative = Ez + np.max(Ez, axis=-1, keepdims=True) + u * C_FN * own
    return s * relative + C_FN * _tiny_for(u)  # exp(z − max) may flush to 0


def _activation_forward_error(
    act: Activation, z: np.ndarray, y: np.ndarray, Ez: np.ndarray, u: float
) -> np.ndarray:
    if act.name == "softmax":
        return _softmax_error(z, y, Ez, u)
    if act.name == "linear":
        return Ez
    slope = np.abs(_df(act, z, y))
    for sign in (1.0, -1.0):
        zp = z + sign * Ez
        slope = np.maximum(slope, np.abs(_df(act, zp, _f(act, zp))))
    underflow = _tiny_for(u) * (1 + np.abs(z))  # e.g. silu's z·s, s flushed
    return slope * Ez + C_FN * (u * _forward_terms(act, z, y) + underflow)


def _derivative_error(
    act: Activation,
    z: np.ndarray,
    y: np.ndarray,
    Ez: np.ndarray,
    u: float,
    observed: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(f', E(f'), straddles)`` for an elementwise activation."""
    d = _df(act, z, y)
    lo, hi = _region_bounds(act, z)
    change = np.zeros_like(z)
    for sign in (1.0, -1.0):
        zp = np.clip(z + sign * Ez, lo, hi)
        change = np.maximum(change, np.abs(_df(act, zp, _f(act, zp)) - d))

    if act.name in FROM_OUTPUT:
        for sign in (1.0, -1.0):
            yp = y * (1 + sign * C_FN * u)
            change = np.maximum(change, np.abs(_df(act, z, yp) - d))

    reach = SAFETY * Ez + _tiny_for(u)
    jump = _kink_jump(act, [(z, y), *observed], reach)
    # An intermediate that underflows (silu's and softplus's sigmoid, gelu's
    # density) loses up to η, which factors up to 1 + |z| then multiply.
    own = u * _derivative_terms(act, z, y, d) + _tiny_for(u) * (1 + np.abs(z))
    error = change + C_FN * own + jump
    return d, np.nan_to_num(error, nan=np.inf), jump > 0


def _backward_error(
    act: Activation,
    g: np.ndarray,
    Eg: np.ndarray,
    fwd: _LayerForward,
    u: float,
    observed: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(δ, E(δ), kinks straddled)`` from ``g = ∂L/∂y`` and ``E(g)``."""
    z, y, Ey = fwd.z, fwd.y, fwd.Ey
    if act.name == "linear":
        return g, Eg, 0

    if act.name == "softmax":
        n = y.shape[-1]
        s = np.sum(g * y, axis=-1, keepdims=True)
        Es = np.sum(Eg * y + np.abs(g) * Ey, axis=-1, keepdims=True) + u * (
            n + 1
        ) * np.sum(np.abs(g * y), axis=-1, keepdims=True)
        delta = y * (g - s)
        E = Ey * np.abs(g - s) + y * (Eg + Es) + u * 2 * y * (np.abs(g) + np.abs(s))
        return delta, E, 0

    d, Ed, straddles = _derivative_error(act, z, y, fwd.Ez, u, observed)
    delta = g * d
    E = (np.abs(d) + Ed) * Eg + np.abs(g) * Ed + u * np.abs(delta)
    return delta, E, int(straddles.sum())


# The loss: the output delta δⁿ and the loss value, with their bounds.


def _as_float64(spec: NetworkSpec) -> NetworkSpec:
    if spec.dtype == "float64":
        return spec
    from dataclasses import replace

    return replace(spec, dtype="float64")


def _targets(spec: NetworkSpec, labels: Any) -> np.ndarray:
    """Labels as float64 rows ``t`` of shape ``(B, n_out)``."""
    labels = np.asarray(labels)
    if spec.loss == "sparse_categorical_crossentropy":
        return (labels[:, None] == np.arange(spec.n_outputs)[None, :]).astype(_F64)
    return labels.astype(_F64)


def _clip_bounds(dtype: str) -> tuple[float, float]:
    """The cross-entropy clip ``[ε, 1 − ε]`` as rounded to ``dtype``."""
    lo = float(np.asarray(losses.EPSILON, dtype=dtype))
    hi = float(np.asarray(1.0 - losses.EPSILON, dtype=dtype))
    return lo, hi


def _crosses(a: np.ndarray, b: np.ndarray, marks: Sequence[float]) -> np.ndarray:
    """Where the closed segment between ``a`` and ``b ≠ a`` contains a mark."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    out = np.zeros(a.shape, dtype=bool)
    for mark in marks:
        out |= (low <= mark) & (mark <= high)
    return out & (a != b)


def _loss_jump(
    spec: NetworkSpec,
    labels: Any,
    t: np.ndarray,
    y: np.ndarray,
    observed_y: Sequence[np.ndarray],
    reach: np.ndarray,
) -> np.ndarray:
    """Jumps of ``∂L/∂y`` seen between the observed outputs (clips, sign),
    where the outputs lie within ``reach`` of the truth's (see
    ``_kink_jump``)."""
    jump = np.zeros_like(y)
    if spec.loss in ("mean_squared_error", "huber") or not observed_y:
        return jump

    # Each run's ∂L/∂y is evaluated in its own dtype, so that its clip
    # bounds are the ones that run used.
    marks = (*_clip_bounds(spec.dtype), *_clip_bounds("float64"))
    labels = np.asarray(labels)
    sparse = labels.dtype.kind in "iu"
    points = [(y, _as_float64(spec), labels if sparse else t)]
    for seen_y in observed_y:
        low_labels = labels if sparse else t.astype(spec.dtype)
        points.append((seen_y.astype(spec.dtype), spec, low_labels))

    def key(values: np.ndarray) -> np.ndarray:
        """What the clip or the sign sees, rounded as that run rounded it."""
        if spec.loss == "mean_absolute_error":
            return _f64(values - t.astype(values.dtype))
        if spec.loss == "categorical_crossentropy":
            return _f64(values / np.sum(values, axis=-1, keepdims=True))
        return _f64(values)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grads = [_f64(losses.gradient(sp, yy, ll, np)) for yy, sp, ll in points]
        keys = [key(yy) for yy, _, _ in points]
    mark_set = (0.0,) if spec.loss == "mean_absolute_error" else marks
    near = [np.abs(_f64(yy) - y) <= reach for yy, _, _ in points]
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            crosses = _crosses(keys[i], keys[j], mark_set) & near[i] & near[j]
            if spec.loss == "categorical_crossentropy":
                crosses = np.broadcast_to(
                    crosses.any(axis=-1, keepdims=True), crosses.shape
                )
            seen = np.abs(grads[i] - grads[j])
            jump = np.maximum(jump, np.where(crosses, seen, 0.0))
    return np.nan_to_num(jump, nan=np.inf)


def _probability_loss(
    spec: NetworkSpec, y: np.ndarray, Ey: np.ndarray, t: np.ndarray, u: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(g, E(g), M_ℓ)`` for a loss on the network output ``y``.

    ``M_ℓ`` is, per example, the loss's own round-off in units of ``u``:
    the size of the terms ``ℓ`` sums, weighted by the roundings each takes
    (``C_FN`` for a log, ``n + 1`` for the sum over outputs).
    """
    B, n = y.shape
    name = spec.loss
    e = y - t
    Ey_eff = Ey + u * (np.abs(y) + np.abs(t))

    if name == "mean_squared_error":
        g = 2 * e / (B * n)
        return (
            g,
            2 * Ey_eff / (B * n) + C_FN * u * np.abs(g),
            np.mean(e * e, -1) * (n + 3),
        )

    if name == "mean_absolute_error":
        g = np.sign(e) / (B * n)
        return g, C_FN * u * np.abs(g), np.mean(np.abs(e), -1) * (n + 3)

    if name == "huber":
        d = spec.huber_delta
        a = np.abs(e)
        g = np.where(a <= d, e, d * np.sign(e)) / (B * n)
        terms = np.where(a <= d, 0.5 * e * e, d * a + 0.5 * d * d)
        return g, Ey_eff / (B * n) + C_FN * u * np.abs(g), np.mean(terms, -1) * (n + 4)

    # ``y`` is the float64 run's, so its own (float64) clip decides what is
    # inside; the runs' float32 clip differs by an ulp, and where that
    # matters the straddle jumps cover it.  The worst points may range over
    # the wider of the two intervals.
    lo, hi = _clip_bounds("float64")
    lo_any = min(lo, _clip_bounds(spec.dtype)[0])
    hi_any = max(hi, _clip_bounds(spec.dtype)[1])

    def worst(p: np.ndarray, Ep: np.ndarray, toward_zero: bool) -> np.ndarray:
        """The point of ``p ± E(p)``, inside the clip, nearest the pole."""
        if toward_zero:
            return np.clip(p - Ep, lo_any, hi_any)
        return np.clip(p + Ep, lo_any, hi_any)

    if name == "binary_crossentropy":
        inside = ((y >= lo) & (y <= hi)).astype(_F64)
        p = np.clip(y, lo, hi)
        g = ((1 - t) / (1 - p) - t / p) * inside / (B * n)
        p0, p1 = worst(p, Ey_eff, True), worst(p, Ey_eff, False)
        slope = np.maximum(t / p0**2, 0) + np.maximum((1 - t) / (1 - p1) ** 2, 0)
        size = np.abs((1 - t) / (1 - p)) + np.abs(t / p)
        Eg = (slope * Ey_eff + u * C_FN * size) * inside / (B * n)
        logs = np.abs(t * np.log(p)) + np.abs((1 - t) * np.log(1 - p))
        return g, Eg, np.mean(logs, -1) * (C_FN + n + 1)

    if name == "categorical_crossentropy":
        s = np.sum(y, axis=-1, keepdims=True)
        q = y / s
        sum_Ey = np.sum(Ey_eff, axis=-1, keepdims=True)
        Eq = (Ey_eff + q * sum_Ey) / s + 2 * u * np.abs(q)
        inside = ((q >= lo) & (q <= hi)).astype(_F64)
        p = np.clip(q, lo, hi)
        g_q = -t / p * inside
        Eg_q = (
            np.abs(t) / worst(p, Eq, True) ** 2 * Eq + u * C_FN * np.abs(g_q)
        ) * inside
        r = np.sum(g_q * q, axis=-1, keepdims=True)
        Er = np.sum(Eg_q * np.abs(q) + np.abs(g_q) * Eq, axis=-1, keepdims=True)
        g = (g_q - r) / s / B
        Eg = (Eg_q + Er + u * C_FN * (np.abs(g_q) + np.abs(r) * n)) / np.abs(s) / B
        Eg = Eg + np.abs(g) * sum_Ey / np.abs(s)
        logs = np.sum(np.abs(t * np.log(p)), -1) * (C_FN + n + 1)
        return g, Eg, logs

    # sparse categorical cross-entropy: ℓ = log Σp − log p_c, p = clip(y).
    inside = ((y >= lo) & (y <= hi)).astype(_F64)
    p = np.clip(y, lo, hi)
    sp = np.sum(p, axis=-1, keepdims=True)
    g = (1 / sp - t / p) * inside / B
    sum_Ey = np.sum(Ey_eff, axis=-1, keepdims=True)
    Eg = (
        (
            sum_Ey / sp**2
            + t * Ey_eff / worst(p, Ey_eff, True) ** 2
            + u * C_FN * (1 / sp + t / p)
        )
        * inside
        / B
    )
    logs = np.abs(np.log(sp[:, 0])) + np.abs(np.sum(t * np.log(p), -1))
    return g, Eg, C_FN * logs + n + 2


def _logits_loss(
    spec: NetworkSpec, z: np.ndarray, Ez: np.ndarray, t: np.ndarray, u: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∂L/∂z, its bound, M_ℓ)`` for a cross-entropy read from logits ``z``."""
    B, n = z.shape
    if spec.loss == "binary_crossentropy":
        s = 1 / (1 + np.exp(-np.clip(z, -700, 700)))
        Es = s * (1 - s) * Ez + u * C_FN * s
        scale = 1.0 / (B * n)
        terms = np.maximum(z, 0) + np.abs(z * t) + np.log1p(np.exp(-np.abs(z)))
        size = np.mean(terms, -1) * (C_FN + n + 1)
    else:
        m = np.max(z, axis=-1, keepdims=True)
        e = np.exp(z - m)
        s = e / np.sum(e, axis=-1, keepdims=True)
        Es = _softmax_error(z, s, Ez, u)
        scale = 1.0 / B
        lse = np.log(np.sum(e, axis=-1, keepdims=True))
        log_softmax = z - m - lse
        size = np.sum(
            np.abs(t) * (C_FN * (np.abs(z - m) + lse) + n + C_FN)
            + (n + 1) * np.abs(t * log_softmax),
            -1,
        )
    g = (s - t) * scale
    # TensorFlow differentiates max(z, 0) − z·t + log1p(exp(−|z|)) for the
    # binary case, whose terms reach 1 + |t| + s; then ÷n and ÷B round too.
    terms = np.abs(s) + np.abs(t) + (1.0 if spec.loss == "binary_crossentropy" else 0)
    Eg = (Es + C_FN * u * terms) * scale
    return g, Eg, size


# The whole network.


def _layer_values(grads: Gradients, layer: int) -> tuple[Any, Any]:
    lg = grads.layers[layer - 1]
    return lg.pre_activation, lg.output


def roundoff_bounds(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    truth: Gradients,
    observed: Sequence[Gradients] = (),
) -> Bounds:
    """First-order round-off bounds for every compared quantity.

    Args:
        spec: the network description (its dtype sets ``u``).
        params, x, labels: the case, in ``spec.dtype``.
        truth: the same computation in float64; its ``z``, ``y`` and ``δ``
            supply the magnitudes.
        observed: the runs being compared (the engine's and TensorFlow's,
            in ``spec.dtype``); their ``z`` and ``y`` only serve to find
            kinks and clips that round-off straddled.

    Returns:
        :class:`Bounds`, the ``E`` of the module docstring.
    """
    u = unit_roundoff(spec.dtype)
    eta = _tiny_for(u)
    depth = spec.depth
    x64 = _f64(x)
    B = x64.shape[0]
    t = _targets(spec, labels)
    Ws = [_f64(W) for W, _ in params]
    bs = [_f64(b) for _, b in params]

    def usable(g: Gradients, layer: int) -> bool:
        z, y = _layer_values(g, layer)
        want = (B, spec.widths[layer])
        return (
            z is not None
            and y is not None
            and np.shape(z) == want
            and np.shape(y) == want
        )

    # Forward: E(z_l), E(y_l).
    fwds: list[_LayerForward] = []
    Ex = np.zeros_like(x64)
    x_l = x64
    for layer in range(1, depth + 1):
        W, b = Ws[layer - 1], bs[layer - 1]
        act = spec.activations[layer - 1]
        n_in = W.shape[1]
        z, y = (_f64(v) for v in _layer_values(truth, layer))
        absW = np.abs(W)
        sums = u * (np.abs(x_l) @ absW.T + np.abs(b)) + eta
        Ez = _safe((n_in + 2) * sums + Ex @ absW.T)
        Ey = _safe(_activation_forward_error(act, z, y, Ez, u))
        fwds.append(_LayerForward(z, y, Ez, np.nan_to_num(Ey, nan=np.inf)))
        Ex, x_l = fwds[-1].Ey, y

    def observed_at(layer: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            tuple(_f64(v) for v in _layer_values(g, layer))  # type: ignore[misc]
            for g in observed
            if usable(g, layer)
        ]

    # The output delta δⁿ and the loss.
    last = fwds[-1]
    act_n = spec.activations[-1]
    straddled = 0
    loss_straddled = 0
    if spec.fused:
        delta, Ed, size = _logits_loss(spec, last.z, last.Ez, t, u)
        E_loss = np.sum(np.abs(delta) * last.Ez)
    else:
        if spec.from_logits:
            g, Eg, size = _logits_loss(spec, last.y, last.Ey, t, u)
        else:
            g, Eg, size = _probability_loss(spec, last.y, last.Ey, t, u)
            seen = [y for _, y in observed_at(depth)]
            reach = SAFETY * last.Ey + eta
            jump = _loss_jump(spec, labels, t, last.y, seen, reach)
            loss_straddled = int(np.count_nonzero(jump))
            Eg = Eg + jump
        Ey_eff = last.Ey + u * (np.abs(last.y) + np.abs(t))
        E_loss = np.sum(np.abs(g) * Ey_eff)
        delta, Ed, k = _backward_error(act_n, g, Eg, last, u, observed_at(depth))
        straddled += k
    E_loss = E_loss + u * float(np.sum(size)) / B
    E_loss = E_loss + u * B * abs(_f64(truth.loss))

    # Backward, layer by layer.
    deltas: list[np.ndarray] = [np.empty(0)] * depth
    dWs: list[np.ndarray] = [np.empty(0)] * depth
    dbs: list[np.ndarray] = [np.empty(0)] * depth
    kinks_straddled = [0] * depth
    kinks_straddled[depth - 1] = straddled
    E_input = np.empty(0)
    for layer in range(depth, 0, -1):
        i = layer - 1
        Ed = _safe(Ed)
        deltas[i] = Ed
        x_l = x64 if layer == 1 else fwds[i - 1].y
        Ex = np.zeros_like(x64) if layer == 1 else fwds[i - 1].Ey
        abs_delta = np.abs(delta)
        dWs[i] = (
            (B + 1) * (u * abs_delta.T @ np.abs(x_l) + eta)
            + Ed.T @ (np.abs(x_l) + Ex)
            + abs_delta.T @ Ex
        )
        dbs[i] = B * (u * abs_delta.sum(0) + eta) + Ed.sum(0)

        absW = np.abs(Ws[i])
        g = delta @ Ws[i]
        Eg = (Ws[i].shape[0] + 1) * (u * abs_delta @ absW + eta) + Ed @ absW
        if layer == 1:
            E_input = Eg
            break
        act = spec.activations[i - 1]
        delta, Ed, k = _backward_error(
            act, g, Eg, fwds[i - 1], u, observed_at(layer - 1)
        )
        kinks_straddled[i - 1] = k

    floor = FLOOR_TINY * float(np.finfo(spec.dtype).tiny) * max(*spec.widths, B)
    return Bounds(
        unit_roundoff=u,
        loss=np.asarray(E_loss, dtype=_F64),
        outputs=last.Ey,
        deltas=tuple(deltas),
        weight_grads=tuple(dWs),
        bias_grads=tuple(dbs),
        input_grad=E_input,
        kinks_straddled=tuple(kinks_straddled),
        loss_straddled=loss_straddled,
        floor=floor,
    )
