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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import activations, losses
from .backend import Backend, backend_of, get_backend
from .errors import DTypeError, LabelError, ShapeError
from .params import LayerParams, Params, check_params
from .spec import NetworkSpec


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
    last).  ``layers`` is the same as a plain 0-based tuple.
    """

    loss: Any
    outputs: Any
    layers: tuple[LayerGradients, ...]
    input_grad: Any  # ∂L/∂x, or None if backward was told to skip it

    def __getitem__(self, layer: int) -> LayerGradients:
        n = len(self.layers)
        if layer < 0:
            layer += n + 1
        if not 1 <= layer <= n:
            raise IndexError(
                f"layers are numbered 1 … {n} as in the notes; received {layer}."
            )
        return self.layers[layer - 1]

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
    """Run the network on a batch ``x`` of shape ``(B, n_0)``."""
    bk = resolve_backend(x, backend)
    if check:
        params = check_params(spec, params)
        check_inputs(spec, x)

    with _quiet(bk):
        return _forward(spec, params, x, bk)


def _forward(spec: NetworkSpec, params: Params, x: Any, bk: Backend) -> ForwardPass:
    xp = bk.xp
    zs, ys = [], []
    x_l = x
    for (W, b), act in zip(params, spec.activations, strict=True):
        z = xp.matmul(x_l, xp.transpose(W)) + b
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
        check: validate shapes, dtypes and labels first (cheap; turn off
            only in a loop over inputs already checked).
        input_grad: also form ``∂L/∂x = W_1ᵀ δ¹``.  A training step does
            not need it, and on a wide first layer it is a third of the
            step's matrix products; with ``False``,
            :attr:`Gradients.input_grad` is ``None``.

    Returns:
        :class:`Gradients`: the loss, the outputs, every ``δˡ`` and
        parameter gradient, and ``∂L/∂x``.
    """
    bk = resolve_backend(x, backend)
    if check:
        params = check_params(spec, params)
        check_inputs(spec, x)
        check_labels(spec, labels, batch=x.shape[0], backend=bk)

    with _quiet(bk):
        return _backward(spec, params, x, labels, bk, input_grad)


def _backward(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    bk: Backend,
    input_grad: bool = True,
) -> Gradients:
    xp = bk.xp
    fwd = _forward(spec, params, x, bk)
    loss = loss_value(spec, fwd, labels, bk)

    delta = output_delta(spec, fwd, labels, bk)
    layers: list[LayerGradients] = []
    g = None
    for layer in range(spec.depth, 0, -1):
        W, _ = params[layer - 1]
        x_l = fwd.layer_input(layer)

        weight_grad = xp.matmul(xp.transpose(delta), x_l)
        bias_grad = xp.sum(delta, axis=0)
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
    return Gradients(loss, fwd.outputs, tuple(layers), g if input_grad else None)


def check_inputs(spec: NetworkSpec, x: Any, argument: str = "x") -> None:
    """``x`` must be ``(B, n_0)`` with ``B ≥ 1`` in the description's dtype."""
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
            f"cast it with .astype('{spec.dtype}') (nothing is cast silently)."
        )


def check_labels(
    spec: NetworkSpec,
    labels: Any,
    batch: int,
    backend: Backend | None = None,
    argument: str = "labels",
) -> None:
    """Labels must fit the loss: shape, dtype and, for sparse, the range."""
    shape = tuple(getattr(labels, "shape", ()))
    dtype = _dtype_name(labels)

    if spec.loss == "sparse_categorical_crossentropy":
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
            f"cast it with .astype('{spec.dtype}')."
        )


def _dtype_name(array: Any) -> str:
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        return type(array).__name__
    return getattr(dtype, "name", str(dtype))
