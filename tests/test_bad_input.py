"""Bad input, one row each: the exception's kind and what its message names.

Every row goes through ``cross_check``, which validates before TensorFlow is
imported, so none of these needs TensorFlow; descriptions also go through
JSON, and case files through ``load_case``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from manual_backprop.crosscheck import cross_check
from manual_backprop.errors import (
    DTypeError,
    LabelError,
    ManualBackpropError,
    ShapeError,
    SpecError,
)
from manual_backprop.params import LayerParams, init_params
from manual_backprop.replay import load_case, save_case
from manual_backprop.spec import ACTIVATIONS, LOSSES, NetworkSpec

SPEC = NetworkSpec((3, 4, 2), ("relu", "softmax"), "categorical_crossentropy")
SPARSE = NetworkSpec((3, 4, 2), ("relu", "softmax"), "sparse_categorical_crossentropy")


def good(spec=SPEC, batch=5):
    params = init_params(spec, seed=1)
    x = np.ones((batch, spec.n_inputs), spec.dtype)
    if spec.loss == "sparse_categorical_crossentropy":
        labels = np.zeros(batch, dtype=np.int64)
    else:
        labels = np.eye(spec.n_outputs, dtype=spec.dtype)[np.zeros(batch, int)]
    return spec, params, x, labels


def transposed_W(layer):
    spec, params, x, labels = good()
    params = list(params)
    W, b = params[layer - 1]
    params[layer - 1] = LayerParams(W.T.copy(), b)
    return spec, tuple(params), x, labels


def cast_W(layer, dtype):
    spec, params, x, labels = good()
    params = list(params)
    W, b = params[layer - 1]
    params[layer - 1] = LayerParams(W.astype(dtype), b)
    return spec, tuple(params), x, labels


def replace_arg(index, value):
    case = list(good())
    case[index] = value
    return tuple(case)


ARRAY_CASES = [
    pytest.param(
        lambda: replace_arg(2, np.ones((5, 4), "float32")),
        ShapeError,
        ["x", "(5, 4)", "(batch, 3)"],
        id="x-wrong-width",
    ),
    pytest.param(
        lambda: replace_arg(2, np.ones(3, "float32")),
        ShapeError,
        ["x", "(3,)", "reshap"],
        id="x-one-example-not-a-batch",
    ),
    pytest.param(
        lambda: replace_arg(3, np.ones((5, 3), "float32")),
        ShapeError,
        ["labels", "(5, 3)", "(5, 2)"],
        id="labels-wrong-shape",
    ),
    pytest.param(
        lambda: transposed_W(2),
        ShapeError,
        ["layer 2", "W", "(4, 2)", "(2, 4)", "transpose"],
        id="W-transposed",
    ),
    pytest.param(
        lambda: replace_arg(1, good()[1][:1]),
        ShapeError,
        ["params", "1 layer", "2"],
        id="too-few-layers",
    ),
    pytest.param(
        lambda: replace_arg(2, np.ones((5, 3), "float64")),
        DTypeError,
        ["x", "float64", "float32", "astype"],
        id="x-float64-in-float32-network",
    ),
    pytest.param(
        lambda: cast_W(2, "float64"),
        DTypeError,
        ["layer 2", "W", "float64", "float32"],
        id="W-mixed-dtype",
    ),
    pytest.param(
        lambda: replace_arg(3, np.ones((5, 2), "float64")),
        DTypeError,
        ["labels", "float64", "float32"],
        id="labels-mixed-dtype",
    ),
    pytest.param(
        lambda: (*good(SPARSE)[:3], np.array([0, 1, 2, 0, 1])),
        LabelError,
        ["labels", "0 … 2", "2 unit", "0 … 1"],
        id="sparse-label-out-of-range",
    ),
    pytest.param(
        lambda: (*good(SPARSE)[:3], np.array([0, -1, 1, 0, 1])),
        LabelError,
        ["labels", "-1"],
        id="sparse-label-negative",
    ),
    pytest.param(
        lambda: (*good(SPARSE)[:3], np.zeros(5, "float32")),
        DTypeError,
        ["labels", "integer"],
        id="sparse-labels-not-integers",
    ),
]


@pytest.mark.parametrize(("make", "error", "words"), ARRAY_CASES)
def test_bad_arrays_are_refused_with_a_message_that_names_them(make, error, words):
    with pytest.raises(error) as caught:
        cross_check(*make())
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert isinstance(caught.value, ManualBackpropError)


def describe(**changes):
    data = {**SPEC.to_dict(), **changes}
    return json.dumps(data)


DESCRIPTION_CASES = [
    pytest.param(
        describe(activations=["rectifier", "softmax"]),
        ["layer 1", "'rectifier'", *ACTIVATIONS],
        id="unknown-activation",
    ),
    pytest.param(
        describe(loss="cross_entropy"),
        ["'cross_entropy'", *LOSSES],
        id="unknown-loss",
    ),
    pytest.param(
        '{"widths": [3, 4, 2], "activations": ["relu", "softmax"]',
        ["not valid JSON", "line 1"],
        id="malformed-json",
    ),
    pytest.param(
        json.dumps({"widths": [3, 2], "activations": ["relu"]}),
        ["lacks loss"],
        id="missing-loss",
    ),
    pytest.param(
        json.dumps({"loss": "mse"}),
        ["widths", "activations"],
        id="missing-widths-and-activations",
    ),
    pytest.param(
        describe(activations=["relu"]),
        ["2 layer", "1 activation"],
        id="one-activation-short",
    ),
    pytest.param(describe(dtype="float16"), ["dtype", "float16"], id="bad-dtype"),
    pytest.param(describe(widths=[3, 0, 2]), ["widths[1]", "layer 1"], id="zero-width"),
    pytest.param(describe(colour="blue"), ["colour"], id="unknown-key"),
]


@pytest.mark.parametrize(("text", "words"), DESCRIPTION_CASES)
def test_bad_descriptions_are_refused_with_a_message_that_names_them(text, words):
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_json(text)
    message = str(caught.value)
    for word in words:
        assert word in message, message


def test_a_file_that_is_not_a_case_is_refused(tmp_path):
    path = tmp_path / "case.npz"
    path.write_text("not a zip file")
    with pytest.raises(SpecError, match="case file .* is not an .npz archive"):
        load_case(path)


def test_a_case_file_without_its_batch_is_refused(tmp_path):
    path = tmp_path / "case.npz"
    np.savez(path, spec=np.array(SPEC.to_json()), W1=np.ones((4, 3)))
    with pytest.raises(SpecError, match="lacks meta, x, labels"):
        load_case(path)


def test_a_case_whose_arrays_do_not_fit_its_description_is_refused(tmp_path):
    path = tmp_path / "case.npz"
    save_case(path, *good())
    with np.load(path) as data:
        arrays = dict(data)
    arrays["W2"] = arrays["W2"].T
    np.savez(path, **arrays)
    with pytest.raises(ShapeError, match="layer 2 W"):
        load_case(path)


def test_an_unknown_execution_mode_is_refused():
    with pytest.raises(ManualBackpropError, match="'graph'"):
        cross_check(*good(), mode="graph")


@pytest.mark.parametrize(
    "description, message",
    [
        (
            {
                "widths": [2, 2],
                "activations": ["sigmoid"],
                "loss": "binary_crossentropy",
                "from_logits": True,
            },
            "from_logits=True after a sigmoid output layer is ambiguous",
        ),
        (
            {
                "widths": [2, 2],
                "activations": ["relu"],
                "loss": "mse",
                "huber_delta": 2,
            },
            "huber_delta is a parameter of the huber loss only",
        ),
    ],
)
def test_contradictory_descriptions_are_refused(description, message):
    with pytest.raises(SpecError, match=message):
        NetworkSpec.from_dict(description)


def test_a_cross_check_of_nan_parameters_is_refused():
    # Refused before TensorFlow is asked for anything.
    spec = NetworkSpec((3, 2), ("relu",), "mse")
    W = np.full((2, 3), np.nan, dtype="float32")
    params = ((W, np.zeros(2, "float32")),)
    x = np.ones((4, 3), "float32")
    labels = np.zeros((4, 2), "float32")

    with pytest.raises(ManualBackpropError, match="layer 1 W holds 6 NaN"):
        cross_check(spec, params, x, labels)
