"""The engine's losses, as Keras defines them (``keras.losses``).

Mirrors ``manual_backprop/losses.py``.  Every loss object is built with the
network's dtype: Keras loss objects otherwise cast their inputs to
``keras.config.floatx()`` (float32), so a float64 check would silently run
its loss in float32.
"""

from __future__ import annotations

from typing import Any

import keras

from manual_backprop.spec import NetworkSpec

_CLASSES = {
    "mean_squared_error": keras.losses.MeanSquaredError,
    "mean_absolute_error": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
}


def keras_loss(spec: NetworkSpec, from_logits: bool) -> Any:
    """A Keras loss object with its default reduction, in ``spec.dtype``."""
    cls = _CLASSES[spec.loss]
    kwargs: dict[str, Any] = {"dtype": spec.dtype}
    if spec.loss == "huber":
        kwargs["delta"] = spec.huber_delta
    if spec.loss.endswith("crossentropy"):
        kwargs["from_logits"] = from_logits
    return cls(**kwargs)


def loss_on_output(spec: NetworkSpec, labels: Any, z: Any, y: Any) -> Any:
    """``L`` by the path the description names.

    * fused: the logits form of the loss on ``z_n`` — what Keras does when
      its sigmoid or softmax output carries cached logits;
    * logits: the logits form on ``y_n`` (``from_logits=True``), also
      through ``tf.identity``;
    * probabilities: the loss on ``y_n`` through ``tf.identity``, which
      drops the cached logits so that Keras cannot fuse behind our back.
    """
    import tensorflow as tf

    if spec.loss_path == "fused":
        return keras_loss(spec, from_logits=True)(labels, z)
    if spec.loss_path == "logits":
        return keras_loss(spec, from_logits=True)(labels, tf.identity(y))
    return keras_loss(spec, from_logits=False)(labels, tf.identity(y))
