"""The cross-check's judging (numpy only) and one real run against TensorFlow.

The numpy tests build their three results by hand: the engine's float32 run,
a "reference" that is the float64 truth rounded once to float32 (a correct
second implementation, about as far from the truth as any could be), and the
truth itself.  Injected errors then show what the report says about them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from manual_backprop import engine
from manual_backprop.crosscheck import compare, float64_case, random_case
from manual_backprop.engine import Gradients, LayerGradients
from manual_backprop.params import LayerParams
from manual_backprop.report import QUANTITIES
from manual_backprop.spec import NetworkSpec


def rounded(result: Gradients, dtype: str) -> Gradients:
    """Every array of ``result`` rounded to ``dtype``."""

    def cast(a):
        return np.asarray(a).astype(dtype)

    layers = tuple(
        LayerGradients(*(cast(getattr(g, f.name)) for f in dataclasses.fields(g)))
        for g in result.layers
    )
    return Gradients(
        cast(result.loss), cast(result.outputs), layers, cast(result.input_grad)
    )


def with_layer(result: Gradients, layer: int, **changes) -> Gradients:
    """``result`` with some of layer ``layer``'s arrays replaced."""
    layers = list(result.layers)
    layers[layer - 1] = dataclasses.replace(layers[layer - 1], **changes)
    return dataclasses.replace(result, layers=tuple(layers))


def three_runs(case):
    spec, params, x, labels = case
    with np.errstate(all="ignore"):
        ours = engine.backward(spec, params, x, labels)
        truth = engine.backward(*float64_case(spec, params, x, labels))
    return ours, rounded(truth, spec.dtype), truth


def judged(case, ours, reference, truth):
    return compare(*case, ours, reference, truth)


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(20261203)
    return [
        random_case(rng, dtype="float32", max_depth=5, max_width=24, saturate=True)
        for _ in range(40)
    ]


def test_agreeing_runs_pass_with_room_to_spare(cases):
    worst = 0.0
    for case in cases:
        report = judged(case, *three_runs(case))
        assert report.passed, report.summary()
        worst = max(worst, report.worst_ratio)
    assert worst < 0.5


def test_rows_come_in_backprop_order(cases):
    case = next(c for c in cases if c[0].depth >= 3)
    report = judged(case, *three_runs(case))
    depth = case[0].depth
    expected = [("loss", None), ("outputs", None)]
    for layer in range(depth, 0, -1):
        expected += [("delta", layer), ("weight_grad", layer), ("bias_grad", layer)]
    expected.append(("input_grad", None))
    assert [(c.quantity, c.layer) for c in report.comparisons] == expected
    assert {c.quantity for c in report.comparisons} <= set(QUANTITIES)


def deep_case():
    spec = NetworkSpec((5, 7, 6, 3), ("tanh", "sigmoid", "linear"), "mse")
    rng = np.random.default_rng(7)
    params = tuple(
        LayerParams(
            rng.standard_normal(w_shape).astype("float32"),
            rng.standard_normal(b_shape).astype("float32"),
        )
        for w_shape, b_shape in spec.layer_shapes()
    )
    x = rng.standard_normal((4, 5)).astype("float32")
    labels = rng.standard_normal((4, 3)).astype("float32")
    return spec, params, x, labels


def test_a_single_wrong_delta_element_is_blamed_on_the_engine():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    delta = ours[2].delta.copy()
    delta[1, 3] *= 1.01
    report = judged(case, with_layer(ours, 2, delta=delta), reference, truth)

    assert not report.passed
    assert report.first_divergent_delta == 2
    failing = report.failures
    assert [(c.quantity, c.layer) for c in failing] == [("delta", 2)]
    assert failing[0].worst_index == (1, 3)
    assert failing[0].verdict == "engine"
    assert failing[0].ratio > 100  # a 1 % error, hundreds of tolerances
    assert "layer 2" in report.summary()


def test_the_first_diverging_delta_is_the_one_nearest_the_output():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    bad = ours
    for layer in (1, 3):
        delta = ours[layer].delta * 1.5
        bad = with_layer(bad, layer, delta=delta)
    report = judged(case, bad, reference, truth)
    assert report.first_divergent_delta == 3


def test_a_perturbed_reference_is_blamed_on_tensorflow():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    weight_grad = reference[1].weight_grad.copy()
    weight_grad[2, 0] += 1e-3 * (1 + abs(weight_grad[2, 0]))
    report = judged(
        case, ours, with_layer(reference, 1, weight_grad=weight_grad), truth
    )
    (failing,) = report.failures
    assert (failing.quantity, failing.layer) == ("weight_grad", 1)
    assert failing.verdict == "tensorflow"


def test_a_too_tight_tolerance_is_called_round_off():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    report = judged(case, ours, reference, truth)
    row = report.comparisons[0]
    assert row.quantity == "loss"
    # Engine and reference each 0.9 tolerances from the truth, on opposite
    # sides: each is fine, yet they differ by 1.8 tolerances.
    bump = 0.9 * row.tolerance
    moved_ours = dataclasses.replace(ours, loss=truth.loss + bump)
    moved_ref = dataclasses.replace(reference, loss=truth.loss - bump)
    row = judged(case, moved_ours, moved_ref, truth).comparisons[0]
    assert not row.passed
    assert row.verdict == "round-off"
    assert 1.5 < row.ratio < 2


def test_inf_or_nan_on_both_sides_never_passes():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    nan = np.asarray(np.nan, dtype=np.asarray(ours.loss).dtype)

    both = dataclasses.replace(ours, loss=nan)
    row = judged(case, both, dataclasses.replace(reference, loss=nan), truth)
    row = row.comparisons[0]
    assert row.quantity == "loss"
    assert not row.passed
    assert row.verdict == "out-of-range"
    assert "cannot be checked" in row.rule

    row = judged(case, both, reference, truth).comparisons[0]
    assert not row.passed
    assert row.verdict == "engine"

    # Not even where the truth is not finite either: nothing was checked.
    lost = dataclasses.replace(truth, loss=np.float64(np.nan))
    row = judged(
        case, both, dataclasses.replace(reference, loss=nan), lost
    ).comparisons[0]
    assert not row.passed
    assert row.verdict == "out-of-range"

    inf = np.asarray(np.inf, dtype=nan.dtype)
    both_inf = dataclasses.replace(ours, loss=inf)
    row = judged(
        case, both_inf, dataclasses.replace(reference, loss=inf), truth
    ).comparisons[0]
    assert not row.passed
    assert row.verdict == "out-of-range"


def relu_case():
    """One relu unit that sits exactly at z = 0 for the first example."""
    spec = NetworkSpec((2, 2, 1), ("relu", "linear"), "mse")
    params = (
        LayerParams(
            np.array([[1.0, -1.0], [0.5, 0.25]], "float32"),
            np.zeros(2, "float32"),
        ),
        LayerParams(np.array([[2.0, -3.0]], "float32"), np.zeros(1, "float32")),
    )
    x = np.array([[0.75, 0.75], [1.0, 2.0]], "float32")  # z[0, 0] = 0 exactly
    labels = np.array([[1.0], [-1.0]], "float32")
    return spec, params, x, labels


def test_relu_prime_one_at_an_exact_zero_is_caught():
    case = relu_case()
    ours, reference, truth = three_runs(case)
    assert ours[1].pre_activation[0, 0] == 0 and truth[1].pre_activation[0, 0] == 0

    g = ours[2].delta @ case[1][1].W  # ∂L/∂y_1
    delta = ours[1].delta.copy()
    delta[0, 0] = g[0, 0]  # what relu'(0) = 1 would give
    report = judged(case, with_layer(ours, 1, delta=delta), reference, truth)

    row = next(c for c in report.comparisons if c.quantity == "delta" and c.layer == 1)
    assert report.first_divergent_delta == 1
    assert (row.layer, row.worst_index, row.verdict) == (1, (0, 0), "engine")
    assert row.ratio > 1e6


def test_round_off_straddling_a_relu_kink_is_not_a_failure():
    case = relu_case()
    ours, reference, truth = three_runs(case)
    g = ours[2].delta @ case[1][1].W

    # The engine's z came out a hair above 0, TensorFlow's a hair below:
    # relu' is 1 for one and 0 for the other, legitimately.
    z_ours = ours[1].pre_activation.copy()
    z_ours[0, 0] = 1e-9
    d_ours = ours[1].delta.copy()
    d_ours[0, 0] = g[0, 0]
    z_ref = reference[1].pre_activation.copy()
    z_ref[0, 0] = -1e-9
    straddled = with_layer(ours, 1, pre_activation=z_ours, delta=d_ours)
    below = with_layer(reference, 1, pre_activation=z_ref)

    report = judged(case, straddled, below, truth)
    assert report.passed, report.summary()
    assert any("kink" in note for note in report.notes)


def test_a_kink_crossed_by_far_more_than_round_off_is_not_excused():
    case = relu_case()
    ours, reference, truth = three_runs(case)
    g = ours[2].delta @ case[1][1].W

    # A forward bug, not round-off, moved the engine's z across the kink.
    z_ours = ours[1].pre_activation.copy()
    z_ours[0, 0] = 0.5
    d_ours = ours[1].delta.copy()
    d_ours[0, 0] = g[0, 0]
    report = judged(
        case, with_layer(ours, 1, pre_activation=z_ours, delta=d_ours), reference, truth
    )
    assert report.first_divergent_delta == 1


def test_a_shape_mismatch_fails_cleanly():
    case = deep_case()
    ours, reference, truth = three_runs(case)
    wrong = with_layer(ours, 2, weight_grad=ours[2].weight_grad.T)
    report = judged(case, wrong, reference, truth)
    (failing,) = report.failures
    assert failing.quantity == "weight_grad" and failing.verdict == "engine"
    assert "shapes differ" in failing.rule


def test_the_report_serialises_to_json(cases):
    import json

    report = judged(cases[0], *three_runs(cases[0]))
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["spec"] == cases[0][0].to_dict()
    assert document["versions"]["numpy"] == np.__version__
    assert len(document["comparisons"]) == len(report.comparisons)
    assert all("rule" in row and "tolerance" in row for row in document["comparisons"])


def test_the_table_has_one_row_per_comparison(cases):
    report = judged(cases[0], *three_runs(cases[0]))
    assert report.table().row_count == len(report.comparisons)


# Against TensorFlow itself.


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_engine_agrees_with_tensorflow(dtype):
    pytest.importorskip("tf_reference", reason="needs TensorFlow (the tf extra)")
    from manual_backprop.crosscheck import SGDCheck, cross_check

    rng = np.random.default_rng(3)
    spec, params, x, labels = random_case(rng, dtype=dtype, max_depth=4)
    report = cross_check(spec, params, x, labels, sgd=SGDCheck(0.05, steps=2))
    assert report.passed, report.summary()
    assert report.comparisons[-1].quantity == "b_after_sgd"
    assert report.mode == "function"


@pytest.mark.parametrize(
    "dtype",
    [
        "float32",
        "float64",
    ],
)
def test_sgd_with_momentum_agrees_with_keras(dtype):
    pytest.importorskip("tf_reference", reason="needs TensorFlow (the tf extra)")
    from manual_backprop.crosscheck import SGDCheck, cross_check

    rng = np.random.default_rng(3)
    spec, params, x, labels = random_case(rng, dtype=dtype, max_depth=4)
    sgd = SGDCheck(0.05, momentum=0.9, nesterov=True, steps=2)
    report = cross_check(spec, params, x, labels, sgd=sgd)
    assert report.passed, report.summary()


def mae_case():
    """One output exactly on its target for the first example: e = 0."""
    spec = NetworkSpec((2, 1), ("linear",), "mae")
    params = (LayerParams(np.array([[1.0, 2.0]], "float32"), np.zeros(1, "float32")),)
    x = np.array([[0.5, 0.25], [1.0, -1.0]], "float32")
    labels = np.array([[1.0], [3.0]], "float32")  # y - t = 0, then -4
    return spec, params, x, labels


def test_mean_absolute_error_sign_of_zero_one_is_caught():
    case = mae_case()
    ours, reference, truth = three_runs(case)
    delta = ours[1].delta.copy()
    assert delta[0, 0] == 0  # sign(0) = 0
    delta[0, 0] = 1 / 2  # sign(0) = 1, divided by B·n = 2
    report = judged(case, with_layer(ours, 1, delta=delta), reference, truth)
    assert report.first_divergent_delta == 1
    assert report.failures[0].verdict == "engine"


def test_round_off_straddling_a_zero_error_is_not_a_failure():
    case = mae_case()
    ours, reference, truth = three_runs(case)

    def shifted(result, error):
        outputs = result.outputs.copy()
        outputs[0, 0] = case[3][0, 0] + error
        delta = result[1].delta.copy()
        delta[0, 0] = np.sign(error) / 2
        moved = with_layer(result, 1, delta=delta, output=outputs)
        return dataclasses.replace(moved, outputs=outputs)

    above, below = shifted(ours, 1e-7), shifted(reference, -1e-7)
    report = judged(case, above, below, truth)
    row = next(c for c in report.comparisons if c.quantity == "delta")
    assert row.passed, report.summary()
    assert any("clip/sign" in note for note in report.notes)


def test_a_non_finite_float64_truth_is_out_of_range_not_the_engines_fault():
    from manual_backprop.crosscheck import cross_check

    # numpy's float64 sigmoid(-709.3) is the subnormal 9e-309, TensorFlow's
    # is 0; Keras's row normalisation then divides 0 by 0.  The truth (the
    # float64 TensorFlow run) is NaN and cannot say who is wrong.
    spec = NetworkSpec(
        (1, 1), ("sigmoid",), "categorical_crossentropy", "float64", fused=False
    )
    params = (LayerParams(np.ones((1, 1)), np.zeros(1)),)
    x, labels = np.array([[-709.3]]), np.array([[1.0]])

    report = cross_check(spec, params, x, labels)

    assert not report.passed
    assert {c.verdict for c in report.failures} == {"out-of-range"}
    assert "float64 truth is nan" in report.failures[0].rule


def test_an_sgd_check_that_diverges_reports_out_of_range_rows():
    from manual_backprop.crosscheck import SGDCheck, cross_check
    from manual_backprop.params import init_params

    # A learning rate of 1e30 sends float32 parameters to inf by the second
    # step: the rows say so, rather than refusing the engine's own
    # parameters as bad input.
    spec = NetworkSpec((3, 3), ("linear",), "mean_squared_error", "float32")
    params = init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype("float32")
    labels = rng.normal(size=(4, 3)).astype("float32")

    report = cross_check(spec, params, x, labels, sgd=SGDCheck(1e30, steps=3))

    failing = {(c.quantity, c.verdict) for c in report.failures}
    assert failing == {("W_after_sgd", "out-of-range"), ("b_after_sgd", "out-of-range")}


def _tanh_net(depth, width):
    spec = NetworkSpec(
        (16,) + (width,) * depth + (5,),
        ("tanh",) * depth + ("softmax",),
        "categorical_crossentropy",
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16)).astype("float32")
    labels = np.eye(5, dtype="float32")[rng.integers(0, 5, 8)]
    from manual_backprop.params import init_params

    return spec, init_params(spec, seed=3), x, labels


def test_rows_whose_tolerance_exceeds_their_values_are_called_blind():
    # Eight tanh layers 64 wide in float32: the first-order bound has grown
    # past the values themselves, so a wrong tanh' (1 − y instead of
    # 1 − y²) passes.  The report must say that nothing was seen.
    from manual_backprop.crosscheck import cross_check
    from manual_backprop.testing.mutations import mutated_engine

    case = _tanh_net(depth=8, width=64)
    wrong = mutated_engine("tanh_derivative_one_minus_y").backward

    report = cross_check(*case, engine=wrong)

    assert report.passed  # the bound is too loose to fail it...
    assert len(report.blind_rows) == len(report.comparisons)  # ...and says so
    assert "cannot see even a 100 % error" in report.summary()
    assert "--dtype float64" in report.summary()
    assert report.to_dict()["blind"][0] == "L"


def test_a_shallow_network_has_no_blind_rows_and_catches_the_same_bug():
    from manual_backprop.crosscheck import cross_check
    from manual_backprop.testing.mutations import mutated_engine

    case = _tanh_net(depth=3, width=16)
    wrong = mutated_engine("tanh_derivative_one_minus_y").backward

    assert cross_check(*case).blind_rows == []
    assert not cross_check(*case, engine=wrong).passed


def test_describe_names_the_loss_path_of_cross_entropies_only():
    cce = NetworkSpec((3, 2), ("softmax",), "categorical_crossentropy")
    mse = NetworkSpec((3, 2), ("linear",), "mean_squared_error")

    assert cce.describe() == "3-2 [softmax] categorical_crossentropy (fused) float32"
    assert mse.describe() == "3-2 [linear] mean_squared_error float32"
