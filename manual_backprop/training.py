"""Mini-batch training: a seeded shuffle each epoch, one SGD step per batch."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import NUMPY, backend_of
from .engine import ARRAY_KINDS, backward, check_arguments
from .errors import InputTypeError, ManualBackpropError, NonFiniteError
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

    ``optimizer`` is an optimizer object such as ``SGD(0.1, momentum=0.9)``
    (``None``: ``SGD()``).  A run that diverges raises
    :class:`~manual_backprop.errors.NonFiniteError` at the end of the first
    epoch whose mean loss is NaN or infinite, or if the last step leaves
    non-finite parameters; the caller's ``params`` are never modified.

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
    _check_callables(optimizer, on_epoch)
    _numpy_only(params, x, labels)
    params = check_arguments(spec, params, x, labels, NUMPY)
    if optimizer is None:
        optimizer = SGD()
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
        # A diverging run is told by the error below, not by numpy's
        # warnings about the NaNs on the way.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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
        mean = total / n
        if not math.isfinite(mean):
            raise _diverged(
                f"the mean loss of epoch {epoch + 1} of {epochs} is {mean}", optimizer
            )
        history.epoch_losses.append(mean)
        if on_epoch is not None:
            on_epoch(epoch, mean)
    # The loss of a batch is taken before its step: the last step's result
    # is seen by no loss.  One pass over the buffer, once.
    if epochs and not np.isfinite(params.flat).all():
        raise _diverged(
            f"the parameters hold NaN or inf after the last step of epoch {epochs}",
            optimizer,
        )
    return params, history


def _diverged(what: str, optimizer: Any) -> NonFiniteError:
    """The error of a run whose loss or parameters are no longer finite."""
    rate = getattr(optimizer, "learning_rate", None)
    smaller = "a smaller learning rate"
    if isinstance(rate, float):
        smaller = f"a smaller learning rate, such as SGD({rate / 10:g}, ...)"
    return NonFiniteError(
        f"train: {what}: training diverged with {optimizer!r} (your params "
        f"are left as they were); train again with {smaller} and a new "
        "optimizer."
    )


def _check_callables(optimizer: Any, on_epoch: Any) -> None:
    """``optimizer`` must be an optimizer object (or None), ``on_epoch`` a
    function (or None): refused here, before any step, not mid-training."""
    if optimizer is not None and (
        isinstance(optimizer, type) or not callable(getattr(optimizer, "step", None))
    ):
        if isinstance(optimizer, type):
            what = f"the class {optimizer.__name__} itself, not an instance of it"
        else:
            what = f"{optimizer!r} ({type(optimizer).__name__})"
        raise InputTypeError(
            f"train: optimizer must be an optimizer such as SGD(0.01) or "
            f"SGD(0.1, momentum=0.9), or None for SGD(); received {what}."
        )
    if on_epoch is not None and not callable(on_epoch):
        raise InputTypeError(
            "train: on_epoch must be a function, called as "
            f"on_epoch(epoch, mean_loss) after each epoch, or None; received "
            f"{on_epoch!r} ({type(on_epoch).__name__})."
        )


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
