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
"""

from __future__ import annotations

import importlib
import math
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
    erf: Any
    asarray: Any
    to_numpy: Any

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def _numpy_erf() -> Any:
    # numpy has no erf.  math.erf is exact to double precision but runs one
    # Python call per element: fine for checking, slow for big gelu layers.
    scalar_erf = np.frompyfunc(math.erf, 1, 1)

    def erf(x: np.ndarray) -> np.ndarray:
        return scalar_erf(x).astype(x.dtype)

    return erf


NUMPY = Backend("numpy", np, _numpy_erf(), np.asarray, np.asarray)

_loaded: dict[str, Backend] = {"numpy": NUMPY}


def _load_cupy() -> Backend:
    cupy = importlib.import_module("cupy")
    special = importlib.import_module("cupyx.scipy.special")
    return Backend("cupy", cupy, special.erf, cupy.asarray, cupy.asnumpy)


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
