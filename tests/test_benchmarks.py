"""The benchmark's own implementations compute what the engine computes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.fused import FusedStep
from benchmarks.implementations import LEARNING_RATE
from benchmarks.shapes import (
    DEEP,
    GEMM_BOUND_INTENSITY,
    LARGE,
    MEDIUM,
    SMALL,
    SMALL_B256,
    TINY,
    Shape,
    build_problem,
)
from manual_backprop import SGD, backward


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [TINY, SMALL, DEEP], ids=lambda s: s.name)
def test_hand_fused_step_trains_like_the_engine(shape: Shape, dtype: str):
    problem = build_problem(shape, dtype)
    fused = FusedStep(problem, LEARNING_RATE)
    optimizer = SGD(LEARNING_RATE)
    params = problem.params
    scale = 1e-6 if dtype == "float32" else 1e-14

    for _ in range(3):
        loss, grads = fused()
        ref = backward(problem.spec, params, problem.x, problem.labels)
        ref_grads = [a for pair in ref.param_grads() for a in pair]

        np.testing.assert_allclose(loss, ref.loss, rtol=scale)
        for g, r in zip(grads, ref_grads, strict=True):
            np.testing.assert_allclose(g, r, rtol=0, atol=scale * np.abs(r).max())
        params = optimizer.step(params, ref.param_grads())

    for W, (W_ref, _) in zip(fused.W, params, strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=0, atol=scale * np.abs(W_ref).max())


def test_hand_fused_step_refuses_networks_it_was_not_written_for():
    from dataclasses import replace

    problem = build_problem(TINY, "float32")
    spec = problem.spec
    relu = replace(spec.activations[0], name="relu")
    relu_spec = replace(spec, activations=(relu, *spec.activations[1:]))
    other = replace(problem, spec=relu_spec)

    with pytest.raises(ValueError, match="sigmoid hidden layers"):
        FusedStep(other, LEARNING_RATE)


def test_gemm_bound_follows_the_flops_per_elementwise_value():
    # small 784-128-10 at B=256: 104,595,456 GEMM FLOPs (784·128 and 128·10
    # products, three per layer, less layer 1's δ W) over 256·138 activation
    # values plus 101,770 parameters.
    assert SMALL_B256.gemm_flops == 104_726_528
    assert SMALL_B256.elementwise_values == 256 * 138 + 101_770
    assert SMALL_B256.gemm_intensity == pytest.approx(763.9, abs=0.1)

    bound = {s.label for s in (TINY, SMALL, SMALL_B256, MEDIUM, DEEP, LARGE)
             if s.gemm_bound}  # fmt: skip
    assert bound == {SMALL_B256.label, MEDIUM.label, LARGE.label}
    assert SMALL.gemm_intensity < GEMM_BOUND_INTENSITY <= MEDIUM.gemm_intensity


# The bench CLI refuses bad arguments at parsing: exit 2, argparse's one-line
# error, and no output folder left behind.


def _bench_args(out, *extra: str) -> list[str]:
    return [
        "--shape", "tiny",
        "--impl", "engine-numpy",
        "--impl", "numpy-hand-fused",
        "--no-memory",
        "--no-progress",
        "--out", str(out),
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--ceiling-n", "0"], "--ceiling-n"),
        (["--ceiling-n", "-3"], "--ceiling-n"),
        (["--ceiling-n", "many"], "--ceiling-n"),
        (["--ceiling-n", "256", "--shape", "huge"], "--shape"),
        (["--ceiling-n", "256", "--dtype", "float16"], "--dtype"),
    ],
)
def test_bench_cli_refuses_bad_arguments_before_making_the_folder(
    tmp_path, capsys, extra, named
):
    from benchmarks.cli import main

    out = tmp_path / "new" / "results"
    with pytest.raises(SystemExit) as exit_info:
        main(_bench_args(out, *extra))

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if "error:" in line]
    assert named in error
    assert not (tmp_path / "new").exists()


def test_bench_cli_ceiling_n_error_is_one_line_without_traceback(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "x"
    command = [sys.executable, "-m", "benchmarks", "--ceiling-n", "0"]
    done = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("python -m benchmarks: error: argument --ceiling-n: ")
    assert "must be a positive integer" in last
    assert "received '0'" in last
    assert not out.exists()


def test_bench_cli_refuses_an_out_that_is_a_file(tmp_path, capsys):
    from benchmarks.cli import main

    out = tmp_path / "taken"
    out.write_text("keep me")
    for target in (out, out / "below"):
        with pytest.raises(SystemExit) as exit_info:
            main(_bench_args(target, "--ceiling-n", "256"))
        assert exit_info.value.code == 2
        assert "--out" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    """One tiny run (numpy alone, a few seconds) into a folder not yet made."""
    import contextlib
    import io

    from benchmarks.cli import main

    out = tmp_path_factory.mktemp("bench") / "out"  # its parent exists
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(_bench_args(out, "--ceiling-n", "256"))
    assert code == 0
    return out, stdout.getvalue()


def test_bench_cli_makes_the_folder_and_labels_the_files_it_wrote(tiny_bench):
    out, stdout = tiny_bench
    tail = stdout.splitlines()[-3:]

    assert tail == [
        f"json: {out / 'bench.json'}",
        f"markdown: {out / 'bench.md'}",
        f"plot (float32): {out / 'bench-float32.png'}",
    ]
    assert (out / "bench-float32.png").is_file()


@pytest.mark.parametrize(
    ("faults", "shown"),
    [
        (0.21428571428571427, "0.214"),
        (0.0, "0"),
        (2.5, "2.5"),
        (33.333333, "33.3"),
        (3412.5, "3,412.5"),
        (None, "–"),
    ],
)
def test_markdown_rounds_the_faults_per_step(tiny_bench, faults, shown):
    import json

    from benchmarks import report

    out, _ = tiny_bench
    results = json.loads((out / "bench.json").read_text())
    (row,) = results["runs"][0]["shapes"]
    engine = row["implementations"]["engine-numpy"]
    if faults is None:
        del engine["minor_faults_per_call"]
    else:
        engine["minor_faults_per_call"] = faults

    text = report.markdown(results, "test")

    (line,) = [
        line
        for line in text.splitlines()
        if line.startswith(f"| {row['label']} |") and "µs |" in line
    ]
    assert line.endswith(f" | {shown} |")


# python -m benchmarks.profile_engine: shape names and labels, --repeats.


def test_profile_engine_takes_plain_names_and_labels():
    from benchmarks.profile_engine import resolve_shape
    from benchmarks.shapes import LARGE, MEDIUM, SMALL_B256

    assert resolve_shape("deep-narrow") == DEEP
    assert resolve_shape("small") == SMALL  # the quick preset's first, B=32
    assert SMALL.batch == 32
    assert resolve_shape("tiny") == TINY
    assert resolve_shape("medium") == MEDIUM
    assert resolve_shape("large") == LARGE
    assert resolve_shape("small-B256") == SMALL_B256
    assert resolve_shape("deep-narrow-B64") == DEEP
    assert resolve_shape("medium-B512").batch == 512  # the full preset's


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--repeats", "0"], "--repeats"),
        (["--repeats", "-5"], "--repeats"),
        (["--repeats", "seven"], "--repeats"),
        (["--shape", "deep"], "--shape"),
        (["--shape", "small-B7"], "--shape"),
    ],
)
def test_profile_engine_refuses_bad_arguments(capsys, argv, named):
    from benchmarks.profile_engine import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    (error,) = [
        line for line in capsys.readouterr().err.splitlines() if "error:" in line
    ]
    assert f"argument {named}:" in error


def test_profile_engine_help_describes_every_option(capsys):
    from benchmarks.profile_engine import _parser, main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Where one numpy engine step spends its time." in text
    assert "small-B32" in text  # what a plain `small` means
    assert all(action.help for action in _parser()._actions)


@pytest.mark.parametrize(("name", "label"), [("small", "small 784-128-10 B=32")])
def test_profile_engine_profiles_a_shape_given_by_name(capsys, name, label):
    from benchmarks.profile_engine import main

    assert main(["--shape", name, "--repeats", "1"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"{label} float32, median of 1 samples")
    assert "minor page faults per training step" in out


def test_environment_records_timing_variables_and_no_other_tools_secrets(
    monkeypatch,
):
    from benchmarks import environment

    monkeypatch.setenv("TF_VAR_db_password", "hunter2")
    monkeypatch.setenv("TF_TOKEN_app_terraform_io", "secret-token")
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")

    env = environment.describe(with_tensorflow=False)["env"]

    assert env["TF_NUM_INTRAOP_THREADS"] == "2"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert not any(key.startswith(("TF_VAR_", "TF_TOKEN_")) for key in env)
    assert "hunter2" not in env.values()
