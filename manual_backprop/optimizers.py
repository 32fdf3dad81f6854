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

from typing import Any

import numpy as np

from .errors import ManualBackpropError
from .params import LayerParams, Params


class SGD:
    """Keras's SGD: plain, with momentum, or Nesterov.

    ``step`` returns new parameters and keeps the velocities between calls,
    as one Keras optimizer does for one model.
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if not learning_rate > 0:
            raise ManualBackpropError(
                f"learning_rate must be positive; received {learning_rate}."
            )
        if not 0 <= momentum <= 1:
            raise ManualBackpropError(
                f"momentum must lie in [0, 1]; received {momentum}."
            )
        if nesterov and momentum == 0:
            raise ManualBackpropError(
                "nesterov=True needs a momentum above 0; received momentum=0."
            )
        # Keras stores η as float32 whatever the parameters' dtype.
        self.learning_rate = float(np.float32(learning_rate))
        # ... and casts μ through a float32 tensor (see the module docstring).
        self.momentum = float(np.float32(momentum))
        self.nesterov = bool(nesterov)
        self.velocities: list[Any] | None = None

    def __repr__(self) -> str:
        return (
            f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum}, "
            f"nesterov={self.nesterov})"
        )

    def step(self, params: Params, grads: Params) -> Params:
        """One update of every ``W_l`` and ``b_l`` from its gradient."""
        flat = [p for pair in params for p in pair]
        flat_grads = [g for pair in grads for g in pair]
        eta, mu = self.learning_rate, self.momentum

        if mu == 0:
            new = [w - eta * g for w, g in zip(flat, flat_grads, strict=True)]
        else:
            if self.velocities is None:
                self.velocities = [0 * w for w in flat]
            new = []
            for i, (w, g) in enumerate(zip(flat, flat_grads, strict=True)):
                v = mu * self.velocities[i] - eta * g
                self.velocities[i] = v
                if self.nesterov:
                    new.append(w + (mu * v - eta * g))
                else:
                    new.append(w + v)

        return tuple(LayerParams(new[i], new[i + 1]) for i in range(0, len(new), 2))
