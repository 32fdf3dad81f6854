"""``manual-backprop``: the command line (also ``python -m manual_backprop``).

``manual-backprop verify`` with no arguments trains the default network on
scikit-learn's bundled digits with the engine, cross-checks it against
TensorFlow at the trained parameters, then cross-checks a batch of random
network descriptions, and prints a per-layer table and a verdict.
``--spec``/``--params`` check a network of your own, ``--replay`` reruns a
saved failing case, ``--json`` writes the machine-readable report.

``manual-backprop bench …`` hands its arguments to ``benchmarks.cli``.

Exit status: 0 when everything agrees, 1 on a mismatch, 2 on bad input
(one line on stderr, no traceback), 141 when the reader of the output
closed the pipe early (``| head``), quietly, as for a Unix tool that
SIGPIPE ended.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .errors import DTypeError, ManualBackpropError, SpecError
from .params import LayerParams, Params, init_params, load_params
from .spec import DTYPES, NetworkSpec, write_atomic

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2
# The reader of stdout left (`| head`): 128 + SIGPIPE (13), the status a
# Unix tool that SIGPIPE ended reports.
EXIT_BROKEN_PIPE = 141
EXIT_STATUSES = (
    "exit status: 0 all checks agree, 1 a mismatch, 2 bad input, "
    f"{EXIT_BROKEN_PIPE} the output's reader closed the pipe early"
)

# The default network: 64 pixels in, 10 digit classes out.
DEFAULT_SPEC = {
    "widths": [64, 32, 16, 10],
    "activations": ["relu", "tanh", "softmax"],
    "loss": "categorical_crossentropy",
    "dtype": "float32",
}
DEFAULT_EPOCHS = 5
DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 0.1  # with momentum 0.9 this trains the digits in a few epochs
DEFAULT_MOMENTUM = 0.9
CHECK_BATCH = 64  # digits in the cross-check's batch
DEFAULT_RANDOM_NETS = 20
RANDOM_BATCH = 8  # the largest batch of a random network's check
RANDOM_DEPTH = 4  # by default small random networks, so verify stays quick
RANDOM_WIDTH = 16


@dataclass
class _Outcome:
    """What one ``verify`` run found, for the verdict and ``--json``."""

    reports: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    training: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2.

    The usage block argparse prints first would bury the one line that
    says what is wrong; ``--help`` still shows it.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="manual-backprop",
        description="A hand-written backprop engine, cross-checked against TensorFlow.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser(
        "verify",
        help="cross-check the engine against TensorFlow",
        description="Cross-check the engine against TensorFlow layer by layer. "
        "With no options: train the default network on the bundled digits, "
        "check it at the trained parameters, then check random networks.",
        epilog=EXIT_STATUSES,
    )
    verify.add_argument("--spec", type=Path, help="network description (JSON)")
    verify.add_argument(
        "--params", type=Path, help="parameters (.npz: W1, b1, …); needs --spec"
    )
    verify.add_argument("--seed", type=_seed, help="seed, 0 or more (default 0)")
    verify.add_argument(
        "--dtype", choices=DTYPES, help="override the description's dtype"
    )
    verify.add_argument(
        "--mode",
        choices=("function", "eager"),
        help="TensorFlow's execution mode (default: function)",
    )
    verify.add_argument(
        "--json", help="write the full report as JSON to this file ('-': stdout)"
    )
    verify.add_argument("--replay", type=Path, help="rerun a saved case file")
    verify.add_argument(
        "--random",
        type=int,
        metavar="N",
        help=f"random networks to check by default (default {DEFAULT_RANDOM_NETS})",
    )
    verify.add_argument(
        "--max-depth",
        type=int,
        help=f"deepest random network (default {RANDOM_DEPTH})",
    )
    verify.add_argument(
        "--max-width",
        type=int,
        help=f"widest random layer (default {RANDOM_WIDTH})",
    )
    verify.add_argument(
        "--epochs", type=int, help=f"training epochs (default {DEFAULT_EPOCHS})"
    )

    bench = commands.add_parser(
        "bench", help="run the benchmarks (arguments go to benchmarks.cli)"
    )
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    return run_to_pipe(lambda: _main(argv))


def run_to_pipe(body: Callable[[], int]) -> int:
    """``body()`` with stdout flushed; ``EXIT_BROKEN_PIPE`` if its reader left.

    Python's recipe (the note on SIGPIPE in the ``signal`` module's docs):
    after a ``BrokenPipeError``, stdout points at /dev/null, so that the
    interpreter's last flush of what is still buffered cannot fail again
    (that would print "Exception ignored" and exit 120).
    """
    try:
        try:
            return body()
        finally:  # a return, or argparse's exit after --help
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _stdout_to_devnull() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file descriptor (a test's capture): nothing to flush
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])

    args = build_parser().parse_args(argv)
    try:
        if args.command == "bench":  # pragma: no cover - handled above
            return _bench(args.rest)
        return _verify(args)
    except BrokenPipeError:
        raise  # the reader left: run_to_pipe's, not bad input
    except (ManualBackpropError, OSError) as err:
        message = " ".join(str(err).split())
        print(f"manual-backprop: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError as err:
        print(
            "manual-backprop: error: out of memory building the network "
            f"({err}); use narrower layers or a smaller batch.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be an integer, 0 or more; received {text!r}"
        )
    return value


def _bench(argv: list[str]) -> int:
    try:
        from benchmarks.cli import main as bench_main
    except ImportError as err:
        print(
            "manual-backprop: error: the benchmarks are not available "
            f"(cannot import benchmarks.cli: {err}); install the project with "
            "`pip install -e '.[bench]'` from a checkout.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return int(bench_main(argv) or 0)


# verify


def _verify(args: argparse.Namespace) -> int:
    if args.params is not None and args.spec is None:
        raise SpecError("--params needs --spec: the description says what they fit.")
    if args.replay is not None and (args.spec or args.params):
        raise SpecError("--replay runs a saved case; drop --spec and --params.")
    if args.replay is not None and (args.dtype or args.seed is not None):
        given = "--dtype" if args.dtype else "--seed"
        raise SpecError(
            f"--replay reruns a saved case as recorded (its dtype, parameters "
            f"and batch); drop {given}."
        )
    args.seed = 0 if args.seed is None else args.seed
    ignored = [
        option
        for option, value in (
            ("--random", args.random),
            ("--epochs", args.epochs),
            ("--max-depth", args.max_depth),
            ("--max-width", args.max_width),
        )
        if value is not None
    ]
    if ignored and (args.spec or args.replay):
        raise SpecError(
            f"{', '.join(ignored)}: only for the default run (training, then "
            "random networks); drop them with --spec or --replay."
        )
    args.random = DEFAULT_RANDOM_NETS if args.random is None else args.random
    args.epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
    args.max_depth = RANDOM_DEPTH if args.max_depth is None else args.max_depth
    args.max_width = RANDOM_WIDTH if args.max_width is None else args.max_width
    if args.random < 0 or args.epochs < 0:
        raise SpecError("--random and --epochs must be 0 or more.")
    if args.max_depth < 1 or args.max_width < 1:
        raise SpecError("--max-depth and --max-width must be 1 or more.")
    if args.json not in (None, "-"):
        target = Path(args.json)
        if target.is_dir():
            raise SpecError(f"--json {args.json}: that is a directory; name a file.")
        if not target.parent.is_dir():
            raise SpecError(
                f"--json {args.json}: the folder {str(target.parent)!r} does not "
                "exist; create it first."
            )
        try:  # a file must be creatable there: permissions alone can lie
            with tempfile.TemporaryFile(dir=target.parent):
                pass
        except OSError as err:
            raise SpecError(
                f"--json {args.json}: cannot write in the folder "
                f"{str(target.parent)!r} ({err.strerror}); choose another place."
            ) from err

    explicit_mode = args.mode
    args.mode = args.mode or "function"
    console = _console(to_stderr=args.json == "-")
    _quiet_tensorflow()  # TensorFlow itself loads at the first cross-check
    outcome = _Outcome()
    if args.replay is not None:
        _run_replay(args, console, outcome, explicit_mode)
    elif args.spec is not None:
        _run_spec(args, console, outcome)
    else:
        _run_default(args, console, outcome)

    _print_verdict(console, outcome, args.mode)
    if args.json:
        _write_json(args.json, outcome, args.mode)
    return EXIT_OK if outcome.passed else EXIT_MISMATCH


def _console(to_stderr: bool) -> Any:
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own exits with status 1, which here means a mismatch.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    console = PipeConsole(stderr=to_stderr, highlight=False)
    if not console.is_terminal:
        # Piped or redirected: no wrapping at 80 columns mid-phrase.
        console.width = 160
    return console


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter out of the output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl)")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass


def _check(
    console: Any, outcome: _Outcome, label: str, save: bool = True, **kwargs: Any
) -> Any:
    """Cross-check one case; a failure is also saved as a replay file."""
    from .crosscheck import cross_check

    with np.errstate(all="ignore"):
        report = cross_check(**kwargs)
    outcome.reports.append(report)
    outcome.labels.append(label)
    if save and not report.passed:
        report.notes.append(_save_failure(report, label, kwargs))
    return report


def _save_failure(report: Any, label: str, case: dict[str, Any]) -> str:
    """Write a failing check to the replay folder; say how to rerun it."""
    from .replay import case_key, replay_dir, save_case

    prop = f"verify: {label}"
    spec, params, x, labels = (case[k] for k in ("spec", "params", "x", "labels"))
    key = case_key(spec, params, x, labels, f"{prop}|{case['mode']}")
    path = Path(replay_dir()) / f"verify-{key}.npz"
    meta: dict[str, Any] = {"property": prop, "mode": case["mode"]}
    if case.get("sgd") is not None:  # replayed with the same SGD check
        meta["sgd"] = case["sgd"].to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_case(path, spec, params, x, labels, meta)
    except OSError as err:
        return f"could not save the case to {path}: {err}"
    report.replay = str(path)
    return f"case saved; rerun it with: manual-backprop verify --replay {path}"


def _show(console: Any, report: Any) -> None:
    console.print(report.table())
    console.print(report.summary(), markup=False)


def _run_default(args: argparse.Namespace, console: Any, outcome: _Outcome) -> None:

    from .crosscheck import SGDCheck
    from .data import accuracy, load_digits
    from .engine import forward
    from .optimizers import SGD
    from .training import train

    spec = NetworkSpec.from_dict(DEFAULT_SPEC)
    if args.dtype:
        spec = replace(spec, dtype=args.dtype)
    digits = load_digits(spec.dtype, seed=args.seed)
    params = init_params(spec, seed=args.seed)

    console.rule("Training on scikit-learn's 8×8 digits")
    console.print(
        f"{spec.describe()}: {len(digits.x_train)} training and "
        f"{len(digits.x_test)} test images; SGD(learning_rate="
        f"{DEFAULT_LEARNING_RATE}, momentum={DEFAULT_MOMENTUM}), batches of "
        f"{DEFAULT_BATCH_SIZE}, seed {args.seed}",
        markup=False,
    )
    epochs: list[dict[str, float]] = []

    def on_epoch(epoch: int, loss: float) -> None:
        epochs.append({"epoch": epoch + 1, "loss": loss})
        console.print(f"  epoch {epoch + 1}: mean training loss {loss:.4f}")

    optimizer = SGD(DEFAULT_LEARNING_RATE, DEFAULT_MOMENTUM)
    params, _ = train(
        spec,
        params,
        digits.x_train,
        digits.labels_train,
        epochs=args.epochs,
        batch_size=DEFAULT_BATCH_SIZE,
        optimizer=optimizer,
        seed=args.seed,
        on_epoch=on_epoch,
    )
    with np.errstate(all="ignore"):
        train_acc = accuracy(
            forward(spec, params, digits.x_train).outputs, digits.labels_train
        )
        test_acc = accuracy(
            forward(spec, params, digits.x_test).outputs, digits.labels_test
        )
    console.print(f"  accuracy: training {train_acc:.1%}, test {test_acc:.1%}")
    outcome.training = {
        "spec": spec.to_dict(),
        "epochs": epochs,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
    }

    console.rule("Cross-check at the trained parameters")
    x = digits.x_test[:CHECK_BATCH]
    labels = digits.labels_test[:CHECK_BATCH]
    sgd = SGDCheck(DEFAULT_LEARNING_RATE, DEFAULT_MOMENTUM, steps=3)
    report = _check(
        console,
        outcome,
        "trained digits network",
        spec=spec,
        params=params,
        x=x,
        labels=labels,
        mode=args.mode,
        sgd=sgd,
    )
    _show(console, report)

    if args.random:
        _run_random(args, console, outcome)


def _run_random(args: argparse.Namespace, console: Any, outcome: _Outcome) -> None:
    from rich.markup import escape

    from .crosscheck import random_case

    console.rule(f"{args.random} random networks (seed {args.seed})")
    rng = np.random.default_rng([args.seed, 1])
    for i in range(args.random):
        dtype = args.dtype or DTYPES[i % len(DTYPES)]
        spec, params, x, labels = random_case(
            rng,
            dtype=dtype,
            max_depth=args.max_depth,
            max_width=args.max_width,
            max_batch=RANDOM_BATCH,
            saturate=True,
        )
        report = _check(
            console,
            outcome,
            f"random network {i + 1}",
            spec=spec,
            params=params,
            x=x,
            labels=labels,
            mode=args.mode,
        )
        mark = "[green]PASS[/green]" if report.passed else "[bold red]FAIL[/bold red]"
        console.print(
            f"{mark} {i + 1:>3} {escape(spec.describe())}  batch {x.shape[0]}  worst "
            f"error/tol {report.worst_ratio:.3g}  max |Δ| {report.max_abs:.3g}"
        )
        if not report.passed:
            console.print(report.summary(), markup=False)


def _run_spec(args: argparse.Namespace, console: Any, outcome: _Outcome) -> None:
    from .crosscheck import random_batch

    spec = NetworkSpec.load(args.spec)
    if args.params is not None:
        params = _load_params_for(args, spec)
    else:
        params = init_params(spec, seed=args.seed)
    if args.dtype and args.dtype != spec.dtype:
        # An explicit request on the command line: cast, and say so.
        console.print(f"casting the description and parameters to {args.dtype}")
        spec = replace(spec, dtype=args.dtype)
        params = _cast(params, args.dtype)

    x, labels, source = _batch_for(spec, args.seed)
    if x is None:
        rng = np.random.default_rng([args.seed, 2])
        x, labels = random_batch(spec, rng, RANDOM_BATCH)
        source = f"a random batch of {RANDOM_BATCH} (seed {args.seed})"
    console.print(f"{spec.describe()} on {source}", markup=False)
    report = _check(
        console,
        outcome,
        str(args.spec),
        spec=spec,
        params=params,
        x=x,
        labels=labels,
        mode=args.mode,
    )
    _show(console, report)


def _load_params_for(args: argparse.Namespace, spec: NetworkSpec) -> Params:
    """The parameters in the description's dtype, or in --dtype's."""
    if args.dtype and args.dtype != spec.dtype:
        try:
            return load_params(args.params, replace(spec, dtype=args.dtype))
        except DTypeError:
            pass  # in the description's dtype: checked next, then cast
    return load_params(args.params, spec)


def _batch_for(spec: NetworkSpec, seed: int) -> tuple[Any, Any, str]:
    """Digits, when the network reads 64 pixels into 10 classes."""
    from .data import N_CLASSES, N_INPUTS, load_digits

    fits = (
        spec.n_inputs == N_INPUTS
        and spec.n_outputs == N_CLASSES
        and spec.loss in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    )
    if not fits:
        return None, None, ""
    sparse = spec.loss == "sparse_categorical_crossentropy"
    digits = load_digits(spec.dtype, seed=seed, sparse=sparse)
    x, labels = digits.x_test[:CHECK_BATCH], digits.labels_test[:CHECK_BATCH]
    return x, labels, f"{len(x)} test digits"


def _cast(params: Params, dtype: str) -> Params:
    return tuple(LayerParams(W.astype(dtype), b.astype(dtype)) for W, b in params)


def _run_replay(
    args: argparse.Namespace, console: Any, outcome: _Outcome, mode: str | None
) -> None:
    from .crosscheck import SGDCheck
    from .replay import load_case

    case = load_case(args.replay)
    meta = case.meta
    engine_name = str(meta.get("engine", "engine"))
    backward, sgd_class = _engine_named(engine_name)
    # The recorded mode, unless --mode asks for the other one.
    mode = mode or str(meta.get("mode", "function"))
    if mode not in ("function", "eager"):
        raise SpecError(
            f"case file {str(args.replay)!r}: meta['mode'] is {mode!r}; "
            "expected 'function' or 'eager'."
        )
    args.mode = mode  # for the closing verdict and the JSON
    sgd = None
    if "sgd" in meta:  # checked by load_case: keys, types, ranges
        fields = meta["sgd"]
        sgd = SGDCheck(
            learning_rate=float(fields["learning_rate"]),
            momentum=float(fields["momentum"]),
            nesterov=fields["nesterov"],
            steps=fields["steps"],
            optimizer_factory=sgd_class,
        )
        try:  # a mutant's SGD class may refuse what the engine's takes
            sgd_class(sgd.learning_rate, sgd.momentum, sgd.nesterov)
        except (TypeError, ValueError) as err:
            raise SpecError(
                f"case file {str(args.replay)!r}: meta['sgd'] is refused by "
                f"engine {engine_name!r}'s SGD ({err})."
            ) from err

    prop = meta.get("property", "not recorded")
    console.rule(f"Replaying {args.replay}")
    console.print(
        f"property: {prop}; engine: {engine_name}; TensorFlow mode: {mode}",
        markup=False,
    )
    report = _check(
        console,
        outcome,
        str(args.replay),
        spec=case.spec,
        params=case.params,
        x=case.x,
        labels=case.labels,
        mode=mode,
        engine=backward,
        sgd=sgd,
        engine_name=engine_name,
        save=False,
    )
    _show(console, report)


def _engine_named(name: str) -> tuple[Any, Any]:
    """The backward pass and SGD class a case file names."""
    from .engine import backward
    from .optimizers import SGD

    if name == "engine":
        return backward, SGD
    mutation = name.removeprefix("mutation:")
    try:
        from .testing.mutations import mutated_engine
    except ImportError as err:
        raise SpecError(
            f"the case names engine {name!r}, but the mutation catalogue "
            f"cannot be imported ({err})."
        ) from err
    try:
        mutant = mutated_engine(mutation)
    except KeyError as err:
        raise SpecError(
            f"the case names engine {name!r}: {err.args[0] if err.args else err}"
        ) from err
    return mutant.backward, mutant.SGD


# The verdict.


def _print_verdict(console: Any, outcome: _Outcome, mode: str) -> None:
    console.rule("Verdict")
    by_dtype = _by_dtype(outcome)
    truths = sorted({r.truth for r in outcome.reports})
    notes = sorted({r.mode_note or r.mode for r in outcome.reports})
    console.print(f"TensorFlow execution mode: {'; '.join(notes) or mode}")
    console.print(f"truth: {'; '.join(truths)}")
    console.print(
        "tolerance: per element, 2 × a first-order round-off bound built from "
        "the dtype's unit round-off and the magnitudes summed, plus the jumps "
        "where round-off straddled a kink (see manual_backprop.tolerance)"
    )
    for dtype, figures in by_dtype.items():
        console.print(
            f"  {dtype}: {figures['checks']} check(s), {figures['failed']} "
            f"failed; worst error/tolerance {figures['worst_ratio']:.3g}; largest "
            f"|engine − TensorFlow| {figures['max_abs']:.3g}"
        )
    if outcome.passed:
        console.print(
            f"[bold green]PASS[/bold green]: the engine agrees with TensorFlow "
            f"in all {len(outcome.reports)} check(s)."
        )
    else:
        failed = [
            label
            for label, r in zip(outcome.labels, outcome.reports, strict=True)
            if not r.passed
        ]
        console.print(
            f"[bold red]FAIL[/bold red]: {len(failed)} of {len(outcome.reports)} "
            f"check(s) disagree: {', '.join(failed)}."
        )


def _by_dtype(outcome: _Outcome) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for report in outcome.reports:
        figures = out.setdefault(
            report.spec.dtype,
            {"checks": 0, "failed": 0, "worst_ratio": 0.0, "max_abs": 0.0},
        )
        figures["checks"] += 1
        figures["failed"] += 0 if report.passed else 1
        figures["worst_ratio"] = max(figures["worst_ratio"], report.worst_ratio)
        figures["max_abs"] = max(figures["max_abs"], report.max_abs)
    return out


def _write_json(target: str, outcome: _Outcome, mode: str) -> None:
    from .report import json_number, versions

    by_dtype = {
        dtype: {
            k: v if isinstance(v, int) else json_number(v) for k, v in figures.items()
        }
        for dtype, figures in _by_dtype(outcome).items()
    }
    document = {
        "passed": outcome.passed,
        "mode": mode,
        "training": outcome.training,
        "by_dtype": by_dtype,
        "checks": [
            {"label": label, **report.to_dict()}
            for label, report in zip(outcome.labels, outcome.reports, strict=True)
        ],
        "versions": versions(),
    }
    text = json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        write_atomic(target, text.encode())
    except OSError as err:
        raise OSError(f"--json {target}: cannot write the report ({err})") from err


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float written as JSON can hold it."""
    from .report import json_number

    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
