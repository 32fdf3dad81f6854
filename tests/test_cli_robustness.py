"""The command lines on inputs a tester found: a case file's ``meta["sgd"]``,
a reader that closes the pipe early, and ``bench --out`` under a missing
folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_cli import SMALL, needs_tf, relu_at_zero_case

from manual_backprop.cli import EXIT_BROKEN_PIPE, main
from manual_backprop.errors import SpecError
from manual_backprop.params import init_params
from manual_backprop.replay import MAX_SGD_STEPS, load_case, save_case

ROOT = Path(__file__).resolve().parent.parent
# A bench run of a few seconds: numpy alone, the tiny shape.
TINY_BENCH = [
    "--shape", "tiny",
    "--impl", "engine-numpy",
    "--ceiling-n", "64",
    "--no-memory",
    "--no-progress",
]  # fmt: skip
GOOD_SGD = {"learning_rate": 0.1, "momentum": 0.9, "nesterov": False, "steps": 1}


# 1. meta["sgd"]: exactly its four keys, each of its type and range.


@pytest.mark.parametrize(
    ("sgd", "named"),
    [
        ({**GOOD_SGD, "steps": 10**9}, "'steps'"),
        ({**GOOD_SGD, "steps": MAX_SGD_STEPS + 1}, "'steps'"),
        ({**GOOD_SGD, "steps": 0}, "'steps'"),
        ({**GOOD_SGD, "steps": 2.0}, "'steps'"),
        ({**GOOD_SGD, "steps": True}, "'steps'"),
        ("fast", "meta['sgd'] must be a JSON object"),
        (None, "meta['sgd'] must be a JSON object"),
        ({"learning_rate": 0.1}, "lacks momentum, nesterov, steps"),
        ({**GOOD_SGD, "decay": 0.5}, "unknown key(s) decay"),
        ({**GOOD_SGD, "learning_rate": 0}, "'learning_rate'"),
        ({**GOOD_SGD, "learning_rate": "0.1"}, "'learning_rate'"),
        ({**GOOD_SGD, "learning_rate": float("inf")}, "'learning_rate'"),
        ({**GOOD_SGD, "momentum": 1.5}, "'momentum'"),
        ({**GOOD_SGD, "momentum": None}, "'momentum'"),
        ({**GOOD_SGD, "nesterov": 1}, "'nesterov'"),
        ({**GOOD_SGD, "momentum": 0, "nesterov": True}, "'nesterov'"),
    ],
)
def test_a_malformed_sgd_in_a_case_file_is_bad_input(tmp_path, capsys, sgd, named):
    path = tmp_path / "case.npz"
    save_case(path, *relu_at_zero_case(), {"sgd": sgd})

    with pytest.raises(SpecError, match="meta"):  # before any check runs
        load_case(path)
    assert main(["verify", "--replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert named in err and str(path) in err


def test_a_well_formed_sgd_loads_as_written(tmp_path):
    path = tmp_path / "case.npz"
    sgd = {"learning_rate": 1, "momentum": 0.5, "nesterov": True, "steps": 10}
    save_case(path, *relu_at_zero_case(), {"sgd": sgd})
    assert load_case(path).meta["sgd"] == sgd


@needs_tf
def test_a_replayed_case_runs_its_sgd_check(tmp_path, capsys):
    path = tmp_path / "case.npz"
    params = init_params(SMALL, seed=3)
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    save_case(path, SMALL, params, x, labels, {"sgd": GOOD_SGD})

    assert main(["verify", "--replay", str(path), "--json", "-"]) == 0
    (check,) = json.loads(capsys.readouterr().out)["checks"]
    assert "W_after_sgd" in json.dumps(check)


def test_a_saved_failure_records_its_sgd_check(tmp_path, monkeypatch):
    from manual_backprop.cli import _save_failure
    from manual_backprop.crosscheck import SGDCheck

    monkeypatch.setenv("MANUAL_BACKPROP_REPLAY_DIR", str(tmp_path))
    spec, params, x, labels = relu_at_zero_case()
    sgd = SGDCheck(0.1, 0.9, steps=3)
    case = {"spec": spec, "params": params, "x": x, "labels": labels}
    report = SimpleNamespace(replay=None)
    _save_failure(report, "trained", {**case, "mode": "function", "sgd": sgd})

    assert load_case(report.replay).meta["sgd"] == sgd.to_dict()


# 2. A reader that closed the pipe: quietly, exit status 141.


def run_into_closed_pipe(module: str, *args: str, cwd: Path, buffered: bool = True):
    """Run ``python -m module args`` with a stdout nobody reads any more.

    ``buffered``: stdout block-buffered, as into a pipe from a shell, so
    that some output fails only at the interpreter's last flush.
    """
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails with EPIPE
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
            timeout=300,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    ("args", "buffered"),
    [
        (["verify", "--spec", "net.json"], True),  # rich's console: it exited 1
        (["verify", "--spec", "net.json"], False),
        (["verify", "--help"], True),  # the interpreter's last flush: 120
        (["bench", "--help"], True),
    ],
)
def test_a_closed_pipe_ends_quietly_with_141(tmp_path, args, buffered):
    SMALL.save(tmp_path / "net.json")
    done = run_into_closed_pipe(
        "manual_backprop", *args, cwd=tmp_path, buffered=buffered
    )
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")


@needs_tf
def test_a_closed_pipe_after_a_passing_json_report_exits_141(tmp_path):
    SMALL.save(tmp_path / "net.json")
    args = ["verify", "--spec", "net.json", "--json", "-"]
    done = run_into_closed_pipe("manual_backprop", *args, cwd=tmp_path)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert "PASS" in done.stderr and "Traceback" not in done.stderr


def test_a_closed_pipe_after_a_bench_run_exits_141(tmp_path):
    args = [*TINY_BENCH, "--out", "out"]
    done = run_into_closed_pipe("benchmarks", *args, cwd=tmp_path)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr
    assert (tmp_path / "out" / "bench.json").is_file()


def test_the_help_names_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    verify_help, bench_help = capsys.readouterr().out.split("usage:")[1:]
    for text in (verify_help, bench_help):
        assert "141 the output's reader closed the pipe early" in " ".join(text.split())


# 3. bench --out: the folder is made, its parent must exist.


def test_bench_refuses_an_out_whose_parent_is_missing(tmp_path, capsys):
    from benchmarks.cli import main as bench_main

    out = tmp_path / "absent" / "results"
    with pytest.raises(SystemExit) as exit_info:
        bench_main([*TINY_BENCH, "--out", str(out)])

    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"--out {out}" in line and repr(str(out.parent)) in line
    assert "does not exist" in line
    assert not (tmp_path / "absent").exists()


def test_bench_makes_the_out_folder_itself_and_the_default_with_its_parent(
    tmp_path, monkeypatch
):
    from benchmarks.cli import DEFAULT_OUT, _check_out, _parser

    parser = _parser()
    assert _check_out(parser, tmp_path / "new") == tmp_path / "new"
    assert (tmp_path / "new").is_dir()

    monkeypatch.chdir(tmp_path)
    assert not DEFAULT_OUT.parent.exists()
    assert _check_out(parser, None) == DEFAULT_OUT
    assert (tmp_path / DEFAULT_OUT).is_dir()
