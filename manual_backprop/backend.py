"""Which array library the engine computes with.

The engine is written once against a small array namespace ``xp`` (the
numpy functions it needs).  Three namespaces are known:

* ``numpy``, always available;
* ``cupy``, for arrays on an NVIDIA GPU (``pip install '.[gpu]'``);
* ``tensorflow``, TensorFlow tensors through ``tf.experimental.numpy``,
  placed wherever TensorFlow puts them.  No tape is involved.  That
  namespace lives in ``tf_reference.engine_backend`` so that this package
  never imports TensorFlow itself.

The namespace is chosen from the arrays the caller passes, or by name.

In-place arithmetic.  The engine overwrites arrays it has just made itself
(a matrix product, a temporary of an activation), never one the caller
passed or one it has handed out.  It writes this in a form every namespace
reads the same way: augmented assignment (``z += b``), which numpy and CuPy
do in place and TensorFlow, whose tensors are immutable, does by making a
new tensor; and ``out=`` on an elementwise function, always taking the
returned array (``s = xp.exp(s, out=s)``), which the TensorFlow namespace
accepts and ignores.  The results are the same either way, bit for bit.
Where ``Backend.in_place`` holds (numpy, CuPy), the engine also writes the
parameter gradients into one buffer (``params.PackedParams``).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ManualBackpropError

BACKENDS = ("numpy", "cupy", "tensorflow")


@dataclass(frozen=True)
class Backend:
    """An array namespace plus the few things numpy's API does not cover."""

    name: str
    xp: Any
    erfc: Any  # the complementary error function, for exact gelu
    batch_sum: Any  # Σ over the rows of a (B, n) array: the bias gradient
    asarray: Any
    to_numpy: Any
    in_place: bool = False  # its arrays can be written to (numpy, CuPy)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def _numpy_erfc() -> Any:
    # numpy has no erfc.  math.erfc is exact to double precision but runs
    # one Python call per element: fine for checking, slow for big gelu
    # layers.
    scalar_erfc = np.frompyfunc(math.erfc, 1, 1)

    def erfc(x: np.ndarray) -> np.ndarray:
        return scalar_erfc(x).astype(x.dtype)

    return erfc


@functools.lru_cache(maxsize=16)
def _ones(batch: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(batch, dtype)
    ones.flags.writeable = False  # shared between calls
    return ones


def _numpy_batch_sum(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``Σ_rows a`` as the product ``1ᵀ a``.

    BLAS's matrix-vector product is two to four times faster than numpy's
    row reduction on the engine's shapes (and uses every BLAS thread); its
    order of summation differs, within the ``B·u`` round-off bound that the
    cross-check's tolerance already allows for a sum of ``B`` terms.
    """
    return np.matmul(_ones(a.shape[0], a.dtype), a, out=out)


# glibc's allocator adapts its thresholds to what the process has freed so
# far, and then may hand freed multi-megabyte blocks back to the system; the
# next step's temporaries fault those pages in again.  Whether that happens
# depends on what ran earlier in the process, and it made a float64 step
# 1.4-1.8 times slower (2,600 minor page faults per step on 784-512-512-10).
# Fixing both thresholds once keeps freed blocks in the process, so the
# engine's speed no longer depends on history; no result changes.  Values:
# blocks up to 32 MiB (glibc's largest allowed threshold on 64-bit) come from
# the heap, and up to 512 MiB of freed heap stays mapped.  Set
# MANUAL_BACKPROP_MALLOPT=0 to leave the allocator alone; nothing is done
# off Linux or when the MALLOC_*_ variables already choose these values.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 512 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h


def steady_allocator() -> bool:
    """Fix glibc's malloc thresholds (see above); True if they were set."""
    if os.environ.get("MANUAL_BACKPROP_MALLOPT", "1") == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, for one, has no such thresholds)
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_ok and trim_ok)


ALLOCATOR_STEADY = steady_allocator()


class NumpyNamespace:
    """numpy as the engine's ``xp``, minus the cost of a few wrappers.

    ``np.sum``, ``np.max``, ``np.mean`` and ``np.transpose`` are Python
    functions that inspect their arguments before calling the ufunc
    reduction or the array method that does the work, at about 1-5 µs a
    call; on a tiny network those wrappers were a sixth of a training step.
    Here the four call the reduction and the method directly: the same
    operations in the same order, so the results are bit for bit numpy's.
    Every other name is numpy's own, looked up once and then kept.
    """

    @staticmethod
    def sum(a: Any, axis: Any = None, keepdims: Any = False) -> Any:
        return np.add.reduce(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(a: Any, axis: Any = None, keepdims: Any = False) -> Any:
        # np.mean's own steps for float32 and float64: the sum in the
        # array's dtype, divided by the count.
        count = a.size if axis is None else a.shape[axis]
        return np.add.reduce(a, axis=axis, keepdims=keepdims) / count

    @staticmethod
    def max(a: Any, axis: Any = None, keepdims: Any = False) -> Any:
        return np.maximum.reduce(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def transpose(a: Any) -> Any:
        return a.T  # the engine only transposes matrices

    def __getattr__(self, name: str) -> Any:
        value = getattr(np, name)
        setattr(self, name, value)  # found in the instance from now on
        return value

    def __repr__(self) -> str:
        return "NumpyNamespace(numpy)"


NUMPY = Backend(
    "numpy",
    NumpyNamespace(),
    erfc=_numpy_erfc(),
    batch_sum=_numpy_batch_sum,
    asarray=np.asarray,
    to_numpy=np.asarray,
    in_place=True,
)

_loaded: dict[str, Backend] = {"numpy": NUMPY}


def _load_cupy() -> Backend:
    cupy = importlib.import_module("cupy")
    special = importlib.import_module("cupyx.scipy.special")
    return Backend(
        "cupy",
        cupy,
        erfc=special.erfc,
        batch_sum=lambda a, out=None: cupy.sum(a, axis=0, out=out),
        asarray=cupy.asarray,
        to_numpy=cupy.asnumpy,
        in_place=True,
    )


def _load_tensorflow() -> Backend:
    module = importlib.import_module("tf_reference.engine_backend")
    return module.BACKEND


_loaders = {"cupy": _load_cupy, "tensorflow": _load_tensorflow}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one of ``BACKENDS``)."""
    if name in _loaded:
        return _loaded[name]
    if name not in _loaders:
        raise ManualBackpropError(
            f"backend must be one of {', '.join(BACKENDS)}; received {name!r}."
        )
    try:
        backend = _loaders[name]()
    except ImportError as err:
        extra = "gpu" if name == "cupy" else "tf"
        raise ManualBackpropError(
            f"backend {name!r} is not installed ({err}); install it with "
            f"pip install '.[{extra}]'."
        ) from err
    _loaded[name] = backend
    return backend


def backend_of(array: Any) -> Backend:
    """The backend whose arrays ``array`` is (numpy for lists and scalars)."""
    module = type(array).__module__.split(".")[0]
    if module == "cupy":
        return get_backend("cupy")
    if module == "tensorflow":
        return get_backend("tensorflow")
    return NUMPY
