"""The network description: a plain value shared by engine, reference and tests.

A network of ``n`` dense layers maps an input of width ``n_0`` through
widths ``n_1 … n_n``.  Layer ``l`` (numbered from 1, as in the notes) has
``W_l`` of shape ``(n_l, n_{l-1})`` and ``b_l`` of shape ``(n_l,)``.

The description holds no arrays.  It saves to and loads from JSON::

    {"widths": [64, 32, 10],
     "activations": ["relu", "softmax"],
     "loss": "categorical_crossentropy",
     "dtype": "float32"}

An activation with a parameter is written as an object, for example
``{"name": "leaky_relu", "negative_slope": 0.3}``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError

ACTIVATIONS = (
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "silu",
    "gelu",
    "gelu_tanh",
    "hard_sigmoid",
    "exponential",
    "softmax",
)

# Other spellings Keras accepts for the same function.
ACTIVATION_ALIASES = {"swish": "silu"}

LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)

LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}

CROSS_ENTROPIES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)

DTYPES = ("float32", "float64")

# Keras's defaults: keras.activations.leaky_relu has negative_slope=0.2,
# while the keras.layers.LeakyReLU layer defaults to 0.3.  We follow the
# function; pass 0.3 to match the layer.
DEFAULT_NEGATIVE_SLOPE = 0.2
DEFAULT_ELU_ALPHA = 1.0
DEFAULT_HUBER_DELTA = 1.0

# The activations that take a parameter, and its name.
PARAMETERS = {"leaky_relu": "negative_slope", "elu": "alpha"}


@dataclass(frozen=True)
class Activation:
    """One layer's activation: a name and, for two of them, a parameter.

    ``negative_slope`` is used by ``leaky_relu`` only and ``alpha`` by
    ``elu`` only; giving either to another activation is an error.
    """

    name: str
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE
    alpha: float = DEFAULT_ELU_ALPHA

    @classmethod
    def parse(cls, value: Any, layer: int) -> Activation:
        """Read a name or a ``{"name": …, <param>: …}`` object."""
        if isinstance(value, Activation):
            for key in ("negative_slope", "alpha"):
                _check_parameter(value.name, key, getattr(value, key), layer)
            return value

        if isinstance(value, str):
            return cls(_known_activation(value, layer))

        if not isinstance(value, Mapping) or "name" not in value:
            raise SpecError(
                f"activations[{layer - 1}] (layer {layer}) must be a name or "
                f"an object with a 'name'; received {value!r}."
            )

        name = _known_activation(value["name"], layer)
        params = {k: v for k, v in value.items() if k != "name"}
        allowed = {"leaky_relu": {"negative_slope"}, "elu": {"alpha"}}
        extra = set(params) - allowed.get(name, set())
        if extra:
            raise SpecError(
                f"layer {layer}: activation {name!r} takes no parameter "
                f"{sorted(extra)}; only leaky_relu takes 'negative_slope' "
                "and only elu takes 'alpha'."
            )

        for key, number in params.items():
            _check_parameter(name, key, number, layer)

        return cls(name, **{k: float(v) for k, v in params.items()})

    def to_json(self) -> str | dict[str, Any]:
        if self.name == "leaky_relu" and (
            self.negative_slope != DEFAULT_NEGATIVE_SLOPE
        ):
            return {"name": self.name, "negative_slope": self.negative_slope}
        if self.name == "elu" and self.alpha != DEFAULT_ELU_ALPHA:
            return {"name": self.name, "alpha": self.alpha}
        return self.name

    def __str__(self) -> str:
        described = self.to_json()
        if isinstance(described, str):
            return described
        params = ", ".join(f"{k}={v}" for k, v in described.items() if k != "name")
        return f"{self.name}({params})"


def _check_parameter(name: str, key: str, number: Any, layer: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise SpecError(
            f"layer {layer}: {name} parameter {key!r} must be a "
            f"number; received {number!r}."
        )
    if not _is_finite(number):
        raise SpecError(
            f"layer {layer}: {name} parameter {key!r} must be a finite "
            f"number; received {number!r}."
        )


def _is_finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int beyond float's range
        return False


def _check_dtype(dtype: Any) -> str:
    """``"float32"``/``"float64"``, from that name, a numpy type or dtype."""
    name = None
    if isinstance(dtype, str):
        name = str(dtype)
    elif isinstance(dtype, np.dtype):
        name = dtype.name
    elif isinstance(dtype, type) and issubclass(dtype, np.generic):
        name = np.dtype(dtype).name
    if name not in DTYPES:
        raise SpecError(
            f"dtype must be one of {', '.join(DTYPES)} (a name, np.float32 "
            f"or np.dtype('float32')); received {dtype!r}."
        )
    return name


def _check_in_dtype(where: str, number: float, dtype: str) -> None:
    """Refuse a number that overflows, or for a positive one vanishes,
    once cast to the network's dtype."""
    with np.errstate(over="ignore", under="ignore"):
        cast = np.dtype(dtype).type(float(number))
    if not np.isfinite(cast):
        raise SpecError(
            f"{where} is {float(number)!r}, finite in float64 but {cast} once "
            f"cast to the network's dtype {dtype}; give a value within "
            f"±{float(np.finfo(dtype).max):.4g} or make the network float64."
        )
    if number > 0 and cast == 0:
        raise SpecError(
            f"{where} is {float(number)!r}, positive in float64 but 0 once cast to "
            f"the network's dtype {dtype}; give a larger value ({dtype}'s "
            f"smallest is {float(np.finfo(dtype).smallest_subnormal):.2g}) or "
            "make the network float64."
        )


def _known_activation(name: Any, layer: int) -> str:
    if not isinstance(name, str):
        raise SpecError(
            f"layer {layer}: an activation's name must be a string such as "
            f"'relu'; received {name!r}."
        )
    name = ACTIVATION_ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise SpecError(
            f"layer {layer}: unknown activation {name!r}. "
            f"Known activations: {', '.join(ACTIVATIONS)} "
            f"(and the aliases {', '.join(ACTIVATION_ALIASES)})."
        )
    return name


@dataclass(frozen=True)
class NetworkSpec:
    """Widths, one activation per layer, a loss and a dtype.

    Args:
        widths: ``(n_0, n_1, …, n_n)``, the input width first.
        activations: one per layer, as names or :class:`Activation`.
        loss: a Keras loss name (see ``LOSSES``; ``mse``/``mae`` accepted).
        dtype: ``"float32"`` or ``"float64"``; every array keeps it.
        from_logits: as Keras's argument of that name: the cross-entropy
            reads the network output as logits.
        fused: where the last activation is sigmoid or softmax and the loss
            a cross-entropy on probabilities, Keras does not take the log of
            the activation's output: it finds the logits the activation
            cached and applies the logits form of the loss to ``z_n``.
            ``fused=True`` is that path (Keras's behaviour with its own
            activations, eager or traced); ``fused=False`` is the literal
            clipped-probability formula (what Keras does when the output
            comes from a raw ``tf.nn`` op in eager mode).  Left as ``None``
            it resolves to Keras's default: fused wherever it applies.
        huber_delta: the Huber loss's ``delta``.
    """

    widths: tuple[int, ...]
    activations: tuple[Activation, ...]
    loss: str
    dtype: str = "float32"
    from_logits: bool = False
    fused: bool | None = None
    huber_delta: float = DEFAULT_HUBER_DELTA

    def __post_init__(self) -> None:
        widths = _check_widths(self.widths)
        object.__setattr__(self, "widths", widths)

        if isinstance(self.activations, str | Mapping):
            raise SpecError(
                "activations must be a list with one entry per layer; "
                f"received the single value {self.activations!r}."
            )
        activations = tuple(
            Activation.parse(a, layer)
            for layer, a in enumerate(self.activations, start=1)
        )
        if len(activations) != len(widths) - 1:
            raise SpecError(
                f"widths {list(widths)} describe {len(widths) - 1} layer(s) "
                f"but {len(activations)} activation(s) were given; give one "
                "activation per layer (the input width has none)."
            )
        object.__setattr__(self, "activations", activations)

        if not isinstance(self.loss, str):
            raise SpecError(
                "loss must be a loss name (a string) such as "
                f"'categorical_crossentropy'; received {self.loss!r}. No loss "
                "is written as an object: the huber loss's delta is a key of "
                'the description itself, "loss": "huber", "huber_delta": 2.0 '
                "(in Python NetworkSpec(..., loss='huber', huber_delta=2.0))."
            )
        loss = LOSS_ALIASES.get(self.loss, self.loss)
        if loss not in LOSSES:
            raise SpecError(
                f"unknown loss {self.loss!r}. Known losses: "
                f"{', '.join(LOSSES)} (and the aliases "
                f"{', '.join(LOSS_ALIASES)})."
            )
        object.__setattr__(self, "loss", loss)

        dtype = _check_dtype(self.dtype)
        object.__setattr__(self, "dtype", dtype)
        for layer, act in enumerate(activations, start=1):
            key = PARAMETERS.get(act.name)
            if key is not None:
                where = f"layer {layer}: {act.name} parameter {key!r}"
                _check_in_dtype(where, getattr(act, key), dtype)

        _check_flag("from_logits", self.from_logits)
        if self.from_logits and loss not in CROSS_ENTROPIES:
            raise SpecError(
                f"from_logits=True needs a cross-entropy loss; {loss} has no "
                "logits form. Drop from_logits."
            )

        last = activations[-1].name
        if self.from_logits and last in ("sigmoid", "softmax"):
            raise SpecError(
                f"from_logits=True after a {last} output layer is ambiguous: "
                f"Keras would not read the {last}'s output as logits but the "
                "logits the activation cached (with a warning), so eager and "
                "traced runs may differ. Drop from_logits (Keras then fuses "
                f"the {last} into the loss) or make the last layer linear."
            )

        object.__setattr__(self, "fused", self._resolve_fused())

        delta = self.huber_delta
        if isinstance(delta, bool) or not isinstance(delta, int | float):
            raise SpecError(f"huber_delta must be a number; received {delta!r}.")
        if not (delta > 0 and _is_finite(delta)):
            raise SpecError(
                f"huber_delta must be a positive finite number; received {delta}."
            )
        if loss != "huber" and float(delta) != DEFAULT_HUBER_DELTA:
            raise SpecError(
                f"huber_delta is a parameter of the huber loss only; the loss "
                f"is {loss}. Drop huber_delta or use loss 'huber'."
            )
        _check_in_dtype("huber_delta", delta, dtype)
        object.__setattr__(self, "huber_delta", float(delta))

    def _resolve_fused(self) -> bool:
        last = self.activations[-1].name
        applies = (
            self.loss in CROSS_ENTROPIES
            and not self.from_logits
            and last in ("sigmoid", "softmax")
        )
        if self.fused is None:
            return applies

        _check_flag("fused", self.fused)
        if self.fused and not applies:
            raise SpecError(
                "fused=True needs a sigmoid or softmax last layer feeding a "
                "cross-entropy with from_logits=False; received last "
                f"activation {last!r}, loss {self.loss!r}, from_logits="
                f"{self.from_logits}. Drop fused or change the output layer."
            )
        return self.fused

    @property
    def depth(self) -> int:
        """The number of dense layers, ``n`` in the notes."""
        return len(self.widths) - 1

    @property
    def n_inputs(self) -> int:
        return self.widths[0]

    @property
    def n_outputs(self) -> int:
        return self.widths[-1]

    @property
    def loss_path(self) -> str:
        """``"fused"``, ``"logits"`` or ``"probabilities"``: how δⁿ is formed."""
        if self.fused:
            return "fused"
        if self.from_logits:
            return "logits"
        return "probabilities"

    def layer_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """``[(W_l.shape, b_l.shape) for l = 1 … n]``."""
        pairs = zip(self.widths[:-1], self.widths[1:], strict=True)
        return [((n_out, n_in), (n_out,)) for n_in, n_out in pairs]

    def describe(self) -> str:
        """One line: widths, activations, loss path and dtype."""
        acts = ", ".join(str(a) for a in self.activations)
        # The path only means something for the cross-entropies.
        path = f" ({self.loss_path})" if self.loss in CROSS_ENTROPIES else ""
        return (
            f"{'-'.join(map(str, self.widths))} [{acts}] {self.loss}{path} {self.dtype}"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "widths": list(self.widths),
            "activations": [a.to_json() for a in self.activations],
            "loss": self.loss,
            "dtype": self.dtype,
        }
        if self.from_logits:
            out["from_logits"] = True
        out["fused"] = self.fused
        if self.loss == "huber":
            out["huber_delta"] = self.huber_delta
        return out

    @classmethod
    def from_dict(cls, data: Any) -> NetworkSpec:
        if not isinstance(data, Mapping):
            raise SpecError(
                "a network description must be a JSON object with 'widths', "
                f"'activations' and 'loss'; received {type(data).__name__}."
            )
        missing = [k for k in ("widths", "activations", "loss") if k not in data]
        if missing:
            raise SpecError(
                f"the network description lacks {', '.join(missing)}; it "
                "needs 'widths', 'activations' and 'loss'."
            )
        known = {
            "widths",
            "activations",
            "loss",
            "dtype",
            "from_logits",
            "fused",
            "huber_delta",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                f"unknown key(s) {unknown} in the network description; "
                f"known keys: {', '.join(sorted(known))}."
            )
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        try:
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        except json.JSONDecodeError as err:
            raise SpecError(
                f"the network description is not valid JSON: {err.msg} at "
                f"line {err.lineno}, column {err.colno}."
            ) from err
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the description as JSON, atomically.

        The folder must exist already (as for the CLI's ``--json``); a
        missing one is a :class:`SpecError`, never created silently.
        """
        write_atomic(path, (self.to_json() + "\n").encode(), parents=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NetworkSpec:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise SpecError(
                f"cannot read the network description {str(path)!r}: {err.strerror}."
            ) from err
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SpecError(
                f"the network description {str(path)!r} is not UTF-8 text "
                f"(byte {data[err.start]:#04x} at offset {err.start}); it must "
                "be a JSON file in UTF-8, as NetworkSpec.save writes it."
            ) from err
        return cls.from_json(text)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s hook: a key given twice in one object is an error
    (plain JSON readers keep the last one silently)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            keys = ", ".join(repr(k) for k, _ in pairs)
            raise SpecError(
                f"the network description gives the key {key!r} twice in one "
                f"object (keys {keys}); keep one {key!r}: which one was meant "
                "is not guessed."
            )
        seen[key] = value
    return seen


def _check_widths(widths: Any) -> tuple[int, ...]:
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence):
        raise SpecError(
            f"widths must be a list of positive integers such as [4, 8, 1]; "
            f"received {widths!r}."
        )
    if len(widths) < 2:
        raise SpecError(
            f"widths must list the input width and at least one layer width, "
            f"e.g. [4, 1]; received {list(widths)}."
        )
    checked = []
    for i, width in enumerate(widths):
        try:
            number = None if _is_bool(width) else operator.index(width)
        except TypeError:
            number = None
        if number is None or number < 1:
            where = "the input width" if i == 0 else f"layer {i}'s width"
            raise SpecError(
                f"widths[{i}] ({where}) must be a positive integer; received {width!r}."
            )
        checked.append(number)
    return tuple(checked)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def check_spec(spec: Any, argument: str = "spec") -> None:
    """``spec`` must be a :class:`NetworkSpec`, not its JSON or a dict."""
    if not isinstance(spec, NetworkSpec):
        raise SpecError(
            f"{argument} must be a NetworkSpec; received "
            f"{type(spec).__name__}. Make one with NetworkSpec(widths, "
            "activations, loss), NetworkSpec.from_dict(d) or "
            "NetworkSpec.load(path)."
        )


def check_writable(target: Path) -> None:
    """Refuse a file name in a missing folder, or one that is a folder."""
    folder = target.parent
    if target.is_dir():
        raise SpecError(f"cannot write {str(target)!r}: it is a folder; name a file.")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise SpecError(
            f"cannot write {str(target)!r}: the folder {str(folder)!r} {what}; "
            "create it first (for example os.makedirs(folder, exist_ok=True)), "
            "nothing is created silently."
        )


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{name} must be true or false; received {value!r}.")


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, parents: bool = True
) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader sees the old file or the new one, never half of either.

    What is already at ``path`` is respected: a symbolic link keeps
    pointing where it did and the file it names is replaced; a device, a
    pipe or a socket (``/dev/stdout``, ``/dev/null``, a FIFO) is written
    into, not replaced, since a rename would swap it for a plain file; a
    file keeps its permission bits, and a read-only one is refused
    (:class:`SpecError`) rather than replaced behind its owner's back.

    With ``parents=True`` (the default) missing folders are created, as
    the replay directory and the test tools' outputs need; with ``False``
    a missing folder is a :class:`SpecError` that says to create it (what
    the public ``save`` functions and the CLI's ``--json`` do).
    """
    target = Path(os.path.realpath(path))  # through any symbolic links
    mode = None
    if target.exists() and not target.is_dir():
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            with open(target, "wb") as stream:  # a device, a pipe: write into it
                stream.write(data)
            return
        if not info.st_mode & 0o222:
            raise SpecError(
                f"cannot write {str(path)!r}: the file is read-only; make it "
                "writable (chmod u+w) or choose another name."
            )
        mode = stat.S_IMODE(info.st_mode)
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        check_writable(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        if mode is None:
            # mkstemp makes the file private (0600); give it the permissions
            # a plain open() would, so that results stay readable by others.
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
