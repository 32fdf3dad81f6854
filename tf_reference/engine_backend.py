"""The hand-written engine computing on TensorFlow tensors (no tape).

``manual_backprop`` is written once against a numpy-like namespace ``xp``.
This module gives it one over TensorFlow tensors, so the same delta
recursion runs wherever TensorFlow places its tensors (CPU or GPU), eagerly
or traced inside ``tf.function`` (no ``GradientTape`` is involved: every
gradient is the engine's own arithmetic).  ``manual_backprop.backend`` loads
``BACKEND`` from here lazily, so the engine itself never imports TensorFlow.

The namespace is ``tf.experimental.numpy`` with a few functions replaced
where its behaviour differs from numpy's in a way the engine would notice.
Python scalars mixed with tensors (``1 + t``, ``0.2 * t``) take the tensor's
dtype, so float32 stays float32 and float64 stays float64.

Known shortcomings, stated where a user meets them:

* Inside ``tf.function`` the shapes must be static (trace with concrete
  shapes, not ``None`` batch dimensions): the losses read ``y.shape`` as
  Python integers.
* Inside ``tf.function`` call the engine with ``check=False``: checking
  sparse labels reads their values, which a traced tensor does not have.
  Check once eagerly before tracing instead.
* Sparse categorical labels must be int64 (``tf.experimental.numpy``'s
  ``arange`` dtype), because TensorFlow does not compare int32 with int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from manual_backprop.backend import Backend

_tnp = tf.experimental.numpy


class TensorNamespace:
    """``tf.experimental.numpy`` as the engine's ``xp``.

    Every name not defined here is looked up in ``tf.experimental.numpy``.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(_tnp, name)

    @staticmethod
    def asarray(value: Any, dtype: Any = None) -> Any:
        """``value`` as a tensor; with ``dtype``, cast (booleans become 0/1)."""
        tensor = tf.convert_to_tensor(value)
        if dtype is None or tensor.dtype == dtype:
            return tensor
        return tf.cast(tensor, dtype)

    @staticmethod
    def transpose(a: Any) -> Any:
        """The matrix transpose (the engine only transposes 2-D arrays)."""
        return tf.transpose(a)

    @staticmethod
    def matmul(a: Any, b: Any, out: Any = None) -> Any:
        return tf.linalg.matmul(a, b)  # out: ignored, as below

    @staticmethod
    def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_sum(a, axis=axis, keepdims=keepdims)

    # The elementwise functions the engine calls with ``out=``: tensors are
    # immutable, so ``out`` is ignored and the result is a new tensor, which
    # the engine always takes (see ``manual_backprop.backend``).

    @staticmethod
    def exp(a: Any, out: Any = None) -> Any:
        return tf.math.exp(a)

    @staticmethod
    def negative(a: Any, out: Any = None) -> Any:
        return tf.math.negative(a)

    @staticmethod
    def reciprocal(a: Any, out: Any = None) -> Any:
        return 1 / a  # a division, as numpy's reciprocal is for floats

    @staticmethod
    def subtract(a: Any, b: Any, out: Any = None) -> Any:
        return a - b  # Python's operator: a scalar takes the tensor's dtype


def to_tensor(array: Any) -> tf.Tensor:
    """A numpy array (or anything array-like) as a tensor of the same dtype."""
    return tf.convert_to_tensor(array)


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor's values as a numpy array (eager tensors only)."""
    if isinstance(tensor, np.ndarray):
        return tensor
    return np.asarray(tensor)


BACKEND = Backend(
    "tensorflow",
    xp=TensorNamespace(),
    erfc=tf.math.erfc,
    batch_sum=lambda a, out=None: tf.reduce_sum(a, axis=0),
    asarray=to_tensor,
    to_numpy=to_numpy,
)
