"""Matrix products timed alone: the machine's ceiling and each step's floor.

* ``square_gemm``: ``C = A B`` with ``n × n`` operands, ``2 n³`` FLOPs per
  call.  Its best rate over the libraries is the ceiling that achieved
  FLOP/s are compared with.
* ``step_gemms``: exactly the matrix products of one training step on a
  shape, in the engine's layout: ``x Wᵀ``, ``δᵀ x`` and ``δ W`` per layer,
  less layer 1's ``δ W`` (``∂L/∂x``, which no timed step forms), on fresh
  random operands of the same shapes and dtype, written into preallocated
  outputs where the library allows.  A step can hardly be faster than
  these; ``step / step_gemms`` is how much it adds.

Both return a callable for the sweep's interleaved timing, per "family":
``numpy``, ``numpy-1blas`` (one BLAS thread), ``tf-cpu``, ``cupy``,
``tf-gpu``, and ``tf-cpu-xla`` / ``tf-gpu-xla`` (compiled by XLA, for the
XLA steps).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .shapes import Shape

Layer = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, W, δ of one layer


def _operands(shape: Shape, dtype: str, seed: int = 1) -> list[Layer]:
    """Per layer: an input x (B, n_in), a weight W (n_out, n_in), a δ (B, n_out)."""
    rng = np.random.default_rng(seed)
    layers = []
    pairs = zip(shape.widths[:-1], shape.widths[1:], strict=True)
    for n_in, n_out in pairs:
        x = rng.standard_normal((shape.batch, n_in)).astype(dtype)
        W = rng.standard_normal((n_out, n_in)).astype(dtype)
        delta = rng.standard_normal((shape.batch, n_out)).astype(dtype)
        layers.append((x, W, delta))
    return layers


def _firsts(layers: list[Any]) -> list[tuple[bool, Any]]:
    """Each layer with whether it is layer 1 (whose ``δ W`` is skipped)."""
    return [(i == 0, layer) for i, layer in enumerate(layers)]


def step_gemms(shape: Shape, dtype: str, family: str) -> Callable[[], Any]:
    layers = _operands(shape, dtype)
    if family == "numpy":
        return _numpy_gemms(layers)
    if family == "numpy-1blas":
        from .implementations import one_blas_thread

        return one_blas_thread(_numpy_gemms(layers))
    if family == "cupy":
        return _cupy_gemms(layers)
    device = "/GPU:0" if family.startswith("tf-gpu") else "/CPU:0"
    return _tf_gemms(layers, device, xla=family.endswith("-xla"))


def _numpy_gemms(layers: list[Layer]) -> Callable[[], Any]:
    outs = [
        (np.empty_like(delta), np.empty_like(W), None if first else np.empty_like(x))
        for first, (x, W, delta) in _firsts(layers)
    ]

    def run() -> None:
        for (x, W, delta), (z, dW, g) in zip(layers, outs, strict=True):
            np.matmul(x, W.T, out=z)
            np.matmul(delta.T, x, out=dW)
            if g is not None:
                np.matmul(delta, W, out=g)

    return run


def _cupy_gemms(layers: list[Layer]) -> Callable[[], Any]:
    import cupy

    device_layers = [tuple(cupy.asarray(a) for a in layer) for layer in layers]
    outs = [
        (
            cupy.empty_like(delta),
            cupy.empty_like(W),
            None if first else cupy.empty_like(x),
        )
        for first, (x, W, delta) in _firsts(device_layers)
    ]
    sync = cupy.cuda.get_current_stream().synchronize

    def run() -> None:
        for (x, W, delta), (z, dW, g) in zip(device_layers, outs, strict=True):
            cupy.matmul(x, W.T, out=z)
            cupy.matmul(delta.T, x, out=dW)
            if g is not None:
                cupy.matmul(delta, W, out=g)
        sync()

    return run


def _tf_gemms(layers: list[Layer], device: str, xla: bool) -> Callable[[], Any]:
    """The products in one ``tf.function``, compiled by XLA for XLA's steps.

    Every product is returned whole (XLA could shrink a product of which
    only a slice were used); reading one element of the last one waits for
    the device, which runs them in order.
    """
    from .implementations import tensorflow

    tf = tensorflow()
    with tf.device(device):
        tensors = [tuple(tf.constant(a) for a in layer) for layer in layers]

    @functools.partial(tf.function, jit_compile=xla)
    def products() -> Any:
        outputs = []
        for first, (x, W, delta) in _firsts(tensors):
            outputs.append(tf.matmul(x, W, transpose_b=True))
            outputs.append(tf.matmul(delta, x, transpose_a=True))
            if not first:
                outputs.append(tf.matmul(delta, W))
        return outputs

    def run() -> None:
        with tf.device(device):
            products()[-1][0, 0].numpy()

    return run


def square_gemm(n: int, dtype: str, family: str) -> Callable[[], Any]:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    if family == "numpy":
        c = np.empty_like(a)
        return lambda: np.matmul(a, b, out=c)
    if family == "cupy":
        import cupy

        da, db = cupy.asarray(a), cupy.asarray(b)
        dc = cupy.empty_like(da)
        sync = cupy.cuda.get_current_stream().synchronize

        def run_cupy() -> None:
            cupy.matmul(da, db, out=dc)
            sync()

        return run_cupy

    from .implementations import tensorflow

    tf = tensorflow()
    device = "/GPU:0" if family == "tf-gpu" else "/CPU:0"
    with tf.device(device):
        ta, tb = tf.constant(a), tf.constant(b)

    @tf.function
    def product() -> Any:
        return tf.matmul(ta, tb)[0, 0]

    def run_tf() -> None:
        with tf.device(device):
            product().numpy()

    return run_tf


def square_flops(n: int) -> int:
    return 2 * n**3
