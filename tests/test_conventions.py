"""Each numerical convention the engine matches, pinned against TensorFlow.

Two kinds of check: literal values (what TensorFlow gives at a kink, what
Keras's reduction divides by) that document the convention on their own,
and elementwise agreement with ``tf.GradientTape`` over a grid that
includes every kink, in float32 and float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the conventions are TensorFlow's")
keras = pytest.importorskip("keras", reason="the conventions are Keras's")

import tf_reference  # noqa: E402
from manual_backprop import (  # noqa: E402
    Activation,
    NetworkSpec,
    activations,
    backward,
    init_params,
    losses,
)
from manual_backprop.backend import NUMPY  # noqa: E402
from manual_backprop.optimizers import SGD  # noqa: E402
from manual_backprop.spec import ACTIVATIONS  # noqa: E402
from tf_reference.activations import keras_activation  # noqa: E402

GRID = [-40.0, -20.0, -3.5, -3.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 3.5, 20.0]

ELEMENTWISE = [a for a in ACTIVATIONS if a != "softmax"]

PARAMETRISED = [
    Activation("leaky_relu", negative_slope=0.3),
    Activation("elu", alpha=2.0),
    Activation("elu", alpha=0.5),
]


def tape_value_and_derivative(act: Activation, z: np.ndarray):
    tz = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(tz)
        y = keras_activation(act)(tz)
    return y.numpy(), tape.gradient(y, tz).numpy()


def engine_value_and_derivative(act: Activation, z: np.ndarray):
    y = activations.forward(act, z, np, NUMPY.erfc)
    return y, activations.derivative(act, z, y, np, NUMPY.erfc)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "act",
    [Activation(name) for name in ELEMENTWISE] + PARAMETRISED,
    ids=str,
)
def test_activation_and_derivative_match_the_tape_on_a_grid_with_kinks(act, dtype):
    z = np.array(GRID, dtype=dtype)
    if act.name == "exponential":
        z = np.clip(z, -20, 20)

    y_tf, d_tf = tape_value_and_derivative(act, z)
    y, d = engine_value_and_derivative(act, z)

    assert y.dtype == z.dtype and d.dtype == z.dtype
    # numpy and Eigen round differently by an ulp or two.  A derivative
    # formed from the output (1 - y², y(1 - y), …) inherits the ulp of y as
    # an absolute error, hence the absolute term of a few eps.
    eps = np.finfo(dtype).eps
    rtol = 2e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(y, y_tf, rtol=rtol, atol=eps)
    np.testing.assert_allclose(d, d_tf, rtol=rtol, atol=4 * eps)


@pytest.mark.parametrize(
    "act, z, expected",
    [
        (Activation("relu"), 0.0, 0.0),
        # The slope is a float32 attribute of TensorFlow's op.
        (Activation("leaky_relu"), 0.0, float(np.float32(0.2))),
        (Activation("leaky_relu", negative_slope=0.3), 0.0, float(np.float32(0.3))),
        (Activation("elu", alpha=2.0), 0.0, 2.0),
        (Activation("elu"), 0.0, 1.0),
        (Activation("hard_sigmoid"), -3.0, 0.0),
        (Activation("hard_sigmoid"), 3.0, 0.0),
        (Activation("hard_sigmoid"), 0.0, 1 / 6),
        (Activation("selu"), 0.0, activations.SELU_SCALE),
        (Activation("softsign"), 0.0, 1.0),
    ],
    ids=lambda v: str(v),
)
def test_derivative_at_a_kink_is_tensorflows(act, z, expected):
    z_arr = np.array([z])
    _, d_tf = tape_value_and_derivative(act, z_arr)
    _, d = engine_value_and_derivative(act, z_arr)

    assert d_tf[0] == pytest.approx(expected, rel=1e-12)
    assert d[0] == pytest.approx(expected, rel=1e-12)


def test_leaky_relu_defaults_differ_between_keras_function_and_layer():
    assert Activation("leaky_relu").negative_slope == 0.2
    assert keras.layers.LeakyReLU().negative_slope == pytest.approx(0.3)


def test_hard_sigmoid_is_keras_3s_relu6_of_z_plus_3_over_6():
    z = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    y_tf, _ = tape_value_and_derivative(Activation("hard_sigmoid"), z)
    np.testing.assert_allclose(y_tf, np.clip(z + 3, 0, 6) / 6)


def test_elu_gradient_saturates_in_float32_as_tensorflows_does():
    # TensorFlow forms elu's gradient from its output, e + 1 with e = expm1(z);
    # at z = -20 in float32, e rounds to -1 and the gradient to 0 (true: 2e-9).
    z = np.array([-20.0], dtype=np.float32)
    _, d_tf = tape_value_and_derivative(Activation("elu"), z)
    _, d = engine_value_and_derivative(Activation("elu"), z)
    assert d_tf[0] == 0.0 and d[0] == 0.0
    assert math.exp(-20.0) > 1e-9


def test_exact_gelu_uses_float32_constants_even_in_float64():
    z = np.array([1.0])
    y_tf, _ = tape_value_and_derivative(Activation("gelu"), z)
    exact = 0.5 * math.erfc(-1 / math.sqrt(2))
    rounded = 0.5 * math.erfc(-float(np.float32(1 / math.sqrt(2))))
    assert y_tf[0] == pytest.approx(rounded, rel=1e-15)
    assert abs(y_tf[0] - exact) > 1e-9


def _loss_and_grad_tf(spec: NetworkSpec, y: np.ndarray, t: np.ndarray):
    ty = tf.constant(y)
    with tf.GradientTape() as tape:
        tape.watch(ty)
        loss = tf_reference.losses.loss_on_output(spec, tf.constant(t), ty, ty)
    return float(loss), tape.gradient(loss, ty).numpy()


def _loss_and_grad_engine(spec: NetworkSpec, y: np.ndarray, t: np.ndarray):
    value = losses.reduce(losses.per_example(spec, y, t, np), np)
    return float(value), losses.gradient(spec, y, t, np)


def _spec(loss: str, n_out: int, **kw) -> NetworkSpec:
    return NetworkSpec((1, n_out), ("linear",), loss, dtype="float64", **kw)


def test_mean_squared_error_averages_over_outputs_then_the_batch():
    spec = _spec("mse", 2)
    y = np.array([[1.0, 1.0], [3.0, 1.0]])
    t = np.zeros((2, 2))

    value_tf, grad_tf = _loss_and_grad_tf(spec, y, t)
    value, grad = _loss_and_grad_engine(spec, y, t)

    assert value_tf == pytest.approx((1 + 5) / 2)  # means (1+1)/2 and (9+1)/2
    assert value == pytest.approx(value_tf)
    np.testing.assert_allclose(grad_tf, 2 * y / (2 * 2))
    np.testing.assert_allclose(grad, grad_tf)


def test_binary_crossentropy_clips_probabilities_to_epsilon():
    spec = _spec("binary_crossentropy", 2)
    y = np.array([[0.0, 1.0 - 1e-7]])
    t = np.array([[1.0, 1.0]])

    value_tf, grad_tf = _loss_and_grad_tf(spec, y, t)
    value, grad = _loss_and_grad_engine(spec, y, t)

    expected = (-math.log(1e-7) - math.log(1 - 1e-7)) / 2
    assert value_tf == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(value_tf, rel=1e-12)
    # Beyond the clip the gradient is 0; at the bound it passes.
    assert grad_tf[0, 0] == 0.0 and grad[0, 0] == 0.0
    assert grad_tf[0, 1] != 0.0
    np.testing.assert_allclose(grad, grad_tf, rtol=1e-12)


@pytest.mark.parametrize(
    "loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"]
)
def test_categorical_crossentropies_normalise_and_clip_in_keras_order(loss):
    spec = _spec(loss, 3)
    y = np.array([[0.5, 0.25, 1e-9], [2.0, 1.0, 1.0]])
    if loss.startswith("sparse"):
        t = np.array([2, 0])
    else:
        t = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])

    value_tf, grad_tf = _loss_and_grad_tf(spec, y, t)
    value, grad = _loss_and_grad_engine(spec, y, t)

    assert value == pytest.approx(value_tf, rel=1e-12)
    np.testing.assert_allclose(grad, grad_tf, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_kinked_regression_losses_take_tensorflows_branch(loss):
    spec = _spec(loss, 4)
    y = np.array([[0.0, 1.0, -1.0, 2.5]])
    t = np.array([[0.0, 0.0, 0.0, 0.0]])  # errors 0 and exactly ±delta

    value_tf, grad_tf = _loss_and_grad_tf(spec, y, t)
    value, grad = _loss_and_grad_engine(spec, y, t)

    assert grad_tf[0, 0] == 0.0  # sign(0) = 0 for MAE; e = 0 for Huber
    assert value == pytest.approx(value_tf, rel=1e-12)
    np.testing.assert_allclose(grad, grad_tf, rtol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_keras_fuses_its_own_activation_into_the_crossentropy(activation):
    # Saturated logits: the fused path keeps the true loss, the clipped one
    # cannot exceed -log(1e-7).
    loss = (
        "binary_crossentropy"
        if activation == "sigmoid"
        else ("categorical_crossentropy")
    )
    z = np.array([[40.0, -40.0]])
    t = np.array([[0.0, 1.0]])
    keras_loss = getattr(
        keras.losses,
        {
            "binary_crossentropy": "BinaryCrossentropy",
            "categorical_crossentropy": "CategoricalCrossentropy",
        }[loss],
    )(dtype="float64")

    y_keras = getattr(keras.activations, activation)(tf.constant(z))
    automatic = float(keras_loss(tf.constant(t), y_keras))

    fused = NetworkSpec((2, 2), (activation,), loss, dtype="float64")
    literal = NetworkSpec((2, 2), (activation,), loss, dtype="float64", fused=False)
    W = np.eye(2)
    params = ((W, np.zeros(2)),)
    x = z.copy()

    assert fused.fused is True
    assert float(backward(fused, params, x, t).loss) == pytest.approx(automatic)
    assert float(backward(literal, params, x, t).loss) < automatic / 2


def test_float64_learning_rate_is_keras_float32_variable():
    spec = NetworkSpec((2, 1), ("linear",), "mse", dtype="float64")
    params = init_params(spec, seed=3)
    x = np.array([[1.0, 2.0]])
    t = np.array([[0.5]])

    keras_params = tf_reference.keras_sgd(spec, params, [(x, t)], learning_rate=0.01)
    grads = backward(spec, params, x, t).param_grads()
    engine_params = SGD(learning_rate=0.01).step(params, grads)

    assert SGD(learning_rate=0.01).learning_rate == float(np.float32(0.01))
    np.testing.assert_array_equal(engine_params[0].W, keras_params[0].W)
    exact = params[0].W - 0.01 * grads[0].W
    assert not np.array_equal(exact, keras_params[0].W)


@pytest.mark.parametrize("mode", ["function", "eager"])
def test_the_reference_really_computes_in_float64(mode):
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse", dtype="float64")
    params = init_params(spec, seed=1)
    x = np.random.default_rng(0).normal(size=(5, 3))
    t = np.zeros((5, 2))

    ref = tf_reference.reference_gradients(spec, params, x, t, mode=mode)
    eng = backward(spec, params, x, t)

    assert ref.input_grad.dtype == np.float64
    for a, b in zip(ref.layers, eng.layers, strict=True):
        np.testing.assert_allclose(a.delta, b.delta, rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(a.weight_grad, b.weight_grad, rtol=1e-12)


def test_with_raw_tf_ops_the_execution_mode_decides_the_crossentropy_path():
    # Why the reference pins its loss path: with tf.nn.sigmoid, Keras takes
    # the clipped-probability path eagerly and the fused path when traced.
    z = tf.constant([[40.0, -40.0]])
    t = tf.constant([[0.0, 1.0]])
    bce = keras.losses.BinaryCrossentropy()

    def loss(z):
        return bce(t, tf.nn.sigmoid(z))

    eager = float(loss(z))
    traced = float(tf.function(loss)(z))

    assert traced == pytest.approx(40.0)  # the true loss, from the logits
    assert eager < 17.0  # bounded by the clip at 1e-7


def test_keras_reads_a_sigmoid_output_as_softmax_logits_in_categorical_ce():
    z = np.array([[40.0, -40.0]])
    t = np.array([[0.0, 1.0]])
    y = keras.activations.sigmoid(tf.constant(z))
    keras_value = float(keras.losses.CategoricalCrossentropy(dtype="float64")(t, y))

    spec = NetworkSpec((2, 2), ("sigmoid",), "categorical_crossentropy", "float64")
    params = ((np.eye(2), np.zeros(2)),)

    assert spec.loss_path == "fused"
    assert keras_value == pytest.approx(80.0)
    assert float(backward(spec, params, z, t).loss) == pytest.approx(keras_value)
