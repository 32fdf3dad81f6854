"""A deliberately broken engine yields a replay file that reproduces the failure.

The hunt finds and shrinks a failing case for a mutation, the case is
written with ``replay.save_case`` (as a failing property test does), and
``manual-backprop verify --replay FILE`` must exit with status 1 on it,
while the same case with the real engine exits 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from manual_backprop import cli
from manual_backprop.replay import load_case
from manual_backprop.testing.checks import save_failure
from manual_backprop.testing.detection import hunt

pytestmark = pytest.mark.usefixtures("tf_reference")


@pytest.mark.parametrize(
    "name",
    ["relu_derivative_one_at_zero", "softmax_jacobian_diagonal", "momentum_sign_error"],
)
def test_a_mutation_replay_file_reproduces_the_failure(name: str, tmp_path) -> None:
    detection = hunt(name, max_examples=300)
    assert detection.caught and detection.case is not None

    path = save_failure(
        detection.case,
        detection.caught_by,
        engine_name=f"mutation:{name}",
        sgd=detection.sgd,
        directory=tmp_path,
    )
    assert path is not None and path.exists()

    saved = load_case(path)
    assert saved.meta["engine"] == f"mutation:{name}"
    assert saved.meta["property"] == detection.caught_by
    np.testing.assert_array_equal(saved.x, detection.case.x)
    np.testing.assert_array_equal(saved.labels, detection.case.labels)

    assert cli.main(["verify", "--replay", str(path)]) == 1


def test_the_same_case_with_the_real_engine_replays_clean(tmp_path) -> None:
    detection = hunt("relu_derivative_one_at_zero", max_examples=300)
    assert detection.case is not None
    path = save_failure(detection.case, "control", directory=tmp_path)
    assert path is not None
    assert cli.main(["verify", "--replay", str(path)]) == 0
