"""Hypothesis profiles for the property suite, and shared fixtures.

Profiles (choose with ``MANUAL_BACKPROP_PROFILE=<name>`` or pytest's
``--hypothesis-profile=<name>``, which wins):

* ``ci``: fast and deterministic (``derandomize=True``, few examples, no
  example database), the default when the environment variable ``CI`` is
  set;
* ``dev``: the default otherwise; random, a few dozen examples per property;
* ``thorough``: long runs, a thousand examples per property.

Failing property tests write their shrunk case to
``$MANUAL_BACKPROP_REPLAY_DIR`` (default ``replays/``).

No profile has a deadline: the first TensorFlow call of a new network depth
traces a function (tens of milliseconds, sometimes more on a busy machine).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=12,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)

PROFILE = os.environ.get(
    "MANUAL_BACKPROP_PROFILE", "ci" if os.environ.get("CI") else "dev"
)
settings.load_profile(PROFILE)


@pytest.fixture(scope="session")
def tf_reference():
    """TensorFlow's twin, imported once per session."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tf_reference", reason="TensorFlow is not installed")
