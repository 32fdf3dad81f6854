"""The engine's activations, as Keras defines them (``keras.activations``).

Mirrors ``manual_backprop/activations.py``: the same names, each mapped to
the Keras function a user would pass to ``Dense(activation=…)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from manual_backprop.spec import Activation


def keras_activation(act: Activation) -> Callable[[Any], Any]:
    """The Keras function for ``act``, its parameter bound."""
    name = act.name
    ka = keras.activations

    if name == "leaky_relu":
        return lambda z: ka.leaky_relu(z, negative_slope=act.negative_slope)
    if name == "elu":
        return lambda z: ka.elu(z, alpha=act.alpha)
    if name == "gelu":
        return lambda z: ka.gelu(z, approximate=False)
    if name == "gelu_tanh":
        return lambda z: ka.gelu(z, approximate=True)

    return getattr(ka, name)
