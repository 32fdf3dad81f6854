"""The engine's twin, built in TensorFlow with Keras's own definitions.

From the same ``NetworkSpec`` and the same parameter arrays, it computes the
loss, the outputs, every ``δˡ`` (the tape watches every ``z_l``), every
parameter gradient and ``∂L/∂x`` with ``tf.GradientTape``, and returns them
in the engine's layout.  Nothing here re-implements an activation, a loss or
an optimizer: they are ``keras.activations``, ``keras.losses`` and
``keras.optimizers.SGD``.

Importing this package imports TensorFlow (a few seconds, once).
"""

from ._quiet import quiet_tensorflow

quiet_tensorflow()

from .network import (  # noqa: E402
    EXECUTION_MODES,
    execution_mode_note,
    reference_forward,
    reference_gradients,
)
from .optimizers import keras_sgd  # noqa: E402

__all__ = [
    "EXECUTION_MODES",
    "execution_mode_note",
    "keras_sgd",
    "reference_forward",
    "reference_gradients",
]
