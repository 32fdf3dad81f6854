"""Case files: one failing cross-check, saved so that it replays exactly.

A case is a network description, its parameters, a batch and a few facts
about how it was found (``meta``).  It is one ``.npz`` file, readable
without pickle:

* ``spec`` and ``meta``: JSON text, each stored as a 0-d unicode array;
* ``W1, b1, W2, …``: the parameters in the engine's layout;
* ``x`` and ``labels``: the batch.

``meta["engine"]`` is ``"engine"`` or ``"mutation:<name>"`` (a broken copy
from ``manual_backprop.testing.mutations``); ``meta["property"]`` names the
property that failed; ``meta["sgd"]``, when present, holds the SGD check's
``learning_rate``, ``momentum``, ``nesterov`` and ``steps``;
``meta["mode"]`` TensorFlow's execution mode.  ``manual-backprop verify
--replay FILE`` runs the case again.  :func:`load_case` checks
``meta["sgd"]`` fully (:func:`check_sgd`): exactly those four keys, each
of its type and range, and at most :data:`MAX_SGD_STEPS` steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import check_inputs, check_labels
from .errors import SpecError
from .params import (
    LayerParams,
    Params,
    check_params,
    params_as_arrays,
    read_npz,
    write_npz,
)
from .spec import NetworkSpec

FORMAT = "manual-backprop-case/1"
REPLAY_ENV = "MANUAL_BACKPROP_REPLAY_DIR"
DEFAULT_REPLAY_DIR = "replays"

# meta["sgd"]: exactly these keys, as SGDCheck.to_dict writes them.
SGD_KEYS = ("learning_rate", "momentum", "nesterov", "steps")
# The most SGD steps a case may ask for.  What the code writes is 4 at most
# (the property tests draw 1 to 4, verify's trained network checks 3, the
# mutation catalogue asks for 2).  The check replays Keras from the start
# for every prefix of the steps, so its cost grows as steps²; and past a
# few steps two correct implementations drift apart by compounded
# round-off, so more steps test nothing new.  10 leaves room for a case
# made by hand and keeps a replay to seconds.
MAX_SGD_STEPS = 10


def replay_dir() -> str:
    """Where failing cases are written: ``$MANUAL_BACKPROP_REPLAY_DIR``
    or ``replays/``."""
    return os.environ.get(REPLAY_ENV) or DEFAULT_REPLAY_DIR


def case_key(
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    prop: str,
    engine_name: str = "engine",
) -> str:
    """A short name fixed by the case's contents and what found it."""
    digest = hashlib.sha1()
    digest.update(f"{prop}|{engine_name}|{spec.to_json()}".encode())
    for W, b in params:
        digest.update(np.ascontiguousarray(W).tobytes())
        digest.update(np.ascontiguousarray(b).tobytes())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Case:
    """One saved case: what ``cross_check`` needs, plus how it was found."""

    spec: NetworkSpec
    params: Params
    x: np.ndarray
    labels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def save_case(
    path: str | os.PathLike[str],
    spec: NetworkSpec,
    params: Params,
    x: Any,
    labels: Any,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write a case file atomically (see the module docstring)."""
    params = check_params(spec, params)
    meta = dict(meta or {})
    meta.setdefault("engine", "engine")
    meta["format"] = FORMAT
    try:
        meta_text = json.dumps(meta)
    except TypeError as err:
        raise SpecError(
            f"meta must hold JSON values only (numbers, strings, lists, "
            f"objects): {err}."
        ) from err

    arrays: dict[str, np.ndarray] = {
        "spec": np.array(spec.to_json()),
        "meta": np.array(meta_text),
        "x": np.asarray(x),
        "labels": np.asarray(labels),
    }
    arrays.update(params_as_arrays(params))
    write_npz(path, arrays)


def load_case(path: str | os.PathLike[str]) -> Case:
    """Read and check a case file written by :func:`save_case`."""
    name = str(path)
    arrays = read_npz(path, "case file")

    missing = [
        k for k in ("spec", "meta", "x", "labels", "W1", "b1") if k not in arrays
    ]
    if missing:
        raise SpecError(
            f"case file {name!r} lacks {', '.join(missing)}; it needs spec, "
            "meta, x, labels and W1, b1, … for every layer."
        )

    spec = NetworkSpec.from_json(_text(arrays["spec"], "spec", name))
    try:
        meta = json.loads(_text(arrays["meta"], "meta", name))
    except json.JSONDecodeError as err:
        raise SpecError(f"case file {name!r}: meta is not valid JSON: {err}.") from err
    if not isinstance(meta, dict):
        raise SpecError(f"case file {name!r}: meta must be a JSON object.")
    if meta.get("format", FORMAT) != FORMAT:
        raise SpecError(
            f"case file {name!r} is in format {meta['format']!r}; this version "
            f"reads {FORMAT!r}."
        )

    if "sgd" in meta:
        check_sgd(meta["sgd"], name)

    expected = {f"{k}{layer}" for layer in range(1, spec.depth + 1) for k in "Wb"}
    present = {k for k in arrays if k[:1] in "Wb" and k[1:].isdigit()}
    if present != expected:
        raise SpecError(
            f"case file {name!r}: the description has {spec.depth} layer(s) "
            f"but the file holds {sorted(present)}; expected {sorted(expected)}."
        )
    params = check_params(
        spec,
        [
            LayerParams(arrays[f"W{layer}"], arrays[f"b{layer}"])
            for layer in range(1, spec.depth + 1)
        ],
        argument=name,
    )
    x, labels = arrays["x"], arrays["labels"]
    check_inputs(spec, x, argument=f"{name}: x")
    check_labels(spec, labels, batch=x.shape[0], argument=f"{name}: labels")
    return Case(spec, params, x, labels, meta)


def _text(array: np.ndarray, key: str, name: str) -> str:
    if array.shape != () or array.dtype.kind != "U":
        raise SpecError(
            f"case file {name!r}: {key!r} must be JSON text stored as a 0-d "
            f"unicode array; found dtype {array.dtype}, shape {array.shape}."
        )
    return str(array[()])


def check_sgd(sgd: Any, name: str) -> dict[str, Any]:
    """``meta["sgd"]`` of the case file ``name``, checked; or SpecError."""
    where = f"case file {name!r}: meta['sgd']"
    needs = "learning_rate, momentum, nesterov and steps"
    if not isinstance(sgd, dict):
        raise SpecError(
            f"{where} must be a JSON object holding {needs}; found "
            f"{sgd!r} ({type(sgd).__name__})."
        )
    missing = [k for k in SGD_KEYS if k not in sgd]
    unknown = sorted(str(k) for k in sgd if k not in SGD_KEYS)
    if missing or unknown:
        what = f"lacks {', '.join(missing)}" if missing else ""
        if unknown:
            what += "; " if what else ""
            what += f"has unknown key(s) {', '.join(unknown)}"
        raise SpecError(f"{where} {what}; it must hold exactly {needs}.")

    def bad(key: str, expected: str) -> SpecError:
        value = sgd[key]
        return SpecError(
            f"{where}['{key}'] must be {expected}; found {value!r} "
            f"({type(value).__name__})."
        )

    rate = _real(sgd["learning_rate"])
    if rate is None or not (rate > 0 and math.isfinite(rate)):
        raise bad("learning_rate", "a finite number above 0, such as 0.01")
    momentum = _real(sgd["momentum"])
    if momentum is None or not 0 <= momentum <= 1:
        raise bad("momentum", "a number from 0 to 1, such as 0.9")
    if not isinstance(sgd["nesterov"], bool):
        raise bad("nesterov", "true or false")
    if sgd["nesterov"] and momentum == 0:
        raise bad("nesterov", "false when momentum is 0 (Nesterov needs momentum)")
    steps = sgd["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise bad("steps", f"a whole number from 1 to {MAX_SGD_STEPS}")
    if not 1 <= steps <= MAX_SGD_STEPS:
        raise bad(
            "steps",
            f"a whole number from 1 to {MAX_SGD_STEPS} (Keras is replayed from "
            "the start for every step, so the time grows as steps²)",
        )
    return sgd


def _real(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (true, "0.1", …)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf
