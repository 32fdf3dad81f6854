"""``python -m benchmarks``: the same as ``manual-backprop bench``."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:], prog="python -m benchmarks"))
