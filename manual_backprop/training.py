"""Mini-batch training: a seeded shuffle each epoch, one SGD step per batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import backward, check_inputs, check_labels
from .errors import ManualBackpropError
from .optimizers import SGD
from .params import Params, check_params
from .spec import NetworkSpec


@dataclass
class History:
    """The mean training loss of every epoch, in order."""

    epoch_losses: list[float] = field(default_factory=list)


def train(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: SGD | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[Params, History]:
    """Train with SGD and return the new parameters and the loss history.

    Each epoch visits the examples in an order drawn from numpy's PCG64
    seeded with ``(seed, epoch)``, in batches of ``batch_size`` (the last
    one may be smaller).  ``on_epoch(epoch, mean_loss)`` is called after
    each epoch, for progress display; the library itself prints nothing.
    """
    if epochs < 0 or batch_size < 1:
        raise ManualBackpropError(
            f"epochs must be ≥ 0 and batch_size ≥ 1; received epochs={epochs}, "
            f"batch_size={batch_size}."
        )
    params = check_params(spec, params)
    check_inputs(spec, x)
    check_labels(spec, labels, batch=x.shape[0])
    optimizer = optimizer or SGD()

    history = History()
    n = x.shape[0]
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            grads = backward(
                spec, params, x[rows], labels[rows], check=False, input_grad=False
            )
            params = optimizer.step(params, grads.param_grads())
            total += float(grads.loss) * len(rows)
        history.epoch_losses.append(total / n)
        if on_epoch is not None:
            on_epoch(epoch, total / n)
    return params, history
