"""SGD steps by ``keras.optimizers.SGD`` itself.

Mirrors ``manual_backprop/optimizers.py``.  The parameters live in
``tf.Variable``s in Keras's layout (kernels ``W_lᵀ``); every step takes its
gradients from the tape (``network.reference_gradients``) and hands them to
``optimizer.apply_gradients``, which runs Keras's own update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from manual_backprop.params import LayerParams, Params, check_params
from manual_backprop.spec import NetworkSpec

from .network import reference_gradients


def keras_sgd(
    spec: NetworkSpec,
    params: Params,
    batches: Sequence[tuple[Any, Any]],
    *,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    mode: str = "function",
) -> Params:
    """One Keras SGD step per ``(x, labels)`` batch; the final parameters."""
    params = check_params(spec, params)
    kernels = [tf.Variable(np.asarray(W).T.copy(), dtype=spec.dtype) for W, _ in params]
    biases = [tf.Variable(np.asarray(b).copy(), dtype=spec.dtype) for _, b in params]
    variables = [v for pair in zip(kernels, biases, strict=True) for v in pair]

    optimizer = keras.optimizers.SGD(
        learning_rate=learning_rate, momentum=momentum, nesterov=nesterov
    )

    current = params
    for x, labels in batches:
        grads = reference_gradients(spec, current, x, labels, mode=mode)
        tape_grads = []
        for layer in grads.layers:
            tape_grads.append(tf.constant(layer.weight_grad.T, spec.dtype))
            tape_grads.append(tf.constant(layer.bias_grad, spec.dtype))
        optimizer.apply_gradients(zip(tape_grads, variables, strict=True))
        current = tuple(
            LayerParams(K.numpy().T.copy(), b.numpy().copy())
            for K, b in zip(kernels, biases, strict=True)
        )
    return current
