"""Keep TensorFlow's start-up chatter out of the user's terminal."""

from __future__ import annotations

import logging
import os
import sys
import warnings


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras with their start-up logs silenced.

    TensorFlow 2.21 writes its oneDNN and CPU-feature notices from C++
    before any logging setting applies (``TF_CPP_MIN_LOG_LEVEL`` does not
    stop them), so the import runs with file descriptor 2 pointed at
    ``/dev/null``.  Python exceptions still propagate; what is lost is only
    what TensorFlow's C++ side prints while it loads.  Set
    ``MANUAL_BACKPROP_TF_LOGS=1`` to see it all.
    """
    if os.environ.get("MANUAL_BACKPROP_TF_LOGS") == "1":
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        _import_with_stderr_closed()

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", module="keras")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _import_with_stderr_closed() -> None:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
