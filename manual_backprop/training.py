"""Mini-batch training: a seeded shuffle each epoch, one SGD step per batch."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import NUMPY, backend_of
from .engine import ARRAY_KINDS, backward, check_arguments
from .errors import InputTypeError, ManualBackpropError
from .optimizers import SGD
from .params import Params, check_seed, is_array, pack_params, packed_like
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

    ``x``, ``labels`` and the parameters must be numpy arrays: the shuffle
    picks rows with numpy indexing.  On another backend, loop over
    :func:`~manual_backprop.engine.backward` and :meth:`SGD.step` yourself.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputTypeError(
                f"{name} must be an integer; received {value!r} "
                f"({type(value).__name__})."
            )
    if epochs < 0 or batch_size < 1:
        raise ManualBackpropError(
            f"epochs must be ≥ 0 and batch_size ≥ 1; received epochs={epochs}, "
            f"batch_size={batch_size}."
        )
    check_seed(seed)
    _numpy_only(params, x, labels)
    params = check_arguments(spec, params, x, labels, NUMPY)
    optimizer = optimizer or SGD()
    # Our own copy, packed in one buffer and updated in place from here on:
    # the caller's arrays are left alone, no step allocates new parameter
    # arrays, and each update is one operation on the buffer.
    params = pack_params(params)
    grads_buffer = packed_like(params)  # backward's out, every batch

    history = History()
    n = x.shape[0]
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            grads = backward(
                spec,
                params,
                x[rows],
                labels[rows],
                check=False,
                input_grad=False,
                out=grads_buffer,
            )
            optimizer.step(params, grads.param_grads(), in_place=True)
            total += float(grads.loss) * len(rows)
        history.epoch_losses.append(total / n)
        if on_epoch is not None:
            on_epoch(epoch, total / n)
    return params, history


def _numpy_only(params: Any, x: Any, labels: Any) -> None:
    named = [("x", x), ("labels", labels)]
    try:
        for layer, pair in enumerate(params, start=1):
            for name, array in zip("Wb", pair, strict=False):
                named.append((f"params: layer {layer} {name}", array))
    except TypeError:
        pass  # not a sequence of pairs: check_params says so
    for where, array in named:
        if not is_array(array):
            continue  # check_arguments says what it should be
        library = backend_of(array).name
        if library != "numpy":
            raise InputTypeError(
                f"train() supports numpy arrays only (it shuffles the rows "
                f"with numpy indexing); {where} is a {ARRAY_KINDS[library]}. Convert "
                "x, labels and the parameters to numpy (np.asarray, or "
                "cupy.asnumpy for CuPy), or write the loop yourself with "
                f"backward(..., backend='{library}') and SGD.step."
            )
