"""Losses with Keras's definitions and its default reduction.

``L = (1/B) Σ_b ℓ(y_b, t_b)``: Keras's ``"sum_over_batch_size"`` reduction,
the sum of per-example losses divided by the batch size ``B``.  Where Keras
takes a mean over the output axis inside ``ℓ`` (mean squared error, mean
absolute error, Huber, binary cross-entropy), so does this module: the
gradient of those carries a factor ``1/(B·n_out)``.

Each loss offers ``value`` (the scalar ``L``), ``per_example`` (the ``ℓ_b``)
and ``gradient`` (``∂L/∂y``, shape ``(B, n_out)``).  The cross-entropies
also have a logits form, ``logits_value`` and ``logits_gradient``, taking
``∂L/∂z`` directly; the engine uses it for ``from_logits=True`` and for
Keras's fused output path (see ``NetworkSpec.fused``).

Conventions matched, from Keras 3's and TensorFlow's sources:

* Cross-entropy on probabilities clips them to ``[ε, 1 − ε]`` with
  ``ε = 1e-7`` (``keras.backend.epsilon()``); the bounds are rounded to the
  dtype (``1 − ε`` is 0.99999988 in float32).  TensorFlow's clip passes the
  gradient at the bounds themselves and none beyond them.
* Categorical cross-entropy first rescales each row to sum to 1, then clips.
  Sparse categorical cross-entropy clips first and then normalises (it
  feeds ``log p`` to the sparse logits kernel), so the two differ.
* The logits forms' gradients are TensorFlow's kernels': ``softmax(z) − t``
  and ``sigmoid(z) − t``.  The softmax one is the true derivative only for
  label rows that sum to 1, as one-hot and soft labels do; the engine's
  label check (``engine.check_labels``) refuses other rows on those paths.
* Mean absolute error's gradient at a zero error is 0 (``sign(0)``).
* Huber uses the quadratic branch where ``|e| ≤ delta``.
"""

from __future__ import annotations

from typing import Any

from .spec import NetworkSpec

EPSILON = 1e-7  # keras.backend.epsilon()


def _clip_bounds(xp: Any, like: Any) -> tuple[Any, Any]:
    dtype = like.dtype
    return xp.asarray(EPSILON, dtype=dtype), xp.asarray(1.0 - EPSILON, dtype=dtype)


def _inside(xp: Any, p: Any, lo: Any, hi: Any) -> Any:
    """1 where the clip passes the gradient (bounds included), else 0."""
    return xp.asarray((p >= lo) & (p <= hi), dtype=p.dtype)


def one_hot(xp: Any, labels: Any, n_classes: int, like: Any) -> Any:
    """Integer labels ``(B,)`` as one-hot rows ``(B, n_classes)``."""
    classes = xp.arange(n_classes, dtype=labels.dtype)
    return xp.asarray(labels[:, None] == classes[None, :], dtype=like.dtype)


# Per-example losses ℓ_b on the network output y (the "probabilities" path).


def per_example(spec: NetworkSpec, y: Any, t: Any, xp: Any) -> Any:
    """``ℓ_b`` for every example, shape ``(B,)``."""
    name = spec.loss

    if name == "mean_squared_error":
        return xp.mean((t - y) ** 2, axis=-1)

    if name == "mean_absolute_error":
        return xp.mean(xp.abs(t - y), axis=-1)

    if name == "huber":
        d = spec.huber_delta
        e = y - t
        a = xp.abs(e)
        return xp.mean(xp.where(a <= d, 0.5 * e * e, d * a - 0.5 * d * d), axis=-1)

    lo, hi = _clip_bounds(xp, y)

    if name == "binary_crossentropy":
        p = xp.clip(y, lo, hi)
        return -xp.mean(t * xp.log(p) + (1 - t) * xp.log(1 - p), axis=-1)

    if name == "categorical_crossentropy":
        p = xp.clip(y / xp.sum(y, axis=-1, keepdims=True), lo, hi)
        return -xp.sum(t * xp.log(p), axis=-1)

    # sparse_categorical_crossentropy: clip, then normalise.
    p = xp.clip(y, lo, hi)
    onehot = one_hot(xp, t, y.shape[-1], y)
    return xp.log(xp.sum(p, axis=-1)) - xp.log(xp.sum(onehot * p, axis=-1))


def gradient(spec: NetworkSpec, y: Any, t: Any, xp: Any) -> Any:
    """``∂L/∂y`` of the batch-mean loss, shape ``(B, n_out)``."""
    name = spec.loss
    batch, n_out = y.shape

    if name == "mean_squared_error":
        return (2 / (batch * n_out)) * (y - t)

    if name == "mean_absolute_error":
        return xp.sign(y - t) / (batch * n_out)

    if name == "huber":
        d = spec.huber_delta
        e = y - t
        return xp.where(xp.abs(e) <= d, e, d * xp.sign(e)) / (batch * n_out)

    lo, hi = _clip_bounds(xp, y)

    if name == "binary_crossentropy":
        p = xp.clip(y, lo, hi)
        g = (1 - t) / (1 - p) - t / p
        return g * _inside(xp, y, lo, hi) / (batch * n_out)

    if name == "categorical_crossentropy":
        s = xp.sum(y, axis=-1, keepdims=True)
        q = y / s
        p = xp.clip(q, lo, hi)
        g_q = -t / p * _inside(xp, q, lo, hi)
        g_y = (g_q - xp.sum(g_q * q, axis=-1, keepdims=True)) / s
        return g_y / batch

    # sparse_categorical_crossentropy: ℓ = log Σp − log p_c with p = clip(y).
    p = xp.clip(y, lo, hi)
    onehot = one_hot(xp, t, n_out, y)
    g_p = 1 / xp.sum(p, axis=-1, keepdims=True) - onehot / p
    return g_p * _inside(xp, y, lo, hi) / batch


# The logits forms of the cross-entropies: ℓ and ∂L/∂z from logits z.


def logits_per_example(spec: NetworkSpec, z: Any, t: Any, xp: Any) -> Any:
    """``ℓ_b`` with the network output read as logits, shape ``(B,)``."""
    name = spec.loss

    if name == "binary_crossentropy":
        terms = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.mean(terms, axis=-1)

    m = xp.max(z, axis=-1, keepdims=True)
    log_sum = xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))
    log_softmax = z - m - log_sum

    if name == "categorical_crossentropy":
        return -xp.sum(t * log_softmax, axis=-1)

    onehot = one_hot(xp, t, z.shape[-1], z)
    return -xp.sum(onehot * log_softmax, axis=-1)


def logits_gradient(spec: NetworkSpec, z: Any, t: Any, xp: Any) -> Any:
    """``∂L/∂z`` of the batch-mean loss on logits, shape ``(B, n_out)``."""
    name = spec.loss
    batch, n_out = z.shape

    if name == "binary_crossentropy":
        return (1 / (1 + xp.exp(-z)) - t) / (batch * n_out)

    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    softmax = e / xp.sum(e, axis=-1, keepdims=True)

    if name == "categorical_crossentropy":
        return (softmax - t) / batch

    return (softmax - one_hot(xp, t, n_out, z)) / batch


def reduce(per_example_losses: Any, xp: Any) -> Any:
    """Keras's ``sum_over_batch_size``: the sum divided by the batch size."""
    return xp.sum(per_example_losses) / per_example_losses.shape[0]
