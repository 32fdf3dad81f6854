"""Stochastic gradient descent with Keras's update formulas.

With learning rate ``η``, momentum ``μ`` and velocity ``v`` (zero at the
start), for every parameter ``w`` with gradient ``g``, as
``keras.optimizers.SGD`` does it:

* plain (``μ = 0``):      ``w ← w − η g``
* momentum:               ``v ← μ v − η g``;  ``w ← w + v``
* Nesterov:               ``v ← μ v − η g``;  ``w ← w + μ v − η g``

Keras's defaults are ``η = 0.01``, ``μ = 0`` and ``nesterov=False``.

Keras keeps the learning rate in a float32 variable (``keras.config.floatx``)
and casts it to each parameter's dtype, so even float64 parameters move by
``float32(η)``: 0.01 becomes 0.009999999776482582.  The momentum fares the
same way by another road: ``ops.cast(0.9, "float64")`` first makes a float32
tensor of the Python float, so ``μ`` is float32(0.9) = 0.8999999761581421.
This class rounds both the same way; the velocities themselves are kept in
the parameters' dtype, as Keras keeps them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import DTypeError, InputTypeError, ManualBackpropError, ShapeError
from .params import LayerParams, Params, cast_hint, is_array, library_of


class SGD:
    """Keras's SGD: plain, with momentum, or Nesterov.

    ``step`` returns new parameters and keeps the velocities between calls,
    as one Keras optimizer does for one model: use one ``SGD`` per network.
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        numbers_given = (
            ("learning_rate", learning_rate, 0.01),
            ("momentum", momentum, 0.9),
        )
        for name, value, example in numbers_given:
            if isinstance(value, bool | np.bool_) or not isinstance(
                value, numbers.Real
            ):
                raise InputTypeError(
                    f"SGD: {name} must be a real number such as {example}; received "
                    f"{value!r} ({type(value).__name__})."
                )
        if not isinstance(nesterov, bool | np.bool_):
            raise InputTypeError(
                f"SGD: nesterov must be True or False; received {nesterov!r} "
                f"({type(nesterov).__name__})."
            )
        if not (learning_rate > 0 and math.isfinite(learning_rate)):
            raise ManualBackpropError(
                f"learning_rate must be positive and finite; received {learning_rate}."
            )
        if not 0 <= momentum <= 1:
            raise ManualBackpropError(
                f"momentum must lie in [0, 1]; received {momentum}."
            )
        if nesterov and momentum == 0:
            raise ManualBackpropError(
                "nesterov=True needs a momentum above 0; received momentum=0."
            )
        # Keras stores η as float32 whatever the parameters' dtype.
        self.learning_rate = float(np.float32(learning_rate))
        # ... and casts μ through a float32 tensor (see the module docstring).
        self.momentum = float(np.float32(momentum))
        self.nesterov = bool(nesterov)
        self.velocities: list[Any] | None = None
        # (shape, dtype, type) of every parameter the velocities were made
        # for: one list comparison per step tells that they still fit.
        self._velocity_keys: list[tuple[Any, Any, type]] | None = None

    def __repr__(self) -> str:
        return (
            f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum}, "
            f"nesterov={self.nesterov})"
        )

    def step(self, params: Params, grads: Params) -> Params:
        """One update of every ``W_l`` and ``b_l`` from its gradient.

        ``grads`` must be laid out as ``params`` (``Gradients.param_grads()``
        gives that), of the same shapes, dtypes and array library, and with
        momentum ``params`` as on the first call.
        """
        try:
            flat = [p for pair in params for p in pair]
            flat_grads = [g for pair in grads for g in pair]
            # The dtype and type too: numpy would promote float32 params
            # with float64 grads, or hand back TensorFlow tensors, silently.
            keys = [(w.shape, w.dtype, type(w)) for w in flat]
            fits = keys == [(g.shape, g.dtype, type(g)) for g in flat_grads]
        except (TypeError, AttributeError):
            fits = False
        if not fits:
            error = _mismatch(params, grads)
            if error is not None:  # None: types differ, libraries do not
                raise error
        eta, mu = self.learning_rate, self.momentum

        if mu == 0:
            new = [w - eta * g for w, g in zip(flat, flat_grads, strict=True)]
        else:
            if self.velocities is None:
                self.velocities = [0 * w for w in flat]
                self._velocity_keys = keys
            elif keys != self._velocity_keys:
                self._check_velocities(flat, keys)
            new = []
            for i, (w, g) in enumerate(zip(flat, flat_grads, strict=True)):
                v = mu * self.velocities[i] - eta * g
                self.velocities[i] = v
                if self.nesterov:
                    new.append(w + (mu * v - eta * g))
                else:
                    new.append(w + v)

        return tuple(LayerParams(new[i], new[i + 1]) for i in range(0, len(new), 2))

    def _check_velocities(
        self, flat: list[Any], keys: list[tuple[Any, Any, type]]
    ) -> None:
        """Refuse parameters that the kept velocities do not fit: another
        count, shape, dtype or array library than theirs."""
        kept = list(self.velocities or [])
        advice = (
            "one SGD with momentum keeps the velocities of one network; use "
            "a new SGD(...) for another network (or set opt.velocities = None "
            "to start them again from zero)."
        )
        if len(kept) != len(flat):
            raise ShapeError(
                f"SGD.step: the velocities were made for {len(kept) // 2} "
                f"layer(s) but params have {len(flat) // 2}; {advice}"
            )
        for i, (w, v) in enumerate(zip(flat, kept, strict=True)):
            where = f"SGD.step: layer {i // 2 + 1} {'Wb'[i % 2]}"
            if tuple(w.shape) != tuple(v.shape):
                raise ShapeError(
                    f"{where} has shape {tuple(w.shape)} but its velocity, made "
                    f"on an earlier step, {tuple(v.shape)}; {advice}"
                )
            if library_of(w) != library_of(v):
                raise InputTypeError(
                    f"{where} is a {library_of(w)} array but its velocity, "
                    f"made on an earlier step, a {library_of(v)} one; {advice}"
                )
            if _dtype_name(w) != _dtype_name(v):
                raise DTypeError(
                    f"{where} is {_dtype_name(w)} but its velocity, made on an "
                    f"earlier step, {_dtype_name(v)}: the step would return "
                    f"{_dtype_name(v)} parameters; {advice}"
                )
        # Same shapes, dtypes and libraries (velocities assigned from outside,
        # or tf.Variable params the first time): they fit.
        self._velocity_keys = keys


def _pairs(value: Any, argument: str) -> list[tuple[Any, ...]]:
    if hasattr(value, "param_grads"):
        raise InputTypeError(
            f"SGD.step: {argument} is a Gradients object; pass "
            "grads.param_grads(), the (∂L/∂W, ∂L/∂b) pair of every layer."
        )
    try:
        pairs = [tuple(pair) for pair in value]
    except TypeError as err:
        raise InputTypeError(
            f"SGD.step: {argument} must be a sequence of (W, b) pairs, one per "
            f"layer; received {type(value).__name__}."
        ) from err
    for layer, pair in enumerate(pairs, start=1):
        if len(pair) != 2:
            raise ShapeError(
                f"SGD.step: {argument} layer {layer} must be a (W, b) pair; "
                f"received {len(pair)} item(s)."
            )
    return pairs


def _mismatch(params: Any, grads: Any) -> ManualBackpropError | None:
    """Why ``grads`` do not fit ``params``: the first layer and name, and
    the shapes, libraries or dtypes that differ; ``None`` if they fit."""
    ours, theirs = _pairs(params, "params"), _pairs(grads, "grads")
    if len(ours) != len(theirs):
        return ShapeError(
            f"SGD.step: params have {len(ours)} layer(s) but grads "
            f"{len(theirs)}; the gradients must come from the same network "
            "(backward(spec, params, ...).param_grads())."
        )
    for layer, (pair, grad_pair) in enumerate(zip(ours, theirs, strict=True), 1):
        for name, w, g in zip("Wb", pair, grad_pair, strict=True):
            for argument, array in (("params", w), ("grads", g)):
                if not is_array(array):
                    return InputTypeError(
                        f"SGD.step: {argument} layer {layer} {name} must be an "
                        f"array; received {type(array).__name__}."
                    )
            if tuple(w.shape) != tuple(g.shape):
                return ShapeError(
                    f"SGD.step: layer {layer} {name} has shape "
                    f"{tuple(w.shape)} but its gradient {tuple(g.shape)}; the "
                    "gradients must come from the same network "
                    "(backward(spec, params, ...).param_grads())."
                )
            ours_lib, theirs_lib = library_of(w), library_of(g)
            if ours_lib != theirs_lib:
                return InputTypeError(
                    f"SGD.step: layer {layer} {name} is a {ours_lib} array but "
                    f"its gradient a {theirs_lib} one; the step would return "
                    f"{theirs_lib} arrays. Compute the gradients on the "
                    f"parameters' backend (backend='{ours_lib}') or convert "
                    "one side first."
                )
            if _dtype_name(w) != _dtype_name(g):
                return DTypeError(
                    f"SGD.step: layer {layer} {name} is {_dtype_name(w)} but "
                    f"its gradient {_dtype_name(g)}; the step would promote "
                    "silently. Compute the gradients with the same params "
                    "(backward(spec, params, ...).param_grads()) or cast "
                    f"them with {cast_hint(g, _dtype_name(w), 'grad')}."
                )
    return None  # only the types differ, within one library: they fit


def _dtype_name(array: Any) -> str:
    dtype = array.dtype
    return str(getattr(dtype, "name", dtype))
