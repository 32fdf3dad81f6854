"""Peak memory of one implementation, in a fresh process.

``tracemalloc`` does not see TensorFlow's allocations, and a process's peak
RSS only grows, so each (implementation, shape) runs alone:
``python -m benchmarks.memory IMPL SHAPE BATCH DTYPE`` imports everything,
builds the problem and the step, notes its RSS (``setup``), runs the first
call and three steps, and prints one JSON line with the peak RSS of the
whole process, imports included (``VmHWM``; ``ru_maxrss`` would report the
parent's peak, as it survives ``exec``) and ``peak - setup`` (what the
steps added on top of the weights, data and libraries).  On a GPU, the
device's own peak is added where the library reports it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any

from .shapes import PRESETS, Shape, build_problem

MIB = 2**20
STEPS = 3


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    """The process's peak RSS: ``VmHWM``, else ``ru_maxrss``.

    ``ru_maxrss`` survives ``exec``: a child started by a big parent reports
    the parent's peak at the fork.  ``VmHWM`` belongs to the new program's
    memory map, so it is read first.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB


def _find_shape(name: str, batch: int) -> Shape:
    for preset in PRESETS.values():
        for shape in preset.shapes:
            if shape.name == name and shape.batch == batch:
                return shape
    raise SystemExit(f"unknown shape {name} with batch {batch}")


def measure_here(impl_name: str, shape: Shape, dtype: str) -> dict[str, Any]:
    from .implementations import BY_NAME

    impl = BY_NAME[impl_name]
    problem = build_problem(shape, dtype)
    built = impl.build(problem)
    setup = _rss_bytes()
    for _ in range(1 + STEPS):
        built.step()
    result: dict[str, Any] = {
        "peak_rss_mib": _peak_bytes() / MIB,
        "setup_rss_mib": setup / MIB,
        "step_mib": (_peak_bytes() - setup) / MIB,
    }
    if impl.device == "gpu":
        result["device_peak_mib"] = _device_peak(built.matmul_family)
    return result


def _device_peak(family: str) -> float | None:
    if family == "cupy":
        import cupy

        # CuPy's pool keeps every block it ever needed, so what it holds
        # after the steps is their peak.
        return cupy.get_default_memory_pool().total_bytes() / MIB
    from .implementations import tensorflow

    info = tensorflow().config.experimental.get_memory_info("GPU:0")
    return info["peak"] / MIB


def measure(impl_name: str, shape: Shape, dtype: str, timeout: float) -> dict[str, Any]:
    """Run ``measure_here`` in a fresh interpreter and read its JSON line."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        impl_name,
        shape.name,
        str(shape.batch),
        dtype,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def main(argv: list[str]) -> int:
    impl_name, shape_name, batch, dtype = argv
    shape = _find_shape(shape_name, int(batch))
    print(json.dumps(measure_here(impl_name, shape, dtype)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
