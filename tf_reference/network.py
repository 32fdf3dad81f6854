"""The network and its gradients under ``tf.GradientTape``.

Layer ``l`` computes Keras's Dense: ``z_l = x_l · K_l + b_l`` with the
kernel ``K_l = W_lᵀ`` of shape ``(n_{l-1}, n_l)``, then ``y_l = f(z_l)``
with the Keras activation.  The tape is asked for ``∂L/∂z_l`` (so every
``δˡ`` comes from TensorFlow, not from our recursion), ``∂L/∂K_l`` (given
back transposed, as ``∂L/∂W_l``), ``∂L/∂b_l`` and ``∂L/∂x``.

Execution modes:

* ``"function"`` (the default): each layer (Dense and its activation) and
  the loss run as ``tf.function``s whose every dimension is ``None`` in
  their input signatures.  One trace serves every width and batch size, and
  because the pieces are traced apart, a network of any depth and any mix
  of activations reuses them: at most one trace per activation (with its
  parameter) and dtype, and one per loss, loss path and dtype.  The tape
  runs around the pieces and differentiates through each call.
* ``"eager"``: the same Python code run op by op.

Both modes give the same numbers here because the loss path is explicit
(see ``losses.loss_on_output``).  Left to itself, Keras decides whether to
fuse a sigmoid or softmax into a cross-entropy from attributes and op types
that differ between eager tensors and traced graphs: with raw ``tf.nn``
activations, eager code takes the clipped-probability path and traced code
the logits path, and on saturated outputs the two disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from manual_backprop.engine import ForwardPass, Gradients, LayerGradients
from manual_backprop.params import Params, check_params
from manual_backprop.spec import Activation, NetworkSpec

from .activations import keras_activation
from .losses import loss_on_output

EXECUTION_MODES = ("function", "eager")


def execution_mode_note(mode: str) -> str:
    """One sentence saying how the reference ran."""
    if mode == "function":
        return (
            "tf.function per layer and per loss, None dimensions, "
            "GradientTape around them"
        )
    return "eager GradientTape, op by op"


def _check_mode(mode: str) -> None:
    if mode not in EXECUTION_MODES:
        from manual_backprop.errors import ManualBackpropError

        raise ManualBackpropError(
            f"mode must be one of {', '.join(EXECUTION_MODES)}; received {mode!r}."
        )


def _dense(x: Any, K: Any, b: Any) -> Any:
    """Keras's Dense before its activation: ``x · K + b``."""
    import keras

    return keras.ops.add(keras.ops.matmul(x, K), b)


def _eager_pieces(spec: NetworkSpec) -> tuple[Any, list[Any], Any]:
    acts = [keras_activation(act) for act in spec.activations]
    return _dense, acts, lambda t, z, y: loss_on_output(spec, t, z, y)


def _taped(
    x: Any,
    labels: Any,
    kernels: list[Any],
    biases: list[Any],
    pieces: tuple[Any, list[Any], Any],
) -> tuple[Any, ...]:
    dense, acts, loss_fn = pieces
    with tf.GradientTape() as tape:
        tape.watch([x, *kernels, *biases])
        zs, ys = [], []
        x_l = x
        for f, K, b in zip(acts, kernels, biases, strict=True):
            z = dense(x_l, K, b)
            y = f(z)
            zs.append(z)
            ys.append(y)
            x_l = y
        loss = loss_fn(labels, zs[-1], ys[-1])

    deltas, d_kernels, d_biases, d_x = tape.gradient(loss, [zs, kernels, biases, x])
    return loss, zs, ys, deltas, d_kernels, d_biases, d_x


# Traced pieces: one Dense per dtype, one activation per (activation, its
# parameter, dtype) and one loss per (loss, loss path, Huber delta, dtype).
# Every dimension is None in their signatures, so a new width or batch size
# never retraces.  Dense and activation are traced apart so that each z_l
# is a tensor the tape sees between them, and ∂L/∂z_l can be asked for.
_DENSE: dict[str, Any] = {}
_ACTIVATIONS: dict[tuple[Any, ...], Any] = {}
_LOSSES: dict[tuple[Any, ...], Any] = {}


def _traced_dense(dtype: str) -> Any:
    if dtype not in _DENSE:
        tf_dtype = tf.as_dtype(dtype)
        signature = [
            tf.TensorSpec([None, None], tf_dtype),
            tf.TensorSpec([None, None], tf_dtype),
            tf.TensorSpec([None], tf_dtype),
        ]
        _DENSE[dtype] = tf.function(_dense, input_signature=signature)
    return _DENSE[dtype]


def _traced_activation(act: Activation, dtype: str) -> Any:
    key = (act, dtype)
    if key not in _ACTIVATIONS:
        signature = [tf.TensorSpec([None, None], tf.as_dtype(dtype))]
        _ACTIVATIONS[key] = tf.function(
            keras_activation(act), input_signature=signature
        )
    return _ACTIVATIONS[key]


def _traced_loss(spec: NetworkSpec) -> Any:
    key = (spec.loss, spec.loss_path, spec.huber_delta, spec.dtype)
    if key not in _LOSSES:
        tf_dtype = tf.as_dtype(spec.dtype)
        sparse = spec.loss == "sparse_categorical_crossentropy"
        labels = (
            tf.TensorSpec([None], tf.int64)
            if sparse
            else tf.TensorSpec([None, None], tf_dtype)
        )
        signature = [
            labels,
            tf.TensorSpec([None, None], tf_dtype),
            tf.TensorSpec([None, None], tf_dtype),
        ]

        def loss(t: Any, z: Any, y: Any) -> Any:
            return loss_on_output(spec, t, z, y)

        _LOSSES[key] = tf.function(loss, input_signature=signature)
    return _LOSSES[key]


def _traced_pieces(spec: NetworkSpec) -> tuple[Any, list[Any], Any]:
    dense = _traced_dense(spec.dtype)
    acts = [_traced_activation(act, spec.dtype) for act in spec.activations]
    return dense, acts, _traced_loss(spec)


def _to_tensors(
    spec: NetworkSpec, params: Params, x: Any, labels: Any
) -> tuple[Any, Any, list[Any], list[Any]]:
    dtype = tf.as_dtype(spec.dtype)
    kernels = [
        tf.constant(np.ascontiguousarray(np.asarray(W).T), dtype) for W, _ in params
    ]
    biases = [tf.constant(np.asarray(b), dtype) for _, b in params]
    tx = tf.constant(np.asarray(x), dtype)
    if spec.loss == "sparse_categorical_crossentropy":
        tlabels = tf.constant(np.asarray(labels), tf.int64)
    else:
        tlabels = tf.constant(np.asarray(labels), dtype)
    return tx, tlabels, kernels, biases


def reference_gradients(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    *,
    mode: str = "function",
) -> Gradients:
    """Loss, outputs and every gradient from TensorFlow, in the engine's layout.

    Args:
        spec: the network description (its dtype is the computation's dtype,
            float64 included, end to end).
        params: ``(W_l, b_l)`` pairs in the engine's layout, ``W_l`` of shape
            ``(n_l, n_{l-1})``.
        x, labels: as for ``manual_backprop.backward``.
        mode: ``"function"`` or ``"eager"`` (see the module docstring).

    Returns:
        ``manual_backprop.Gradients`` holding numpy arrays.
    """
    _check_mode(mode)
    params = check_params(spec, params)
    tx, tlabels, kernels, biases = _to_tensors(spec, params, x, labels)

    pieces = _traced_pieces(spec) if mode == "function" else _eager_pieces(spec)
    out = _taped(tx, tlabels, kernels, biases, pieces)

    loss, zs, ys, deltas, d_kernels, d_biases, d_x = out
    layers = tuple(
        LayerGradients(
            pre_activation=z.numpy(),
            output=y.numpy(),
            delta=d.numpy(),
            weight_grad=np.ascontiguousarray(dK.numpy().T),
            bias_grad=db.numpy(),
        )
        for z, y, d, dK, db in zip(zs, ys, deltas, d_kernels, d_biases, strict=True)
    )
    return Gradients(loss.numpy(), ys[-1].numpy(), layers, d_x.numpy())


def reference_forward(
    spec: NetworkSpec, params: Params, x: Any, *, mode: str = "eager"
) -> ForwardPass:
    """``z_l`` and ``y_l`` of every layer from TensorFlow (no loss, no tape)."""
    _check_mode(mode)
    params = check_params(spec, params)
    dtype = tf.as_dtype(spec.dtype)
    kernels = [tf.constant(np.asarray(W).T, dtype) for W, _ in params]
    biases = [tf.constant(np.asarray(b), dtype) for _, b in params]
    zs, ys = [], []
    x_l = tf.constant(x, dtype)
    for act, K, b in zip(spec.activations, kernels, biases, strict=True):
        z = _dense(x_l, K, b)
        x_l = keras_activation(act)(z)
        zs.append(z.numpy())
        ys.append(x_l.numpy())
    return ForwardPass(x, tuple(zs), tuple(ys))
