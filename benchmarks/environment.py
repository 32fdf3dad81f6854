"""What the figures were measured on: CPU, GPU, libraries, BLAS, threads."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from typing import Any

import numpy as np

from manual_backprop import backend


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_names() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def load_average() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return []


# The environment variables that change a timing, and only those: a prefix
# such as "TF_" would also record other tools' secrets (Terraform keeps
# tokens in TF_VAR_* and TF_TOKEN_*).
RECORDED_PREFIXES = (
    "OMP_",  # OpenMP threads and binding (oneDNN, OpenBLAS built with it)
    "OPENBLAS_",
    "MKL_",
    "MALLOC_",  # glibc's allocator thresholds
    "TF_CPP_",  # TensorFlow's logging
    "TF_NUM_",  # TensorFlow's inter- and intra-op threads
    "TF_XLA_",
    "TF_ENABLE_",  # TF_ENABLE_ONEDNN_OPTS and the like
    "TF_GPU_",
    "TF_FORCE_",
    "XLA_",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_TF32_OVERRIDE",
    "CUPY_",
)
RECORDED_NAMES = ("MANUAL_BACKPROP_MALLOPT",)


def _recorded(key: str) -> bool:
    return key.startswith(RECORDED_PREFIXES) or key in RECORDED_NAMES


def describe(with_tensorflow: bool = True) -> dict[str, Any]:
    """A JSON-ready description of the machine and the libraries."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "load_average_at_start": load_average(),
        "allocator_thresholds_fixed": backend.ALLOCATOR_STEADY,
        "env": {key: value for key, value in os.environ.items() if _recorded(key)},
        "gpus_nvidia_smi": _gpu_names(),
    }

    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {
                key: pool.get(key)
                for key in (
                    "internal_api",
                    "version",
                    "num_threads",
                    "threading_layer",
                    "architecture",
                    "filepath",
                )
            }
            for pool in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"

    if with_tensorflow:
        from .implementations import tensorflow, tf_gpu_reason

        tf = tensorflow()
        tf_gpu_reason()  # switches TF32 off where a GPU is visible
        info["tensorflow"] = tf.__version__
        info["tf_intra_op_threads"] = (
            tf.config.threading.get_intra_op_parallelism_threads()
        )
        info["tf_inter_op_threads"] = (
            tf.config.threading.get_inter_op_parallelism_threads()
        )
        info["tf_gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
        info["tf_tf32_enabled"] = (
            tf.config.experimental.tensor_float_32_execution_enabled()
        )
        info["tf_thread_note"] = (
            "0 means TensorFlow chooses (all cores); TF32 matters on GPUs only"
        )

    try:
        import cupy

        info["cupy"] = cupy.__version__
        info["cupy_tf32"] = os.environ.get("CUPY_TF32", "0 (CuPy's default: off)")
    except ImportError:
        info["cupy"] = None
    return info
