"""Bad input to the optimizer, the packing helpers and ``train``.

One test per refusal: the exception's kind and what its message names.
Each would have passed silently, or failed with a raw numpy or Python
error, before the check it pins was added.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import manual_backprop as mb
from manual_backprop import (
    SGD,
    DTypeError,
    InputTypeError,
    LayerParams,
    ManualBackpropError,
    NonFiniteError,
    PackedParams,
    ShapeError,
    pack_params,
    packed_like,
)
from manual_backprop.params import packed_views
from manual_backprop.testing.strategies import fixed_case as small_case


def copies(params):
    return tuple(LayerParams(W.copy(), b.copy()) for W, b in params)


def cast(params, dtype):
    return tuple(LayerParams(W.astype(dtype), b.astype(dtype)) for W, b in params)


def assert_same(actual, expected):
    for (W, b), (W_e, b_e) in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(W, W_e)
        np.testing.assert_array_equal(b, b_e)


def message_of(caught):
    return str(caught.value)


# 1. Settings that float32 rounding would change.


@pytest.mark.parametrize(
    "rate",
    [1e-50, 1e-46, pytest.param(10**400, id="10**400"), 1e50, 3.5e38],
)
def test_a_learning_rate_outside_float32_is_refused_without_warnings(rate):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning leaks
        with pytest.raises(ManualBackpropError) as caught:
            SGD(learning_rate=rate)
    message = message_of(caught)
    assert "SGD: learning_rate" in message, message
    assert "float32" in message and "3.4e+38" in message, message


def test_a_learning_rate_that_rounds_to_zero_names_zero():
    with pytest.raises(ManualBackpropError, match=r"1e-50 rounds to 0 in float32"):
        SGD(1e-50)
    with pytest.raises(ManualBackpropError, match=r"1e\+50 rounds to inf in float32"):
        SGD(1e50)


@pytest.mark.parametrize("rate", [1.5e-45, 1e-38, 3.4e38])
def test_learning_rates_float32_holds_are_kept(rate):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = SGD(rate)
    assert opt.learning_rate == float(np.float32(rate)) > 0
    assert np.isfinite(opt.learning_rate)


@pytest.mark.parametrize("nesterov", [False, True])
def test_a_momentum_that_rounds_to_zero_is_refused(nesterov):
    with pytest.raises(ManualBackpropError) as caught:
        SGD(0.1, momentum=1e-50, nesterov=nesterov)
    message = message_of(caught)
    assert "SGD: momentum=1e-50 rounds to 0 in float32" in message, message
    assert "momentum=0" in message, message


def test_a_huge_integer_momentum_is_refused_as_out_of_range():
    with pytest.raises(ManualBackpropError, match=r"SGD: momentum must lie in"):
        SGD(0.1, momentum=10**400)


# 2. Parameters of a dtype the engine does not compute in.


def int_case():
    params = (LayerParams(np.ones((3, 2), np.int64), np.zeros(3, np.int64)),)
    grads = (LayerParams(np.ones((3, 2), np.int64), np.ones(3, np.int64)),)
    return params, grads


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_refuses_integer_parameters(momentum, in_place):
    params, grads = int_case()
    opt = SGD(0.1, momentum=momentum)
    with pytest.raises(DTypeError) as caught:
        opt.step(params, grads, in_place=in_place)
    message = message_of(caught)
    assert "SGD.step: params layer 1 W is int64" in message, message
    assert "float32 or float64" in message, message
    assert "W.astype('float64')" in message, message
    np.testing.assert_array_equal(params[0].W, 1)  # nothing was written
    assert opt.velocities is None


@pytest.mark.parametrize(
    "dtype, fix", [("complex128", "float64"), ("float16", "float32")]
)
def test_sgd_refuses_complex_and_half_precision(dtype, fix):
    _, params, _, _ = small_case("float64")
    params = cast(params, dtype)
    with pytest.raises(DTypeError) as caught:
        SGD().step(params, params)
    message = message_of(caught)
    assert f"layer 1 W is {dtype}" in message, message
    assert f"astype('{fix}')" in message, message


def test_sgd_names_the_layer_and_the_bias():
    _, params, _, _ = small_case("float64")
    bad = (params[0], LayerParams(params[1].W, params[1].b.astype(np.int32)))
    with pytest.raises(DTypeError, match=r"params layer 2 b is int32"):
        SGD().step(bad, bad)


def test_integer_params_with_float_grads_blame_the_params():
    params, _ = int_case()
    grads = cast(params, "float64")
    with pytest.raises(DTypeError) as caught:
        SGD().step(params, grads)
    message = message_of(caught)
    assert "params layer 1 W is int64" in message, message
    assert "astype('int64')" not in message, message  # no cast to the ints


def test_sgd_still_takes_float32_and_float64_after_a_refusal():
    params, grads = int_case()
    opt = SGD(0.1, momentum=0.9)
    with pytest.raises(DTypeError):
        opt.step(params, grads)
    good = cast(params, "float64")
    new = opt.step(good, cast(grads, "float64"))
    assert new[0].W.dtype == np.float64
    new32 = SGD(0.1).step(cast(params, "float32"), cast(grads, "float32"))
    assert new32[0].b.dtype == np.float32


@pytest.mark.parametrize("dtype", ["int64", "complex128", "float16", "bool"])
def test_pack_params_refuses_dtypes_the_engine_does_not_use(dtype):
    _, params, _, _ = small_case("float64")
    with pytest.raises(DTypeError) as caught:
        pack_params(cast(params, dtype))
    message = message_of(caught)
    assert f"pack_params: params layer 1 W is {dtype}" in message, message
    assert "float32 or float64" in message and ".astype(" in message, message


def test_pack_params_refuses_zero_dimensional_arrays():
    with pytest.raises(ShapeError) as caught:
        pack_params([(np.array(1.0), np.array(0.0))])
    message = message_of(caught)
    assert "pack_params: params layer 1 W has shape ()" in message, message
    assert "2-D" in message, message
    with pytest.raises(ShapeError, match=r"layer 1 b has shape \(\)"):
        pack_params([(np.ones((1, 1)), np.float64(0.0))])


def test_pack_params_refuses_a_bias_of_another_length():
    with pytest.raises(ShapeError, match=r"layer 1 b has shape \(2,\) but W \(3, 4\)"):
        pack_params([(np.ones((3, 4)), np.zeros(2))])


def test_pack_params_refuses_none():
    with pytest.raises(InputTypeError, match=r"pack_params: params must be .*NoneType"):
        pack_params(None)


def test_pack_params_refuses_a_triple():
    _, params, _, _ = small_case("float64")
    triple = (params[0], (params[1].W, params[1].b, params[1].b))
    with pytest.raises(ShapeError) as caught:
        pack_params(triple)
    message = message_of(caught)
    assert "pack_params: params layer 2 must be a (W, b) pair" in message, message
    assert "3 item(s)" in message, message


# 3. PackedParams are views of their buffer, or refused.


def test_a_hand_made_packed_params_with_another_buffer_is_refused():
    _, params, _, _ = small_case("float64")
    size = sum(W.size + b.size for W, b in params)
    with pytest.raises(InputTypeError) as caught:
        PackedParams(copies(params), np.zeros(size))
    message = message_of(caught)
    assert "PackedParams: layer 1 W is not a view of flat" in message, message
    assert "pack_params(params)" in message, message
    assert "packed_views(flat, shapes)" in message, message


def test_a_hand_made_packed_params_with_a_wrong_length_buffer_is_refused():
    _, params, _, _ = small_case("float64")
    packed = pack_params(params)
    with pytest.raises(ShapeError, match=r"flat holds 100 value\(s\) but .* 51"):
        PackedParams(packed, np.zeros(100))
    longer = np.zeros(packed.flat.size + 10)
    views = packed_views(
        longer[: packed.flat.size], [(W.shape, b.shape) for W, b in packed]
    )
    with pytest.raises(ShapeError, match=r"flat holds 61 value\(s\)"):
        PackedParams(views, longer)


def test_the_bogus_packed_params_of_the_report_never_reach_a_step():
    spec, params, x, labels = small_case("float64")
    grads = mb.backward(spec, params, x, labels).param_grads()
    with pytest.raises(ShapeError, match=r"flat holds 67 value\(s\) but .* 51"):
        bogus = PackedParams(copies(params), np.zeros(67))
        SGD(0.1).step(bogus, pack_params(grads), in_place=True)


def test_views_out_of_order_or_of_another_dtype_are_refused():
    packed = pack_params(small_case("float64")[1])
    swapped = (packed[1], packed[0])
    with pytest.raises(InputTypeError, match="layer 1 W is not a view of flat"):
        PackedParams(swapped, packed.flat)
    strided = packed.flat.view(np.float32)
    with pytest.raises(InputTypeError, match="layer 1 W is float64 but flat float32"):
        PackedParams(packed, strided)


def test_a_strided_buffer_is_refused():
    buffer = np.zeros(46)[::2]
    with pytest.raises(InputTypeError, match="flat must be one contiguous 1-D"):
        packed_views(buffer, [((3, 4), (3,)), ((2, 3), (2,))])


def test_a_buffer_that_is_not_an_array_is_refused():
    with pytest.raises(InputTypeError, match="flat must be a numpy or CuPy array"):
        PackedParams([], [0.0, 1.0])


def test_flat_cannot_be_replaced_afterwards():
    packed = pack_params(small_case("float64")[1])
    flat = packed.flat
    with pytest.raises(InputTypeError, match="packed_views"):
        packed.flat = np.zeros(flat.size)
    with pytest.raises(InputTypeError):
        del packed.flat
    assert packed.flat is flat


def test_views_copies_and_pickles_are_still_accepted():
    _, params, _, _ = small_case("float32")
    packed = pack_params(params)
    again = PackedParams(tuple(packed), packed.flat)
    assert again.flat is packed.flat and all(isinstance(p, LayerParams) for p in again)
    for other in (
        copy.copy(packed),
        copy.deepcopy(packed),
        pickle.loads(pickle.dumps(packed)),
    ):
        assert isinstance(other, PackedParams)
        assert_same(other, params)
    zeros = packed_like(params)
    assert SGD(0.1).step(packed, zeros, in_place=True) is packed
    assert_same(packed, params)


# 4. train's optimizer and on_epoch.


@pytest.mark.parametrize(
    "optimizer, words",
    [
        ("sgd", "received 'sgd' (str)"),
        (SGD, "received the class SGD"),
        (0.1, "received 0.1 (float)"),
    ],
)
def test_train_refuses_what_is_not_an_optimizer(optimizer, words):
    spec, params, x, labels = small_case("float64")
    with pytest.raises(InputTypeError) as caught:
        mb.train(spec, params, x, labels, optimizer=optimizer)
    message = message_of(caught)
    assert "train: optimizer must be" in message, message
    assert words in message, message
    assert "SGD(" in message, message


def test_train_refuses_an_on_epoch_that_cannot_be_called_before_training():
    spec, params, x, labels = small_case("float64")
    opt = SGD(0.1, momentum=0.9)
    with pytest.raises(InputTypeError) as caught:
        mb.train(spec, params, x, labels, optimizer=opt, on_epoch=5)
    message = message_of(caught)
    assert "train: on_epoch must be" in message, message
    assert "received 5 (int)" in message, message
    assert opt.velocities is None  # refused before the first step


def test_train_still_calls_on_epoch():
    spec, params, x, labels = small_case("float64")
    seen = []
    _, history = mb.train(
        spec, params, x, labels, epochs=2, on_epoch=lambda e, loss: seen.append(e)
    )
    assert seen == [0, 1] and len(history.epoch_losses) == 2


# 5. A diverging training stops with an error.


def diverging_case():
    spec = mb.NetworkSpec((3, 16, 1), ("relu", "linear"), "mean_squared_error")
    params = mb.init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    labels = 3 * x.sum(axis=1, keepdims=True)
    return spec, params, x, labels


def test_train_stops_when_the_loss_is_no_longer_finite():
    spec, params, x, labels = diverging_case()
    before = copies(params)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error says it; numpy need not
        with pytest.raises(NonFiniteError) as caught:
            mb.train(
                spec,
                params,
                x,
                labels,
                epochs=5,
                batch_size=8,
                optimizer=SGD(10.0, 0.9),
                on_epoch=lambda epoch, loss: seen.append(loss),
            )
    message = message_of(caught)
    assert "train: the mean loss of epoch 1 of 5 is" in message, message
    assert "smaller learning rate" in message and "SGD(1" in message, message
    assert seen == []  # on_epoch never sees a NaN
    assert_same(params, before)  # the caller's params are left alone


def test_train_refuses_non_finite_parameters_after_the_last_step():
    """A step that blows up on the very last batch leaves a finite loss."""
    spec, params, x, labels = small_case("float64")
    opt = SGD(0.1)
    step = opt.step
    calls = []

    def last_step_diverges(params, grads, *, in_place=False):
        calls.append(1)
        result = step(params, grads, in_place=in_place)
        if len(calls) == 2:
            params.flat[0] = np.inf
        return result

    opt.step = last_step_diverges
    with pytest.raises(NonFiniteError, match="after the last step of epoch 2"):
        mb.train(spec, params, x, labels, epochs=2, batch_size=5, optimizer=opt)
    assert np.all(np.isfinite(params[0].W))
