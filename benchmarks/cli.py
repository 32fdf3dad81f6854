"""``manual-backprop bench`` and ``python -m benchmarks``: run the sweep.

Exit status: 0 when the sweep ran, 2 on bad arguments (one line on stderr,
before any timing), 141 when the reader of the output closed the pipe early
(``| head``), quietly, as for a Unix tool that SIGPIPE ended.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
from pathlib import Path

from manual_backprop.cli import EXIT_BROKEN_PIPE, OneLineParser, run_to_pipe

from .implementations import BY_NAME
from .shapes import PRESETS

# Where results go without --out; made with its parent (results/) if need be.
DEFAULT_OUT = Path("results/bench")
EXIT_STATUSES = (
    "exit status: 0 the sweep ran, 2 bad arguments, "
    f"{EXIT_BROKEN_PIPE} the output's reader closed the pipe early"
)


def _ceiling_n(text: str) -> int:
    """``--ceiling-n``: a positive integer, refused at parsing."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, the side n of the square matrices "
            f"(e.g. 256 for a quick check, 2048 as in the quick preset); "
            f"received {text!r}"
        )
    return value


def _check_out(parser: argparse.ArgumentParser, out: Path | None) -> Path:
    """Make ``--out`` now, and a file in it, or refuse it before any timing.

    Only the folder itself is made: its parent must exist, as for
    ``verify --json`` (a mistyped path is refused, not built).  The default,
    ``results/bench``, is made with its parent.  Permission bits alone can
    lie (root passes them, ``/proc`` refuses everyone), so the test is to
    create.  A run that fails later leaves the folder empty behind it.
    """
    parents = out is None
    out = DEFAULT_OUT if out is None else out
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out}: exists and is not a folder; name a folder")
    if not parents and not out.parent.is_dir():
        parent = str(out.parent)
        if out.parent.exists():
            parser.error(f"--out {out}: {parent!r} is not a folder; name a folder")
        parser.error(
            f"--out {out}: the folder {parent!r} does not exist; create it first"
        )
    try:
        out.mkdir(parents=parents, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        parser.error(f"--out {out}: cannot write there ({err.strerror}); name another")
    return out


def _label(kind: str, path: Path) -> str:
    """How ``main`` names a written file: ``json``, ``plot (float32)``."""
    if kind.startswith("png"):
        return f"plot ({path.stem.removeprefix('bench-')})"
    return kind


def _parser(prog: str = "manual-backprop bench") -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description=(
            "Time one training step (forward, backward, SGD) of the engine "
            "against tf.GradientTape on several network shapes, measure the "
            "machine's matrix-multiply ceiling, and write JSON, Markdown and "
            "PNG results."
        ),
        epilog=EXIT_STATUSES,
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="quick",
        help="quick: a few minutes on 2 cores (default); full: more shapes, "
        "float64 too, more repeats",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"output folder, made if missing; its parent must exist "
        f"(default {DEFAULT_OUT}, made with its parent)",
    )
    parser.add_argument(
        "--impl",
        action="append",
        choices=sorted(BY_NAME),
        help="time only this implementation (repeatable; default: all); "
        "engine-numpy is always timed too, as the reference for the "
        "gradient check and the ratios",
    )
    parser.add_argument(
        "--shape",
        action="append",
        help="time only shapes with this name (tiny, small, medium, "
        "deep-narrow, large; repeatable)",
    )
    parser.add_argument(
        "--dtype",
        action="append",
        choices=["float32", "float64"],
        help="override the preset's dtypes (repeatable)",
    )
    parser.add_argument(
        "--ceiling-n",
        type=_ceiling_n,
        metavar="N",
        help="side n (a positive integer) of the square GEMM that measures "
        "the ceiling (default: the preset's, 2048 quick, 4096 full)",
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the peak-memory subprocesses",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str], prog: str = "manual-backprop bench") -> int:
    """Run the sweep; ``prog`` is how the command is quoted in the results."""
    return run_to_pipe(lambda: _main(argv, prog))


def _main(argv: list[str], prog: str) -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    # Bad choices fail now, not after minutes of timing.
    preset = PRESETS[args.preset]
    known = sorted({shape.name for shape in preset.shapes})
    unknown = sorted(set(args.shape or ()) - set(known))
    if unknown:
        parser.error(
            f"--shape {', '.join(unknown)}: not in the {args.preset} preset "
            f"(its shapes: {', '.join(known)})"
        )
    out = _check_out(parser, args.out)

    from tqdm import tqdm

    from . import report, suite

    impls = args.impl
    if impls is not None and "engine-numpy" not in impls:
        impls = ["engine-numpy", *impls]  # the reference for checks and ratios
        print(
            "note: engine-numpy is timed too, as the reference for the "
            "gradient check and the ratios",
            file=sys.stderr,
        )

    def progress(total: int) -> tqdm:
        return tqdm(
            total=total, unit="block", disable=args.no_progress, file=sys.stderr
        )

    command = f"{prog} {shlex.join(argv)}" if argv else prog
    if args.ceiling_n is not None:
        preset = dataclasses.replace(preset, ceiling_n=args.ceiling_n)
    results = suite.run(
        preset,
        impl_names=impls,
        shape_names=args.shape,
        dtypes=args.dtype,
        with_memory=not args.no_memory,
        progress=progress,
    )
    paths = report.write_all(results, out, command)
    print(Path(paths["markdown"]).read_text(encoding="utf-8"))
    for kind, path in paths.items():
        print(f"{_label(kind, Path(path))}: {path}")
    return 0
