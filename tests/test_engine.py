"""The engine on its own: layout, dtypes, files, indexing, training."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import manual_backprop as mb


def small_case(dtype: str = "float32"):
    spec = mb.NetworkSpec(
        (4, 6, 3), ("relu", "softmax"), "categorical_crossentropy", dtype
    )
    params = mb.init_params(spec, seed=1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4)).astype(dtype)
    labels = np.eye(3, dtype=dtype)[rng.integers(0, 3, size=5)]
    return spec, params, x, labels


def test_importing_the_engine_does_not_import_tensorflow():
    code = "import manual_backprop, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_array_keeps_the_descriptions_dtype(dtype):
    spec, params, x, labels = small_case(dtype)
    grads = mb.backward(spec, params, x, labels)

    arrays = [grads.loss, grads.outputs, grads.input_grad]
    for layer in grads.layers:
        arrays += [layer.delta, layer.weight_grad, layer.bias_grad]
    assert {np.asarray(a).dtype.name for a in arrays} == {dtype}


def test_gradients_are_laid_out_like_the_parameters():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels)

    for (W, b), layer in zip(params, grads.layers, strict=True):
        assert layer.weight_grad.shape == W.shape
        assert layer.bias_grad.shape == b.shape
        assert layer.delta.shape == (x.shape[0], W.shape[0])
    assert grads.input_grad.shape == x.shape


@pytest.mark.parametrize("widths", [(4, 3), (4, 6, 3), (4, 6, 5, 3)])
def test_skipping_the_input_gradient_changes_nothing_else(widths):
    depth = len(widths) - 1
    spec = mb.NetworkSpec(
        widths, ("tanh",) * (depth - 1) + ("softmax",), "categorical_crossentropy"
    )
    params = mb.init_params(spec, seed=3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, widths[0])).astype("float32")
    labels = np.eye(widths[-1], dtype="float32")[rng.integers(0, widths[-1], 5)]

    full = mb.backward(spec, params, x, labels)
    lean = mb.backward(spec, params, x, labels, input_grad=False)

    assert lean.input_grad is None
    assert full.input_grad.shape == x.shape
    np.testing.assert_array_equal(lean.loss, full.loss)
    assert len(lean) == len(full) == depth
    for a, b in zip(lean.layers, full.layers, strict=True):
        np.testing.assert_array_equal(a.delta, b.delta)
        np.testing.assert_array_equal(a.weight_grad, b.weight_grad)
        np.testing.assert_array_equal(a.bias_grad, b.bias_grad)


def test_layers_are_numbered_from_one_as_in_the_notes():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels)

    assert grads[1] is grads.layers[0]
    assert grads[2] is grads.layers[1]
    assert grads[-1] is grads.layers[-1]
    with pytest.raises(IndexError, match="numbered 1"):
        grads[0]


def test_weight_gradient_is_delta_times_layer_input_exactly():
    spec, params, x, labels = small_case("float64")
    fwd = mb.forward(spec, params, x)
    grads = mb.backward(spec, params, x, labels)

    for layer in (1, 2):
        expected = grads[layer].delta.T @ fwd.layer_input(layer)
        np.testing.assert_array_equal(grads[layer].weight_grad, expected)


def test_a_description_survives_a_json_round_trip(tmp_path):
    spec = mb.NetworkSpec(
        (3, 5, 2),
        ({"name": "leaky_relu", "negative_slope": 0.3}, "sigmoid"),
        "binary_crossentropy",
        "float64",
        fused=False,
    )
    path = tmp_path / "net.json"
    spec.save(path)

    assert mb.NetworkSpec.load(path) == spec
    assert json.loads(path.read_text())["activations"][0]["negative_slope"] == 0.3


def test_parameters_survive_an_npz_round_trip_without_pickle(tmp_path):
    spec, params, _, _ = small_case("float64")
    path = tmp_path / "params.npz"
    mb.save_params(path, params)

    loaded = mb.load_params(path, spec)
    for (W, b), (W2, b2) in zip(params, loaded, strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_glorot_uniform_initialisation_is_seeded_and_bounded():
    spec = mb.NetworkSpec((30, 20, 10), ("tanh", "linear"), "mse")
    a, b = mb.init_params(spec, seed=5), mb.init_params(spec, seed=5)

    np.testing.assert_array_equal(a[0].W, b[0].W)
    assert np.abs(a[0].W).max() <= np.sqrt(6 / (30 + 20))
    assert not np.any(a[1].b)


def test_sgd_momentum_and_nesterov_follow_keras_formulas():
    params = ((np.array([[1.0]]), np.array([0.0])),)
    grads = ((np.array([[2.0]]), np.array([0.0])),)
    lr = float(np.float32(0.1))

    plain = mb.SGD(0.1).step(params, grads)
    assert plain[0].W[0, 0] == 1.0 - lr * 2.0

    momentum = mb.SGD(0.1, momentum=0.9)
    first = momentum.step(params, grads)
    second = momentum.step(first, grads)
    v1 = -lr * 2.0
    v2 = 0.9 * v1 - lr * 2.0
    assert second[0].W[0, 0] == pytest.approx(1.0 + v1 + v2)

    nesterov = mb.SGD(0.1, momentum=0.9, nesterov=True)
    step = nesterov.step(params, grads)
    assert step[0].W[0, 0] == pytest.approx(1.0 + 0.9 * v1 - lr * 2.0)


def test_training_on_digits_lowers_the_loss():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    labels = digits.target.astype("int64")
    spec = mb.NetworkSpec(
        (64, 32, 10), ("relu", "softmax"), "sparse_categorical_crossentropy"
    )
    params = mb.init_params(spec, seed=0)

    _, history = mb.train(
        spec,
        params,
        x,
        labels,
        epochs=3,
        batch_size=32,
        optimizer=mb.SGD(0.1, momentum=0.9),
        seed=0,
    )
    assert history.epoch_losses[-1] < 0.5 * history.epoch_losses[0]


def test_gradients_iterate_over_the_layers_in_order():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels)

    assert len(grads) == 2
    assert list(grads) == list(grads.layers)
    assert [g for g in grads][0] is grads[1]
    assert grads[np.int64(2)] is grads.layers[1]


def test_a_layer_index_out_of_range_is_reported_as_given():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels)

    for index in (-3, 3, 0):
        with pytest.raises(IndexError, match=rf"received {index}\.$"):
            grads[index]


@pytest.mark.parametrize("index", ["1", slice(1, None), 1.0, True])
def test_layers_are_indexed_by_integers_only(index):
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels)

    with pytest.raises(TypeError, match=r"integers 1 … 2.*grads\.layers"):
        grads[index]


# SGD: only gradients of the same network, only real numbers as settings.


def other_network():
    spec = mb.NetworkSpec((4, 5, 3), ("relu", "softmax"), "categorical_crossentropy")
    params = mb.init_params(spec, seed=1)
    _, _, x, labels = small_case()
    return params, mb.backward(spec, params, x, labels).param_grads()


def test_sgd_refuses_gradients_of_another_network():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels).param_grads()
    _, other_grads = other_network()

    with pytest.raises(mb.ShapeError, match=r"params have 2 layer\(s\) but grads 1"):
        mb.SGD().step(params, grads[:1])
    with pytest.raises(
        mb.ShapeError, match=r"layer 1 W has shape \(6, 4\) but its gradient \(5, 4\)"
    ):
        mb.SGD().step(params, other_grads)
    with pytest.raises(TypeError, match=r"param_grads\(\)"):
        mb.SGD().step(params, mb.backward(spec, params, x, labels))


def test_sgd_with_momentum_refuses_a_second_network():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels).param_grads()
    other_params, other_grads = other_network()

    optimizer = mb.SGD(0.1, momentum=0.9)
    optimizer.step(params, grads)
    with pytest.raises(
        mb.ShapeError,
        match=r"layer 1 W has shape \(5, 4\) but its velocity.*\(6, 4\).*new SGD",
    ):
        optimizer.step(other_params, other_grads)

    optimizer.velocities = None  # a reset, as the message says
    optimizer.step(other_params, other_grads)


def test_sgd_refuses_gradients_of_another_dtype():
    spec, params, x, labels = small_case("float64")
    grads = mb.backward(spec, params, x, labels).param_grads()
    grads32 = tuple(mb.LayerParams(W, b.astype("float32")) for W, b in grads)

    with pytest.raises(mb.DTypeError) as caught:
        mb.SGD().step(params, grads32)
    message = str(caught.value)
    assert "layer 1 b is float64 but its gradient float32" in message, message
    assert "grad.astype('float64')" in message, message


class FakeTensor:
    """Shape and dtype as a TensorFlow tensor has them, without TensorFlow."""

    __module__ = "tensorflow.python.framework.ops"

    def __init__(self, array):
        self.shape = array.shape
        self.dtype = array.dtype


def test_sgd_refuses_gradients_of_another_array_library():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels).param_grads()
    tensors = tuple(mb.LayerParams(FakeTensor(W), FakeTensor(b)) for W, b in grads)

    with pytest.raises(TypeError) as caught:
        mb.SGD().step(params, tensors)
    message = str(caught.value)
    assert "layer 1 W is a numpy array but its gradient a tensorflow" in message
    assert "backend='numpy'" in message, message


def test_sgd_with_momentum_refuses_a_network_of_another_dtype():
    spec64, params64, x64, labels64 = small_case("float64")
    spec32, params32, x32, labels32 = small_case("float32")
    grads64 = mb.backward(spec64, params64, x64, labels64).param_grads()
    grads32 = mb.backward(spec32, params32, x32, labels32).param_grads()

    optimizer = mb.SGD(0.1, momentum=0.9)
    optimizer.step(params64, grads64)
    with pytest.raises(mb.DTypeError) as caught:
        optimizer.step(params32, grads32)
    message = str(caught.value)
    assert "layer 1 W is float32 but its velocity" in message, message
    assert "float64" in message, message
    assert "new SGD" in message and "velocities = None" in message, message

    optimizer.velocities = None  # a reset, as the message says
    new = optimizer.step(params32, grads32)
    assert new[0].W.dtype == np.float32


def test_sgd_with_momentum_refuses_a_network_of_another_library():
    spec, params, x, labels = small_case()
    grads = mb.backward(spec, params, x, labels).param_grads()
    optimizer = mb.SGD(0.1, momentum=0.9)
    optimizer.step(params, grads)

    tensors = tuple(mb.LayerParams(FakeTensor(W), FakeTensor(b)) for W, b in params)
    tensor_grads = tuple(mb.LayerParams(FakeTensor(W), FakeTensor(b)) for W, b in grads)
    with pytest.raises(TypeError) as caught:
        optimizer.step(tensors, tensor_grads)
    message = str(caught.value)
    assert "layer 1 W is a tensorflow array but its velocity" in message, message
    assert "new SGD" in message, message


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"learning_rate": "0.1"}, "learning_rate must be a real number"),
        ({"learning_rate": True}, "learning_rate must be a real number"),
        ({"momentum": "0.9"}, "momentum must be a real number"),
        ({"momentum": 0.9, "nesterov": "yes"}, "nesterov must be True or False"),
    ],
)
def test_sgd_settings_of_the_wrong_type_are_refused(kwargs, words):
    with pytest.raises(TypeError, match=words):
        mb.SGD(**kwargs)


def test_sgd_accepts_numpy_numbers():
    optimizer = mb.SGD(np.float32(0.1), momentum=np.float64(0.5), nesterov=np.True_)
    assert optimizer.nesterov is True


@pytest.mark.parametrize("seed", [-1, 1.5, "1"])
def test_init_params_names_a_bad_seed(seed):
    spec, _, _, _ = small_case()
    with pytest.raises(mb.ManualBackpropError, match="seed must be an integer, 0 or"):
        mb.init_params(spec, seed=seed)


def test_train_names_a_bad_seed():
    spec, params, x, labels = small_case()
    with pytest.raises(mb.ManualBackpropError, match="seed must be an integer"):
        mb.train(spec, params, x, labels, seed=-1)


# Files: a missing folder is refused, as the CLI's --json refuses it.


def test_a_file_that_is_not_a_zip_is_not_described_as_a_pickle(tmp_path):
    path = tmp_path / "params.npz"
    path.write_bytes(bytes(range(7, 200)))
    spec, _, _, _ = small_case()
    with pytest.raises(mb.SpecError) as caught:
        mb.load_params(path, spec)
    message = str(caught.value)
    assert "is not an .npz archive" in message, message
    assert "not a zip file" in message, message
    assert "pickl" not in message, message


def test_an_archive_of_objects_is_described_as_pickled(tmp_path):
    path = tmp_path / "params.npz"
    np.savez(path, W1=np.array([{"a": 1}], dtype=object))
    spec, _, _, _ = small_case()
    with pytest.raises(mb.SpecError) as caught:
        mb.load_params(path, spec)
    message = str(caught.value)
    assert "Python objects" in message and "pickle" in message, message
    assert "not a zip" not in message, message


def test_a_single_npy_array_is_refused_as_not_an_archive(tmp_path):
    path = tmp_path / "params.npy"
    np.save(path, np.ones(3))
    spec, _, _, _ = small_case()
    with pytest.raises(mb.SpecError, match="single .npy array"):
        mb.load_params(path, spec)


def test_parameters_of_another_dtype_name_the_descriptions_dtype(tmp_path):
    spec64, params64, _, _ = small_case("float64")
    path = tmp_path / "params.npz"
    mb.save_params(path, params64)
    spec32, _, _, _ = small_case("float32")

    with pytest.raises(mb.DTypeError) as caught:
        mb.load_params(path, spec32)
    message = str(caught.value)
    assert "holds float64 parameters" in message, message
    assert '"dtype": "float64"' in message, message
    assert "--dtype float64" in message, message


def test_saving_into_a_missing_folder_is_refused(tmp_path):
    spec, params, _, _ = small_case()
    missing = tmp_path / "no" / "such"

    with pytest.raises(mb.SpecError, match=r"folder .*no/such' does not exist.*create"):
        mb.save_params(missing / "params.npz", params)
    with pytest.raises(mb.SpecError, match=r"folder .*no/such' does not exist.*create"):
        spec.save(missing / "net.json")
    with pytest.raises(mb.SpecError, match="it is a folder"):
        spec.save(tmp_path)
    assert not (tmp_path / "no").exists()


def test_case_files_still_create_their_folder(tmp_path):
    # Failing property tests write cases into a replay folder that may not
    # exist yet (MANUAL_BACKPROP_REPLAY_DIR); save_case makes it.
    from manual_backprop.replay import load_case, save_case

    spec, params, x, labels = small_case()
    path = tmp_path / "replays" / "case.npz"
    save_case(path, spec, params, x, labels)
    assert load_case(path).spec == spec
