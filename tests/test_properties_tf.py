"""The engine against TensorFlow (``cross_check``), and TensorFlow against
float64 central differences.

TensorFlow is imported once per session (the ``tf_reference`` fixture), and
the reference runs as a ``tf.function`` with shape-polymorphic signatures,
so a new width or batch size does not retrace.  On failure the message is
``Report.summary()`` and the shrunk case is saved as a replay file.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from manual_backprop.testing import properties as P
from manual_backprop.testing.checks import (
    failure_message,
    save_failure,
    tensorflow_check,
)
from manual_backprop.testing.strategies import (
    Case,
    cases,
    sgd_is_gentle,
    sgd_settings,
)

pytestmark = pytest.mark.usefixtures("tf_reference")


def agrees(case: Case, quantities: tuple[str, ...], stem: str, sgd=None) -> None:
    """Assert the listed quantities agree; otherwise report and save the case."""
    report = tensorflow_check(case, sgd=sgd)
    bad = [c for c in report.comparisons if c.quantity in quantities and not c.passed]
    if bad:
        prop = f"engine agrees with TensorFlow on {', '.join(quantities)}"
        path = save_failure(case, prop, sgd=sgd, name=stem)
        raise AssertionError(failure_message(report.summary(), path))


@given(cases())
def test_outputs_and_loss_agree_with_tensorflow(case: Case) -> None:
    agrees(case, ("outputs", "loss"), "tf-outputs-loss")


@given(cases())
def test_every_delta_agrees_with_tensorflow(case: Case) -> None:
    agrees(case, ("delta",), "tf-delta")


@given(cases())
def test_every_weight_and_bias_gradient_agrees_with_tensorflow(case: Case) -> None:
    agrees(case, ("weight_grad", "bias_grad"), "tf-parameter-gradients")


@given(cases())
def test_input_gradient_agrees_with_tensorflow(case: Case) -> None:
    agrees(case, ("input_grad",), "tf-input-gradient")


SGD_QUANTITIES = ("W_after_sgd", "b_after_sgd")


@pytest.mark.parametrize("kind", ["plain", "momentum", "nesterov"])
@given(data=st.data())
def test_one_sgd_step_agrees_with_keras_sgd(kind: str, data) -> None:
    case = data.draw(cases(max_depth=4))
    sgd = data.draw(sgd_settings(kinds=(kind,), max_steps=1))
    assume(sgd_is_gentle(case, sgd))
    agrees(case, SGD_QUANTITIES, f"keras-sgd-one-step-{kind}", sgd=sgd)


@pytest.mark.parametrize("kind", ["plain", "momentum", "nesterov"])
@given(data=st.data())
def test_several_sgd_steps_agree_with_keras_sgd(kind: str, data) -> None:
    case = data.draw(cases(max_depth=4))
    sgd = data.draw(sgd_settings(kinds=(kind,), max_steps=4))
    assume(sgd.steps >= 2 and sgd_is_gentle(case, sgd))
    agrees(case, SGD_QUANTITIES, f"keras-sgd-steps-{kind}", sgd=sgd)


@given(cases(max_depth=3, max_width=6, max_batch=4), st.integers(0, 2**16))
def test_tensorflow_agrees_with_float64_central_differences(
    tf_reference, case: Case, seed: int
) -> None:
    """TensorFlow's float64 gradients against central differences of
    TensorFlow's own float64 loss: a mistake made the same way in the engine
    and in the reference cannot pass this and the engine's twin test."""
    wide = case.astype("float64")

    def loss_of(params, x) -> float:
        g = tf_reference.reference_gradients(wide.spec, params, x, wide.labels)
        return float(g.loss)

    gradients = tf_reference.reference_gradients(
        wide.spec, wide.params, wide.x, wide.labels
    )
    result = P.central_differences(
        wide,
        seed=seed,
        loss_of=loss_of,
        gradients=gradients,
        prop="TensorFlow agrees with float64 central differences",
    )
    assume(result.conclusive)
    if not result.passed:
        path = save_failure(case, result.prop, name="tf-central-differences")
        raise AssertionError(failure_message(result.summary(), path))
