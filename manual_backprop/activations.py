"""Activations ``y = f(z)`` and their backward step, with TensorFlow's conventions.

Every function takes the array namespace ``xp`` first (see ``backend``),
then the layer's pre-activation ``z`` (and, backward, its output ``y``).
Arrays are batch-major: ``z`` has shape ``(batch, n_l)``.

Backward, an elementwise activation turns ``g = ∂L/∂y_l`` into
``δˡ = g · f'(z_l)``.  Softmax is not elementwise: its backward step is the
Jacobian-vector product ``δ = y · (g − Σⱼ gⱼ yⱼ)`` along the class axis.

The derivative conventions are TensorFlow's own, chosen where the textbook
leaves a choice, and each one is pinned by a unit test:

* relu'(0) = 0: TensorFlow's ReluGrad passes the gradient where z > 0 only.
* leaky_relu'(0) = negative_slope: its gradient takes the slope unless
  z > 0.  Keras's function defaults to 0.2, its layer to 0.3.  The slope
  is a float32 attribute of TensorFlow's op, so in float64 it is
  float32(0.2) = 0.20000000298…, here as there.
* elu: Keras computes ``tf.nn.elu`` and, when alpha ≠ 1, scales the part
  where z ≤ 0 by alpha, so elu'(0) = alpha.  TensorFlow forms the gradient
  from the output, ``e + 1`` with ``e = expm1(z)``; in float32 that is 0 for
  z below about -17, where the true exp(z) is not.
* sigmoid, tanh, selu and exponential also take their gradient from the
  output: ``y(1 − y)``, ``1 − y²``, ``y + scale·alpha`` (for y < 0) and ``y``.
  Like TensorFlow, the engine does the same, so saturated units lose the
  same accuracy in both; the float64 cross-check shows how much.
* hard_sigmoid is Keras 3's ``relu6(z + 3) / 6``.  relu6 passes the
  gradient only strictly inside (0, 6), so hard_sigmoid'(±3) = 0.
* gelu is exact, as Keras's default ``approximate=False``, and written as
  TensorFlow writes it, ``z · erfc(−z/√2) / 2``, which keeps its accuracy
  for negative z where ``1 + erf`` would cancel.  Its constants √½ and
  0.044715 are rounded to float32 even in float64, as TensorFlow's are;
  ``gelu_tanh`` is the tanh approximation, differentiated as TensorFlow's
  tape does it, through the tanh's output.
* softplus'(z) is sigmoid(z) computed as ``1 / (1 + exp(−z))``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .spec import Activation

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = 0.7978845608028654  # √(2/π), the constant TensorFlow uses

# TensorFlow's gelu passes two of its constants through ``tf.cast`` from a
# Python float, which makes a float32 tensor first: in float64 it really
# multiplies by √½ and 0.044715 rounded to float32.  So do we.
GELU_CUBIC = float(np.float32(0.044715))
INV_SQRT_2 = float(np.float32(0.7071067811865476))
INV_SQRT_PI = 1 / math.sqrt(math.pi)


# Forward: y = f(z).


def _linear(xp: Any, z: Any, act: Activation) -> Any:
    return z


def _sigmoid(xp: Any, z: Any, act: Activation) -> Any:
    # 1 / (1 + exp(−z)), in one temporary (see backend: in-place arithmetic).
    s = xp.negative(z)
    s = xp.exp(s, out=s)
    s += 1
    return xp.reciprocal(s, out=s)


def _tanh(xp: Any, z: Any, act: Activation) -> Any:
    return xp.tanh(z)


def _relu(xp: Any, z: Any, act: Activation) -> Any:
    return xp.maximum(z, 0)


def _slope(act: Activation) -> float:
    # TensorFlow's LeakyRelu op holds its slope as a float32 attribute, so
    # even in float64 it multiplies by float32(0.2) = 0.20000000298…
    return float(np.float32(act.negative_slope))


def _leaky_relu(xp: Any, z: Any, act: Activation) -> Any:
    return xp.where(z > 0, z, _slope(act) * z)


def _elu(xp: Any, z: Any, act: Activation) -> Any:
    return xp.where(z > 0, z, act.alpha * xp.expm1(z))


def _selu(xp: Any, z: Any, act: Activation) -> Any:
    return xp.where(z > 0, SELU_SCALE * z, SELU_SCALE * SELU_ALPHA * xp.expm1(z))


def _softplus(xp: Any, z: Any, act: Activation) -> Any:
    return xp.logaddexp(z, 0)


def _softsign(xp: Any, z: Any, act: Activation) -> Any:
    return z / (1 + xp.abs(z))


def _silu(xp: Any, z: Any, act: Activation) -> Any:
    return z / (1 + xp.exp(-z))


def _gelu(xp: Any, z: Any, act: Activation, erfc: Any = None) -> Any:
    return 0.5 * z * erfc(-z * INV_SQRT_2)


def _gelu_tanh(xp: Any, z: Any, act: Activation) -> Any:
    t = xp.tanh(SQRT_2_OVER_PI * (z + GELU_CUBIC * z**3))
    return 0.5 * z * (1 + t)


def _hard_sigmoid(xp: Any, z: Any, act: Activation) -> Any:
    return xp.clip(z + 3, 0, 6) / 6


def _exponential(xp: Any, z: Any, act: Activation) -> Any:
    return xp.exp(z)


def _softmax(xp: Any, z: Any, act: Activation) -> Any:
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


# Backward: f'(z), from z or from y as TensorFlow does.


def _step(xp: Any, condition: Any, like: Any) -> Any:
    """1 where ``condition`` holds, else 0, in ``like``'s dtype."""
    return xp.asarray(condition, dtype=like.dtype)


def _d_linear(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    return xp.ones_like(z)


def _d_sigmoid(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    d = 1 - y
    d *= y  # y (1 − y)
    return d


def _d_tanh(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    d = y * y
    return xp.subtract(1, d, out=d)  # 1 − y²


def _d_relu(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    return _step(xp, z > 0, z)


def _d_leaky_relu(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    slope = _slope(act)
    return slope + (1 - slope) * _step(xp, z > 0, z)


def _d_elu(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    e = xp.expm1(z)  # tf.nn.elu's own output, before Keras scales it
    return xp.where(z > 0, xp.ones_like(z), act.alpha * (e + 1))


def _d_selu(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    scale = SELU_SCALE * xp.ones_like(y)
    return xp.where(y < 0, y + SELU_SCALE * SELU_ALPHA, scale)


def _d_softplus(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    return 1 / (1 + xp.exp(-z))


def _d_softsign(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    d = 1 + xp.abs(z)
    return 1 / (d * d)


def _d_silu(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    s = 1 / (1 + xp.exp(-z))
    return s * (1 + z * (1 - s))


def _d_gelu(xp: Any, z: Any, y: Any, act: Activation, erfc: Any = None) -> Any:
    u = z * INV_SQRT_2  # with TensorFlow's float32-rounded √½, as forward
    return 0.5 * erfc(-u) + z * (INV_SQRT_2 * INV_SQRT_PI) * xp.exp(-u * u)


def _d_gelu_tanh(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    t = xp.tanh(SQRT_2_OVER_PI * (z + GELU_CUBIC * z**3))
    dt = (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * z * z)
    return 0.5 * (1 + t) + 0.5 * z * dt


def _d_hard_sigmoid(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    s = z + 3  # relu6's input, rounded as TensorFlow rounds it
    return _step(xp, (s > 0) & (s < 6), z) / 6


def _d_exponential(xp: Any, z: Any, y: Any, act: Activation) -> Any:
    return y


FORWARD = {
    "linear": _linear,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": _selu,
    "softplus": _softplus,
    "softsign": _softsign,
    "silu": _silu,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "hard_sigmoid": _hard_sigmoid,
    "exponential": _exponential,
    "softmax": _softmax,
}

DERIVATIVE = {
    "linear": _d_linear,
    "sigmoid": _d_sigmoid,
    "tanh": _d_tanh,
    "relu": _d_relu,
    "leaky_relu": _d_leaky_relu,
    "elu": _d_elu,
    "selu": _d_selu,
    "softplus": _d_softplus,
    "softsign": _d_softsign,
    "silu": _d_silu,
    "gelu": _d_gelu,
    "gelu_tanh": _d_gelu_tanh,
    "hard_sigmoid": _d_hard_sigmoid,
    "exponential": _d_exponential,
}

# Where the derivative jumps, in z.  The cross-check uses these to tell a
# round-off that lands on the other side of a kink from a wrong derivative.
KINKS: dict[str, tuple[float, ...]] = {
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "elu": (0.0,),
    "selu": (0.0,),  # scale·alpha = 1.758 below, scale = 1.051 above
    "hard_sigmoid": (-3.0, 3.0),
}


def forward(act: Activation, z: Any, xp: Any, erfc: Any = None) -> Any:
    """``y = f(z)`` for one layer."""
    if act.name == "gelu":
        return _gelu(xp, z, act, erfc)
    return FORWARD[act.name](xp, z, act)


def derivative(act: Activation, z: Any, y: Any, xp: Any, erfc: Any = None) -> Any:
    """``f'(z)`` elementwise (not defined for softmax)."""
    if act.name == "gelu":
        return _d_gelu(xp, z, y, act, erfc)
    return DERIVATIVE[act.name](xp, z, y, act)


def backward(act: Activation, g: Any, z: Any, y: Any, xp: Any, erfc: Any = None) -> Any:
    """``δ = ∂L/∂z`` from ``g = ∂L/∂y`` for one layer.

    ``g`` must be the caller's own temporary: where the backend allows, it
    is overwritten with ``δ`` (the engine passes a fresh ``δˡ⁺¹ W_{l+1}``
    or a fresh loss gradient).
    """
    if act.name == "softmax":
        return y * (g - xp.sum(g * y, axis=-1, keepdims=True))
    if act.name == "linear":
        return g
    g *= derivative(act, z, y, xp, erfc)
    return g


def kinks(act: Activation) -> tuple[float, ...]:
    """The values of ``z`` where this activation's derivative jumps."""
    if act.name == "elu" and act.alpha == 1.0:
        return ()  # elu'(0⁻) = alpha = 1 = elu'(0⁺): no jump
    return KINKS.get(act.name, ())
