"""The TensorFlow-backed checks, and writing a failing case to a replay file.

``tensorflow_check`` runs ``manual_backprop.crosscheck.cross_check`` on a
:class:`~manual_backprop.testing.strategies.Case`; ``save_failure``
writes the case with ``manual_backprop.replay.save_case`` under the
replay directory (``MANUAL_BACKPROP_REPLAY_DIR``, default ``replays/``)
under a name made from the property and the case itself, so re-running a
failing example overwrites its own file, and the last failure Hypothesis
runs (the shrunk one) is the file named in the assertion message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .strategies import Case, SGDSetting


def replay_dir() -> Path:
    from ..replay import replay_dir as directory

    return Path(directory())


def tensorflow_check(
    case: Case,
    *,
    engine: Any = None,
    sgd: SGDSetting | None = None,
    engine_name: str = "engine",
    mode: str = "function",
) -> Any:
    """``cross_check`` on ``case``; the engine and SGD class may be a mutant's.

    ``engine`` is a :class:`~manual_backprop.testing.mutations.MutatedEngine`
    or ``None`` for the real engine.
    """
    from ..crosscheck import SGDCheck, cross_check

    options: dict[str, Any] = {"mode": mode, "engine_name": engine_name}
    if engine is not None:
        options["engine"] = engine.backward
    if sgd is not None:
        factory = {} if engine is None else {"optimizer_factory": engine.SGD}
        options["sgd"] = SGDCheck(
            learning_rate=sgd.learning_rate,
            momentum=sgd.momentum,
            nesterov=sgd.nesterov,
            steps=sgd.steps,
            **factory,
        )
    with np.errstate(all="ignore"):
        return cross_check(case.spec, case.params, case.x, case.labels, **options)


def case_key(case: Case, prop: str, engine_name: str = "engine") -> str:
    """A short name fixed by the case's contents and the property."""
    from ..replay import case_key as key

    return key(case.spec, case.params, case.x, case.labels, prop, engine_name)


def save_failure(
    case: Case,
    prop: str,
    *,
    engine_name: str = "engine",
    sgd: SGDSetting | None = None,
    directory: str | os.PathLike[str] | None = None,
    extra: dict[str, Any] | None = None,
    name: str | None = None,
) -> Path | None:
    """Write ``case`` as a replay file; return its path.

    Returns ``None`` when this checkout has no ``manual_backprop.replay``.

    ``name`` fixes the file's name (a test passes its own, so each failing
    example overwrites the last and the shrunk one, run last, remains);
    by default the name is made from the property and the case's contents.
    ``meta`` records the property, the engine (``"engine"`` or
    ``"mutation:<name>"``), the SGD setting and the case's region and seed.
    """
    try:
        from ..replay import save_case
    except ImportError:
        return None

    slug = "".join(ch if ch.isalnum() else "-" for ch in prop)[:48].strip("-")
    stem = name or f"{slug}-{case_key(case, prop, engine_name)}"
    path = Path(directory or replay_dir()) / f"{stem}.npz"
    meta: dict[str, Any] = {
        "property": prop,
        "engine": engine_name,
        "region": case.region,
        "seed": case.seed,
        "mode": "function",
    }
    if sgd is not None:
        meta["sgd"] = {
            "learning_rate": sgd.learning_rate,
            "momentum": sgd.momentum,
            "nesterov": sgd.nesterov,
            "steps": sgd.steps,
        }
    if extra:
        meta.update(extra)
    save_case(path, case.spec, case.params, case.x, case.labels, meta)
    return path


def failure_message(summary: str, path: Path | None) -> str:
    """The assertion message: the report, then how to replay it."""
    if path is None:
        return summary
    return (
        f"{summary}\n\nThe failing case is saved; reproduce it with:\n"
        f"    manual-backprop verify --replay {path}"
    )
