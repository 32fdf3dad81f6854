"""The testing package's commands; the library modules around them print nothing.

* ``python -m manual_backprop.testing.sweep``: random cases through the
  cross-check (see ``sweep``); failures must be 0.
* ``python -m manual_backprop.testing.mutations``: hunt the mutation
  catalogue, check that every mutation still applies, write the report
  (see ``detection``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from ..cli import OneLineParser
from .detection import UPDATED, hunt, write_report
from .mutations import MUTATION_LIST, MUTATIONS
from .sweep import _merge, _read_checkpoints, _run_shard, format_summary


def sweep_main(argv: list[str] | None = None) -> int:
    """``python -m manual_backprop.testing.sweep``: see ``sweep``."""
    parser = argparse.ArgumentParser(
        prog="python -m manual_backprop.testing.sweep",
        description="Random cases through the cross-check; failures must be 0.",
    )
    parser.add_argument("--cases", type=int, default=1000, help="per dtype")
    parser.add_argument(
        "--dtype",
        action="append",
        choices=("float32", "float64"),
        help="repeat for several (default: both)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the full results here")
    parser.add_argument("--replay-dir", default=None)
    parser.add_argument(
        "--checkpoint-dir",
        help="write each worker's figures here every 100 examples",
    )
    parser.add_argument(
        "--summarize",
        metavar="DIR",
        help="print the figures of the checkpoints in DIR (a run in progress "
        "or one that was stopped) instead of running",
    )
    parser.add_argument(
        "--properties",
        choices=("tensorflow", "framework-free", "all"),
        default="tensorflow",
        help="the cross-check against TensorFlow (default), the numpy-only "
        "identities of manual_backprop.testing.properties, or both",
    )
    args = parser.parse_args(argv)
    dtypes = args.dtype or ["float32", "float64"]

    start = time.perf_counter()
    if args.summarize:
        shards = _read_checkpoints(args.summarize)
    else:
        per = [args.cases // args.workers] * args.workers
        for i in range(args.cases % args.workers):
            per[i] += 1
        jobs = [
            (
                tuple(dtypes),
                n,
                args.seed * 1000 + w,
                args.replay_dir,
                args.properties,
                args.checkpoint_dir,
            )
            for w, n in enumerate(per)
            if n
        ]
        if args.checkpoint_dir:
            os.makedirs(args.checkpoint_dir, exist_ok=True)
        if args.workers > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(args.workers) as pool:
                shards = [s for part in pool.map(_run_shard, jobs) for s in part]
        else:
            shards = [s for job in jobs for s in _run_shard(job)]
    wall = time.perf_counter() - start

    by_dtype = _merge(shards)
    command = "python -m manual_backprop.testing.sweep " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(format_summary(by_dtype, command, args.properties))
    print(f"\nwall time {wall:.0f} s")
    if args.json:
        from ..spec import write_atomic

        payload = {"command": command, "wall_seconds": wall, "results": by_dtype}
        write_atomic(args.json, json.dumps(payload, indent=2).encode())
    return 1 if any(r["failures"] for r in by_dtype.values()) else 0


def _mutation_name(text: str) -> str:
    """``--only``'s value: a catalogued mutation, or a one-line refusal."""
    if text in MUTATIONS:
        return text
    close = difflib.get_close_matches(text, MUTATIONS, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise argparse.ArgumentTypeError(
        f"no mutation named {text!r}; {hint}run with --list to see every name"
    )


def mutations_main(argv: list[str] | None = None) -> int:
    """``python -m manual_backprop.testing.mutations``: hunt, check, report."""
    parser = OneLineParser(
        prog="python -m manual_backprop.testing.mutations",
        description="Hunt every catalogued mutation and tabulate the results.",
    )
    parser.add_argument("--check", action="store_true", help="snippets only")
    parser.add_argument("--list", action="store_true", help="print the names")
    parser.add_argument(
        "--report",
        help="write the table into this Markdown file; with --only, update "
        "just those rows of the table it holds",
    )
    parser.add_argument(
        "--only",
        action="append",
        type=_mutation_name,
        metavar="NAME",
        help="hunt this mutation (repeat for several)",
    )
    parser.add_argument("--max-examples", type=int, default=300)
    parser.add_argument(
        "--unfocused",
        action="store_true",
        help="also hunt each mutation with the general strategy (no focus)",
    )
    args = parser.parse_args(argv)

    if args.list:
        for mutation in MUTATION_LIST:
            print(f"{mutation.name}: {mutation.summary}")
        return 0

    from .mutations import check_catalogue

    problems = check_catalogue()
    for problem in problems:
        print(problem)
    if args.check:
        print(f"{len(MUTATION_LIST) - len(problems)} of {len(MUTATION_LIST)} apply")
        return 1 if problems else 0

    names = list(dict.fromkeys(args.only or [m.name for m in MUTATION_LIST]))
    detections = []
    start = time.perf_counter()
    for name in names:
        d = hunt(name, max_examples=args.max_examples)
        if args.unfocused:
            general = hunt(name, max_examples=args.max_examples, focused=False)
            d.unfocused_examples = general.examples if general.caught else 0
        detections.append(d)
        print(
            f"{name}: {'caught by ' + d.caught_by if d.caught else 'NOT CAUGHT'}"
            f" after {d.examples} example(s), shrunk to {d.depth} layer(s) "
            f"{d.widths} B={d.batch} ({d.calls} calls, {d.seconds:.1f} s)"
            + (
                f"; unfocused: {d.unfocused_examples or 'not caught'}"
                if d.unfocused_examples is not None
                else ""
            ),
            flush=True,
        )
    total = time.perf_counter() - start
    caught = sum(d.caught for d in detections)
    print(f"\n{caught} of {len(detections)} caught in {total:.0f} s")
    if args.report:
        only = "".join(f" --only {name}" for name in names) if args.only else ""
        command = (
            f"`python -m manual_backprop.testing.mutations{only} --report "
            f"{args.report}{' --unfocused' if args.unfocused else ''}`"
        )
        note = (
            f"{UPDATED if args.only else 'Generated by '}{command} "
            f"(derandomized, at most {args.max_examples} examples "
            f"each{', also unfocused' if args.unfocused else ''}): {caught} of "
            f"{len(detections)} caught, {total:.0f} s on 2 shared cores."
        )
        table = write_report(args.report, detections, note, update=bool(args.only))
        if args.only:
            print(f"{args.report}: {table.caught} of {table.rows} rows caught")
    return 0 if caught == len(detections) and not problems else 1


_ = np  # numpy is used by the properties this module runs
