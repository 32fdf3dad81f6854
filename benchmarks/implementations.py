"""The implementations of one training step that the sweep times.

Every implementation runs the same step on the same network, weights and
batch: forward, backward, then plain SGD ``w ← w − η g`` with
``η = float32(0.01)`` (Keras keeps η in float32).  ``build`` returns a
``step`` whose every call performs one training step, synchronises the
device and returns the gradients it used; the sweep checks the first call's
gradients against the numpy engine's before timing, so a fast but wrong
implementation cannot win.

* ``engine-numpy``: ``manual_backprop.engine.backward`` on numpy arrays,
  then ``manual_backprop.optimizers.SGD`` updating the weights in place
  (``in_place=True``), as the tape's ``assign_sub`` updates its variables.
* ``engine-numpy-1blas``: the same with OpenBLAS limited to one thread
  during the step (``threadpoolctl``), immune to other jobs on the cores.
* ``numpy-hand-fused``: not the engine, but the same step hand-fused for
  these networks in numpy, with preallocated buffers and in-place
  operations (``benchmarks.fused``): the floor for a numpy program, against
  which the engine's own overhead and numpy's are told apart.
* ``engine-tf-function``: the same engine code on TensorFlow tensors
  (``tf_reference.engine_backend``), traced inside ``tf.function``; no tape.
  ``engine-tf-xla``: the same, compiled by XLA (``jit_compile=True``), which
  fuses the engine's elementwise operations.
* ``tape-eager``, ``tape-function``, ``tape-xla``: ``tf.GradientTape`` over
  ``tf.Variable`` weights with raw TensorFlow ops, run eagerly, inside
  ``tf.function`` and inside ``tf.function(jit_compile=True)``.
* ``engine-cupy`` and the ``-gpu`` twins of the TensorFlow ones, where a GPU
  is visible; elsewhere they are listed with the reason "no GPU visible".

The engine runs with ``check=False`` in the timed step: the inputs are
checked once when the problem is built, as a training loop would do.  It
also runs with ``input_grad=False``: like the tape, which is not asked for
``∂L/∂x``, it skips layer 1's ``δ¹ W_1``, so every implementation does the
same matrix products.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from manual_backprop.engine import backward
from manual_backprop.optimizers import SGD
from manual_backprop.params import LayerParams, pack_params, packed_like

from .fused import FusedStep
from .shapes import Problem

LEARNING_RATE = float(np.float32(0.01))
NO_GPU = "no GPU visible"


@dataclass(frozen=True)
class Built:
    """A ready step and how to read its gradients back as numpy arrays."""

    step: Callable[[], Any]
    to_numpy: Callable[[Any], list[np.ndarray]]
    matmul_family: str  # whose matrix products it uses: numpy, tf-cpu, …


@dataclass(frozen=True)
class Implementation:
    name: str
    description: str
    device: str  # "cpu" or "gpu"
    build: Callable[[Problem], Built]
    unavailable: Callable[[], str | None]  # a reason, or None if it runs


# Devices.


@functools.cache
def tensorflow() -> Any:
    # TensorFlow's start-up chatter is silenced only if tf_reference is the
    # first to import it.
    from tf_reference._quiet import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    import tf_reference.engine_backend  # noqa: F401  (the engine's TF backend)

    return tf


@functools.cache
def tf_gpu_reason() -> str | None:
    tf = tensorflow()
    if not tf.config.list_physical_devices("GPU"):
        return NO_GPU
    # TF32 would make float32 matrix products inexact; compare like with like.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return None


@functools.cache
def cupy_reason() -> str | None:
    try:
        import cupy
    except ImportError:
        return f"{NO_GPU} (cupy not installed: pip install '.[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return NO_GPU
    except Exception as err:  # CUDA driver missing or broken
        return f"{NO_GPU} ({type(err).__name__}: {err})"
    return None


def _always() -> str | None:
    return None


def _flat(pairs: Any) -> list[Any]:
    return [array for pair in pairs for array in pair]


# The engine on numpy and on CuPy.


def _build_engine_array(problem: Problem, xp: Any, sync: Callable[[], None]) -> Built:
    spec = problem.spec
    # Own copies, packed in one buffer (as train() does) and updated in
    # place, as the tape's variables are.
    params = pack_params(
        tuple(LayerParams(xp.asarray(W), xp.asarray(b)) for W, b in problem.params)
    )
    out = packed_like(params)  # the gradients' buffer, reused every step
    x, labels = xp.asarray(problem.x), xp.asarray(problem.labels)
    optimizer = SGD(LEARNING_RATE)

    def step() -> Any:
        grads = backward(
            spec, params, x, labels, check=False, input_grad=False, out=out
        ).param_grads()
        optimizer.step(params, grads, in_place=True)
        sync()
        return grads

    def to_numpy(grads: Any) -> list[np.ndarray]:
        if xp is np:
            return [g.copy() for g in _flat(grads)]  # the buffer is reused
        return [xp.asnumpy(g) for g in _flat(grads)]

    family = "numpy" if xp is np else "cupy"
    return Built(step, to_numpy, family)


def build_engine_numpy(problem: Problem) -> Built:
    return _build_engine_array(problem, np, lambda: None)


@functools.cache
def _blas_libraries() -> list[Any]:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas").lib_controllers


def one_blas_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with numpy's BLAS limited to one thread during each call.

    OpenBLAS's workers busy-wait between calls; on a machine whose cores
    are shared with other jobs, that can make the engine's small and medium
    steps many times slower, while one thread is immune.  Setting the thread
    count costs about 5 µs per call, included in the timings.
    """
    libraries = _blas_libraries()
    before = [lib.num_threads for lib in libraries]

    def run() -> Any:
        for lib in libraries:
            lib.set_num_threads(1)
        try:
            return fn()
        finally:
            for lib, n in zip(libraries, before, strict=True):
                lib.set_num_threads(n)

    return run


def build_engine_numpy_one_thread(problem: Problem) -> Built:
    built = build_engine_numpy(problem)
    return Built(one_blas_thread(built.step), built.to_numpy, "numpy-1blas")


def build_numpy_hand_fused(problem: Problem) -> Built:
    step = FusedStep(problem, LEARNING_RATE)

    def run() -> Any:
        _, grads = step()
        return grads

    def to_numpy(grads: Any) -> list[np.ndarray]:
        return [g.copy() for g in grads]  # the buffers are reused

    return Built(run, to_numpy, "numpy")


def build_engine_cupy(problem: Problem) -> Built:
    import cupy

    stream_sync = cupy.cuda.get_current_stream().synchronize
    return _build_engine_array(problem, cupy, stream_sync)


# TensorFlow: the engine on tensors, and the tape.


def _tf_setup(problem: Problem, device: str) -> tuple[Any, list[Any], Any, Any]:
    tf = tensorflow()
    with tf.device(device):
        variables = [tf.Variable(a) for a in _flat(problem.params)]
        x = tf.constant(problem.x)
        labels = tf.constant(problem.labels)
    return tf, variables, x, labels


def _tf_built(
    tf: Any, device: str, call: Callable[[], Any], xla: bool = False
) -> Built:
    def step() -> Any:
        with tf.device(device):
            loss, grads = call()
        loss.numpy()  # waits for the device: the step is finished
        return grads

    def to_numpy(grads: Any) -> list[np.ndarray]:
        return [np.asarray(g) for g in grads]

    family = "tf-gpu" if "GPU" in device else "tf-cpu"
    return Built(step, to_numpy, family + ("-xla" if xla else ""))


def _update(variables: list[Any], grads: list[Any]) -> None:
    for v, g in zip(variables, grads, strict=True):
        v.assign_sub(LEARNING_RATE * g)


def build_engine_tf(problem: Problem, device: str, xla: bool = False) -> Built:
    tf, variables, x, labels = _tf_setup(problem, device)
    spec = problem.spec

    @functools.partial(tf.function, autograph=False, jit_compile=xla)
    def train_step(x: Any, labels: Any) -> Any:
        values = [v.read_value() for v in variables]
        params = tuple(
            LayerParams(values[i], values[i + 1]) for i in range(0, len(values), 2)
        )
        g = backward(
            spec, params, x, labels, backend="tensorflow", check=False, input_grad=False
        )
        grads = _flat(g.param_grads())
        _update(variables, grads)
        return g.loss, grads

    return _tf_built(tf, device, lambda: train_step(x, labels), xla)


def _tape_step(problem: Problem, variables: list[Any]) -> Callable[[Any, Any], Any]:
    tf = tensorflow()
    depth = problem.spec.depth
    mse = problem.spec.loss == "mean_squared_error"

    def train_step(x: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            y = x
            for layer in range(depth):
                W, b = variables[2 * layer], variables[2 * layer + 1]
                z = tf.matmul(y, W, transpose_b=True) + b
                y = tf.sigmoid(z) if layer < depth - 1 else z
            if mse:
                loss = tf.reduce_mean(tf.square(labels - z))
            else:
                per_example = tf.nn.softmax_cross_entropy_with_logits(labels, z)
                loss = tf.reduce_mean(per_example)
        grads = tape.gradient(loss, variables)
        _update(variables, grads)
        return loss, grads

    return train_step


def build_tape(problem: Problem, device: str, mode: str) -> Built:
    tf, variables, x, labels = _tf_setup(problem, device)
    train_step = _tape_step(problem, variables)
    if mode == "function":
        train_step = tf.function(train_step)
    elif mode == "xla":
        train_step = tf.function(train_step, jit_compile=True)
    return _tf_built(tf, device, lambda: train_step(x, labels), mode == "xla")


def _tf_cpu_reason() -> str | None:
    tensorflow()
    return None


CPU = "/CPU:0"
GPU = "/GPU:0"

IMPLEMENTATIONS: tuple[Implementation, ...] = (
    Implementation(
        "engine-numpy",
        "the engine on numpy arrays",
        "cpu",
        build_engine_numpy,
        _always,
    ),
    Implementation(
        "engine-numpy-1blas",
        "the engine on numpy arrays, BLAS limited to one thread",
        "cpu",
        build_engine_numpy_one_thread,
        _always,
    ),
    Implementation(
        "numpy-hand-fused",
        "not the engine: the step hand-fused in numpy, in place (the floor)",
        "cpu",
        build_numpy_hand_fused,
        _always,
    ),
    Implementation(
        "engine-tf-function",
        "the engine on TF tensors in tf.function",
        "cpu",
        functools.partial(build_engine_tf, device=CPU),
        _tf_cpu_reason,
    ),
    Implementation(
        "engine-tf-xla",
        "the engine on TF tensors in tf.function(jit_compile=True)",
        "cpu",
        functools.partial(build_engine_tf, device=CPU, xla=True),
        _tf_cpu_reason,
    ),
    Implementation(
        "tape-eager",
        "GradientTape, eager",
        "cpu",
        functools.partial(build_tape, device=CPU, mode="eager"),
        _tf_cpu_reason,
    ),
    Implementation(
        "tape-function",
        "GradientTape in tf.function",
        "cpu",
        functools.partial(build_tape, device=CPU, mode="function"),
        _tf_cpu_reason,
    ),
    Implementation(
        "tape-xla",
        "GradientTape in tf.function(jit_compile=True)",
        "cpu",
        functools.partial(build_tape, device=CPU, mode="xla"),
        _tf_cpu_reason,
    ),
    Implementation(
        "engine-cupy",
        "the engine on CuPy arrays (GPU)",
        "gpu",
        build_engine_cupy,
        cupy_reason,
    ),
    Implementation(
        "engine-tf-function-gpu",
        "the engine on TF tensors in tf.function, on the GPU",
        "gpu",
        functools.partial(build_engine_tf, device=GPU),
        tf_gpu_reason,
    ),
    Implementation(
        "tape-eager-gpu",
        "GradientTape, eager, on the GPU",
        "gpu",
        functools.partial(build_tape, device=GPU, mode="eager"),
        tf_gpu_reason,
    ),
    Implementation(
        "tape-function-gpu",
        "GradientTape in tf.function, on the GPU",
        "gpu",
        functools.partial(build_tape, device=GPU, mode="function"),
        tf_gpu_reason,
    ),
    Implementation(
        "tape-xla-gpu",
        "GradientTape in tf.function(jit_compile=True), on the GPU",
        "gpu",
        functools.partial(build_tape, device=GPU, mode="xla"),
        tf_gpu_reason,
    ),
)

BY_NAME = {impl.name: impl for impl in IMPLEMENTATIONS}


def gradient_error(grads: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Largest ``max|g − ref| / max|ref|`` over the parameter arrays."""
    worst = 0.0
    for g, ref in zip(grads, reference, strict=True):
        scale = float(np.max(np.abs(ref))) or 1.0
        diff = np.abs(g.astype(np.float64) - ref.astype(np.float64))
        worst = max(worst, float(np.max(diff)) / scale)
    return worst


# Agreement required before an implementation is timed: relative to the
# largest gradient entry, 1e-4 in float32 (the baseline saw up to 2e-6 on
# 20-layer nets; 50x room for other BLAS kernels and GPUs) and 1e-9 in
# float64 (observed 1e-15).
GRADIENT_TOLERANCE = {"float32": 1e-4, "float64": 1e-9}
