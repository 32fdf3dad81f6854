"""Parameters as plain arrays: initialised from a seed, saved as ``.npz``.

Layer ``l`` has ``W_l`` of shape ``(n_l, n_{l-1})``, the notes' ``W`` in
``z_l = W_l x_l + b_l``.  Keras stores the transpose, a kernel of shape
``(n_{l-1}, n_l)``; ``tf_reference`` transposes when it builds its layers.
"""

from __future__ import annotations

import importlib
import io
import math
import numbers
import os
import zipfile
from typing import Any, NamedTuple

import numpy as np

from .errors import (
    DTypeError,
    InputTypeError,
    ManualBackpropError,
    ShapeError,
    SpecError,
)
from .spec import DTYPES, NetworkSpec, write_atomic


class LayerParams(NamedTuple):
    """``W`` of shape ``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``."""

    W: Any
    b: Any


Params = tuple[LayerParams, ...]


class PackedParams(tuple):
    """Parameters (or their gradients) held in one 1-D buffer, ``flat``.

    A tuple of :class:`LayerParams`, like any ``Params``, whose ``W_l`` and
    ``b_l`` are views of ``flat`` laid end to end in the order
    ``W_1, b_1, W_2, b_2, …``, each C-contiguous.  :meth:`SGD.step` with
    ``in_place=True`` then updates every parameter with one operation on
    ``flat`` instead of two per array, which on deep and narrow networks is
    most of the update's cost.  Made by :func:`pack_params` (parameters)
    and by the engine (``Gradients.param_grads()`` on numpy or CuPy).

    The layout is checked when one is made (O(layers)), since updates go
    through ``flat`` alone; ``flat`` cannot be replaced afterwards.
    """

    flat: Any

    def __new__(cls, layers: Any, flat: Any) -> PackedParams:
        pairs = tuple(
            LayerParams(*pair)
            for pair in pairs_of(layers, "PackedParams", "layers", _MAKE_PACKED)
        )
        _check_layout(pairs, flat)
        packed = super().__new__(cls, pairs)
        object.__setattr__(packed, "flat", flat)
        return packed

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse_assignment(name)

    def __delattr__(self, name: str) -> None:
        _refuse_assignment(name)

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles are made from the buffer, so that their views
        # are views of their own buffer (a deep copy), or of this one (a
        # shallow copy), never of another array.
        shapes = [(W.shape, b.shape) for W, b in self]
        return packed_views, (self.flat, shapes)


_MAKE_PACKED = (
    "make packed parameters with pack_params(params), or cut a buffer of "
    "your own with packed_views(flat, shapes)"
)


def _refuse_assignment(name: str) -> None:
    raise InputTypeError(
        f"PackedParams: {name} cannot be set or deleted: the views are "
        f"checked against flat once, when they are made; {_MAKE_PACKED}."
    )


def pairs_of(
    value: Any, caller: str, argument: str = "params", fix: str = ""
) -> list[tuple[Any, Any]]:
    """``value`` as a list of ``(W, b)`` pairs, or refused saying why.

    ``caller`` and ``argument`` name what was called with what; ``fix``,
    if given, ends each message (what to pass instead).
    """
    end = f"; {fix}." if fix else "."
    try:
        layers = list(value)
    except TypeError as err:
        raise InputTypeError(
            f"{caller}: {argument} must be a sequence of (W, b) pairs, one per "
            f"layer; received {type(value).__name__}{end}"
        ) from err
    for layer, pair in enumerate(layers, start=1):
        if is_array(pair) or not _is_pair(pair):
            raise ShapeError(
                f"{caller}: {argument} layer {layer} must be a (W, b) pair; "
                f"received {_describe(pair)}{end}"
            )
    return [(pair[0], pair[1]) for pair in map(tuple, layers)]


def _check_layout(pairs: tuple[LayerParams, ...], flat: Any) -> None:
    """Every ``W_l`` and ``b_l`` must be the C-contiguous view of ``flat``
    at the offset the packing order implies: ``SGD.step`` updates them
    through ``flat`` alone.  Compared by data address, O(layers)."""
    library = library_of(flat)
    if not is_array(flat) or library not in ("numpy", "cupy"):
        raise InputTypeError(
            "PackedParams: flat must be a numpy or CuPy array; received "
            f"{type(flat).__name__}; {_MAKE_PACKED}."
        )
    if flat.ndim != 1 or not flat.flags.c_contiguous:
        raise InputTypeError(
            f"PackedParams: flat must be one contiguous 1-D buffer; received "
            f"one of shape {tuple(flat.shape)}, strides {tuple(flat.strides)}. "
            "Pass a copy (flat.copy()) to packed_views(flat, shapes)."
        )
    arrays = [
        (layer, name, a)
        for layer, pair in enumerate(pairs, start=1)
        for name, a in zip("Wb", pair, strict=True)
    ]
    for layer, name, a in arrays:
        if not is_array(a) or library_of(a) != library or a.dtype != flat.dtype:
            what = _dtype_name(a) if is_array(a) else type(a).__name__
            raise InputTypeError(
                f"PackedParams: layer {layer} {name} is {what} but flat "
                f"{_dtype_name(flat)} ({library}); {_MAKE_PACKED}."
            )
    total = sum(int(a.size) for _, _, a in arrays)
    if flat.size != total:
        raise ShapeError(
            f"PackedParams: flat holds {flat.size} value(s) but the layers "
            f"{total}: it must hold exactly their values; {_MAKE_PACKED}."
        )
    start, offset = _address(flat), 0
    for layer, name, a in arrays:
        at = start + offset * flat.itemsize
        if _address(a) != at or not a.flags.c_contiguous:
            raise InputTypeError(
                f"PackedParams: layer {layer} {name} is not a view of flat "
                f"at offset {offset} (C-contiguous, of shape "
                f"{tuple(a.shape)}), where the order W_1, b_1, W_2, … puts "
                f"it; {_MAKE_PACKED}."
            )
        offset += int(a.size)


def _address(array: Any) -> int:
    """Where an array's first element lies in memory (numpy or CuPy)."""
    if isinstance(array, np.ndarray):
        return int(array.__array_interface__["data"][0])
    return int(array.data.ptr)


def packed_views(flat: Any, shapes: Any) -> PackedParams:
    """``flat`` cut into ``(W_l, b_l)`` views of the given ``(W, b)`` shapes."""
    sizes = [(math.prod(W), math.prod(b)) for W, b in shapes]
    total = sum(w + b for w, b in sizes)
    if flat.ndim != 1 or flat.shape[0] != total:
        raise ShapeError(
            f"a packed buffer of shape {tuple(flat.shape)} does not fit "
            f"parameters of {total} values: it must be 1-D and that long."
        )
    layers, offset = [], 0
    for (shape_W, shape_b), (size_W, size_b) in zip(shapes, sizes, strict=True):
        W = flat[offset : offset + size_W].reshape(shape_W)
        offset += size_W
        b = flat[offset : offset + size_b].reshape(shape_b)
        offset += size_b
        layers.append(LayerParams(W, b))
    return PackedParams(layers, flat)


def packed_like(params: Params) -> PackedParams:
    """Zeros laid out like ``params`` in one buffer: ``backward``'s ``out``."""
    packed = pack_params(params)
    packed.flat[...] = 0
    return packed


def pack_params(params: Params) -> PackedParams:
    """A copy of ``params`` in one buffer (see :class:`PackedParams`).

    The arrays must be numpy or CuPy arrays of one dtype, float32 or
    float64, ``W`` 2-D and ``b`` 1-D; the copies are of the same library
    and dtype.  ``train`` packs its own copy; pack your
    parameters yourself when you loop over ``backward`` and
    ``SGD.step(..., in_place=True)``.
    """
    pairs = pairs_of(params, "pack_params", fix="one (W, b) pair per layer")
    arrays = [a for pair in pairs for a in pair]
    libraries = {library_of(a) for a in arrays}
    dtypes = {str(getattr(a, "dtype", None)) for a in arrays}
    if not arrays or not libraries <= {"numpy", "cupy"} or len(libraries) > 1:
        raise InputTypeError(
            "pack_params needs (W, b) pairs of numpy arrays, or of CuPy arrays; "
            f"received arrays from {', '.join(sorted(libraries)) or 'nowhere'}."
        )
    _check_packable(pairs)
    if len(dtypes) > 1:
        raise DTypeError(
            f"pack_params needs one dtype for every array; received "
            f"{', '.join(sorted(dtypes))}. Cast them to the network's dtype."
        )
    xp = np if libraries == {"numpy"} else importlib.import_module("cupy")
    flat = xp.empty(sum(int(a.size) for a in arrays), dtype=arrays[0].dtype)
    packed = packed_views(flat, [(W.shape, b.shape) for W, b in pairs])
    for view, array in zip((v for pair in packed for v in pair), arrays, strict=True):
        view[...] = array
    return packed


def _check_packable(pairs: list[tuple[Any, ...]]) -> None:
    """A float32 or float64 ``W`` of 2 dimensions and ``b`` of 1, as long
    as ``W`` has rows: what every network's parameters are."""
    for layer, (W, b) in enumerate(pairs, start=1):
        for name, array, ndim in (("W", W, 2), ("b", b, 1)):
            dtype = _dtype_name(array)
            if dtype not in DTYPES:
                target = "float32" if dtype == "float16" else "float64"
                raise DTypeError(
                    f"pack_params: params layer {layer} {name} is {dtype}, "
                    "but parameters must be float32 or float64, the engine's "
                    "dtypes; cast every array to the network's dtype, e.g. "
                    f"{name}.astype('{target}')."
                )
            if array.ndim != ndim:
                expected = "2-D, (n_out, n_in)" if ndim == 2 else "1-D, (n_out,)"
                raise ShapeError(
                    f"pack_params: params layer {layer} {name} has shape "
                    f"{tuple(array.shape)} but must be {expected}; pass the "
                    "layer's arrays as init_params makes them."
                )
        if b.shape[0] != W.shape[0]:
            raise ShapeError(
                f"pack_params: params layer {layer} b has shape "
                f"{tuple(b.shape)} but W {tuple(W.shape)}: b must hold one "
                f"value per row of W, shape ({W.shape[0]},)."
            )


def init_params(spec: NetworkSpec, seed: int = 0) -> Params:
    """Glorot-uniform weights and zero biases, as Keras's Dense defaults.

    Each ``W_l`` is drawn from ``U(−r, r)`` with
    ``r = √(6 / (n_{l-1} + n_l))``.  The draw uses numpy's PCG64 seeded with
    ``seed``, so the numbers are not the ones Keras would draw; the
    distribution is.
    """
    check_seed(seed)
    rng = np.random.default_rng(seed)
    layers = []
    for (n_out, n_in), _ in spec.layer_shapes():
        limit = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-limit, limit, size=(n_out, n_in)).astype(spec.dtype)
        b = np.zeros(n_out, dtype=spec.dtype)
        layers.append(LayerParams(W, b))
    return tuple(layers)


def check_seed(seed: Any, argument: str = "seed") -> None:
    """A seed must be an integer, 0 or more (numpy's PCG64 takes no other)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(
            f"{argument} must be an integer, 0 or more; received "
            f"{seed!r} ({type(seed).__name__})."
        )
    if seed < 0:
        raise ManualBackpropError(
            f"{argument} must be an integer, 0 or more; received {seed}. "
            "Use its absolute value or any other non-negative integer."
        )


def is_array(value: Any) -> bool:
    """Whether ``value`` looks like an array (it has a shape and a dtype)."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def library_of(value: Any) -> str:
    """The top-level module of ``value``'s type: numpy, tensorflow, cupy…"""
    return type(value).__module__.split(".")[0]


def cast_hint(array: Any, dtype: str, name: str) -> str:
    """How to cast ``array`` to ``dtype`` in its own library's words.

    TensorFlow tensors have no ``.astype``; ``tf.cast`` is their way.  The
    library is read from the type's module, so TensorFlow is not imported.
    """
    if library_of(array) == "tensorflow":
        return f"tf.cast({name}, tf.{dtype})"
    return f"{name}.astype('{dtype}')"


def check_params(spec: NetworkSpec, params: Any, argument: str = "params") -> Params:
    """Check that ``params`` fit ``spec``: count, shapes and dtype."""
    try:
        layers = tuple(params)
    except TypeError as err:
        raise ShapeError(
            f"{argument} must be a sequence of (W, b) pairs, one per layer; "
            f"received {type(params).__name__}."
        ) from err

    if len(layers) != spec.depth:
        raise ShapeError(
            f"{argument} has {len(layers)} layer(s) but the network has "
            f"{spec.depth}; give one (W, b) pair per layer."
        )

    checked = []
    shapes = spec.layer_shapes()
    for layer, (pair, (w_shape, b_shape)) in enumerate(
        zip(layers, shapes, strict=True), start=1
    ):
        if is_array(pair) or not _is_pair(pair):
            raise ShapeError(
                f"{argument}: layer {layer} must be a (W, b) pair, W of shape "
                f"{w_shape} and b of shape {b_shape}; received "
                f"{_describe(pair)}."
            )
        W, b = pair
        for name, array, shape in (("W", W, w_shape), ("b", b, b_shape)):
            if not is_array(array):
                raise InputTypeError(
                    f"{argument}: layer {layer} {name} must be an array (numpy, "
                    f"CuPy or a TensorFlow tensor) of shape {shape}; received "
                    f"{_describe(array)}. Convert it with "
                    f"np.asarray({name}, dtype='{spec.dtype}')."
                )
            if tuple(array.shape) != shape:
                hint = ""
                if name == "W" and tuple(array.shape) == shape[::-1]:
                    hint = (
                        " It looks like a Keras kernel (n_in, n_out): "
                        "pass its transpose."
                    )
                raise ShapeError(
                    f"{argument}: layer {layer} {name} has shape "
                    f"{tuple(array.shape)}; expected {shape}.{hint}"
                )
            if _dtype_name(array) != spec.dtype:
                raise DTypeError(
                    f"{argument}: layer {layer} {name} has dtype "
                    f"{_dtype_name(array)} but the network is {spec.dtype}; "
                    f"cast it with {cast_hint(array, spec.dtype, name)} or "
                    "change the description's dtype."
                )
        checked.append(LayerParams(W, b))
    return tuple(checked)


def _dtype_name(array: Any) -> str:
    dtype = array.dtype
    return getattr(dtype, "name", str(dtype))


def writable(array: Any) -> bool:
    """Whether ``array`` is a numpy or CuPy array that can be written to."""
    if isinstance(array, np.ndarray):
        return bool(array.flags.writeable)
    return library_of(array) == "cupy"


def _is_pair(value: Any) -> bool:
    try:
        return len(value) == 2
    except TypeError:
        return False


def _describe(value: Any) -> str:
    """``a list``, ``a tuple of 3 item(s)``: what was received, briefly."""
    kind = type(value).__name__
    try:
        return f"a {kind} of {len(value)} item(s)"
    except TypeError:
        return f"a {kind}"


def params_as_arrays(params: Params) -> dict[str, np.ndarray]:
    """``{"W1": W_1, "b1": b_1, "W2": …}``, the keys of every ``.npz`` here."""
    arrays = {}
    for layer, (W, b) in enumerate(params, start=1):
        arrays[f"W{layer}"] = np.asarray(W)
        arrays[f"b{layer}"] = np.asarray(b)
    return arrays


def write_npz(
    path: str | os.PathLike[str], arrays: dict[str, Any], *, parents: bool = True
) -> None:
    """Write arrays as an uncompressed ``.npz``, atomically.

    ``parents`` as for :func:`~manual_backprop.spec.write_atomic`.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue(), parents=parents)


def save_params(path: str | os.PathLike[str], params: Params) -> None:
    """Save as ``.npz`` with keys ``W1, b1, W2, …``, atomically.

    The folder must exist already (as for the CLI's ``--json``); a missing
    one is a :class:`SpecError`, never created silently.
    """
    write_npz(path, params_as_arrays(params), parents=False)


def read_npz(path: str | os.PathLike[str], what: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, never unpickling anything.

    ``what`` names the file in errors ("parameters file", "case file").
    """
    name = str(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError as err:
        raise SpecError(f"{what} {name!r} does not exist.") from err
    except (ValueError, EOFError, zipfile.BadZipFile) as err:
        raise SpecError(_unreadable(path, what, err)) from err
    except OSError as err:
        raise SpecError(f"cannot read {what} {name!r}: {err.strerror}.") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise SpecError(
            f"{what} {name!r} is a single .npy array, not an .npz archive; "
            "write it with np.savez."
        )
    with data:
        try:
            return {key: data[key] for key in data.files}
        except (ValueError, EOFError, zipfile.BadZipFile) as err:
            raise SpecError(_unreadable(path, what, err)) from err


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"
PICKLE_PROTOCOL = b"\x80"  # the first byte of a pickle of protocol 2 or more


def _unreadable(path: str | os.PathLike[str], what: str, err: Exception) -> str:
    """Why np.load refused ``path``, told from the file's first bytes.

    numpy says "contains pickled (object) data" both for a pickled array
    and for any file that is neither a zip nor an .npy; only the first is
    about pickles.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
    except OSError:
        head = b""
    if "Object arrays" in str(err):
        return (
            f"{what} {name!r} holds an array of Python objects, stored as a "
            "pickle; pickles are never loaded here (loading one can run "
            "code). Save arrays of numbers (np.savez with float or int "
            "arrays)."
        )
    if head.startswith(ZIP_MAGIC):
        return (
            f"{what} {name!r} is a damaged .npz archive ({err}); write it "
            "again with np.savez."
        )
    if head.startswith(NPY_MAGIC):
        return (
            f"{what} {name!r} is an .npy file numpy cannot read ({err}), "
            "and not an .npz archive in any case; write it with np.savez."
        )
    if not head:
        return f"{what} {name!r} is empty, not an .npz archive."
    pickled = (
        " It looks like a Python pickle, which is never loaded here."
        if head.startswith(PICKLE_PROTOCOL)
        else ""
    )
    return (
        f"{what} {name!r} is not an .npz archive (the zip of .npy arrays "
        f"that np.savez writes): it is not a zip file at all.{pickled}"
    )


def load_params(path: str | os.PathLike[str], spec: NetworkSpec) -> Params:
    """Load an ``.npz`` written by :func:`save_params` (no pickle) and check it."""
    arrays = read_npz(path, "parameters file")

    expected = [f"{k}{layer}" for layer in range(1, spec.depth + 1) for k in "Wb"]
    missing = [key for key in expected if key not in arrays]
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ShapeError(
            f"parameters file {str(path)!r} does not fit the network "
            f"({spec.depth} layer(s)): missing {missing or 'nothing'}, "
            f"unexpected {extra or 'nothing'}."
        )

    pairs = [
        (arrays[f"W{layer}"], arrays[f"b{layer}"]) for layer in range(1, spec.depth + 1)
    ]
    try:
        return check_params(spec, pairs, argument=str(path))
    except DTypeError as err:
        found = {_dtype_name(array) for pair in pairs for array in pair}
        if len(found) != 1 or not found <= set(DTYPES):
            raise
        (dtype,) = found
        raise DTypeError(
            f"parameters file {str(path)!r} holds {dtype} parameters but the "
            f"network description is {spec.dtype}; make the description "
            f'{dtype} ("dtype": "{dtype}" in its JSON, or --dtype {dtype} '
            "on the command line), or cast the arrays with "
            f".astype('{spec.dtype}') and save them again."
        ) from err
