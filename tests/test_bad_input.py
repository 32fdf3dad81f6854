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
    pytest.param(
        '{"widths": [3, 2], "activations": ["relu"], "loss": "mse", "loss": "mae"}',
        ["'loss' twice", "keep one 'loss'"],
        id="duplicate-key",
    ),
    pytest.param(
        '{"widths": [3, 2], "loss": "mse", '
        '"activations": [{"name": "elu", "alpha": 1, "alpha": 2}]}',
        ["'alpha' twice", "'name', 'alpha', 'alpha'"],
        id="duplicate-key-in-an-activation",
    ),
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


@pytest.mark.parametrize("key", ["x", "labels"])
def test_a_case_of_another_dtype_suggests_code_with_the_bare_name(tmp_path, key):
    path = tmp_path / "t_x64.npz"
    save_case(path, *good())
    with np.load(path) as data:
        arrays = dict(data)
    arrays[key] = arrays[key].astype("float64")
    np.savez(path, **arrays)
    with pytest.raises(DTypeError) as caught:
        load_case(path)
    message = str(caught.value)
    assert f"{path}: {key} has dtype float64" in message, message
    assert f"cast it with {key}.astype('float32')" in message, message


def test_a_labelled_argument_that_is_not_an_array_suggests_the_bare_name():
    from manual_backprop.engine import check_inputs
    from manual_backprop.errors import InputTypeError

    with pytest.raises(InputTypeError) as caught:
        check_inputs(SPEC, [[1.0, 2.0, 3.0]], argument="case.npz: x")
    message = str(caught.value)
    assert message.startswith("case.npz: x must be an array"), message
    assert "np.asarray(x, dtype='float32')" in message, message


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


# Objects where names are needed, and parameters that are not finite: the
# package's SpecError (exit status 2 at the command line), never a raw
# TypeError from a dict lookup.

INFINITE_DESCRIPTION_CASES = [
    pytest.param(
        describe(loss={"name": "huber", "delta": -1}),
        ["loss must be a loss name", "'delta': -1", '"huber_delta": 2.0'],
        id="loss-as-an-object",
    ),
    pytest.param(
        describe(
            activations=[{"name": "leaky_relu", "negative_slope": np.nan}, "softmax"]
        ),
        ["layer 1", "negative_slope", "finite", "nan"],
        id="nan-negative-slope",
    ),
    pytest.param(
        describe(activations=[{"name": "elu", "alpha": np.inf}, "softmax"]),
        ["layer 1", "alpha", "finite", "inf"],
        id="infinite-elu-alpha",
    ),
    pytest.param(
        json.dumps(
            {
                "widths": [3, 1],
                "activations": ["linear"],
                "loss": "huber",
                "huber_delta": np.inf,
            }
        ),
        ["huber_delta", "finite", "inf"],
        id="infinite-huber-delta",
    ),
    pytest.param(
        describe(activations=[{"name": ["relu"]}, "softmax"]),
        ["layer 1", "name must be a string", "['relu']"],
        id="activation-name-not-a-string",
    ),
    # Finite in float64, infinite once cast to the network's float32.
    pytest.param(
        describe(activations=[{"name": "elu", "alpha": 1e308}, "softmax"]),
        ["layer 1", "elu", "'alpha'", "1e+308", "float32", "inf"],
        id="elu-alpha-overflows-float32",
    ),
    pytest.param(
        describe(activations=["relu", {"name": "leaky_relu", "negative_slope": -1e39}]),
        ["layer 2", "leaky_relu", "'negative_slope'", "-1e+39", "float32"],
        id="negative-slope-overflows-float32",
    ),
    pytest.param(
        json.dumps(
            {
                "widths": [3, 1],
                "activations": ["linear"],
                "loss": "huber",
                "huber_delta": 1e39,
            }
        ),
        ["huber_delta", "1e+39", "float32", "inf"],
        id="huber-delta-overflows-float32",
    ),
]


@pytest.mark.parametrize(("text", "words"), INFINITE_DESCRIPTION_CASES)
def test_objects_and_non_finite_numbers_in_descriptions_are_refused(text, words):
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_json(text)
    message = str(caught.value)
    for word in words:
        assert word in message, message


def test_parameters_that_fit_float64_are_kept_in_a_float64_network():
    spec = NetworkSpec(
        (3, 2),
        ({"name": "elu", "alpha": 1e308},),
        "huber",
        "float64",
        huber_delta=1e300,
    )
    assert spec.activations[0].alpha == 1e308
    assert spec.huber_delta == 1e300


def test_an_activation_object_that_overflows_the_dtype_is_refused():
    from manual_backprop.spec import Activation

    big = Activation("elu", alpha=1e300)
    NetworkSpec((3, 1), (big,), "mse", "float64")
    with pytest.raises(SpecError, match=r"layer 1: elu parameter 'alpha' is 1e\+300"):
        NetworkSpec((3, 1), (big,), "mse", "float32")


def test_a_description_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(SpecError) as caught:
        NetworkSpec.load(path)
    message = str(caught.value)
    assert str(path) in message, message
    assert "not UTF-8" in message, message


def test_the_cli_turns_a_binary_description_into_one_line_and_status_2(
    tmp_path, capsys
):
    from manual_backprop.cli import main

    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe")
    assert main(["verify", "--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "bin.json" in err and "UTF-8" in err, err


def test_numpy_integers_are_widths_and_are_stored_as_ints():
    spec = NetworkSpec((np.int64(3), np.int32(2)), ("relu",), "mse")
    assert spec.widths == (3, 2)
    assert all(type(width) is int for width in spec.widths)
    assert spec == NetworkSpec((3, 2), ("relu",), "mse")


@pytest.mark.parametrize("width", [np.True_, True, 2.0, np.float64(2), "2"])
def test_bools_and_non_integers_are_not_widths(width):
    with pytest.raises(SpecError, match=r"widths\[1\] .*positive integer"):
        NetworkSpec((3, width), ("relu",), "mse")


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (np.float32, "float32"),
        (np.float64, "float64"),
        (np.dtype("float32"), "float32"),
        (np.dtype("float64"), "float64"),
        ("float64", "float64"),
    ],
)
def test_numpy_types_and_dtypes_are_stored_as_the_dtype_name(dtype, name):
    spec = NetworkSpec((3, 2), ("relu",), "mse", dtype)
    assert type(spec.dtype) is str
    assert spec.dtype == name
    assert spec == NetworkSpec((3, 2), ("relu",), "mse", name)


@pytest.mark.parametrize(
    "dtype", [float, np.float16, np.dtype("float16"), np.int32, "f4", None]
)
def test_other_dtypes_are_refused(dtype):
    with pytest.raises(SpecError, match="dtype must be one of float32, float64"):
        NetworkSpec((3, 2), ("relu",), "mse", dtype)


def test_a_loss_object_is_refused_in_python_too():
    with pytest.raises(SpecError, match="loss must be a loss name"):
        NetworkSpec((3, 1), ("linear",), loss={"name": "huber"})


def test_an_activation_object_with_a_nan_parameter_is_refused():
    from manual_backprop.spec import Activation

    bad = Activation("leaky_relu", negative_slope=float("nan"))
    with pytest.raises(SpecError, match="layer 2: leaky_relu .*finite"):
        NetworkSpec((3, 4, 1), ("relu", bad), "mse")


def test_the_cli_turns_a_loss_object_into_one_line_and_status_2(tmp_path, capsys):
    from manual_backprop.cli import main

    path = tmp_path / "net.json"
    path.write_text(describe(loss={"name": "huber", "delta": -1}))
    assert main(["verify", "--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "loss must be a loss name" in err


# The engine called directly with check=True (the default): arrays that are
# not arrays, values that are not finite, flags that are not bools.


def with_value(index, where, value):
    """``good()`` with ``value`` written at ``where`` of argument ``index``
    (2: x, 3: labels) or, for ``(layer, "W" | "b")``, of a parameter."""
    spec, params, x, labels = good()
    params = [list(pair) for pair in params]
    if isinstance(index, tuple):
        layer, name = index
        array = params[layer - 1]["Wb".index(name)]
    else:
        array = x if index == 2 else labels
    array[where] = value
    return spec, tuple(LayerParams(*pair) for pair in params), x, labels


NON_FINITE_CASES = [
    pytest.param(with_value(2, (1, 2), np.nan), ["x", "1 NaN", "(1, 2)"], id="x-nan"),
    pytest.param(with_value(2, (4, 0), -np.inf), ["x", "(4, 0)"], id="x-inf"),
    pytest.param(with_value(3, (0, 1), np.nan), ["labels", "(0, 1)"], id="labels-nan"),
    pytest.param(
        with_value((1, "W"), (2, 1), np.inf),
        ["params: layer 1 W", "(2, 1)", "learning rate"],
        id="W1-inf",
    ),
    pytest.param(
        with_value((2, "b"), 1, np.nan),
        ["params: layer 2 b", "(1,)"],
        id="b2-nan",
    ),
]


@pytest.mark.parametrize(("case", "words"), NON_FINITE_CASES)
def test_backward_refuses_values_that_are_not_finite(case, words):
    from manual_backprop import backward
    from manual_backprop.errors import NonFiniteError

    with pytest.raises(NonFiniteError) as caught:
        backward(*case)
    message = str(caught.value)
    for word in [*words, "NaN or infinite", "finite numbers"]:
        assert word in message, message


def test_forward_refuses_values_that_are_not_finite():
    from manual_backprop import forward
    from manual_backprop.errors import NonFiniteError

    spec, params, x, _ = with_value(2, (0, 0), np.nan)
    with pytest.raises(NonFiniteError, match="x holds 1 NaN"):
        forward(spec, params, x)
    spec, params, x, _ = with_value((2, "W"), (0, 0), np.inf)
    with pytest.raises(NonFiniteError, match="params: layer 2 W"):
        forward(spec, params, x)


def test_check_false_still_skips_every_check():
    from manual_backprop import backward

    grads = backward(*with_value(2, (0, 0), np.nan), check=False)
    assert np.isnan(grads.loss)


@pytest.mark.parametrize(
    ("index", "dtype"), [(2, "float32"), (3, "float32")], ids=["x", "labels"]
)
def test_a_python_list_is_refused_as_not_an_array(index, dtype):
    from manual_backprop import backward
    from manual_backprop.errors import InputTypeError

    case = list(good())
    name = "x" if index == 2 else "labels"
    case[index] = case[index].tolist()
    with pytest.raises(InputTypeError) as caught:
        backward(*case)
    message = str(caught.value)
    assert f"{name} must be an array" in message, message
    assert "received a list" in message, message
    assert f"np.asarray({name}, dtype='{dtype}')" in message, message
    assert "shape ()" not in message


def test_a_list_as_a_weight_is_refused_as_not_an_array():
    from manual_backprop import backward
    from manual_backprop.errors import InputTypeError

    spec, params, x, labels = good()
    params = (LayerParams(params[0].W.tolist(), params[0].b), params[1])
    with pytest.raises(InputTypeError, match="params: layer 1 W must be an array"):
        backward(spec, params, x, labels)


@pytest.mark.parametrize("flag", ["input_grad", "check"])
@pytest.mark.parametrize("value", ["no", 1, "False", 0, None])
def test_flags_must_be_bools(flag, value):
    from manual_backprop import backward

    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        backward(*good(), **{flag: value})


@pytest.mark.parametrize("value", [0, None, "no"])
def test_forward_refuses_a_check_flag_that_is_not_a_bool(value):
    from manual_backprop import forward

    spec, params, x, _ = good()
    with pytest.raises(TypeError, match="check must be True or False"):
        forward(spec, params, x, check=value)


# Arrays of two libraries mixed (TensorFlow tensors where the computation
# runs on numpy), and TensorFlow tensors where only numpy arrays work.


@pytest.fixture()
def tf():
    return pytest.importorskip("tensorflow", reason="TensorFlow is not installed")


def tensor_params(tf, params):
    return tuple(LayerParams(tf.constant(W), tf.constant(b)) for W, b in params)


def test_tensorflow_params_with_numpy_inputs_are_refused(tf):
    from manual_backprop import backward

    spec, params, x, labels = good()
    with pytest.raises(TypeError) as caught:
        backward(spec, tensor_params(tf, params), x, labels)
    message = str(caught.value)
    for word in [
        "params: layer 1 W",
        "TensorFlow tensor",
        "runs on numpy",
        "chosen from x",
        "np.asarray(W)",
        "backend='tensorflow'",
    ]:
        assert word in message, message
    assert isinstance(caught.value, ManualBackpropError)


def test_a_tensorflow_input_with_backend_numpy_is_refused(tf):
    from manual_backprop import backward

    spec, params, x, labels = good()
    with pytest.raises(TypeError, match=r"^x is a TensorFlow tensor.*backend='numpy'"):
        backward(spec, params, tf.constant(x), labels, backend="numpy")
    with pytest.raises(TypeError, match="params: layer 2 b is a TensorFlow tensor"):
        tparams = (params[0], LayerParams(params[1].W, tf.constant(params[1].b)))
        backward(spec, tparams, x, labels, backend="numpy")


def test_numpy_arrays_still_run_on_the_tensorflow_backend(tf):
    from manual_backprop import backward

    spec, params, x, labels = good()
    mixed = backward(spec, params, tf.constant(x), labels)
    by_name = backward(spec, params, x, labels, backend="tensorflow")
    np.testing.assert_allclose(np.asarray(mixed.loss), np.asarray(by_name.loss))


def test_a_tensorflow_dtype_error_suggests_tf_cast(tf):
    from manual_backprop import backward

    spec, params, x, labels = good()
    with pytest.raises(DTypeError, match=r"tf\.cast\(x, tf\.float32\)"):
        backward(spec, params, tf.constant(x, tf.float64), labels)
    tparams = tensor_params(tf, cast_W(2, "float64")[1])
    with pytest.raises(DTypeError, match=r"layer 2 W .*tf\.cast\(W, tf\.float32\)"):
        backward(spec, tparams, tf.constant(x), tf.constant(labels))


def test_tensorflow_values_that_are_not_finite_are_refused_eagerly(tf):
    from manual_backprop import backward
    from manual_backprop.errors import NonFiniteError

    spec, params, x, labels = with_value((1, "b"), 3, np.nan)
    with pytest.raises(NonFiniteError, match="params: layer 1 b holds 1 NaN"):
        backward(spec, tensor_params(tf, params), tf.constant(x), tf.constant(labels))


def test_inside_tf_function_the_finiteness_check_is_skipped(tf):
    from manual_backprop import backward

    spec, params, x, labels = good()

    @tf.function(autograph=False)
    def traced(tparams, tx, tlabels):
        return backward(spec, tparams, tx, tlabels, backend="tensorflow").loss

    loss = traced(tensor_params(tf, params), tf.constant(x), tf.constant(labels))
    expected = np.asarray(backward(spec, params, x, labels).loss)
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-6)


def test_sgd_refuses_tensorflow_gradients_for_numpy_parameters(tf):
    from manual_backprop import SGD, backward
    from manual_backprop.errors import InputTypeError

    spec, params, x, labels = good()
    grads = backward(spec, params, x, labels, backend="tensorflow").param_grads()
    with pytest.raises(InputTypeError) as caught:
        SGD().step(params, grads)
    message = str(caught.value)
    assert "layer 1 W is a numpy array but its gradient a tensorflow" in message


def test_sgd_takes_variables_and_tensors_of_tensorflow_together(tf):
    from manual_backprop import SGD, backward

    spec, params, x, labels = good()
    variables = tuple(LayerParams(tf.Variable(W), tf.Variable(b)) for W, b in params)
    tensors = tensor_params(tf, params)
    grads = backward(spec, tensors, x, labels, backend="tensorflow").param_grads()

    optimizer = SGD(0.1, momentum=0.9)
    first = optimizer.step(variables, grads)  # velocities made from Variables
    second = optimizer.step(first, grads)  # then given EagerTensors
    expected = SGD(0.1, momentum=0.9)
    expected.step(tensors, grads)
    np.testing.assert_allclose(
        np.asarray(second[0].W), np.asarray(expected.step(first, grads)[0].W)
    )


def test_train_refuses_tensorflow_tensors_clearly(tf):
    from manual_backprop import train

    spec, params, x, labels = good()
    with pytest.raises(TypeError) as caught:
        train(spec, tensor_params(tf, params), tf.constant(x), labels)
    message = str(caught.value)
    assert "train() supports numpy arrays only" in message, message
    assert "x is a TensorFlow tensor" in message, message
    assert "backend='tensorflow'" in message, message


# Categorical cross-entropy reads label rows as distributions.


def _cce(fused=True, dtype="float32"):
    spec = NetworkSpec(
        (3, 4), ("softmax",), "categorical_crossentropy", dtype, fused=fused
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 3)).astype(dtype)
    return spec, init_params(spec, seed=2), x, rng


@pytest.mark.parametrize("scale", [5.0, 0.5])
def test_cce_rows_that_do_not_sum_to_one_are_refused_on_the_fused_path(scale):
    from manual_backprop import backward

    spec, params, x, _ = _cce()
    labels = scale * np.eye(4, dtype="float32")[[0, 1, 2, 3, 0, 1]]

    with pytest.raises(LabelError, match=r"row 0 sums to .*softmax\(z\) − t"):
        backward(spec, params, x, labels)
    with pytest.raises(LabelError, match="sums to"):
        cross_check(spec, params, x, labels)


def test_multi_hot_labels_are_pointed_to_binary_crossentropy():
    from manual_backprop import backward

    spec, params, x, _ = _cce()
    labels = np.zeros((6, 4), "float32")
    labels[:, :2] = 1  # two true classes per example

    with pytest.raises(LabelError, match="binary_crossentropy"):
        backward(spec, params, x, labels)


def test_on_the_probabilities_path_any_nonnegative_rows_are_differentiated():
    # −Σ t log p has the gradient −t / p for any t ≥ 0: nothing to refuse.
    # Central differences of the returned loss confirm the engine's δⁿ.
    from manual_backprop import backward

    spec, params, x, _ = _cce(fused=False, dtype="float64")
    labels = 3.0 * np.eye(4)[[0, 1, 2, 3, 0, 1]]
    grads = backward(spec, params, x, labels)

    W, b = params[0]
    h = 1e-6
    for i, j in [(0, 0), (2, 1)]:
        up, down = W.copy(), W.copy()
        up[i, j] += h
        down[i, j] -= h
        loss_up = backward(spec, (LayerParams(up, b),), x, labels).loss
        loss_down = backward(spec, (LayerParams(down, b),), x, labels).loss
        numeric = (loss_up - loss_down) / (2 * h)
        np.testing.assert_allclose(grads[1].weight_grad[i, j], numeric, rtol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_negative_cce_labels_are_refused_on_every_path(fused):
    from manual_backprop import backward

    spec, params, x, _ = _cce(fused=fused)
    labels = -np.eye(4, dtype="float32")[[0, 1, 2, 3, 0, 1]]

    with pytest.raises(LabelError, match="row 0 holds a negative value"):
        backward(spec, params, x, labels)


def test_soft_float32_labels_pass_the_sum_check():
    from manual_backprop import backward

    spec, params, x, rng = _cce()
    labels = rng.dirichlet(np.ones(4), size=6).astype("float32")

    assert np.isfinite(backward(spec, params, x, labels).loss)


# out= must be a writable buffer of its own.


def test_out_sharing_memory_with_x_or_labels_is_refused():
    from manual_backprop import InputTypeError, backward, pack_params, packed_like

    spec, params, x, labels = good()
    packed = pack_params(params)

    out = packed_like(packed)
    inside = out.flat[: x.size].reshape(x.shape)
    inside[...] = x
    with pytest.raises(InputTypeError, match="out shares memory with x"):
        backward(spec, packed, inside, labels, out=out)

    out = packed_like(packed)
    inside = out.flat[-labels.size :].reshape(labels.shape)
    inside[...] = labels
    with pytest.raises(InputTypeError, match="out shares memory with labels"):
        backward(spec, packed, x, inside, out=out)


def test_a_read_only_out_is_refused_not_written():
    from manual_backprop import InputTypeError, backward, pack_params, packed_like

    spec, params, x, labels = good()
    packed = pack_params(params)
    out = packed_like(packed)
    out.flat[...] = 7
    out.flat.flags.writeable = False

    with pytest.raises(InputTypeError, match="out is read-only"):
        backward(spec, packed, x, labels, out=out)
    assert (out.flat == 7).all()


# Arguments that are not what they claim to be.


def test_a_missing_spec_is_a_spec_error_not_an_attribute_error():
    from manual_backprop import backward, forward

    _, params, x, labels = good()

    with pytest.raises(SpecError, match="spec must be a NetworkSpec"):
        backward(None, params, x, labels)
    with pytest.raises(SpecError, match="NetworkSpec.load"):
        forward({"widths": [3, 4, 2]}, params, x)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's
@pytest.mark.parametrize("kind", ["matrix", "masked"])
def test_numpy_subclasses_are_refused(kind):
    from manual_backprop import InputTypeError, backward

    spec, params, x, labels = good()
    odd = np.asmatrix(x) if kind == "matrix" else np.ma.masked_array(x)

    with pytest.raises(InputTypeError, match=r"x is a numpy\..*np\.asarray\(x\)"):
        backward(spec, params, odd, labels)
