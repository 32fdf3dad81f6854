"""Properties every correct backprop has, checked with numpy alone.

Each test draws cases from ``manual_backprop.testing.strategies`` and checks
one identity of ``manual_backprop.testing.properties`` on the real engine.
On failure the message is the property's report, and the shrunk case is
saved as a replay file (see ``manual_backprop.testing.checks``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, find, given, settings
from hypothesis import strategies as st

from manual_backprop import engine
from manual_backprop.testing import properties as P
from manual_backprop.testing.checks import failure_message, save_failure
from manual_backprop.testing.strategies import (
    ACTIVATION_ORDER,
    Case,
    cases,
    network_specs,
)

REGRESSION = ("mean_squared_error", "mean_absolute_error", "huber")


def holds(result: P.PropertyResult, stem: str) -> None:
    """Assert the property held; on failure save the case and say how to replay."""
    assume(result.conclusive)
    if not result.passed:
        assert result.case is not None
        path = save_failure(result.case, result.prop, name=stem)
        raise AssertionError(failure_message(result.summary(), path))


@given(cases())
def test_bias_gradient_is_the_batch_sum_of_delta(case: Case) -> None:
    holds(P.bias_gradient_is_batch_sum_of_delta(case), "bias-is-sum-of-delta")


@given(cases())
def test_weight_gradient_is_delta_transposed_times_the_layer_input(
    case: Case,
) -> None:
    holds(P.weight_gradient_is_delta_times_layer_input(case), "weight-is-delta-x")


@given(cases(max_batch=16))
def test_gradient_of_the_mean_loss_is_the_mean_of_example_gradients(
    case: Case,
) -> None:
    holds(P.mean_gradient_is_mean_of_example_gradients(case), "mean-of-examples")


@given(cases(), st.integers(0, 2**16))
def test_permuting_the_batch_permutes_rows_and_changes_no_parameter_gradient(
    case: Case, seed: int
) -> None:
    holds(P.permuting_the_batch_permutes_only_rows(case, seed=seed), "permutation")


@given(cases(max_batch=16), st.integers(2, 4))
def test_repeating_the_batch_leaves_the_mean_reduced_gradient_unchanged(
    case: Case, times: int
) -> None:
    result = P.repeating_the_batch_leaves_mean_gradient_unchanged(case, times=times)
    holds(result, "repetition")


@given(cases(max_batch=16), st.integers(1, 2**16))
def test_weighting_an_example_by_repetition_weights_its_share_of_the_gradient(
    case: Case, seed: int
) -> None:
    result = P.weighting_examples_weights_their_gradients(case, seed=seed)
    holds(result, "weighting")


@given(cases(losses=REGRESSION, outputs=("linear",)), st.sampled_from([2.0, 0.5, 4.0]))
def test_scaling_outputs_and_targets_scales_the_loss_and_every_gradient(
    case: Case, c: float
) -> None:
    result = P.scaling_outputs_and_targets_scales_loss_and_gradients(case, c=c)
    holds(result, "output-scaling")


@given(cases(max_depth=4, max_width=12, max_batch=8), st.integers(0, 2**16))
def test_engine_agrees_with_float64_central_differences(case: Case, seed: int) -> None:
    holds(P.central_differences(case, seed=seed), "central-differences")


# The strategies themselves.


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shrinking_goes_to_one_linear_layer_of_width_one_and_a_batch_of_one(
    dtype: str,
) -> None:
    smallest = find(
        cases(dtypes=(dtype,)),
        lambda case: True,
        settings=settings(database=None, max_examples=50),
    )
    assert smallest.spec.widths == (1, 1)
    assert smallest.spec.activations[0].name == "linear"
    assert smallest.batch == 1
    assert smallest.region == "plain"


def test_activation_lists_start_with_the_simplest() -> None:
    assert ACTIVATION_ORDER[:2] == ("linear", "relu")


@given(
    cases(
        regions=("kinks",),
        hidden=("relu", "leaky_relu", "elu", "selu", "hard_sigmoid"),
    )
)
def test_kink_region_puts_pre_activations_exactly_on_the_kink(case: Case) -> None:
    assume(case.exact_units)
    grads = engine.backward(case.spec, case.params, case.x, case.labels)
    for layer, unit in case.exact_units:
        z = np.asarray(grads[layer].pre_activation)[:, unit]
        name = case.spec.activations[layer - 1].name
        allowed = (-3.0, 3.0) if name == "hard_sigmoid" else (0.0,)
        assert np.all(np.isin(z, allowed)), (layer, unit, z)


@given(cases(losses=("categorical_crossentropy",)))
def test_categorical_labels_are_rows_summing_to_exactly_one(case: Case) -> None:
    assert np.all(case.labels >= 0)
    assert np.all(np.sum(case.labels.astype(np.float64), axis=1) == 1.0)


@given(cases())
def test_every_drawn_case_is_valid_and_finite_for_the_engine(case: Case) -> None:
    grads = engine.backward(case.spec, case.params, case.x, case.labels)
    assert np.isfinite(grads.loss)
    assert grads.outputs.dtype == np.dtype(case.spec.dtype)


@given(network_specs())
def test_spec_strategy_covers_depth_one_to_eight(spec) -> None:
    assert 1 <= spec.depth <= 8
    assert all(1 <= w <= 64 for w in spec.widths)


def test_the_framework_free_sweep_reports_no_failure_on_a_few_cases(
    tmp_path, capsys
) -> None:
    from manual_backprop.testing.cli import sweep_main

    out = tmp_path / "sweep.json"
    status = sweep_main(
        ["--cases", "5", "--properties", "framework-free", "--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "networks/s" in printed
    import json

    results = json.loads(out.read_text())["results"]
    assert {r["cases"] for r in results.values()} == {5}
