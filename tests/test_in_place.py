"""In-place updates, packed parameters and ``backward(out=)``.

Every in-place path must give the same numbers, bit for bit, as the
functional one it replaces: ``SGD.step(in_place=True)`` against the default
step, ``backward(out=)`` against a fresh ``backward``, ``train`` against a
hand-written loop, and the numpy namespace's ``mean`` against ``np.mean``.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import manual_backprop as mb
from manual_backprop import (
    SGD,
    DTypeError,
    InputTypeError,
    LayerParams,
    PackedParams,
    ShapeError,
    backward,
    pack_params,
    packed_like,
)
from manual_backprop.backend import NUMPY
from manual_backprop.params import packed_views
from manual_backprop.testing.strategies import cases
from manual_backprop.testing.strategies import fixed_case as small_case

# A few examples per property: each runs several forward+backward passes.
FEW = settings(max_examples=min(settings().max_examples, 12))

KINDS = {
    "plain": dict(learning_rate=0.1),
    "momentum": dict(learning_rate=0.05, momentum=0.9),
    "nesterov": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
}
LAYOUTS = ("packed", "unpacked", "packed-params")
DTYPES = ("float32", "float64")
STEPS = 4


def arrays_of(params):
    return [a for pair in params for a in pair]


def copies(params):
    return tuple(LayerParams(W.copy(), b.copy()) for W, b in params)


def assert_same(actual, expected):
    """Every array of two parameter sets equal, bit for bit, same dtype."""
    assert len(actual) == len(expected)
    for a, e in zip(arrays_of(actual), arrays_of(expected), strict=True):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)


def same_objects(these, those):
    return all(a is b for a, b in zip(these, those, strict=True))


def spy_on_updates(opt):
    """Record how many arrays each in-place update of ``opt`` was given."""
    counts = []
    update = opt._update_in_place

    def spy(flat, flat_grads, velocities=None):
        counts.append(len(flat))
        return update(flat, flat_grads, velocities)

    opt._update_in_place = spy
    return counts


def grads_for(case, params, layout, buffer):
    """The gradients at ``params`` in ``layout``; packed ones into ``buffer``."""
    if layout == "packed":
        grads = backward(
            case.spec, params, case.x, case.labels, check=False, out=buffer
        ).param_grads()
        assert grads is buffer
        return grads
    grads = backward(case.spec, params, case.x, case.labels, check=False)
    return grads.param_grads()


# 1. SGD.step(in_place=True) is the functional step, bit for bit.


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(data=st.data())
def test_in_place_steps_equal_functional_steps(dtype, kind, layout, data):
    """Several in-place steps follow the functional trajectory exactly."""
    case = data.draw(cases(max_depth=3, max_width=8, max_batch=6, dtypes=(dtype,)))
    opt, ref_opt = SGD(**KINDS[kind]), SGD(**KINDS[kind])
    counts = spy_on_updates(opt)
    pack = copies if layout == "unpacked" else pack_params
    params = pack(case.params)
    originals = arrays_of(params)
    buffer = packed_like(params)
    ref = case.params

    with np.errstate(all="ignore"):
        for _ in range(STEPS):
            grads = grads_for(case, params, layout, buffer)
            returned = opt.step(params, grads, in_place=True)
            ref_grads = backward(case.spec, ref, case.x, case.labels, check=False)
            ref = ref_opt.step(ref, ref_grads.param_grads())

            assert same_objects(arrays_of(returned), originals)
            assert same_objects(arrays_of(params), originals)
            assert_same(params, ref)

    packed_path = layout == "packed"
    assert counts == [1 if packed_path else len(originals)] * STEPS
    if kind == "plain":
        assert opt.velocities is None
        return
    for v, ref_v in zip(opt.velocities, ref_opt.velocities, strict=True):
        np.testing.assert_array_equal(v, ref_v)
    if layout == "unpacked":
        assert opt._velocity_flat is None
    else:  # packed params: the velocities are views of one buffer
        assert opt._velocity_flat is not None
        assert opt._velocity_flat.size == params.flat.size
        assert all(np.shares_memory(v, opt._velocity_flat) for v in opt.velocities)


@pytest.mark.parametrize("kind", ["momentum", "nesterov"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_velocities_reset_restarts_the_trajectory(dtype, kind):
    """``opt.velocities = None`` restarts as a fresh optimizer would."""
    spec, start, x, labels = small_case(dtype, (4, 6, 5, 3))
    opt = SGD(**KINDS[kind])
    params = pack_params(start)
    buffer = packed_like(params)
    for _ in range(2):
        grads = backward(spec, params, x, labels, out=buffer).param_grads()
        opt.step(params, grads, in_place=True)
    old_flat = opt._velocity_flat
    assert np.any(old_flat != 0)

    opt.velocities = None
    counts = spy_on_updates(opt)
    ref_opt, ref = SGD(**KINDS[kind]), copies(params)
    for _ in range(3):
        grads = backward(spec, params, x, labels, out=buffer).param_grads()
        opt.step(params, grads, in_place=True)
        ref = ref_opt.step(ref, backward(spec, ref, x, labels).param_grads())
        assert_same(params, ref)
    assert counts == [1, 1, 1]  # new packed velocities, one operation each
    assert opt._velocity_flat is not old_flat


@pytest.mark.parametrize("kind", ["momentum", "nesterov"])
def test_velocities_replaced_from_outside_are_the_ones_updated(kind):
    """Copies assigned to ``opt.velocities`` are used (and written) per array."""
    spec, start, x, labels = small_case("float64")
    opt, ref_opt = SGD(**KINDS[kind]), SGD(**KINDS[kind])
    params, ref = pack_params(start), start
    buffer = packed_like(params)
    for step in range(4):
        if step == 2:
            opt.velocities = [v.copy() for v in opt.velocities]
            mine = list(opt.velocities)
            counts = spy_on_updates(opt)
        grads = backward(spec, params, x, labels, out=buffer).param_grads()
        opt.step(params, grads, in_place=True)
        ref = ref_opt.step(ref, backward(spec, ref, x, labels).param_grads())
        assert_same(params, ref)
    assert counts == [4, 4]  # not the stale packed buffer
    assert same_objects(opt.velocities, mine)
    for v, ref_v in zip(mine, ref_opt.velocities, strict=True):
        np.testing.assert_array_equal(v, ref_v)


def test_in_place_accepts_a_numpy_bool():
    spec, start, x, labels = small_case()
    params = pack_params(start)
    grads = backward(spec, params, x, labels).param_grads()
    expected = SGD().step(start, grads)
    SGD().step(params, grads, in_place=np.True_)
    assert_same(params, expected)


# 2. Refusals.


@pytest.mark.parametrize("flag", [1, 0, None, 1.0, "yes"])
def test_in_place_must_be_a_bool(flag):
    spec, params, x, labels = small_case()
    before = copies(params)
    grads = backward(spec, params, x, labels).param_grads()
    with pytest.raises(InputTypeError, match="in_place must be True or False"):
        SGD().step(params, grads, in_place=flag)
    assert_same(params, before)


@pytest.mark.parametrize("layout", ["unpacked", "packed"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_read_only_parameters_are_refused_before_any_write(kind, layout):
    spec, start, x, labels = small_case(widths=(4, 6, 5, 3))
    params = copies(start) if layout == "unpacked" else pack_params(start)
    grads = backward(spec, params, x, labels).param_grads()
    before = copies(params)
    params[1].W.flags.writeable = False  # layer 2: layer 1 would come first
    with pytest.raises(InputTypeError, match="layer 2 W is read-only"):
        SGD(**KINDS[kind]).step(params, grads, in_place=True)
    assert_same(params, before)


def test_tensorflow_parameters_are_refused_in_place(tf_reference):
    import tensorflow as tf

    spec, params, x, labels = small_case()
    grads = backward(spec, params, x, labels).param_grads()
    tensors = tuple(LayerParams(tf.constant(W), tf.constant(b)) for W, b in params)
    tgrads = tuple(LayerParams(tf.constant(W), tf.constant(b)) for W, b in grads)
    with pytest.raises(InputTypeError, match="layer 1 W is a .*cannot be written"):
        SGD().step(tensors, tgrads, in_place=True)

    # numpy layer 1, TensorFlow layer 2: refused before layer 1 is written.
    mixed = (LayerParams(params[0].W.copy(), params[0].b.copy()), tensors[1])
    mixed_grads = (grads[0], tgrads[1])
    before = params[0].W.copy()
    with pytest.raises(InputTypeError, match="layer 2 W is a .*cannot be written"):
        SGD().step(mixed, mixed_grads, in_place=True)
    np.testing.assert_array_equal(mixed[0].W, before)


# 3. backward(out=).


@FEW
@given(cases(max_depth=4, max_width=12, max_batch=8))
def test_backward_writes_into_out_with_the_same_numbers(case):
    spec, params, x, labels = case.spec, case.params, case.x, case.labels
    buf = packed_like(params)
    flat = buf.flat
    with np.errstate(all="ignore"):
        grads = backward(spec, params, x, labels, out=buf)
        fresh = backward(spec, params, x, labels)

    assert grads.param_grads() is buf
    assert grads.packed is buf
    assert buf.flat is flat
    for layer in range(1, spec.depth + 1):
        assert grads[layer].weight_grad is buf[layer - 1].W
        assert grads[layer].bias_grad is buf[layer - 1].b
    assert fresh.packed is None
    assert not isinstance(fresh.param_grads(), PackedParams)
    np.testing.assert_array_equal(grads.loss, fresh.loss)
    np.testing.assert_array_equal(grads.input_grad, fresh.input_grad)
    assert_same(grads.param_grads(), fresh.param_grads())
    for a, b in zip(grads.deltas, fresh.deltas, strict=True):
        np.testing.assert_array_equal(a, b)

    # A second call overwrites the same buffer (the first grads see it too).
    x2, labels2 = x[::-1] * 0.5, labels[::-1].copy()
    with np.errstate(all="ignore"):
        again = backward(spec, params, x2, labels2, out=buf)
        fresh2 = backward(spec, params, x2, labels2)
    assert again.param_grads() is buf
    assert buf.flat is flat
    assert_same(buf, fresh2.param_grads())
    assert_same(grads.param_grads(), fresh2.param_grads())


def test_out_must_be_packed():
    spec, params, x, labels = small_case()
    buf = packed_like(params)
    for wrong in (tuple(buf), list(buf)):
        with pytest.raises(InputTypeError, match="out must be a PackedParams"):
            backward(spec, params, x, labels, out=wrong)


def test_out_of_another_network_names_the_layer():
    spec, params, x, labels = small_case()
    _, wider, _, _ = small_case(widths=(4, 6, 5))
    with pytest.raises(ShapeError, match=r"out layer 2 W .* shape \(5, 6\)"):
        backward(spec, params, x, labels, out=packed_like(wider))
    _, deeper, _, _ = small_case(widths=(4, 6, 6, 3))
    with pytest.raises(ShapeError, match=r"out has 3 layer\(s\) but params 2"):
        backward(spec, params, x, labels, out=packed_like(deeper))


def test_out_of_another_dtype_names_the_layer():
    spec, params, x, labels = small_case("float32")
    _, wide, _, _ = small_case("float64")
    with pytest.raises(ShapeError, match="out layer 1 W is float64"):
        backward(spec, params, x, labels, out=packed_like(wide))


def test_out_is_refused_on_tensorflow(tf_reference):
    spec, params, x, labels = small_case()
    with pytest.raises(InputTypeError, match="tensorflow backend cannot"):
        backward(spec, params, x, labels, backend="tensorflow", out=packed_like(params))


def test_out_without_checks_still_fills_the_buffer():
    spec, params, x, labels = small_case("float64")
    buf = packed_like(params)
    grads = backward(spec, params, x, labels, check=False, out=buf)
    assert grads.param_grads() is buf
    assert grads[1].weight_grad is buf[0].W
    assert_same(buf, backward(spec, params, x, labels).param_grads())


# 4. pack_params, packed_like, packed_views.


@FEW
@given(cases(max_depth=4, max_width=12, max_batch=2))
def test_pack_params_copies_into_one_buffer_in_order(case):
    params = case.params
    before = copies(params)
    packed = pack_params(params)

    assert isinstance(packed, PackedParams) and isinstance(packed, tuple)
    assert packed.flat.ndim == 1 and packed.flat.dtype == params[0].W.dtype
    assert packed.flat.size == sum(a.size for a in arrays_of(params))
    assert_same(packed, params)
    offset = 0
    for view, original in zip(arrays_of(packed), arrays_of(params), strict=True):
        assert isinstance(view, np.ndarray) and view.shape == original.shape
        assert view.flags.c_contiguous
        assert np.shares_memory(view, packed.flat)
        assert not np.shares_memory(view, original)
        end = offset + original.size
        np.testing.assert_array_equal(packed.flat[offset:end], original.ravel())
        offset = end
    for layer in packed:
        assert isinstance(layer, LayerParams)

    packed.flat[...] += 1  # the copy moves; the caller's arrays do not
    assert_same(params, before)
    np.testing.assert_array_equal(packed[0].W, before[0].W + 1)


def test_pack_params_refuses_mixed_dtypes():
    _, params, _, _ = small_case("float32")
    mixed = (params[0], LayerParams(params[1].W, params[1].b.astype("float64")))
    with pytest.raises(DTypeError, match="one dtype.*float32, float64"):
        pack_params(mixed)


def test_pack_params_refuses_what_is_not_a_numpy_array():
    with pytest.raises(InputTypeError, match="numpy arrays"):
        pack_params([([[1.0, 2.0]], [0.0])])
    _, params, _, _ = small_case()
    half = (params[0], LayerParams(params[1].W.tolist(), params[1].b))
    with pytest.raises(InputTypeError, match="numpy arrays"):
        pack_params(half)
    with pytest.raises(InputTypeError, match="nowhere"):
        pack_params(())


def test_pack_params_refuses_tensorflow_tensors(tf_reference):
    import tensorflow as tf

    _, params, _, _ = small_case()
    tensors = tuple(LayerParams(tf.constant(W), tf.constant(b)) for W, b in params)
    with pytest.raises(InputTypeError, match="from tensorflow"):
        pack_params(tensors)


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_like_is_zeros_of_the_same_layout(dtype):
    _, params, _, _ = small_case(dtype, (4, 6, 5, 3))
    before = copies(params)
    for source in (params, pack_params(params)):
        zeros = packed_like(source)
        assert isinstance(zeros, PackedParams)
        assert zeros.flat.size == sum(a.size for a in arrays_of(params))
        assert not np.shares_memory(zeros.flat, arrays_of(source)[0])
        np.testing.assert_array_equal(zeros.flat, 0)
        for z, p in zip(arrays_of(zeros), arrays_of(params), strict=True):
            assert z.shape == p.shape and z.dtype == p.dtype
            assert np.shares_memory(z, zeros.flat) and z.flags.c_contiguous
    assert_same(params, before)


SHAPES = [((3, 4), (3,)), ((2, 3), (2,))]  # 12 + 3 + 6 + 2 = 23 values


def params_of(shapes, dtype="float32"):
    rng = np.random.default_rng(3)
    return tuple(
        LayerParams(rng.normal(size=W).astype(dtype), rng.normal(size=b).astype(dtype))
        for W, b in shapes
    )


def test_packed_views_cut_a_buffer_of_the_right_size():
    flat = np.arange(23.0)
    views = packed_views(flat, SHAPES)
    assert views.flat is flat
    np.testing.assert_array_equal(views[1].W, np.arange(15.0, 21.0).reshape(2, 3))
    np.testing.assert_array_equal(views[1].b, [21.0, 22.0])


def test_packed_views_refuse_a_longer_buffer():
    with pytest.raises(ShapeError, match=r"\(24,\) does not fit .* 23 values"):
        packed_views(np.zeros(24), SHAPES)


@pytest.mark.parametrize("size", [10, 21])
def test_packed_views_refuse_a_shorter_buffer(size):
    with pytest.raises(ShapeError, match="does not fit"):
        packed_views(np.zeros(size), SHAPES)


def test_packed_views_refuse_a_buffer_that_is_not_1d():
    with pytest.raises(ShapeError, match="1-D"):
        packed_views(np.zeros((1, 22)), SHAPES)


def test_packed_params_copy_and_pickle_into_buffers_of_their_own():
    packed = pack_params(params_of(SHAPES))
    for copied in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
        assert isinstance(copied, PackedParams)
        assert not np.shares_memory(copied.flat, packed.flat)
        for (W, b), (W_copy, b_copy) in zip(packed, copied, strict=True):
            np.testing.assert_array_equal(W_copy, W)
            np.testing.assert_array_equal(b_copy, b)
            assert np.shares_memory(W_copy, copied.flat)
            assert np.shares_memory(b_copy, copied.flat)
    shallow = copy.copy(packed)
    assert shallow.flat is packed.flat and shallow[0].W.base is packed.flat


def test_out_sharing_memory_with_params_is_refused():
    spec, params, x, labels = small_case()
    packed = pack_params(params)
    with pytest.raises(InputTypeError, match="shares memory with params"):
        backward(spec, packed, x, labels, out=packed)


def test_a_refused_in_place_step_makes_no_velocities():
    params = pack_params(params_of(SHAPES))
    params.flat.flags.writeable = False  # the views were made writable
    grads = packed_like(params)
    opt = SGD(0.1, momentum=0.9)
    with pytest.raises(InputTypeError, match=r"params\.flat\) is read-only"):
        opt.step(params, grads, in_place=True)
    assert opt.velocities is None


def test_in_place_returns_packed_params_themselves():
    params = pack_params(params_of(SHAPES))
    grads = packed_like(params)
    assert SGD(0.1).step(params, grads, in_place=True) is params


# 5. train() against a hand-written loop.


def train_case(dtype="float64"):
    spec = mb.NetworkSpec(
        (5, 7, 4, 3), ("tanh", "relu", "softmax"), "categorical_crossentropy", dtype
    )
    params = mb.init_params(spec, seed=4)
    rng = np.random.default_rng(5)
    params = tuple(  # non-zero biases, so that they are checked too
        LayerParams(W, (0.1 * rng.normal(size=b.shape)).astype(dtype))
        for W, b in params
    )
    x = rng.normal(size=(23, 5)).astype(dtype)  # 23 = 4 batches of 5, then 3
    labels = np.eye(3, dtype=dtype)[rng.integers(0, 3, size=23)]
    return spec, params, x, labels


def hand_train(spec, params, x, labels, opt, epochs, batch_size, seed):
    """train()'s batching with the functional backward and SGD.step."""
    losses, n = [], x.shape[0]
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            grads = backward(spec, params, x[rows], labels[rows])
            params = opt.step(params, grads.param_grads())
            total += float(grads.loss) * len(rows)
        losses.append(total / n)
    return params, losses


@pytest.mark.parametrize("kind", ["nesterov", "momentum", "plain"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_equals_a_hand_written_loop(dtype, kind):
    spec, params, x, labels = train_case(dtype)
    before = copies(params)
    trained, history = mb.train(
        spec, params, x, labels, epochs=2, batch_size=5, optimizer=SGD(**KINDS[kind])
    )
    expected, losses = hand_train(
        spec, before, x, labels, SGD(**KINDS[kind]), epochs=2, batch_size=5, seed=0
    )

    assert_same(params, before)  # the caller's arrays are left alone
    assert not any(
        np.shares_memory(t, p) for t in arrays_of(trained) for p in arrays_of(params)
    )
    assert_same(trained, expected)
    assert history.epoch_losses == losses
    assert not np.array_equal(trained[0].W, before[0].W)  # it did train


def test_train_updates_its_packed_copy_in_one_operation_every_step():
    """Every step of train() takes the packed path, not only the first."""
    spec, params, x, labels = train_case()
    opt = SGD(**KINDS["nesterov"])
    counts = spy_on_updates(opt)
    trained, _ = mb.train(
        spec, params, x, labels, epochs=2, batch_size=5, optimizer=opt
    )
    assert counts == [1] * 10  # 5 batches per epoch
    assert all(np.shares_memory(v, opt._velocity_flat) for v in opt.velocities)
    assert isinstance(trained, PackedParams)
    assert all(np.shares_memory(a, trained.flat) for a in arrays_of(trained))


# 6. The numpy namespace's mean and batch_sum.

SHAPES_2D = [(1, 7), (7, 1), (5, 3), (64, 33)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("dtype", DTYPES)
def test_namespace_mean_is_numpys_bit_for_bit(dtype, shape, axis, keepdims):
    rng = np.random.default_rng(sum(shape))
    a = (rng.normal(size=shape) * 10.0 ** rng.integers(-3, 4, size=shape)).astype(dtype)
    ours = NUMPY.xp.mean(a, axis=axis, keepdims=keepdims)
    theirs = np.mean(a, axis=axis, keepdims=keepdims)
    assert type(ours) is type(theirs)
    assert ours.dtype == theirs.dtype == a.dtype
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_array_equal(ours, theirs)


@given(
    dtype=st.sampled_from(DTYPES),
    rows=st.integers(1, 40),
    cols=st.integers(1, 9),
    axis=st.sampled_from([None, 0, 1, -1, -2]),
    keepdims=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_namespace_mean_is_numpys_on_any_shape(dtype, rows, cols, axis, keepdims, seed):
    a = np.random.default_rng(seed).standard_normal((rows, cols)).astype(dtype)
    ours = NUMPY.xp.mean(a, axis=axis, keepdims=keepdims)
    theirs = np.mean(a, axis=axis, keepdims=keepdims)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@given(
    dtype=st.sampled_from(DTYPES),
    rows=st.integers(1, 200),
    cols=st.integers(1, 17),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_sum_is_the_row_sum_within_round_off(dtype, rows, cols, seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((rows, cols)) * rng.uniform(0.1, 100.0)).astype(dtype)
    total = NUMPY.batch_sum(a)
    assert total.shape == (cols,) and total.dtype == a.dtype
    exact = a.astype(np.float64).sum(axis=0)
    bound = rows * np.finfo(dtype).eps * np.abs(a).astype(np.float64).sum(axis=0)
    assert np.all(np.abs(total - exact) <= bound)
    assert np.all(np.abs(total - a.sum(axis=0)) <= 2 * bound)
    if rows == 1:
        np.testing.assert_array_equal(total, a[0])

    out = np.full(cols, np.nan, dtype=dtype)
    assert NUMPY.batch_sum(a, out=out) is out
    np.testing.assert_array_equal(out, total)
