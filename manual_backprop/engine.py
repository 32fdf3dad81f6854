"""The delta recursion, by hand.

Notation follows the lecture notes.  Layers are numbered ``l = 1 … n``;
layer ``l`` reads ``x_l`` (``x_1`` is the network input, ``x_{l+1} = y_l``)
and computes::

    z_l = W_l x_l + b_l        y_l = f_l(z_l)

Backward, with ``δˡ = ∂L/∂z_l``::

    δⁿ = ∂L/∂z_n                                  (from the loss)
    δˡ = δˡ⁺¹ ∂z_{l+1}/∂z_l = f_l'(z_l) ⊙ (W_{l+1}ᵀ δˡ⁺¹)
    ∂L/∂W_l = δˡ ∂z_l/∂W_l = δˡ x_lᵀ              ∂L/∂b_l = δˡ
    ∂L/∂x   = W_1ᵀ δ¹

Arrays are batch-major: ``x_l`` is ``(B, n_{l-1})`` and ``z_l``, ``y_l``,
``δˡ`` are ``(B, n_l)``, one example per row.  With a batch, the products
above become ``Z_l = X_l W_lᵀ + b_l``, ``∂L/∂W_l = δˡᵀ X_l`` and
``∂L/∂b_l = Σ_rows δˡ``; the loss already carries the ``1/B`` of its mean,
so these sums are the gradient of the batch-mean loss.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import activations, losses
from .backend import BACKENDS, Backend, backend_of, get_backend
from .errors import (
    DTypeError,
    InputTypeError,
    LabelError,
    NonFiniteError,
    ShapeError,
)
from .params import (
    LayerParams,
    PackedParams,
    Params,
    cast_hint,
    check_params,
    is_array,
    writable,
)
from .spec import NetworkSpec, check_spec


@dataclass(frozen=True)
class ForwardPass:
    """``zs[l-1] = z_l`` and ``ys[l-1] = y_l`` for every layer; ``x`` is ``x_1``."""

    x: Any
    zs: tuple[Any, ...]
    ys: tuple[Any, ...]

    @property
    def outputs(self) -> Any:
        """``y_n``, the network's output."""
        return self.ys[-1]

    def layer_input(self, layer: int) -> Any:
        """``x_l``, what layer ``l`` (from 1) reads."""
        return self.x if layer == 1 else self.ys[layer - 2]


@dataclass(frozen=True)
class LayerGradients:
    """What the backward pass found for one layer."""

    pre_activation: Any  # z_l
    output: Any  # y_l
    delta: Any  # δˡ = ∂L/∂z_l
    weight_grad: Any  # ∂L/∂W_l, shape of W_l
    bias_grad: Any  # ∂L/∂b_l


@dataclass(frozen=True)
class Gradients:
    """The loss, the outputs and every gradient of one forward+backward pass.

    ``grads[l]`` is layer ``l``'s :class:`LayerGradients`, numbered from 1
    as in the notes (``grads[1]`` is the first layer, ``grads[-1]`` the
    last); iterating yields the layers in that order, layer 1 first.
    ``layers`` is the same as a plain 0-based tuple (slice that one).
    """

    loss: Any
    outputs: Any
    layers: tuple[LayerGradients, ...]
    input_grad: Any  # ∂L/∂x, or None if backward was told to skip it
    # The parameter gradients in one buffer, where the backend can write
    # (numpy, CuPy): what param_grads() returns then.  None elsewhere.
    packed: PackedParams | None = None

    def __getitem__(self, layer: int) -> LayerGradients:
        n = len(self.layers)
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise InputTypeError(
                f"layers are indexed by integers 1 … {n} as in the notes "
                f"(-1 for the last); received {layer!r} "
                f"({type(layer).__name__}). For a slice or 0-based "
                "indexing use grads.layers, a plain tuple."
            )
        index = int(layer) + (n + 1 if layer < 0 else 0)
        if not 1 <= index <= n:
            raise IndexError(
                f"layers are numbered 1 … {n} as in the notes (or -1 … -{n} "
                f"from the last); received {layer}."
            )
        return self.layers[index - 1]

    def __iter__(self) -> Iterator[LayerGradients]:
        """The layers in order, layer 1 first."""
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def deltas(self) -> tuple[Any, ...]:
        return tuple(g.delta for g in self.layers)

    @property
    def weight_grads(self) -> tuple[Any, ...]:
        return tuple(g.weight_grad for g in self.layers)

    @property
    def bias_grads(self) -> tuple[Any, ...]:
        return tuple(g.bias_grad for g in self.layers)

    def param_grads(self) -> Params:
        """Every ``(∂L/∂W_l, ∂L/∂b_l)`` pair, in the layout of the params."""
        if self.packed is not None:
            return self.packed
        return tuple(LayerParams(g.weight_grad, g.bias_grad) for g in self.layers)


@contextlib.contextmanager
def _quiet(backend: Backend) -> Iterator[None]:
    # exp overflows to inf in saturated units (1 / (1 + inf) = 0 is the
    # right answer there); numpy would warn about it on every call.
    if backend.name == "numpy":
        with np.errstate(over="ignore"):
            yield
    else:
        yield


def resolve_backend(x: Any, backend: str | Backend | None) -> Backend:
    if backend is None:
        return backend_of(x)
    if isinstance(backend, Backend):
        return backend
    return get_backend(backend)


def forward(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    *,
    backend: str | Backend | None = None,
    check: bool = True,
) -> ForwardPass:
    """Run the network on a batch ``x`` of shape ``(B, n_0)``.

    ``check`` validates as :func:`backward` does (``x`` and ``params``).
    """
    bk = resolve_backend(x, backend)
    if check is not False:  # check=0 or None is refused, not taken as False
        _check_flag("check", check)
        if check:
            params = check_arguments(spec, params, x, None, bk, backend)

    with _quiet(bk):
        return _forward(spec, params, x, bk)


def _forward(spec: NetworkSpec, params: Params, x: Any, bk: Backend) -> ForwardPass:
    xp = bk.xp
    zs, ys = [], []
    x_l = x
    for (W, b), act in zip(params, spec.activations, strict=True):
        z = xp.matmul(x_l, xp.transpose(W))
        z += b  # in place where the backend allows: z is the product's own
        y = activations.forward(act, z, xp, bk.erfc)
        zs.append(z)
        ys.append(y)
        x_l = y
    return ForwardPass(x, tuple(zs), tuple(ys))


def output_delta(spec: NetworkSpec, fwd: ForwardPass, labels: Any, bk: Backend) -> Any:
    """``δⁿ = ∂L/∂z_n`` by the loss path the description names."""
    xp = bk.xp
    z, y = fwd.zs[-1], fwd.ys[-1]
    last = spec.activations[-1]

    if spec.fused:
        return losses.logits_gradient(spec, z, labels, xp)

    if spec.from_logits:
        g = losses.logits_gradient(spec, y, labels, xp)
    else:
        g = losses.gradient(spec, y, labels, xp)
    return activations.backward(last, g, z, y, xp, bk.erfc)


def loss_value(spec: NetworkSpec, fwd: ForwardPass, labels: Any, bk: Backend) -> Any:
    """The batch-mean loss ``L`` by the loss path the description names."""
    xp = bk.xp
    if spec.fused:
        ell = losses.logits_per_example(spec, fwd.zs[-1], labels, xp)
    elif spec.from_logits:
        ell = losses.logits_per_example(spec, fwd.ys[-1], labels, xp)
    else:
        ell = losses.per_example(spec, fwd.ys[-1], labels, xp)
    return losses.reduce(ell, xp)


def backward(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    *,
    backend: str | Backend | None = None,
    check: bool = True,
    input_grad: bool = True,
    out: PackedParams | None = None,
) -> Gradients:
    """Forward, then the delta recursion from ``δⁿ`` down to ``∂L/∂x``.

    Args:
        spec: the network description.
        params: one ``(W_l, b_l)`` pair per layer, ``W_l`` of shape
            ``(n_l, n_{l-1})``.
        x: the inputs, ``(B, n_0)``, in the description's dtype.
        labels: ``(B, n_n)`` targets in the same dtype, or, for sparse
            categorical cross-entropy, ``(B,)`` integer class indices.
        backend: ``"numpy"``, ``"cupy"`` or ``"tensorflow"``; by default
            the library that ``x`` belongs to.
        check: validate first (cheap; turn off only in a loop over
            inputs already checked): shapes, dtypes, labels, that every
            array belongs to the backend, and that every value is finite
            (skipped for symbolic tensors inside ``tf.function``, which
            have no values yet).
        input_grad: also form ``∂L/∂x = W_1ᵀ δ¹``.  A training step does
            not need it, and on a wide first layer it is a third of the
            step's matrix products; with ``False``,
            :attr:`Gradients.input_grad` is ``None``.
        out: where to write every ``∂L/∂W_l`` and ``∂L/∂b_l`` (numpy or
            CuPy): a :class:`~manual_backprop.params.PackedParams` laid
            out like ``params``, made once with ``packed_like(params)``
            and overwritten on every call.  A training loop saves an
            allocation per array, and ``SGD.step(params, grads,
            in_place=True)`` then updates packed parameters with one
            operation.  ``None`` (the default): new arrays on every call.

    Returns:
        :class:`Gradients`: the loss, the outputs, every ``δˡ`` and
        parameter gradient, and ``∂L/∂x``.
    """
    bk = resolve_backend(x, backend)
    # Nothing here runs with check=False, the timed path; check=0 or None
    # is refused rather than taken as False.
    if check is not False:
        _check_flag("check", check)
        _check_flag("input_grad", input_grad)
        if check:
            params = check_arguments(spec, params, x, labels, bk, backend)
            if out is not None:
                check_out(params, out, bk, x=x, labels=labels)

    with _quiet(bk):
        return _backward(spec, params, x, labels, bk, input_grad, out)


def _backward(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    bk: Backend,
    input_grad: bool = True,
    packed: PackedParams | None = None,
) -> Gradients:
    xp = bk.xp
    fwd = _forward(spec, params, x, bk)
    loss = loss_value(spec, fwd, labels, bk)

    delta = output_delta(spec, fwd, labels, bk)
    xs = (x, *fwd.ys[:-1])  # xs[l-1] = x_l
    layers: list[LayerGradients] = []
    g = None
    for layer in range(spec.depth, 0, -1):
        W = params[layer - 1][0]
        x_l = xs[layer - 1]
        out = _UNPACKED if packed is None else packed[layer - 1]  # or new

        weight_grad = xp.matmul(xp.transpose(delta), x_l, out=out.W)
        bias_grad = bk.batch_sum(delta, out=out.b)
        layers.append(
            LayerGradients(
                fwd.zs[layer - 1], fwd.ys[layer - 1], delta, weight_grad, bias_grad
            )
        )

        if layer == 1 and not input_grad:
            break  # ∂L/∂x was not asked for

        g = xp.matmul(delta, W)  # ∂L/∂x_l, which is ∂L/∂y_{l-1}
        if layer > 1:
            below = spec.activations[layer - 2]
            z, y = fwd.zs[layer - 2], fwd.ys[layer - 2]
            delta = activations.backward(below, g, z, y, xp, bk.erfc)

    layers.reverse()
    if packed is not None and not _filled(packed, layers):
        packed = None  # not written where asked (a namespace of the caller's)
    input_g = g if input_grad else None
    return Gradients(loss, fwd.outputs, tuple(layers), input_g, packed)


_UNPACKED = LayerParams(None, None)  # out=None: a new array


def _filled(packed: PackedParams, layers: list[LayerGradients]) -> bool:
    """Whether every gradient is the view it was asked to be written to."""
    return all(
        g.weight_grad is out.W and g.bias_grad is out.b
        for g, out in zip(layers, packed, strict=True)
    )


def check_out(
    params: Params, out: Any, bk: Backend, *, x: Any = None, labels: Any = None
) -> None:
    """``out`` must be packed like ``params``, on a backend that writes,
    writable, and apart from every array the gradients are computed from."""
    if not isinstance(out, PackedParams):
        raise InputTypeError(
            f"out must be a PackedParams laid out like params (make one with "
            f"packed_like(params)); received {type(out).__name__}."
        )
    if not bk.in_place:
        raise InputTypeError(
            f"out= writes the gradients into arrays, which the {bk.name} "
            "backend cannot do; leave out=None there."
        )
    if len(out) != len(params):
        raise ShapeError(
            f"out has {len(out)} layer(s) but params {len(params)}; make it "
            "with packed_like(params)."
        )
    inputs = [("params", a) for pair in params for a in pair]
    inputs += [("x", x), ("labels", labels)]
    for name, a in inputs:
        if a is not None and bk.xp.may_share_memory(out.flat, a):
            raise InputTypeError(
                f"out shares memory with {name}: the gradients would overwrite "
                "what they are computed from. Make a buffer of its own with "
                "packed_like(params)."
            )
    views = [out.flat, *(a for pair in out for a in pair)]
    if not all(writable(a) for a in views):
        raise InputTypeError(
            "out is read-only (its buffer or one of its views), and backward "
            "writes every gradient into it. Make a writable one with "
            "packed_like(params)."
        )
    for layer, (pair, out_pair) in enumerate(zip(params, out, strict=True), 1):
        for name, w, o in zip("Wb", pair, out_pair, strict=True):
            if tuple(o.shape) != tuple(w.shape) or o.dtype != w.dtype:
                raise ShapeError(
                    f"out layer {layer} {name} is {_dtype_name(o)} of shape "
                    f"{tuple(o.shape)} but params layer {layer} {name} is "
                    f"{_dtype_name(w)} of shape {tuple(w.shape)}; make out "
                    "with packed_like(params)."
                )
            if backend_of(o) is not bk:
                raise InputTypeError(
                    f"out layer {layer} {name} is a "
                    f"{ARRAY_KINDS.get(backend_of(o).name, 'array')} but the "
                    f"computation runs on {bk.name}; make out with "
                    "packed_like(params)."
                )


def check_arguments(
    spec: NetworkSpec,
    params: Any,
    x: Any,
    labels: Any,
    bk: Backend,
    backend: str | Backend | None = None,
) -> Params:
    """Everything ``check=True`` checks; ``labels`` is ``None`` for forward.

    ``bk`` is the backend the computation runs on and ``backend`` what the
    caller passed for it (``None``: chosen from ``x``), for the messages.
    """
    check_spec(spec)
    params = check_params(spec, params)
    check_inputs(spec, x)
    named = _named_arrays(params, x, labels)
    _check_plain(named)
    _check_libraries(named, bk, backend)
    if labels is not None:
        check_labels(spec, labels, batch=x.shape[0], backend=bk)
    for where, array in named:
        if where == "labels" and spec.loss == "sparse_categorical_crossentropy":
            continue  # integers, finite by construction
        _check_finite(array, bk, where)
    return params


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise InputTypeError(
            f"{name} must be True or False; received {value!r} "
            f"({type(value).__name__})."
        )


def _named_arrays(params: Params, x: Any, labels: Any) -> list[tuple[str, Any]]:
    named = [("x", x)]
    if labels is not None:
        named.append(("labels", labels))
    for layer, (W, b) in enumerate(params, start=1):
        named += [(f"params: layer {layer} W", W), (f"params: layer {layer} b", b)]
    return named


def _check_plain(named: list[tuple[str, Any]]) -> None:
    """Refuse numpy's subclasses: ``np.matrix`` keeps every row 2-D and
    multiplies as matrices, a masked array computes around its mask; the
    engine's arithmetic means neither."""
    for where, array in named:
        if isinstance(array, np.ndarray) and type(array) is not np.ndarray:
            name = _bare(where).rsplit(" ", 1)[-1]
            raise InputTypeError(
                f"{where} is a {type(array).__module__}.{type(array).__name__}, "
                "a numpy subclass whose arithmetic differs from a plain "
                f"array's; pass np.asarray({name}) (for a masked array, fill "
                "or drop the masked entries first)."
            )


ARRAY_KINDS = {
    "numpy": "numpy array",
    "cupy": "CuPy array",
    "tensorflow": "TensorFlow tensor",
}


def _check_libraries(
    named: list[tuple[str, Any]], bk: Backend, backend: str | Backend | None
) -> None:
    """Every array must belong to ``bk`` (TensorFlow also takes numpy's)."""
    if bk.name not in BACKENDS:
        return  # a namespace of the caller's own: it knows its arrays
    for where, array in named:
        if not is_array(array):
            continue  # refused by the shape checks, with their own message
        owner = backend_of(array).name
        if owner == bk.name or (bk.name == "tensorflow" and owner == "numpy"):
            continue
        name = where.rsplit(" ", 1)[-1]
        if bk.name == "numpy":
            convert = (
                f"cupy.asnumpy({name})" if owner == "cupy" else f"np.asarray({name})"
            )
        elif bk.name == "cupy":
            convert = f"cupy.asarray({name})"
        else:
            convert = f"tf.convert_to_tensor({name})"
        if backend is None:
            chosen = f"chosen from x, a {ARRAY_KINDS[backend_of(named[0][1]).name]}"
        else:
            chosen = f"backend={bk.name!r}"
        if owner == "tensorflow":
            other = "backend='tensorflow' (which takes numpy arrays too)"
        else:
            other = f"backend='{owner}' with every array a {ARRAY_KINDS[owner]}"
        raise InputTypeError(
            f"{where} is a {ARRAY_KINDS[owner]} but the computation runs "
            f"on {bk.name} ({chosen}); convert it with {convert}, or pass "
            f"{other}."
        )


def _check_finite(array: Any, bk: Backend, where: str) -> None:
    """Refuse NaN and infinities: one ``isfinite(…).all()`` pass per array."""
    if isinstance(array, np.ndarray):
        if np.isfinite(array).all():
            return
        values = array
    else:
        xp = bk.xp
        try:
            # The backend's own reduction; only its one boolean is copied.
            if bool(bk.to_numpy(xp.all(xp.isfinite(array)))):
                return
            values = np.asarray(bk.to_numpy(array))
        except (TypeError, NotImplementedError):
            # A symbolic tensor (TensorFlow inside tf.function) has no values
            # until the graph runs, so finiteness cannot be checked here: the
            # check is skipped; check the arrays eagerly before tracing.
            return
    bad = ~np.isfinite(values)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    if where.startswith("params"):
        fix = (
            "Parameters go non-finite when training diverges (try a lower "
            "learning rate) or come from a broken file."
        )
    else:
        fix = "Fix or drop those examples."
    raise NonFiniteError(
        f"{where} holds {int(bad.sum())} NaN or infinite value(s) of "
        f"{values.size} (the first at index {first}); the engine needs finite "
        f"numbers. {fix}"
    )


def _not_an_array(argument: str, value: Any, dtype: str) -> InputTypeError:
    return InputTypeError(
        f"{argument} must be an array (a numpy or CuPy array or a TensorFlow "
        f"tensor); received a {type(value).__name__}. Convert it with "
        f"np.asarray({_bare(argument)}, dtype='{dtype}')."
    )


def _bare(argument: str) -> str:
    """The array's own name for suggested code: ``x`` of ``"FILE: x"``."""
    return argument.rsplit(": ", 1)[-1]


def check_inputs(spec: NetworkSpec, x: Any, argument: str = "x") -> None:
    """``x`` must be ``(B, n_0)`` with ``B ≥ 1`` in the description's dtype."""
    if not is_array(x):
        raise _not_an_array(argument, x, spec.dtype)
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 2 or shape[1] != spec.n_inputs or shape[0] < 1:
        raise ShapeError(
            f"{argument} has shape {shape}; expected (batch, {spec.n_inputs}) "
            f"with batch ≥ 1, one example per row. A single example needs "
            f"reshaping to (1, {spec.n_inputs})."
        )
    dtype = _dtype_name(x)
    if dtype != spec.dtype:
        raise DTypeError(
            f"{argument} has dtype {dtype} but the network is {spec.dtype}; "
            f"cast it with {cast_hint(x, spec.dtype, _bare(argument))} (nothing is "
            "cast silently)."
        )


def check_labels(
    spec: NetworkSpec,
    labels: Any,
    batch: int,
    backend: Backend | None = None,
    argument: str = "labels",
) -> None:
    """Labels must fit the loss: shape, dtype and, for sparse, the range."""
    sparse = spec.loss == "sparse_categorical_crossentropy"
    if not is_array(labels):
        raise _not_an_array(argument, labels, "int64" if sparse else spec.dtype)
    shape = tuple(getattr(labels, "shape", ()))
    dtype = _dtype_name(labels)

    if sparse:
        if shape != (batch,):
            raise ShapeError(
                f"{argument} has shape {shape}; sparse categorical "
                f"cross-entropy needs ({batch},), one class index per example."
            )
        if not dtype.startswith(("int", "uint")):
            raise DTypeError(
                f"{argument} has dtype {dtype}; sparse categorical "
                "cross-entropy needs integer class indices."
            )
        values = (backend or backend_of(labels)).to_numpy(labels)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= spec.n_outputs:
            raise LabelError(
                f"{argument} holds class indices {low} … {high} but the last "
                f"layer has {spec.n_outputs} unit(s); indices must lie in "
                f"0 … {spec.n_outputs - 1}."
            )
        return

    if shape != (batch, spec.n_outputs):
        raise ShapeError(
            f"{argument} has shape {shape}; the loss {spec.loss} needs "
            f"({batch}, {spec.n_outputs}), the shape of the last layer's output."
        )
    if dtype != spec.dtype:
        raise DTypeError(
            f"{argument} has dtype {dtype} but the network is {spec.dtype}; "
            f"cast it with {cast_hint(labels, spec.dtype, _bare(argument))}."
        )
    if spec.loss == "categorical_crossentropy":
        _check_distributions(spec, labels, backend, argument)


def _check_distributions(
    spec: NetworkSpec, labels: Any, backend: Backend | None, argument: str
) -> None:
    """Categorical cross-entropy reads every label row as a distribution.

    A negative label is no probability.  And on the fused and logits paths
    the gradient is TensorFlow's kernel's ``softmax(z) − t``, the derivative
    of the loss only where ``Σ t = 1`` (it is ``(Σ t) softmax(z) − t``
    otherwise): rows that do not sum to 1 would give a δⁿ that is not
    ``∂L/∂z_n``, and TensorFlow, making the same assumption, would agree
    with it.  Multi-hot labels belong to binary cross-entropy.
    """
    try:
        values = np.asarray((backend or backend_of(labels)).to_numpy(labels))
    except (TypeError, NotImplementedError):
        return  # a symbolic tensor inside tf.function: no values to read
    if values.size == 0:
        return
    fix = (
        "normalise each row (labels / labels.sum(axis=1, keepdims=True)), or "
        "for several true classes per example use binary_crossentropy on "
        "sigmoid outputs"
    )
    if values.min() < 0:
        row = int(np.argwhere(values < 0)[0][0])
        raise LabelError(
            f"{argument} row {row} holds a negative value "
            f"({values[row].min():g}); categorical cross-entropy reads each "
            "row as probabilities, which are ≥ 0: pass one-hot rows or "
            "rows of probabilities."
        )
    if spec.loss_path == "probabilities":
        return  # −Σ t log p: its gradient −t / p holds for any t ≥ 0
    sums = values.sum(axis=1, dtype=np.float64)
    # float32's √ε (3.5e-4) in either dtype: float64 labels often come from
    # float32 data (the float64 twin of a float32 check, for one), whose
    # rows sum to 1 only within float32's round-off.
    tolerance = math.sqrt(np.finfo(np.float32).eps)
    off = np.abs(sums - 1) > tolerance
    if off.any():
        row = int(np.flatnonzero(off)[0])
        if spec.loss_path == "fused":
            fix += ', or set "fused": false for the clipped-probability formula'
        raise LabelError(
            f"{argument} row {row} sums to {sums[row]:.6g} ({int(off.sum())} "
            f"of {len(sums)} rows differ from 1 by more than {tolerance:.2g}); "
            f"on the {spec.loss_path} path the gradient softmax(z) − t "
            "(TensorFlow's kernel, matched here) is the derivative of the loss "
            f"only for rows that sum to 1. To fix: {fix}."
        )


def _dtype_name(array: Any) -> str:
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        return type(array).__name__
    return getattr(dtype, "name", str(dtype))
