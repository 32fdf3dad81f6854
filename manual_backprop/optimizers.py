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
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import DTypeError, InputTypeError, ManualBackpropError, ShapeError
from .params import (
    LayerParams,
    PackedParams,
    Params,
    cast_hint,
    is_array,
    library_of,
    packed_views,
    pairs_of,
    writable,
)
from .spec import DTYPES


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
        rate, mu = _as_float(learning_rate), _as_float(momentum)
        if not (rate > 0 and math.isfinite(rate)):
            raise ManualBackpropError(
                f"SGD: learning_rate must be positive and finite; received "
                f"{_shown(learning_rate)}."
            )
        if not 0 <= mu <= 1:
            raise ManualBackpropError(
                f"SGD: momentum must lie in [0, 1]; received {_shown(momentum)}."
            )
        # Keras stores η as float32 whatever the parameters' dtype.
        self.learning_rate = _float32("learning_rate", learning_rate, rate)
        # ... and casts μ through a float32 tensor (see the module docstring).
        self.momentum = _float32("momentum", momentum, mu)
        if nesterov and self.momentum == 0:
            raise ManualBackpropError(
                "SGD: nesterov=True needs a momentum above 0; received momentum=0."
            )
        self.nesterov = bool(nesterov)
        self.velocities: list[Any] | None = None
        # (shape, dtype, type) of the parameters whose dtypes were checked
        # last: while they stay the same, no step checks them again.
        self._checked_keys: list[tuple[Any, Any, type]] | None = None
        # (shape, dtype, type) of every parameter the velocities were made
        # for: one list comparison per step tells that they still fit.
        self._velocity_keys: list[tuple[Any, Any, type]] | None = None
        # With packed parameters, the velocities are views of one buffer too
        # (so that in-place steps update them at once): the buffer, and the
        # views as made, to tell whether opt.velocities still holds them.
        self._velocity_flat: Any = None
        self._velocity_views: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        return (
            f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum}, "
            f"nesterov={self.nesterov})"
        )

    def step(self, params: Params, grads: Params, *, in_place: bool = False) -> Params:
        """One update of every ``W_l`` and ``b_l`` from its gradient.

        ``grads`` must be laid out as ``params`` (``Gradients.param_grads()``
        gives that), of the same shapes, dtypes and array library, and with
        momentum ``params`` as on the first call.

        By default the arrays passed in are left alone and new ones are
        returned.  ``in_place=True`` writes the update into the parameter
        arrays themselves (numpy or CuPy arrays, which must be writable) and
        returns them (``params`` itself if it is a :class:`PackedParams`):
        no new parameter arrays per step, which on wide layers is most of
        the update's cost.  Both give the same numbers, bit
        for bit.
        """
        if in_place is not False and not isinstance(in_place, bool | np.bool_):
            raise InputTypeError(  # in_place=0 or None is refused, not False
                f"SGD.step: in_place must be True or False; received "
                f"{in_place!r} ({type(in_place).__name__})."
            )
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
        if keys != self._checked_keys:  # other arrays than last time
            _check_dtypes(params)
            self._checked_keys = keys
        if in_place:  # refused before anything, velocities included, is made
            targets = flat
            if isinstance(params, PackedParams):
                targets = [*flat, params.flat]
            if not _all_writable(targets):
                _refuse_in_place(params)

        eta, mu = self.learning_rate, self.momentum
        if mu != 0:
            # The velocities' keys are the checked ones, the same list,
            # while the arrays stay alike: no second comparison per step.
            if self.velocities is None:
                self._make_velocities(params, flat)
                self._velocity_keys = self._checked_keys
            elif self._velocity_keys is not self._checked_keys:
                if keys != self._velocity_keys:
                    self._check_velocities(flat, keys)
                self._velocity_keys = self._checked_keys

        if in_place:
            packed = self._packed_operands(params, grads)
            if packed is not None:
                self._update_in_place(*packed)  # one operation for all
            else:
                self._update_in_place(flat, flat_grads, self.velocities)
            if isinstance(params, PackedParams):
                return params  # still packed, for the next step
            new = flat
        elif mu == 0:
            new = [w - eta * g for w, g in zip(flat, flat_grads, strict=True)]
        else:
            assert self.velocities is not None  # made above
            new = []
            for i, (w, g) in enumerate(zip(flat, flat_grads, strict=True)):
                v = mu * self.velocities[i] - eta * g
                self.velocities[i] = v
                if self.nesterov:
                    new.append(w + (mu * v - eta * g))
                else:
                    new.append(w + v)

        return tuple(LayerParams(new[i], new[i + 1]) for i in range(0, len(new), 2))

    def _make_velocities(self, params: Any, flat: list[Any]) -> None:
        """Zero velocities like the parameters; packed ones if they are."""
        self._velocity_flat = self._velocity_views = None
        if isinstance(params, PackedParams):
            self._velocity_flat = 0 * params.flat
            shapes = [(W.shape, b.shape) for W, b in params]
            views = packed_views(self._velocity_flat, shapes)
            self.velocities = [v for pair in views for v in pair]
            self._velocity_views = tuple(self.velocities)
        else:
            self.velocities = [0 * w for w in flat]

    def _packed_operands(
        self, params: Any, grads: Any
    ) -> tuple[list[Any], list[Any], list[Any] | None] | None:
        """The single buffers of parameters, gradients (and velocities) when
        all are packed alike, else None.  The layouts agree: ``step`` has
        checked that every array's shape matches its gradient's (and
        velocity's), and packing lays them out in the same order."""
        if not (isinstance(params, PackedParams) and isinstance(grads, PackedParams)):
            return None
        if self.momentum == 0:
            return [params.flat], [grads.flat], None
        views = self._velocity_views
        kept = self.velocities or []
        if views is None or len(views) != len(kept):
            return None  # velocities made for unpacked params
        if not all(a is b for a, b in zip(views, kept, strict=True)):
            return None  # some were replaced from outside
        return [params.flat], [grads.flat], [self._velocity_flat]

    def _update_in_place(
        self, flat: list[Any], flat_grads: list[Any], velocities: Any = None
    ) -> None:
        """``step``'s formulas, written into the parameters (and the
        velocities).  Each operation is the one ``step`` does, on the same
        operands in the same order, so the results are the same bit for bit;
        ``η g`` is the one temporary, made once and used twice by Nesterov.
        The arrays may be one packed buffer each: elementwise, it is the same
        arithmetic."""
        eta, mu = self.learning_rate, self.momentum
        if mu == 0:
            for w, g, _ in _pieces(flat, flat_grads, None):
                w -= eta * g  # w ← w − η g
            return

        assert velocities is not None  # made by step before the update
        for w, g, v in _pieces(flat, flat_grads, velocities):
            eta_g = eta * g
            v *= mu
            v -= eta_g  # v ← μ v − η g
            if self.nesterov:
                u = mu * v
                u -= eta_g
                w += u  # w ← w + (μ v − η g)
            else:
                w += v  # w ← w + v

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


# float32's range, in which Keras keeps η and μ.
FLOAT32 = np.finfo(np.float32)
FLOAT32_RANGE = (
    f"float32 holds positive values from {float(FLOAT32.smallest_subnormal):.1e}"
    f" to {float(FLOAT32.max):.1e}"
)


def _as_float(value: float) -> float:
    """``value`` as a Python float; an integer too large for one becomes
    the largest float of its sign, far outside float32's range too."""
    try:
        return float(value)
    except OverflowError:
        return sys.float_info.max if value > 0 else -sys.float_info.max


def _shown(value: float) -> str:
    """``value`` for a message: its repr, or its size if that is huge."""
    text = repr(value)
    if len(text) <= 30:
        return text
    if isinstance(value, numbers.Integral):  # too large for a float
        digits = text.lstrip("-")
        sign = text[: len(text) - len(digits)]
        return f"{sign}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"
    return f"{_as_float(value):.6g}"


def _float32(name: str, value: float, number: float) -> float:
    """``number`` rounded to float32 as Keras keeps it, refused where the
    rounding loses it: a positive one that becomes 0, or one that becomes
    inf (numpy would warn about that; here it is an error)."""
    with np.errstate(over="ignore", under="ignore"):
        rounded = float(np.float32(number))
    if number == 0 or 0 < rounded < math.inf:
        return rounded
    to = "0" if rounded == 0 else "inf"
    fix = "pass one inside that range"
    if name == "momentum" and rounded == 0:
        fix = "pass momentum=0 for none, or one inside that range"
    raise ManualBackpropError(
        f"SGD: {name}={_shown(value)} rounds to {to} in float32, in which Keras "
        f"keeps it ({FLOAT32_RANGE}); {fix}."
    )


# An in-place update of a long numpy buffer goes a piece at a time, so that
# its temporaries (η g, μ v) stay in the cache and in the heap: whole, the
# ones of a 50-million-parameter buffer are 200 MB each, which the allocator
# maps afresh, and the system faults in, on every step.  2**18 elements are
# 1 MiB of float32.  Elementwise, the pieces give the same numbers.
PIECE = 2**18


def _pieces(
    flat: list[Any], flat_grads: list[Any], velocities: list[Any] | None
) -> Iterator[tuple[Any, Any, Any]]:
    """``(w, g, v)`` for every array, long 1-D numpy ones cut in pieces."""
    kept = velocities if velocities is not None else [None] * len(flat)
    for w, g, v in zip(flat, flat_grads, kept, strict=True):
        if not (isinstance(w, np.ndarray) and w.ndim == 1 and w.size > PIECE):
            yield w, g, v
            continue
        for start in range(0, w.size, PIECE):
            piece = slice(start, start + PIECE)
            yield w[piece], g[piece], None if v is None else v[piece]


def _all_writable(flat: list[Any]) -> bool:
    """``writable`` for every array, at about 60 ns an array on numpy's."""
    if set(map(type, flat)) <= {np.ndarray}:
        return all(w.flags.writeable for w in flat)
    return all(map(writable, flat))


def _refuse_in_place(params: Any) -> None:
    """Why ``in_place=True`` cannot write into ``params``: the first array
    that is not a writable numpy or CuPy array (a TensorFlow tensor cannot
    be written to, and a read-only array must not be)."""
    if isinstance(params, PackedParams) and not writable(params.flat):
        raise InputTypeError(
            "SGD.step: in_place=True writes into the parameters, but their "
            "packed buffer (params.flat) is read-only; pack a copy "
            "(pack_params(params)) or use in_place=False (the default), "
            "which returns new arrays."
        )
    for layer, pair in enumerate(_pairs(params, "params"), start=1):
        for name, w in zip("Wb", pair, strict=True):
            if writable(w):
                continue
            if isinstance(w, np.ndarray):
                what, fix = "is read-only", f"pass a copy ({name}.copy())"
            else:
                what = f"is a {type(w).__name__}, which cannot be written to"
                fix = "keep numpy or CuPy arrays for in-place updates"
            raise InputTypeError(
                f"SGD.step: in_place=True writes into the parameters, but "
                f"params layer {layer} {name} {what}; {fix}, or use "
                "in_place=False (the default), which returns new arrays."
            )


def _pairs(value: Any, argument: str) -> list[tuple[Any, Any]]:
    if hasattr(value, "param_grads"):
        raise InputTypeError(
            f"SGD.step: {argument} is a Gradients object; pass "
            "grads.param_grads(), the (∂L/∂W, ∂L/∂b) pair of every layer."
        )
    return pairs_of(value, "SGD.step", argument)


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
            unsupported = _unsupported_dtype(w, layer, name)
            if unsupported is not None:
                return unsupported
            if _dtype_name(w) != _dtype_name(g):
                return DTypeError(
                    f"SGD.step: layer {layer} {name} is {_dtype_name(w)} but "
                    f"its gradient {_dtype_name(g)}; the step would promote "
                    "silently. Compute the gradients with the same params "
                    "(backward(spec, params, ...).param_grads()) or cast "
                    f"them with {cast_hint(g, _dtype_name(w), 'grad')}."
                )
    return None  # only the types differ, within one library: they fit


def _check_dtypes(params: Any) -> None:
    """Refuse parameters of a dtype the engine does not compute in: numpy
    would step integers into float64 (or fail in place), and complex or
    float16 ones are no network's."""
    for layer, pair in enumerate(params, start=1):
        for name, w in zip("Wb", pair, strict=True):
            error = _unsupported_dtype(w, layer, name)
            if error is not None:
                raise error


def _unsupported_dtype(w: Any, layer: int, name: str) -> DTypeError | None:
    dtype = _dtype_name(w)
    if dtype in DTYPES:
        return None
    target = "float32" if dtype in ("float16", "bfloat16") else "float64"
    return DTypeError(
        f"SGD.step: params layer {layer} {name} is {dtype}, but parameters "
        f"must be float32 or float64, the engine's dtypes; cast params and "
        f"grads to the network's dtype, e.g. {cast_hint(w, target, name)}."
    )


def _dtype_name(array: Any) -> str:
    dtype = array.dtype
    return str(getattr(dtype, "name", dtype))
