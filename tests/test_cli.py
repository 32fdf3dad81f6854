"""``manual-backprop verify``: exit codes, --json, --replay, and bad input.

Most runs call ``main`` in this process (TensorFlow is imported once); one
subprocess checks the real entry point for exit status 1 and one for 2.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from manual_backprop.cli import main
from manual_backprop.params import LayerParams, init_params, save_params
from manual_backprop.replay import load_case, save_case
from manual_backprop.spec import NetworkSpec

SMALL = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "binary_crossentropy")


def relu_at_zero_case():
    """A relu unit exactly at z = 0, where relu'(0) = 1 would show."""
    spec = NetworkSpec((2, 2, 1), ("relu", "linear"), "mse")
    params = (
        LayerParams(
            np.array([[1.0, -1.0], [0.5, 0.25]], "float32"), np.zeros(2, "float32")
        ),
        LayerParams(np.array([[2.0, -3.0]], "float32"), np.zeros(1, "float32")),
    )
    x = np.array([[0.75, 0.75], [1.0, 2.0]], "float32")
    labels = np.array([[1.0], [-1.0]], "float32")
    return spec, params, x, labels


needs_tf = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs TensorFlow (install the tf extra)",
)


@pytest.fixture()
def spec_file(tmp_path):
    path = tmp_path / "net.json"
    SMALL.save(path)
    return path


@needs_tf
def test_verify_on_a_spec_agrees_and_writes_json(spec_file, tmp_path, capsys):
    params_path = tmp_path / "params.npz"
    save_params(params_path, init_params(SMALL, seed=4))
    out = tmp_path / "report.json"

    status = main(
        [
            "verify",
            "--spec",
            str(spec_file),
            "--params",
            str(params_path),
            "--json",
            str(out),
        ]
    )

    assert status == 0, capsys.readouterr().out
    document = json.loads(out.read_text())
    assert document["passed"] is True
    (check,) = document["checks"]
    assert check["spec"] == SMALL.to_dict()
    assert check["mode"] == "function"
    assert check["versions"]["tensorflow"]
    printed = capsys.readouterr().out
    assert "PASS" in printed and "tanh" in printed


@needs_tf
def test_dtype_option_overrides_the_description(spec_file, capsys):
    status = main(
        ["verify", "--spec", str(spec_file), "--dtype", "float64", "--json", "-"]
    )
    assert status == 0
    document = json.loads(capsys.readouterr().out)
    assert document["checks"][0]["dtype"] == "float64"
    assert set(document["by_dtype"]) == {"float64"}


@needs_tf
def test_a_replayed_case_reproduces_a_mutant_failure(tmp_path, capsys):
    pytest.importorskip("manual_backprop.testing.mutations")
    path = tmp_path / "case.npz"
    spec, params, x, labels = relu_at_zero_case()
    meta = {"engine": "mutation:relu_derivative_one_at_zero", "property": "delta"}
    save_case(path, spec, params, x, labels, meta)

    assert main(["verify", "--replay", str(path)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "first diverging δ: layer 1" in printed

    save_case(path, spec, params, x, labels, {**meta, "engine": "engine"})
    assert main(["verify", "--replay", str(path)]) == 0


def test_a_case_file_round_trips(tmp_path):
    path = tmp_path / "case.npz"
    spec, params, x, labels = relu_at_zero_case()
    sgd = {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "steps": 2}
    save_case(path, spec, params, x, labels, {"property": "p", "sgd": sgd})

    case = load_case(path)
    assert case.spec == spec
    assert case.meta["sgd"] == sgd and case.meta["engine"] == "engine"
    for (W, b), (W2, b2) in zip(params, case.params, strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    np.testing.assert_array_equal(case.x, x)
    np.testing.assert_array_equal(case.labels, labels)
    with np.load(path, allow_pickle=False) as data:  # no pickle needed
        assert data["spec"].dtype.kind == "U"


def test_params_without_spec_is_bad_input(tmp_path, capsys):
    assert main(["verify", "--params", str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--spec" in err


def test_a_missing_spec_file_is_bad_input(tmp_path, capsys):
    assert main(["verify", "--spec", str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err
    assert "absent.json" in err and "Traceback" not in err


def run_cli(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "manual_backprop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_the_real_command_exits_2_on_a_malformed_description(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"widths": [2, 1], "activations": ["relu"],')
    done = run_cli("verify", "--spec", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "not valid JSON" in done.stderr


@needs_tf
def test_the_real_command_exits_1_on_a_mismatch(tmp_path):
    pytest.importorskip("manual_backprop.testing.mutations")
    path = tmp_path / "case.npz"
    meta = {"engine": "mutation:relu_derivative_one_at_zero"}
    save_case(path, *relu_at_zero_case(), meta)
    done = run_cli("verify", "--replay", str(path), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "δ" in done.stdout and "FAIL" in done.stdout


def test_the_digits_are_scaled_and_split_the_same_way_every_time():
    from manual_backprop.data import accuracy, load_digits

    first = load_digits("float32", seed=0)
    again = load_digits("float32", seed=0)
    sparse = load_digits("float64", seed=0, sparse=True)

    assert first.x_train.shape[1] == 64 and first.labels_train.shape[1] == 10
    assert len(first.x_train) + len(first.x_test) == 1797
    assert first.x_train.dtype == np.float32 and first.labels_test.dtype == np.float32
    assert first.x_train.min() >= 0 and first.x_train.max() == 1
    np.testing.assert_array_equal(first.x_test, again.x_test)
    np.testing.assert_array_equal(sparse.labels_test, first.labels_test.argmax(-1))
    assert accuracy(first.labels_test, sparse.labels_test) == 1.0


@needs_tf
def test_the_default_run_trains_on_digits_then_checks_random_networks(capsys):
    status = main(["verify", "--epochs", "1", "--random", "2", "--mode", "eager"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "epoch 1: mean training loss" in printed
    assert "accuracy: training" in printed
    assert printed.count("PASS ") >= 3  # trained network + 2 random ones
    assert "eager" in printed and "float32:" in printed and "float64:" in printed


def overflowing_case(tmp_path):
    """exp(100) overflows float32: both sides NaN, the float64 truth finite."""
    spec = NetworkSpec((1, 2, 1), ("exponential", "linear"), "mse")
    params = (
        LayerParams(np.zeros((2, 1), "float32"), np.full(2, 100, "float32")),
        LayerParams(np.array([[1e-30, -1e-30]], "float32"), np.zeros(1, "float32")),
    )
    spec_path, params_path = tmp_path / "net.json", tmp_path / "net.npz"
    spec.save(spec_path)
    save_params(params_path, params)
    return spec_path, params_path


@needs_tf
def test_nan_on_both_sides_fails_and_saves_a_replay(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MANUAL_BACKPROP_REPLAY_DIR", str(tmp_path / "replays"))
    spec_path, params_path = overflowing_case(tmp_path)
    out = tmp_path / "report.json"

    args = ["verify", "--spec", str(spec_path), "--params", str(params_path)]
    assert main([*args, "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "out-of-range" in printed and "cannot be checked" in printed

    document = json.loads(out.read_text())  # inf and NaN written as strings
    assert document["passed"] is False
    (saved,) = (tmp_path / "replays").glob("verify-*.npz")
    assert f"--replay {saved}" in printed
    assert main(["verify", "--replay", str(saved)]) == 1


@needs_tf
def test_parameters_already_in_the_requested_dtype_are_accepted(tmp_path):
    spec_path = tmp_path / "net.json"
    SMALL.save(spec_path)  # float32
    params_path = tmp_path / "p64.npz"
    params = init_params(SMALL, seed=1)
    save_params(
        params_path,
        tuple(LayerParams(W.astype("float64"), b.astype("float64")) for W, b in params),
    )
    args = ["verify", "--spec", str(spec_path), "--params", str(params_path)]
    assert main([*args, "--dtype", "float64"]) == 0


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--seed", "abc"], "--seed: must be an integer"),
        (["--random", "3"], "--random"),
        (["--epochs", "2"], "--epochs"),
        (["--max-width", "4"], "--max-width"),
    ],
)
def test_options_that_would_be_ignored_are_refused(spec_file, capsys, extra, words):
    try:
        status = main(["verify", "--spec", str(spec_file), *extra])
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_replay_refuses_a_dtype_override(tmp_path, capsys):
    path = tmp_path / "case.npz"
    save_case(path, *relu_at_zero_case())
    assert main(["verify", "--replay", str(path), "--dtype", "float64"]) == 2
    assert "--dtype" in capsys.readouterr().err


def test_a_replay_refuses_a_seed_and_a_case_of_another_format(tmp_path, capsys):
    path = tmp_path / "case.npz"
    save_case(path, *relu_at_zero_case())
    assert main(["verify", "--replay", str(path), "--seed", "3"]) == 2
    assert "--seed" in capsys.readouterr().err

    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"][()]))
    arrays["meta"] = np.array(json.dumps({**meta, "format": "manual-backprop-case/99"}))
    np.savez(path, **arrays)
    with pytest.raises(Exception, match="format"):
        load_case(path)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc")
def test_json_to_an_unwritable_folder_is_refused_before_the_run(spec_file, capsys):
    # No file can be created in /proc, not even by root.
    assert main(["verify", "--spec", str(spec_file), "--json", "/proc/r.json"]) == 2
    captured = capsys.readouterr()
    assert "cannot write" in captured.err and "PASS" not in captured.out
